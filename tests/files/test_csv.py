"""CSV checks before upload: every rule on crafted files, each violation with its line."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import moeseg
from moeseg.files import (
    CsvCheckError,
    CsvViolation,
    _csv,
    check_csv,
    check_csv_url,
)
from moeseg.files._csv import MAX_VALUE_BYTES


def write(tmp_path: Path, data: bytes, name: str = "users.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def rules(path: Path, **kw: int) -> list[tuple[int | None, str]]:
    return [(v.line, v.rule) for v in check_csv(path, **kw).violations]


def test_a_clean_file_counts_its_users(tmp_path: Path) -> None:
    path = write(
        tmp_path, b"alice@example.com\n+919876543210\n38400000-8cf0-11bd-b23e-10b96e40000d\n"
    )
    report = check_csv(path)
    assert report.ok
    assert report.users == 3
    assert report.size == path.stat().st_size
    assert report.violations == ()
    assert report.raise_for_violations() is report


def test_crlf_and_no_final_newline_are_fine(tmp_path: Path) -> None:
    report = check_csv(write(tmp_path, b"u1\r\nu2\r\nu3"))
    assert report.ok
    assert report.users == 3


@pytest.mark.parametrize(
    ("data", "line", "rule"),
    [
        (b"u1\n\nu2\n", 2, "empty row"),
        (b"u1\n  \nu2\n", 2, "empty row"),
        (b"u1\nu2,\n", 2, "value ends with a comma (trailing comma)"),
        (b"u1\nu2\nu3,extra\n", 3, "more than one column (comma inside the row)"),
        (b'"u1"\nu2\n', 1, "value is quoted (quote character)"),
        (b"u1\nit's\n", 2, "value is quoted (quote character)"),
        (b"u1\na#bc\n", 2, "special character '#'"),
        (b"u1\nu2\t\n", 2, "leading or trailing whitespace"),
        (b"u1\nu2\tx\n", 2, "special character '\\t'"),
        (b"u1\n u2\n", 2, "leading or trailing whitespace"),
        (b"u1\nu 2\n", 2, "special character ' '"),
        (b"u1\nu2;u3\n", 2, "special character ';'"),
        (b"\xef\xbb\xbfu1\nu2\n", 1, "file starts with a UTF-8 byte order mark"),
        (b"u1\nu\xff2\n", 2, "not valid UTF-8"),
        (b"u1\nu2\nu1\n", 3, "duplicate of line 1"),
    ],
)
def test_each_rule_names_its_line(tmp_path: Path, data: bytes, line: int, rule: str) -> None:
    assert rules(write(tmp_path, data)) == [(line, rule)]


def test_every_violation_is_reported_in_line_order(tmp_path: Path) -> None:
    data = b'a1\na2,\n\na1\na#3\na2,\nb"q"\na1\n'
    assert rules(write(tmp_path, data)) == [
        (2, "value ends with a comma (trailing comma)"),
        (3, "empty row"),
        (4, "duplicate of line 1"),
        (5, "special character '#'"),
        (6, "value ends with a comma (trailing comma)"),
        (6, "duplicate of line 2"),
        (7, "value is quoted (quote character)"),
        (8, "duplicate of line 1"),
    ]


def test_identifier_characters_are_allowed_and_others_are_not(tmp_path: Path) -> None:
    ok = "Ab9@x.y_z+1-2:3\nCD:EF:01\n"
    assert check_csv(write(tmp_path, ok.encode())).ok
    bad = write(tmp_path, "jürgen\nzoë\nuser/1\n".encode(), "bad.csv")
    assert rules(bad) == [
        (1, "special character 'ü'"),
        (2, "special character 'ë'"),
        (3, "special character '/'"),
    ]


def test_an_overlong_row_is_reported_without_being_kept(tmp_path: Path) -> None:
    data = b"u1\n" + b"x" * (3 * MAX_VALUE_BYTES) + b"\nu3\n"
    report = check_csv(write(tmp_path, data))
    assert [(v.line, v.rule) for v in report.violations] == [
        (2, f"row longer than {MAX_VALUE_BYTES} bytes")
    ]
    assert report.users == 3


def test_empty_file(tmp_path: Path) -> None:
    assert rules(write(tmp_path, b"")) == [(None, "the file holds no values")]


def test_file_above_the_size_limit(tmp_path: Path) -> None:
    path = write(tmp_path, b"u1\nu2\nu3\n")
    assert rules(path, max_bytes=8) == [(None, "file is 9 bytes, above the limit of 8 bytes")]
    assert check_csv(path, max_bytes=9).ok


def test_only_the_first_violations_are_kept_but_all_are_counted(tmp_path: Path) -> None:
    path = write(tmp_path, b"x,\n" * 50)
    report = check_csv(path, max_violations=5)
    assert len(report.violations) == 5
    assert report.violation_count == 50 + 49  # 50 trailing commas, 49 duplicates of line 1
    assert [v.line for v in report.violations] == [1, 2, 2, 3, 3]


def test_error_message_names_line_and_rule(tmp_path: Path) -> None:
    path = write(tmp_path, b"u1\nu1\n\n")
    with pytest.raises(CsvCheckError) as info:
        check_csv(path).raise_for_violations()
    err = info.value
    assert isinstance(err, moeseg.MoesegError)
    assert isinstance(err, ValueError)
    assert str(err) == (
        f"{path}: 2 CSV violations\n  line 2: duplicate of line 1\n  line 3: empty row"
    )
    assert err.violations == (CsvViolation(2, "duplicate of line 1"), CsvViolation(3, "empty row"))
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err)


def test_long_error_message_is_shortened(tmp_path: Path) -> None:
    path = write(tmp_path, b"".join(b"u%d,\n" % i for i in range(30)))
    message = str(CsvCheckError(check_csv(path)))
    assert "line 20: value ends with a comma" in message
    assert "line 21:" not in message
    assert message.endswith("... and 10 more")


def test_values_never_appear_in_violations(tmp_path: Path) -> None:
    path = write(tmp_path, b"secret@example.com\nsecret@example.com,\n")
    assert "secret" not in str(CsvCheckError(check_csv(path)))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", "d", "ab", "ba", "a:b"]), min_size=1, max_size=40))
def test_duplicates_match_a_naive_reference(
    tmp_path_factory: pytest.TempPathFactory, values: list[str]
) -> None:
    path = tmp_path_factory.mktemp("dup") / "users.csv"
    path.write_text("\n".join(values) + "\n", encoding="utf-8")
    first: dict[str, int] = {}
    expected = []
    for lineno, value in enumerate(values, start=1):
        if value in first:
            expected.append((lineno, f"duplicate of line {first[value]}"))
        first.setdefault(value, lineno)
    report = check_csv(path)
    assert [(v.line, v.rule) for v in report.violations] == expected
    assert report.users == len(values)


# -- remote files: one HEAD request ------------------------------------------------------------


def head_client(handler: httpx.MockTransport) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=handler)


@pytest.mark.anyio
async def test_url_size_under_the_limit_is_returned() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        return httpx.Response(200, headers={"content-length": "1234"})

    async with head_client(httpx.MockTransport(handler)) as http:
        assert await check_csv_url("https://files.invalid/u.csv", http_client=http) == 1234
    assert seen == ["HEAD"]


@pytest.mark.anyio
async def test_url_size_over_the_limit_is_refused_without_its_query() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-length": "150000001"})

    async with head_client(httpx.MockTransport(handler)) as http:
        with pytest.raises(CsvCheckError) as info:
            await check_csv_url("https://files.invalid/u.csv?X-Amz-Signature=abc", http_client=http)
    assert str(info.value) == (
        "https://files.invalid/u.csv: 1 CSV violation\n"
        "  file is 150,000,001 bytes, above the limit of 150,000,000 bytes"
    )


@pytest.mark.anyio
@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(403, headers={"content-length": "999999999"}),
        httpx.Response(200, headers={"content-length": "many"}),
        httpx.Response(200),
    ],
)
async def test_url_size_unknown_is_none(response: httpx.Response) -> None:
    async with head_client(httpx.MockTransport(lambda request: response)) as http:
        assert await check_csv_url("https://files.invalid/u.csv", http_client=http) is None


@pytest.mark.anyio
async def test_url_transport_error_is_none() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with head_client(httpx.MockTransport(handler)) as http:
        assert await check_csv_url("https://files.invalid/u.csv", http_client=http) is None


@pytest.mark.parametrize(
    ("rows", "width"), [(10_000, 1000), pytest.param(200_000, 16, marks=pytest.mark.slow)]
)
def test_the_file_is_streamed_not_loaded(tmp_path: Path, rows: int, width: int) -> None:
    """Memory stays under a quarter of the file plus a few chunks, for long rows and for many
    short rows (each file is larger than that bound)."""
    import tracemalloc

    path = tmp_path / "big.csv"
    with path.open("wb") as f:
        f.writelines(b"%0*d\n" % (width, i) for i in range(rows))
    size = path.stat().st_size
    tracemalloc.start()
    try:
        report = check_csv(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.ok
    assert report.users == rows
    bound = size / 4 + 32 * _csv.CHUNK_BYTES  # the filter is size / 4; the rest, a few chunks
    assert size > bound
    assert peak < bound


def test_false_maybes_of_the_filter_never_become_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even a filter that answers "maybe seen" for every row reports only true duplicates."""
    monkeypatch.setattr(_csv._SeenFilter, "add_all", lambda self, hashes: list(hashes))
    assert check_csv(write(tmp_path, b"u1\nu2\nu3\n")).ok
    assert rules(write(tmp_path, b"u1\nu2\nu1\nu3\nu2\n", "dup.csv")) == [
        (3, "duplicate of line 1"),
        (5, "duplicate of line 2"),
    ]


