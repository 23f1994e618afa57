"""The membership diff: what to add and remove so a segment's members equal a desired list.

Streamed in bounded memory: the desired list is sorted on disk (:func:`sort_uids`), the last
synced snapshot already is a sorted uid file, and one merge walk over both writes the adds and
the removes as uid files. Output is deterministic: the same inputs give byte-identical files.

Without a snapshot (the first sync), every desired uid is an add and the removes are
**unknown** (``removes is None``): members added by other means cannot be seen, so only a route
with *replace* can make the segment equal to the list.

An **uncertain** uid file lists uids whose state the snapshot cannot vouch for: the deltas of a
sync that was interrupted before its commit (some may have been applied). Each of them is sent
to its desired state whatever the snapshot says: added if listed, removed if not.
"""

from __future__ import annotations

import heapq
import itertools
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs

from ._request import CohortAction
from ._uidfiles import HEADER, RUN_SIZE, UidFile, iter_uid_file, sort_uids, write_uid_file

__all__ = ["MembershipDiff", "diff_sorted", "diff_uncertain", "membership_diff"]


def diff_sorted(before: Iterable[str], after: Iterable[str]) -> Iterator[tuple[CohortAction, str]]:
    """Merge walk over two strictly increasing uid streams: ``(action, uid)`` in uid order."""
    old, new = iter(before), iter(after)
    a, b = next(old, None), next(new, None)
    while a is not None or b is not None:
        if a is None or (b is not None and b < a):
            assert b is not None
            yield "add_members", b
            b = next(new, None)
        elif b is None or a < b:
            yield "remove_members", a
            a = next(old, None)
        else:
            a, b = next(old, None), next(new, None)


def diff_uncertain(
    before: Iterable[str], after: Iterable[str], uncertain: Iterable[str]
) -> Iterator[tuple[CohortAction, str]]:
    """:func:`diff_sorted`, except that a uid of ``uncertain`` (also strictly increasing) is
    sent to its state in ``after`` even when ``before`` says it is there already."""
    tagged = heapq.merge(
        ((u, 0) for u in before), ((u, 1) for u in after), ((u, 2) for u in uncertain)
    )
    for uid, group in itertools.groupby(tagged, key=lambda pair: pair[0]):
        tags = {tag for _, tag in group}
        if 1 in tags:
            if 0 not in tags or 2 in tags:
                yield "add_members", uid
        elif 0 in tags or 2 in tags:
            yield "remove_members", uid


@attrs.frozen(slots=True)
class MembershipDiff:
    """Adds and removes (uid files in a temporary directory) from a snapshot to a list.

    ``desired`` is the sorted, deduplicated desired list: it becomes the next snapshot once
    every delta has been applied (:meth:`commit_snapshot`). ``removes`` is ``None`` when there
    was no snapshot: removes unknown, not "no removes". ``previous`` (the snapshot's size) is
    ``None`` on a first sync, also when uncertain uids give it known removes.
    """

    desired: UidFile
    adds: UidFile
    removes: UidFile | None
    previous: int | None
    duplicates: int

    @property
    def removes_known(self) -> bool:
        """False on a first sync (no snapshot): members outside the list cannot be listed."""
        return self.removes is not None

    @property
    def empty(self) -> bool:
        """Nothing to add and, as far as the snapshot knows, nothing to remove."""
        return self.adds.count == 0 and self.removes is not None and self.removes.count == 0

    def commit_snapshot(self, path: str | os.PathLike[str]) -> UidFile:
        """Install ``desired`` as the snapshot at ``path`` (copied, synced, renamed: atomic).

        Call it only when every add and remove of this diff is resolved; until then the old
        snapshot stays, and a rerun computes the same deltas again.
        """
        target = Path(path)
        partial = target.with_name(target.name + ".partial")
        with open(self.desired.path, "rb") as src, open(partial, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
            dst.flush()
            os.fsync(dst.fileno())  # on disk before the rename makes it the snapshot
        os.replace(partial, target)
        return UidFile(target, self.desired.count)


@contextmanager
def membership_diff(
    desired: Iterable[str],
    snapshot: str | os.PathLike[str] | None,
    *,
    uncertain: str | os.PathLike[str] | None = None,
    workdir: str | os.PathLike[str] | None = None,
    run_size: int = RUN_SIZE,
) -> Iterator[MembershipDiff]:
    """Diff the uid list ``desired`` (any iterable, streamed) against a snapshot uid file.

    A missing ``snapshot`` path (or ``None``) is a first sync. A missing ``uncertain`` path is
    none (see the module docstring). The files live in a temporary
    directory under ``workdir`` (default: the system's) removed when the block ends. Blocking
    file I/O: from async code, run it in a worker thread.
    """
    before = None if snapshot is None or not Path(snapshot).exists() else Path(snapshot)
    unsure = None if uncertain is None or not Path(uncertain).exists() else Path(uncertain)
    with tempfile.TemporaryDirectory(prefix="moeseg-diff-", dir=workdir) as tmp:
        directory = Path(tmp)
        sorted_desired = sort_uids(desired, directory, "desired", run_size=run_size)
        want = sorted_desired.file
        previous: int | None = None
        removes: UidFile | None
        if before is None and unsure is None:
            adds = UidFile(want.path, want.count)
            removes = None
        else:
            # The walk reads the whole snapshot, so a damaged one fails here, before any plan.
            old = _Counted(iter_uid_file(before) if before is not None else iter(()))
            if unsure is None:
                deltas = diff_sorted(old, want)
            else:
                deltas = diff_uncertain(old, want, iter_uid_file(unsure))
            adds, removes = _split(deltas, directory)
            previous = old.count if before is not None else None
        yield MembershipDiff(
            desired=want,
            adds=adds,
            removes=removes,
            previous=previous,
            duplicates=sorted_desired.duplicates,
        )


class _Counted:
    """An iterator of uids that counts what it yielded."""

    def __init__(self, it: Iterator[str]) -> None:
        self._it = it
        self.count = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        uid = next(self._it)
        self.count += 1
        return uid


def _split(deltas: Iterator[tuple[CohortAction, str]], directory: Path) -> tuple[UidFile, UidFile]:
    # One pass, two outputs: removes are written as they come, adds are handed on in order.
    removes_path = directory / "removes"
    removed = 0
    with open(removes_path, "w", encoding="utf-8", newline="\n") as rf:
        rf.write(HEADER + "\n")

        def adds_only() -> Iterator[str]:
            nonlocal removed
            for action, uid in deltas:
                if action == "add_members":
                    yield uid
                else:
                    rf.write(uid + "\n")
                    removed += 1

        adds = write_uid_file(directory / "adds", adds_only())
    return adds, UidFile(removes_path, removed)
