"""Sorted uid files: the snapshot format, reading uid lists, and an external sort.

A **uid file** is UTF-8 text: the header line ``#moeseg-uids v1``, then one uid per line, each
line ending in ``\\n``, strictly increasing in code-point order (which for UTF-8 is byte order),
so no duplicates. A snapshot of a segment's last synced members is such a file; the adds and
removes of a diff are too. Sorting 1,000,000+ uids keeps at most ``run_size`` of them in memory:
sorted runs go to temporary files in a directory the caller owns, then merge.
"""

from __future__ import annotations

import csv
import heapq
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Final

import attrs

from ._errors import CohortValidationError, SnapshotError
from ._request import validate_uid

__all__ = ["HEADER", "UidFile", "read_uid_csv", "sort_uids", "union_uid_files", "write_uid_file"]

HEADER: Final = "#moeseg-uids v1"
#: Uids held in memory at once while sorting (about 100 bytes each with their list slot).
RUN_SIZE: Final = 250_000


@attrs.frozen(slots=True)
class UidFile:
    """A sorted, duplicate-free uid file on disk and how many uids it holds."""

    path: Path
    count: int

    def __iter__(self) -> Iterator[str]:
        return iter_uid_file(self.path)


def iter_uid_file(path: Path) -> Iterator[str]:
    """The uids of a uid file in order; :class:`SnapshotError` on any break of the format."""
    with open(path, encoding="utf-8", newline="\n") as f:
        header = f.readline()
        if header != HEADER + "\n":
            raise SnapshotError(f"{path}: line 1 is {header[:40]!r}, expected {HEADER!r}")
        previous: str | None = None
        for number, line in enumerate(f, start=2):
            if not line.endswith("\n"):
                raise SnapshotError(f"{path}: line {number} is cut short (no line end)")
            uid = line[:-1]
            if previous is not None and uid <= previous:
                rule = "repeats" if uid == previous else "is out of order after"
                raise SnapshotError(f"{path}: line {number} {uid!r} {rule} {previous!r}")
            previous = uid
            yield uid


def write_uid_file(path: Path, uids: Iterable[str]) -> UidFile:
    """Write ``uids`` (already sorted and unique, as checked) to ``path`` as a uid file."""
    count = 0
    previous: str | None = None
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(HEADER + "\n")
        for uid in uids:
            if previous is not None and uid <= previous:
                raise ValueError(f"uids not strictly increasing: {previous!r} then {uid!r}")
            f.write(uid + "\n")
            previous = uid
            count += 1
    return UidFile(path, count)


def read_uid_csv(path: str | os.PathLike[str], *, column: str | None = None) -> Iterator[str]:
    """The uids of a CSV file with a header row, streamed, each checked by ``validate_uid``.

    ``column`` names the uid column; by default ``uid`` (any case) when the header has it,
    else the only column. Blank rows are skipped; an empty uid in a row is an error naming its
    line.
    """
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return
        index = _column_index(header, column, str(path))
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            where = f"{path}: line {reader.line_num}"
            if index >= len(row):
                raise CohortValidationError(where, f"has no column {header[index]!r}")
            try:
                yield validate_uid(row[index])
            except CohortValidationError as exc:
                raise CohortValidationError(where, exc.rule) from None


def _column_index(header: list[str], column: str | None, where: str) -> int:
    names = [h.strip() for h in header]
    if column is not None:
        if column not in names:
            raise CohortValidationError(where, f"header {names} has no column {column!r}")
        return names.index(column)
    lowered = [n.lower() for n in names]
    if "uid" in lowered:
        return lowered.index("uid")
    if len(names) == 1:
        return 0
    raise CohortValidationError(where, f"header {names} has no 'uid' column; name one")


@attrs.frozen(slots=True)
class SortedUids:
    """The result of :func:`sort_uids`: the uid file and how many repeats were dropped."""

    file: UidFile
    duplicates: int


def sort_uids(
    uids: Iterable[str], directory: Path, name: str, *, run_size: int = RUN_SIZE
) -> SortedUids:
    """Sort and deduplicate ``uids`` into the uid file ``directory / name``, in bounded memory.

    Every uid is checked by ``validate_uid``. Runs of ``run_size`` uids are sorted in memory and
    written to temporary files in ``directory`` (removed before returning), then merged.
    """
    runs: list[Path] = []
    batch: list[str] = []
    try:
        for uid in uids:
            batch.append(validate_uid(uid))
            if len(batch) >= run_size:
                runs.append(_write_run(directory, name, len(runs), batch))
                batch = []
        batch.sort()
        if not runs:
            return _dedupe_into(directory / name, iter(batch))
        if batch:
            runs.append(_write_run(directory, name, len(runs), batch))
            batch = []
        streams = [_iter_run(p) for p in runs]
        return _dedupe_into(directory / name, heapq.merge(*streams))
    finally:
        for p in runs:
            p.unlink(missing_ok=True)


def _write_run(directory: Path, name: str, index: int, batch: list[str]) -> Path:
    batch.sort()
    path = directory / f"{name}.run{index}"
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.writelines(u + "\n" for u in batch)
    return path


def _iter_run(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8", newline="\n") as f:
        for line in f:
            yield line[:-1]


def _dedupe_into(path: Path, ordered: Iterator[str]) -> SortedUids:
    seen = 0

    def unique() -> Iterator[str]:
        nonlocal seen
        previous: str | None = None
        for uid in ordered:
            seen += 1
            if uid != previous:
                yield uid
                previous = uid

    written = write_uid_file(path, unique())
    return SortedUids(written, seen - written.count)


def union_uid_files(path: Path, sources: Iterable[Path]) -> UidFile:
    """Write the union of the uid files ``sources`` (missing ones are empty) to ``path``,
    atomically (written aside, synced, renamed)."""
    streams = [iter_uid_file(p) for p in sources if p.exists()]
    partial = path.with_name(path.name + ".partial")
    merged = _dedupe_into(partial, heapq.merge(*streams)).file
    with open(partial, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(partial, path)
    return UidFile(path, merged.count)
