"""Where membership sync keeps what it knows: one snapshot and one record per segment.

Layout, under the state directory (default ``.moeseg``, as the workspace state of
``moeseg._workspace``)::

    .moeseg/members/<key>.uids     the members last synced (a uid file, ``_uidfiles``)
    .moeseg/members/<key>.unsure   uids a sync sent but did not commit (kill, error): their
                                   state is unknown, the next sync sends them again
    .moeseg/members/<key>.json     {"workspace", "segment", "route", "cohort_id", "segment_id",
                                    "members", "synced_at"}
    .moeseg/members/tmp/           work files of a sync in progress (removed after it)

``<key>`` is the first 24 hex digits of SHA-256 over ``workspace_id``, a NUL and the segment name,
so two workspaces never share a snapshot. Both files are replaced atomically (written aside,
synced, renamed), the snapshot first and the record last: a record always describes a snapshot
that was committed whole. Blocking file I/O: from async code, call it in a worker thread.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Final

import attrs

from ._errors import SnapshotError
from ._plan import Route

__all__ = ["DEFAULT_STATE_DIR", "MemberRecord", "MemberState"]

DEFAULT_STATE_DIR: Final = Path(".moeseg")
_ROUTES: Final = ("cohort", "file")


@attrs.frozen(slots=True)
class MemberRecord:
    """What the last committed sync of a segment knew: its route and identifiers."""

    workspace: str
    segment: str
    route: Route
    cohort_id: str | None = None
    segment_id: str | None = None
    members: int = 0
    synced_at: float = 0.0


class MemberState:
    """The snapshots and records of one workspace under ``state_dir / "members"``."""

    def __init__(self, state_dir: str | os.PathLike[str], workspace_id: str) -> None:
        self.directory = Path(state_dir) / "members"
        self.workspace_id = workspace_id

    def _key(self, segment: str) -> str:
        raw = f"{self.workspace_id}\0{segment}".encode()
        return hashlib.sha256(raw).hexdigest()[:24]

    def snapshot_path(self, segment: str) -> Path:
        """The segment's snapshot file (it may not exist: no sync committed yet)."""
        return self.directory / f"{self._key(segment)}.uids"

    def uncertain_path(self, segment: str) -> Path:
        """The segment's uncertain uids (it exists only after an interrupted sync)."""
        return self.directory / f"{self._key(segment)}.unsure"

    def workdir(self) -> Path:
        """A directory for a sync's work files (created)."""
        path = self.directory / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def record(self, segment: str) -> MemberRecord | None:
        """The segment's record, or ``None``; :class:`SnapshotError` if it is damaged."""
        path = self.directory / f"{self._key(segment)}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise SnapshotError(f"{path}: unreadable membership record ({exc})") from None
        if not isinstance(data, dict) or data.get("route") not in _ROUTES:
            raise SnapshotError(f"{path}: not a membership record (no valid 'route')")
        fields = attrs.fields_dict(MemberRecord)
        try:
            return MemberRecord(**{k: v for k, v in data.items() if k in fields})
        except TypeError as exc:
            raise SnapshotError(f"{path}: {exc}") from None

    def save(self, record: MemberRecord) -> None:
        """Write ``record`` atomically (call it after the snapshot is committed)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{self._key(record.segment)}.json"
        data: dict[str, Any] = attrs.asdict(record)
        data["synced_at"] = data["synced_at"] or time.time()
        partial = path.with_name(path.name + ".partial")
        with open(partial, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)
