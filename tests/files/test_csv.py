"""CSV checks before upload: every rule on crafted files, each violation with its line."""

from __future__ import annotations

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


@pytest.mark.parametrize(("rows", "width"), [(10_000, 1000), (40_000, 8)])
def test_the_file_is_streamed_not_loaded(tmp_path: Path, rows: int, width: int) -> None:
    """Memory stays under a quarter of the file, for long rows and for many short rows."""
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
    assert peak < size / 4 + 200_000  # the filter is size / 4; the rest is a few rows


def test_false_maybes_of_the_filter_never_become_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even a filter that answers "maybe seen" for every row reports only true duplicates."""
    monkeypatch.setattr(_csv._SeenFilter, "add", lambda self, digest: True)
    assert check_csv(write(tmp_path, b"u1\nu2\nu3\n")).ok
    assert rules(write(tmp_path, b"u1\nu2\nu1\nu3\nu2\n", "dup.csv")) == [
        (3, "duplicate of line 1"),
        (5, "duplicate of line 2"),
    ]
