"""The streamed membership diff: convergence, first sync, determinism, kill and rerun."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moeseg._cohorts import HEADER, SnapshotError, diff_sorted, membership_diff, write_uid_file

uid = st.text(alphabet="abcé😀", min_size=1, max_size=3)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def test_merge_walk() -> None:
    assert list(diff_sorted(["a", "c", "d"], ["b", "c", "e"])) == [
        ("remove_members", "a"),
        ("add_members", "b"),
        ("remove_members", "d"),
        ("add_members", "e"),
    ]
    assert list(diff_sorted([], [])) == []


@SETTINGS
@given(before=st.lists(uid, max_size=25), after=st.lists(uid, max_size=25))
def test_applying_the_diff_to_before_gives_after(
    tmp_path_factory: pytest.TempPathFactory, before: list[str], after: list[str]
) -> None:
    work = tmp_path_factory.mktemp("diff")
    snapshot = write_uid_file(work / "snapshot", sorted(set(before)))
    with membership_diff(after, snapshot.path, workdir=work, run_size=4) as diff:
        adds, removes = list(diff.adds), list(diff.removes or ())
        assert diff.removes is not None
        assert (set(before) - set(removes)) | set(adds) == set(after)
        assert not set(adds) & set(before)
        assert set(removes) <= set(before)
        assert adds == sorted(adds)
        assert removes == sorted(removes)
        assert diff.duplicates == len(after) - len(set(after))
        assert diff.previous == len(set(before))
        assert diff.empty == (set(before) == set(after))
        committed = diff.commit_snapshot(work / "snapshot")
    assert list(committed) == sorted(set(after))
    assert [p.name for p in work.iterdir()] == ["snapshot"]  # temporaries are gone


@SETTINGS
@given(after=st.lists(uid, max_size=25))
def test_first_sync_adds_everything_and_removes_are_unknown(
    tmp_path_factory: pytest.TempPathFactory, after: list[str]
) -> None:
    work = tmp_path_factory.mktemp("first")
    with membership_diff(after, work / "missing", workdir=work, run_size=3) as diff:
        assert diff.removes is None
        assert not diff.removes_known
        assert diff.previous is None
        assert not diff.empty
        assert list(diff.adds) == sorted(set(after))


def test_output_is_deterministic(tmp_path: Path) -> None:
    snapshot = write_uid_file(tmp_path / "snap", [f"u{i:03d}" for i in range(0, 200, 2)])
    desired = [f"u{i:03d}" for i in range(0, 200, 3)]
    outputs = []
    for order in (desired, desired[::-1], desired + desired):
        with membership_diff(order, snapshot.path, workdir=tmp_path, run_size=7) as diff:
            assert diff.removes is not None
            outputs.append(
                (
                    diff.adds.path.read_bytes(),
                    diff.removes.path.read_bytes(),
                    diff.desired.path.read_bytes(),
                )
            )
    assert outputs[0] == outputs[1] == outputs[2]


def test_a_killed_sync_reruns_the_same_deltas(tmp_path: Path) -> None:
    # Until commit_snapshot, the old snapshot stays: a rerun after a kill sees every delta again
    # (applying an add or remove twice is harmless).
    snap = write_uid_file(tmp_path / "snap", ["a", "b", "c"]).path
    with membership_diff(["b", "c", "d"], snap, workdir=tmp_path) as first:
        assert first.removes is not None
        planned = (list(first.adds), list(first.removes))
        # killed here: no commit
    with membership_diff(["b", "c", "d"], snap, workdir=tmp_path) as again:
        assert again.removes is not None
        assert (list(again.adds), list(again.removes)) == planned == (["d"], ["a"])
        again.commit_snapshot(snap)
    with membership_diff(["b", "c", "d"], snap, workdir=tmp_path) as done:
        assert done.empty


def test_a_damaged_snapshot_fails_before_any_plan(tmp_path: Path) -> None:
    snap = tmp_path / "snap"
    snap.write_text(HEADER + "\na\nc\nb\n", encoding="utf-8")
    diff = membership_diff(["a"], snap, workdir=tmp_path)
    with pytest.raises(SnapshotError, match="line 4 'b' is out of order"), diff:
        pass  # pragma: no cover
    assert [p.name for p in tmp_path.iterdir()] == ["snap"]


@SETTINGS
@given(
    before=st.sets(uid, max_size=15),
    after=st.sets(uid, max_size=15),
    touched=st.sets(uid, max_size=15),
    data=st.data(),
)
def test_uncertain_uids_reach_their_desired_state_whatever_was_applied(
    tmp_path_factory: pytest.TempPathFactory,
    before: set[str],
    after: set[str],
    touched: set[str],
    data: st.DataObject,
) -> None:
    # An interrupted sync touched some uids: the real segment differs from the snapshot
    # anywhere among them. The next diff must fix every such difference.
    work = tmp_path_factory.mktemp("unsure")
    real = set(before)
    for u in sorted(touched):
        if data.draw(st.booleans(), label=f"applied {u!r}"):
            real.symmetric_difference_update({u})
    snapshot = write_uid_file(work / "snapshot", sorted(before))
    unsure = write_uid_file(work / "unsure", sorted(touched))
    with membership_diff(sorted(after), snapshot.path, uncertain=unsure.path, workdir=work) as diff:
        assert diff.removes is not None
        assert ((real - set(diff.removes)) | set(diff.adds)) == after
        assert diff.previous == len(before)


def test_uncertain_uids_without_a_snapshot_give_known_removes(tmp_path: Path) -> None:
    unsure = write_uid_file(tmp_path / "unsure", ["a", "b"])
    with membership_diff(["b", "c"], tmp_path / "none", uncertain=unsure.path) as diff:
        assert (list(diff.adds), list(diff.removes or ())) == (["b", "c"], ["a"])
        assert diff.previous is None
