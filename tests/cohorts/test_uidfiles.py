"""Sorted uid files (the snapshot format), CSV uid lists and the external sort."""

from __future__ import annotations

from pathlib import Path

import pytest

import moeseg
from moeseg._cohorts import (
    HEADER,
    CohortValidationError,
    SnapshotError,
    UidFile,
    read_uid_csv,
    sort_uids,
    write_uid_file,
)


def test_write_then_read(tmp_path: Path) -> None:
    uids = ["a", "b", "é", "😀"]
    written = write_uid_file(tmp_path / "s", uids)
    assert written == UidFile(tmp_path / "s", 4)
    assert list(written) == uids
    assert (tmp_path / "s").read_bytes() == (HEADER + "\na\nb\né\n😀\n").encode()


def test_write_refuses_unsorted_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        write_uid_file(tmp_path / "s", ["b", "a"])


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("a\nb\n", "line 1"),
        (HEADER + "\nb\na\n", "line 3 'a' is out of order"),
        (HEADER + "\na\na\n", "line 3 'a' repeats"),
        (HEADER + "\na\nb", "line 3 is cut short"),
        ("", "line 1"),
    ],
)
def test_damaged_snapshots_are_refused(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "s"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SnapshotError, match=why):
        list(UidFile(path, 0))
    assert issubclass(SnapshotError, moeseg.MoesegError)


def write_csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "users.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_uid_column_by_name(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "email,UID\nx@y,u1\n\nz@w,u2\n")
    assert list(read_uid_csv(path)) == ["u1", "u2"]
    assert list(read_uid_csv(path, column="email")) == ["x@y", "z@w"]


def test_csv_single_column_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_bytes('\ufeffid\nä\n"b,c"\n'.encode())
    assert list(read_uid_csv(path)) == ["ä", "b,c"]


def test_csv_empty_file(tmp_path: Path) -> None:
    assert list(read_uid_csv(write_csv(tmp_path, ""))) == []


@pytest.mark.parametrize(
    ("text", "column", "why"),
    [
        ("a,b\n1,2\n", None, "no 'uid' column"),
        ("uid\n1\n", "id", "no column 'id'"),
        ("x,uid\n1,u\n2,   \n", None, "line 3: must not be empty"),
        ("x,uid\n1,u\n2\n", None, "line 3: has no column 'uid'"),
    ],
)
def test_csv_problems_name_the_line(
    tmp_path: Path, text: str, column: str | None, why: str
) -> None:
    with pytest.raises(CohortValidationError, match=why):
        list(read_uid_csv(write_csv(tmp_path, text), column=column))


@pytest.mark.parametrize("run_size", [1, 2, 3, 1000])
def test_external_sort_dedupes_across_runs(tmp_path: Path, run_size: int) -> None:
    uids = ["d", "b", "a", "c", "b", "e", "a", "😀", "é"]
    result = sort_uids(uids, tmp_path, "sorted", run_size=run_size)
    assert list(result.file) == sorted(set(uids))
    assert result.duplicates == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sorted"]  # runs are removed


def test_sort_checks_every_uid(tmp_path: Path) -> None:
    with pytest.raises(CohortValidationError):
        sort_uids(["a", "b\nc"], tmp_path, "sorted", run_size=1)
    assert list(tmp_path.iterdir()) == []


def test_code_point_order_is_utf8_byte_order(tmp_path: Path) -> None:
    uids = ["\uffff", "😀", "\u00e9", "z", "\ue000"]
    result = sort_uids(uids, tmp_path, "s", run_size=2)
    lines = (tmp_path / "s").read_bytes().split(b"\n")[1:-1]
    assert lines == sorted(lines)
    assert list(result.file) == sorted(uids)