# -- what check_csv meets on a real file system ------------------------------------------------


@pytest.mark.timeout(10)
def test_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    """Before: opening the FIFO waited for ever for a writer."""
    fifo = tmp_path / "users.csv"
    os.mkfifo(fifo)
    with pytest.raises(CsvCheckError) as info:
        check_csv(fifo)
    assert info.value.violations == (
        CsvViolation(None, "not a regular file (a FIFO (named pipe)): only a file can be checked"),
    )


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("path", "kind"), [("/dev/zero", "a character device"), (".", "a directory")]
)
def test_devices_and_directories_are_refused(path: str, kind: str) -> None:
    """Before: /dev/zero was read for ever (an endless row without a line end)."""
    with pytest.raises(CsvCheckError, match="not a regular file") as info:
        check_csv(path)
    assert kind in str(info.value)
    assert isinstance(info.value, moeseg.MoesegError)


def test_a_missing_file_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(CsvCheckError, match="cannot open the file: No such file or directory"):
        check_csv(tmp_path / "absent.csv")


@pytest.mark.parametrize(
    "data",
    [b"u1\ru2\ru3", b"u1\ru2\ru3\r", b"u1\r\nu2\ru3\n", b"u1\nu2\r\nu3\r"],
    ids=["cr", "cr-final", "mixed", "mixed-final-cr"],
)
def test_cr_only_and_mixed_line_ends_are_rows(tmp_path: Path, data: bytes) -> None:
    """Before: a file with CR-only line ends (old Mac Excel exports) was one user."""
    report = check_csv(write(tmp_path, data))
    assert report.ok, report.violations
    assert report.users == 3


