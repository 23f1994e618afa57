"""Local checks of a file segment's CSV, before anything is sent or any quota is spent.

MoEngage's rules (v2 file-segment API, "CSV File Requirements"): one column, values separated by
new lines, no empty rows, no duplicates, no trailing commas, no quotes or special characters, and
at most 150 MB. :func:`check_csv` streams the file (in chunks, never the whole file) and returns
a :class:`CsvReport` with the number of users (the weight against the 2,000,000 users a day
quota) and every violation with its line number.
"""

from __future__ import annotations

import os
import re
import stat
import string
from collections.abc import Iterable, Iterator
from typing import BinaryIO

import attrs
import httpx

from .._exceptions import MoesegError

__all__ = [
    "CsvCheckError",
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
#: The file is read this many bytes at a time (the working set is a few times this).
CHUNK_BYTES = 1 << 16
# ALLOWED_CHARACTERS as one character class: a clean row, and a chunk of clean rows
_ALLOWED = b"[" + re.escape("".join(sorted(ALLOWED_CHARACTERS))).encode() + b"]"
_CLEAN_ROW = re.compile(_ALLOWED + b"+")
_CLEAN_ROWS = re.compile(b"(?:" + _ALLOWED + b"{1,%d}\n)*" % MAX_VALUE_BYTES)
_BOM = b"\xef\xbb\xbf"
_EMPTY = "empty row"
_TOO_LONG = f"row longer than {MAX_VALUE_BYTES} bytes"
#: Stands for a row too long to keep (any row longer than MAX_VALUE_BYTES breaks that rule).
_OVERLONG = bytes(MAX_VALUE_BYTES + 1)


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


def _row_rule(row: bytes) -> str | None:
    """The first rule a row (without its line end) breaks, or None."""
    if len(row) > MAX_VALUE_BYTES:
        return _TOO_LONG
    if not row.strip():
        return _EMPTY
    if _CLEAN_ROW.fullmatch(row):
        return None
    try:
        return _value_rule(row.decode("utf-8"))
    except UnicodeDecodeError:
        return "not valid UTF-8"


def _rows(f: BinaryIO, check: bool = True) -> Iterator[tuple[list[bytes], bool]]:
    """Yield the rows of ``f`` in batches (one per chunk read), each with whether it is clean.

    A row ends at ``\n``, ``\r\n`` or a lone ``\r``; its line end is not kept. A row longer than
    :data:`MAX_VALUE_BYTES` is never held whole: its bytes are dropped as they come and
    ``_OVERLONG`` stands for it. Clean means that every row of the batch is non-empty, short
    enough and made of :data:`ALLOWED_CHARACTERS` only: one regular expression over the whole
    chunk, so a clean file costs no rule check per row. With ``check=False`` no batch is clean.
    """
    tail = b""  # the row still open at the end of the chunks read so far
    cr = False  # the last chunk ended in \r: a line end, or the first half of \r\n
    skipping = False  # inside an overlong row
    while True:
        block = f.read(CHUNK_BYTES)
        data = tail + (b"\r" if cr else b"") + block
        cr = bool(block) and data.endswith(b"\r")
        if cr:
            data = data[:-1]
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if block:
            cut = data.rfind(b"\n") + 1
            complete, tail = data[:cut], data[cut:]
        else:  # the end of the file: the last row may lack its line end
            complete = data if data.endswith(b"\n") or not (data or skipping) else data + b"\n"
            tail = b""
        rows = complete.split(b"\n")[:-1]
        clean = check and _CLEAN_ROWS.fullmatch(complete) is not None
        if skipping and rows:
            rows[0], skipping, clean = _OVERLONG, False, False
        if len(tail) > MAX_VALUE_BYTES:
            tail, skipping = b"", True
        if rows:
            yield rows, clean
        if not block:
            return


class _SeenFilter:
    """A Bloom filter over row hashes: "maybe seen before" or "surely new".

    Two bits per byte of the file (a quarter of its size: a 37-byte GAID row gets 74 bits), one
    probe per row: a false "maybe" comes for about one GAID in 75. A false "maybe" is harmless:
    the second pass compares the actual values of those rows only.
    """

    def __init__(self, file_bytes: int) -> None:
        self.nbits = max(1 << 16, 2 * file_bytes)
        self.bits = bytearray((self.nbits + 7) // 8)

    def add_all(self, hashes: Iterable[int]) -> list[int]:
        """Record every hash; return those that may have been recorded before."""
        bits, nbits = self.bits, self.nbits
        maybe = []
        for h in hashes:
            i = h % nbits
            byte, mask = bits[i >> 3], 1 << (i & 7)
            if byte & mask:
                maybe.append(h)
            else:
                bits[i >> 3] = byte | mask
        return maybe


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


_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _refused(source: str, rule: str, size: int = 0) -> CsvCheckError:
    return CsvCheckError(CsvReport(source, size, 0, (CsvViolation(None, rule),), 1))


def _too_big(size: int, max_bytes: int) -> str:
    return f"file is {size:,} bytes, above the limit of {max_bytes:,} bytes"


def _open_regular(source: str) -> tuple[BinaryIO, int]:
    """The opened file and its size; :class:`CsvCheckError` unless it is a readable regular file.

    Opened without blocking (opening a FIFO would wait for a writer) and checked on the open
    descriptor itself, so the file cannot be swapped between the check and the reads.
    """
    try:
        fd = os.open(source, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise _refused(source, f"cannot open the file: {exc.strerror or exc}") from None
    mode, size = (st := os.fstat(fd)).st_mode, st.st_size
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")
        raise _refused(source, f"not a regular file ({kind}): only a file can be checked")
    return os.fdopen(fd, "rb"), size


def check_csv(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = MAX_FILE_BYTES,
    max_violations: int = 1000,
) -> CsvReport:
    """Check a local CSV file against MoEngage's file-segment rules, streaming it.

    Returns a :class:`CsvReport` (call ``report.raise_for_violations()`` to turn violations into a
    :class:`CsvCheckError`). Rows may end in ``\n``, ``\r\n`` or ``\r``. A path that cannot be
    opened or is not a regular file (a directory, a FIFO, a device such as ``/dev/zero``)
    raises :class:`CsvCheckError` at once.

    Memory stays a fraction of the file: it is read :data:`CHUNK_BYTES` at a time, and
    duplicates are found with a Bloom filter of a quarter of the file's size, then confirmed on
    the actual values in a second pass that runs only when some row may repeat (and keeps only
    those rows). This is blocking file I/O: from async code, run it in a worker thread
    (``await anyio.to_thread.run_sync(check_csv, path)``), as :class:`FileSegments` does.

    >>> report = check_csv("users.csv")  # doctest: +SKIP
    >>> report.users, [str(v) for v in report.violations]  # doctest: +SKIP
    (3, ['line 2: duplicate of line 1'])
    """
    source = os.fspath(path)
    f, size = _open_regular(source)
    file_level = [CsvViolation(None, _too_big(size, max_bytes))] if size > max_bytes else []
    rows = _Collector(max_violations)
    dups = _Collector(max_violations)
    users = 0
    seen = _SeenFilter(min(size, max_bytes))
    repeated: set[int] = set()
    with f:
        if f.read(len(_BOM)) == _BOM:
            rows.add(1, "file starts with a UTF-8 byte order mark")
        else:
            f.seek(0)
        start = f.tell()
        lineno = 0
        for batch, clean in _rows(f):
            values = batch
            if not clean:
                values = []
                for offset, row in enumerate(batch, start=lineno + 1):
                    rule = _row_rule(row)
                    if rule is not None:
                        rows.add(offset, rule)
                    if rule is _TOO_LONG:
                        users += 1
                    elif rule is not _EMPTY:
                        values.append(row)
            lineno += len(batch)
            users += len(values)
            repeated.update(seen.add_all(map(hash, values)))
        del seen
        if users == 0:
            file_level.append(CsvViolation(None, "the file holds no values"))
        if repeated:
            f.seek(start)
            _find_duplicates(f, repeated, dups)
    merged = sorted(rows.kept + dups.kept, key=lambda v: v.line or 0)
    kept = (file_level + merged)[:max_violations]
    return CsvReport(source, size, users, tuple(kept), len(file_level) + rows.count + dups.count)


def _find_duplicates(f: BinaryIO, repeated: set[int], out: _Collector) -> None:
    """Second pass: report each row equal to an earlier one, naming the first occurrence."""
    first_line: dict[bytes, int] = {}
    lineno = 0
    for batch, _ in _rows(f, check=False):
        for line, row in enumerate(batch, start=lineno + 1):
            if hash(row) in repeated and _row_rule(row) not in (_TOO_LONG, _EMPTY):
                first = first_line.setdefault(row, line)
                if first != line:
                    out.add(line, f"duplicate of line {first}")
        lineno += len(batch)


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
    http = http_client or httpx.AsyncClient(timeout=timeout)
    try:
        resp = await http.head(file_url, follow_redirects=True, timeout=timeout)
    except httpx.HTTPError:
        return None
    finally:
        if http_client is None:
            await http.aclose()
    if not resp.is_success:
        return None
    try:
        size = int(resp.headers.get("content-length", ""))
    except ValueError:
        return None
    if size > max_bytes:
        source = str(httpx.URL(file_url).copy_with(query=None))  # a signed query is a secret
        raise _refused(source, _too_big(size, max_bytes), size)
    return size


_SHOWN = 20  # violations spelled out in an exception message; the report keeps them all


class CsvCheckError(MoesegError, ValueError):
    """A CSV file broke MoEngage's file rules; nothing was sent and no quota was spent.

    ``report`` is the full :class:`CsvReport`; ``violations`` its violations, each naming the line
    (1-based, ``None`` for the whole file) and the rule.
    """

    def __init__(self, report: CsvReport) -> None:
        self.report = report
        self.violations = report.violations
        n = report.violation_count
        lines = [f"{report.source}: {n} CSV violation{'s' if n != 1 else ''}"]
        lines += [f"  {v}" for v in report.violations[:_SHOWN]]
        if n > _SHOWN:
            lines.append(f"  ... and {n - _SHOWN} more")
        super().__init__("\n".join(lines))
