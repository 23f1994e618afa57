"""Local checks of a file segment's CSV, before anything is sent or any quota is spent.

MoEngage's rules (v2 file-segment API, "CSV File Requirements"): one column, values separated by
new lines, no empty rows, no duplicates, no trailing commas, no quotes or special characters, and
at most 150 MB. :func:`check_csv` streams the file (one line at a time, never the whole file) and
returns a :class:`CsvReport` with the number of users (the weight against the 2,000,000 users a
day quota) and every violation with its line number.
"""

from __future__ import annotations

import hashlib
import os
import re
import string
import struct
from collections.abc import Iterator
from typing import BinaryIO

import attrs
import httpx

from ._errors import CsvCheckError

__all__ = [
    "MAX_FILE_BYTES",
    "CsvReport",
    "CsvViolation",
    "check_csv",
    "check_csv_url",
]

#: MoEngage's file size limit ("150 MB"), read the safe way: decimal megabytes.
MAX_FILE_BYTES = 150_000_000
#: A longer row is reported, not read into memory (identifiers are far shorter).
MAX_VALUE_BYTES = 4096
#: Characters allowed in a value: ASCII letters and digits and ``@ . _ + - :`` (e-mails, phone
#: numbers, ids, GAIDs). Anything else is a "special character" (the sandbox reads the same set).
ALLOWED_CHARACTERS = frozenset(string.ascii_letters + string.digits + "@._+-:")
_PROBES = struct.Struct("<6I")  # six 32-bit Bloom filter probes from one 24-byte digest
# ALLOWED_CHARACTERS as one character class: the fast check of a clean row
_CLEAN_ROW = re.compile(b"[" + re.escape("".join(sorted(ALLOWED_CHARACTERS))).encode() + b"]+")
_BOM = b"\xef\xbb\xbf"


@attrs.frozen(slots=True)
class CsvViolation:
    """One broken rule: the 1-based ``line`` (``None`` for the whole file) and the ``rule``."""

    line: int | None
    rule: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.rule}" if self.line is not None else self.rule


@attrs.frozen(slots=True)
class CsvReport:
    """What :func:`check_csv` found.

    ``users`` counts the non-empty rows (the quota weight); ``violations`` holds the first
    ``max_violations`` violations in line order, ``violation_count`` how many there are in all.
    """

    source: str
    size: int
    users: int
    violations: tuple[CsvViolation, ...] = ()
    violation_count: int = 0

    @property
    def ok(self) -> bool:
        """True when the file breaks no rule."""
        return self.violation_count == 0

    def raise_for_violations(self) -> CsvReport:
        """Raise :class:`CsvCheckError` if any rule is broken; otherwise return the report."""
        if not self.ok:
            raise CsvCheckError(self)
        return self


def _value_rule(value: str) -> str | None:
    """The first rule a (non-empty, decoded) value breaks, or None."""
    if value.endswith(","):
        return "value ends with a comma (trailing comma)"
    if "," in value:
        return "more than one column (comma inside the row)"
    if '"' in value or "'" in value:
        return "value is quoted (quote character)"
    if value != value.strip():
        return "leading or trailing whitespace"
    for ch in value:
        if ch not in ALLOWED_CHARACTERS:
            return f"special character {ch!r}"
    return None


def _rows(f: BinaryIO) -> Iterator[tuple[int, bytes, bool]]:
    """Yield (line number, row without its line ending, too long) for each row of ``f``."""
    lineno = 0
    while True:
        chunk = f.readline(MAX_VALUE_BYTES + 1)
        if not chunk:
            return
        lineno += 1
        too_long = False
        while not chunk.endswith(b"\n") and len(chunk) > MAX_VALUE_BYTES:
            too_long = True  # skip the rest of the row without keeping it
            chunk = f.readline(MAX_VALUE_BYTES + 1)
            if not chunk:
                break
        row = b"" if too_long else chunk.rstrip(b"\n").removesuffix(b"\r")
        yield lineno, row, too_long


def _digest(row: bytes) -> bytes:
    return hashlib.blake2b(row, digest_size=_PROBES.size).digest()


