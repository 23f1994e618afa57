"""Quotas as data: MoEngage defaults, overrides, scaling, demands, validation."""

from __future__ import annotations

import pytest

from moeseg import ConfigurationError
from moeseg.governor import USERS, QuotaGroup, QuotaPolicy, Window


def test_moengage_defaults_match_the_documented_limits() -> None:
    p = QuotaPolicy.moengage()
    limits = {g.name: [(w.limit, w.seconds) for w in g.windows] for g in p.groups}
    assert limits == {
        "segments": [(50, 60), (200, 3600), (1000, 86400)],
        "segment_reads": [(100, 60), (1000, 3600), (4000, 86400)],
        "file_ops": [(10, 3600), (100, 86400)],
        "file_users": [(2_000_000, 86400)],
        "cohort_sync": [(300, 60)],
    }
    assert p.group("file_users").weighted
    assert not p.group("segments").weighted


@pytest.mark.parametrize(
    ("operation", "users", "expected"),
    [
        ("create", 0, {"segments": 1}),
        ("list", 0, {"segments": 1}),
        ("update", 0, {"segments": 1}),
        ("get", 0, {"segment_reads": 1}),
        ("file_create", 1500, {"file_ops": 1, "file_users": 1500}),
        ("file_add", 7, {"file_ops": 1, "file_users": 7}),
        ("file_remove", 7, {"file_ops": 1, "file_users": 7}),
        ("file_replace", 0, {"file_ops": 1}),
        ("legacy_csv", 0, {"file_ops": 1}),
        ("cohort_sync", 0, {"cohort_sync": 1}),
        ("archive", 0, {}),
        ("unarchive", 0, {}),
    ],
)
def test_demand_of_each_operation(operation: str, users: int, expected: dict[str, int]) -> None:
    assert QuotaPolicy.moengage().demand(operation, users=users) == expected


def test_scaled_multiplies_every_window_and_keeps_limits() -> None:
    p = QuotaPolicy.moengage().scaled(0.01)
    assert [(w.limit, w.seconds) for w in p.group("segments").windows] == [
        (50, pytest.approx(0.6)),
        (200, pytest.approx(36.0)),
        (1000, pytest.approx(864.0)),
    ]
    assert p.operations == QuotaPolicy.moengage().operations


def test_users_override_limits_and_grouping() -> None:
    raised = QuotaPolicy.moengage().with_group(
        QuotaGroup("segments", (Window(100, 60), Window(400, 3600)))
    )
    assert raised.group("segments").windows == (Window(100, 60), Window(400, 3600))
    split = raised.with_group(QuotaGroup("lists", (Window(10, 60),))).with_operation(
        "list", {"lists": 1}
    )
    assert split.demand("list") == {"lists": 1}
    assert split.demand("create") == {"segments": 1}
    assert split != raised


def test_windows_are_sorted_shortest_first() -> None:
    g = QuotaGroup("g", (Window(5, 3600), Window(1, 1)))
    assert [w.seconds for w in g.windows] == [1.0, 3600.0]
    assert g.longest == 3600.0
    assert str(g) == "g [1/1s, 5/3600s]"


@pytest.mark.parametrize(
    "build",
    [
        lambda: Window(0, 60),
        lambda: Window(5, 0),
        lambda: Window(5, float("inf")),
        lambda: QuotaGroup("g", ()),
        lambda: QuotaGroup("g", (Window(1, 60), Window(2, 60))),
        lambda: QuotaPolicy((QuotaGroup("g", (Window(1, 1),)),) * 2, {}),
        lambda: QuotaPolicy((), {"op": {"nope": 1}}),
        lambda: QuotaPolicy((QuotaGroup("g", (Window(1, 1),)),), {"op": {"g": USERS}}),
        lambda: QuotaPolicy((QuotaGroup("g", (Window(1, 1),)),), {"op": {"g": 0}}),
        lambda: QuotaPolicy.moengage().demand("nope"),
        lambda: QuotaPolicy.moengage().demand("file_add", users=-1),
        lambda: QuotaPolicy.moengage().group("nope"),
        lambda: QuotaPolicy.moengage().scaled(0),
    ],
)
def test_invalid_quotas_are_configuration_errors(build: object) -> None:
    with pytest.raises(ConfigurationError):
        build()  # type: ignore[operator]


def test_policy_is_hashable_and_comparable() -> None:
    assert QuotaPolicy.moengage() == QuotaPolicy.moengage()
    assert hash(QuotaPolicy.moengage()) == hash(QuotaPolicy.moengage())
    assert QuotaPolicy.moengage() != QuotaPolicy.moengage().with_operation("get", {"segments": 1})


def test_headroom_leaves_a_fraction_or_a_count_of_every_window() -> None:
    policy = QuotaPolicy.moengage()
    assert policy.headroom == 0
    segments = policy.group("segments")
    assert [policy.with_headroom(0.1).usable(w) for w in segments.windows] == [45, 180, 900]
    assert [policy.with_headroom(0.01).usable(w) for w in segments.windows] == [49, 198, 990]
    assert [policy.with_headroom(5).usable(w) for w in segments.windows] == [45, 195, 995]
    usable = policy.with_headroom(5).usable_group(segments)
    assert [w.limit for w in usable.windows] == [45, 195, 995]
    assert policy.with_headroom(5) != policy


@pytest.mark.parametrize("headroom", [-1, 1.5, 50, float("nan"), float("inf"), True])
def test_bad_headroom_is_a_configuration_error(headroom: float) -> None:
    with pytest.raises(ConfigurationError):
        QuotaPolicy.moengage().with_headroom(headroom)


def test_time_scale_records_every_scaling() -> None:
    policy = QuotaPolicy.moengage()
    assert policy.time_scale == 1.0
    scaled = policy.scaled(0.5).scaled(0.1)
    assert scaled.time_scale == pytest.approx(0.05)
    assert scaled.group("segments").windows[0].seconds == pytest.approx(3.0)