def test_rows_split_by_cr_are_checked_one_by_one(tmp_path: Path) -> None:
    assert rules(write(tmp_path, b"u1\ru2\r\ru1\r")) == [
        (3, "empty row"),
        (4, "duplicate of line 1"),
    ]


ROW = st.one_of(
    st.sampled_from([b"u1", b"u2", b"a:b", b"x@y.z", b"", b" ", b"u1,", b'"q"', b"\xff", b"\xef"]),
    st.binary(max_size=12),
    st.just(b"v" * (MAX_VALUE_BYTES + 3)),
)
ENDING = st.sampled_from([b"\n", b"\r\n", b"\r"])


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    rows = draw(st.lists(st.tuples(ROW, ENDING), max_size=30))
    data = b"".join(row + end for row, end in rows)
    return data[: -draw(st.integers(0, 2))] if data and draw(st.booleans()) else data


def summary(path: Path) -> tuple[int, list[tuple[int | None, str]], int]:
    report = check_csv(path, max_violations=10_000)
    return report.users, [(v.line, v.rule) for v in report.violations], report.violation_count


# No per-example deadline: one-byte chunks of an overlong row take many reads on a loaded
# machine; the example count and pytest-timeout bound the test.
@settings(max_examples=60, deadline=None)
@given(data=csv_files(), chunk=st.sampled_from([1, 2, 3, 7, 64, 4099]))
def test_chunk_boundaries_never_change_the_report(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, chunk: int
) -> None:
    """Whatever bytes fall at a chunk's edge (half a CRLF, part of an overlong row), the report
    is the one of a single read."""
    path = tmp_path_factory.mktemp("chunks") / "users.csv"
    path.write_bytes(data)
    whole = summary(path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_csv, "CHUNK_BYTES", chunk)
        assert summary(path) == whole


@settings(max_examples=100, deadline=5000)
@given(data=st.one_of(csv_files(), st.binary(max_size=300)))
def test_any_bytes_give_a_report_or_a_typed_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    """Fuzz: random bytes, rows and line ends give a report whose user count is the number of
    non-blank rows (line ends \\n, \\r\\n or \\r), never a raw exception."""
    path = tmp_path_factory.mktemp("fuzz") / "users.csv"
    path.write_bytes(data)
    try:
        report = check_csv(path)
    except CsvCheckError:  # pragma: no cover - only a file system problem raises here
        raise AssertionError("a regular file must give a report") from None
    body = data.removeprefix(b"\xef\xbb\xbf")
    rows = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    if rows and rows[-1] == b"":
        rows.pop()
    assert report.users == sum(1 for r in rows if r.strip())
    assert report.ok == (report.violation_count == 0)
    assert all(isinstance(v, CsvViolation) for v in report.violations)