class _SeenFilter:
    """A Bloom filter over row digests: "maybe seen before" or "surely new".

    Two bits per byte of the file (a quarter of its size: a 37-byte GAID row gets 74 bits) and
    six probes per row: a false "maybe" in a million GAIDs is then unlikely (about 0.04 expected).
    A false "maybe" is harmless anyway: the second pass compares the actual values.
    """

    def __init__(self, file_bytes: int) -> None:
        self.nbits = max(1 << 16, 2 * file_bytes)
        self.bits = bytearray((self.nbits + 7) // 8)

    def add(self, digest: bytes) -> bool:
        """Record ``digest``; True if it may have been recorded before."""
        bits, nbits = self.bits, self.nbits
        seen = True
        for h in _PROBES.unpack(digest):
            i = h % nbits
            mask = 1 << (i & 7)
            if not bits[i >> 3] & mask:
                seen = False
                bits[i >> 3] |= mask
        return seen


class _Collector:
    """Keeps the first ``limit`` violations and counts them all."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept: list[CsvViolation] = []
        self.count = 0

    def add(self, line: int | None, rule: str) -> None:
        self.count += 1
        if len(self.kept) < self.limit:
            self.kept.append(CsvViolation(line, rule))


def check_csv(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = MAX_FILE_BYTES,
    max_violations: int = 1000,
) -> CsvReport:
    """Check a local CSV file against MoEngage's file-segment rules, streaming it.

    Returns a :class:`CsvReport` (call ``report.raise_for_violations()`` to turn violations into a
    :class:`CsvCheckError`). Memory stays a fraction of the file: rows are read one at a time,
    and duplicates are found with a Bloom filter of a quarter of the file's size, then confirmed
    on the actual values in a second pass that runs only when some row may repeat (and keeps
    only those rows). This is blocking file I/O: from async code, run it in a worker thread
    (``await anyio.to_thread.run_sync(check_csv, path)``), as :class:`FileSegments` does.

    >>> report = check_csv("users.csv")  # doctest: +SKIP
    >>> report.users, [str(v) for v in report.violations]  # doctest: +SKIP
    (3, ['line 2: duplicate of line 1'])
    """
    source = os.fspath(path)
    size = os.stat(source).st_size
    file_level = _Collector(max_violations)
    rows = _Collector(max_violations)
    if size > max_bytes:
        file_level.add(None, f"file is {size:,} bytes, above the limit of {max_bytes:,} bytes")
    users = 0
    seen = _SeenFilter(min(size, max_bytes))
    repeated: set[bytes] = set()
    with open(source, "rb") as f:
        for lineno, row, too_long in _rows(f):
            if too_long:
                users += 1
                rows.add(lineno, f"row longer than {MAX_VALUE_BYTES} bytes")
                continue
            if lineno == 1 and row.startswith(_BOM):
                rows.add(lineno, "file starts with a UTF-8 byte order mark")
                row = row[len(_BOM) :]
            if not row.strip():
                rows.add(lineno, "empty row")
                continue
            users += 1
            if not _CLEAN_ROW.fullmatch(row):  # the fast path for a clean row
                try:
                    rule = _value_rule(row.decode("utf-8"))
                except UnicodeDecodeError:
                    rule = "not valid UTF-8"
                if rule is not None:
                    rows.add(lineno, rule)
            d = _digest(row)
            if seen.add(d):
                repeated.add(d)
        del seen
        if users == 0:
            file_level.add(None, "the file holds no values")
        dups = _Collector(max_violations)
        if repeated:
            f.seek(0)
            _find_duplicates(f, repeated, dups)
    merged = sorted(rows.kept + dups.kept, key=lambda v: v.line or 0)
    kept = (file_level.kept + merged)[:max_violations]
    return CsvReport(
        source=source,
        size=size,
        users=users,
        violations=tuple(kept),
        violation_count=file_level.count + rows.count + dups.count,
    )


def _find_duplicates(f: BinaryIO, repeated: set[bytes], out: _Collector) -> None:
    """Second pass: report each row equal to an earlier one, naming the first occurrence."""
    first_line: dict[bytes, int] = {}
    for lineno, row, too_long in _rows(f):
        if lineno == 1:
            row = row.removeprefix(_BOM)
        if too_long or not row.strip() or _digest(row) not in repeated:
            continue
        first = first_line.setdefault(row, lineno)
        if first != lineno:
            out.add(lineno, f"duplicate of line {first}")


async def check_csv_url(
    file_url: str,
    *,
    http_client: httpx.AsyncClient | None = None,
    max_bytes: int = MAX_FILE_BYTES,
    timeout: float = 10.0,
) -> int | None:
    """Ask the file's server for its size (one HEAD request) and refuse a file that is too big.

    Returns the size in bytes, or ``None`` when the server does not tell (no Content-Length, an
    error status — some signed URLs refuse HEAD — or a transport error). Raises
    :class:`CsvCheckError` only when the announced size is above ``max_bytes``.
    """
    own = http_client is None
    http = http_client or httpx.AsyncClient(timeout=timeout)
    try:
        try:
            resp = await http.head(file_url, follow_redirects=True, timeout=timeout)
        except httpx.HTTPError:
            return None
        if not resp.is_success:
            return None
        try:
            size = int(resp.headers.get("content-length", ""))
        except ValueError:
            return None
    finally:
        if own:
            await http.aclose()
    if size > max_bytes:
        violation = CsvViolation(
            None, f"file is {size:,} bytes, above the limit of {max_bytes:,} bytes"
        )
        source = str(httpx.URL(file_url).copy_with(query=None))  # a signed query is a secret
        raise CsvCheckError(CsvReport(source, size, 0, (violation,), 1))
    return size
