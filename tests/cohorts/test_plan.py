"""The membership-sync planner: requests, quota, ETA and the file route's choice."""

from __future__ import annotations

import math

import pytest

import moeseg
from moeseg._cohorts import (
    ActionSize,
    Cohort,
    chunk_members,
    encode_member,
    measure_action,
    plan_sync,
)
from moeseg.governor import GroupView, QuotaGroup, QuotaPolicy, Window, WindowView


def size(action: str, requests: int, uids: int = 0) -> ActionSize:
    return ActionSize(action, uids or requests, requests * 100, requests)  # type: ignore[arg-type]


def test_measure_counts_what_the_chunker_sends() -> None:
    cohort = Cohort("measure")
    uids = [f"user-{i}-é" for i in range(20_000)]
    measured = measure_action(cohort, "add_members", uids)
    chunks = list(chunk_members(cohort, "add_members", uids))
    assert measured.requests == len(chunks)
    assert measured.uids == len(uids)
    assert measured.member_bytes == len(b",".join(encode_member(u) for u in uids))
    assert measured.minimum == math.ceil(measured.member_bytes / 128_000)
    assert measured.minimum <= measured.requests <= measured.minimum + 1


def test_measure_of_nothing() -> None:
    empty = measure_action(Cohort("x"), "remove_members", [])
    assert (empty.uids, empty.member_bytes, empty.requests, empty.minimum) == (0, 0, 0, 0)


@pytest.mark.parametrize(
    ("requests", "eta"), [(1, 0.0), (300, 0.0), (301, 60.0), (600, 60.0), (601, 120.0)]
)
def test_cohort_eta_at_300_a_minute(requests: int, eta: float) -> None:
    adds = size("add_members", requests - requests // 2)
    removes = size("remove_members", requests // 2)
    plan = plan_sync("cohort", adds, removes)
    assert plan.requests == requests
    assert plan.quota == {"cohort_sync": requests}
    assert plan.eta_seconds == plan.optimum_seconds == eta


def test_cohort_steps_adds_first_with_their_minimum() -> None:
    adds = ActionSize("add_members", 10_000, 300_000, 3)
    removes = ActionSize("remove_members", 50, 1_000, 1)
    plan = plan_sync("cohort", adds, removes)
    assert [(s.action, s.requests, s.minimum) for s in plan.steps] == [
        ("add_members", 3, 3),
        ("remove_members", 1, 1),
    ]
    assert plan.method == "add/remove"
    assert plan.notes == ()
    text = plan.describe()
    assert "add_members: 10,000 uids in 3 requests (minimum 3)" in text
    assert "ETA 0s" in text


def test_cohort_first_sync_says_removes_are_unknown() -> None:
    plan = plan_sync("cohort", size("add_members", 2), None)
    assert plan.method == "add only"
    assert any("no snapshot" in n and "no replace" in n for n in plan.notes)


def test_cohort_nothing_to_do() -> None:
    plan = plan_sync("cohort", size("add_members", 0), size("remove_members", 0))
    assert (plan.steps, plan.requests, plan.eta_seconds) == ((), 0, 0.0)
    assert "nothing to send" in plan.reason


def test_the_eta_counts_quota_already_spent() -> None:
    # 300 admissions 30 s ago, finished: the next slot frees at t=90 (30 s + 60 s window).
    full = WindowView(Window(300, 60), 300, ((0.0, 300),))
    views = {"cohort_sync": GroupView("cohort_sync", 30.0, 0, 0.0, (full,))}
    plan = plan_sync("cohort", size("add_members", 1), None, views=views, now=30.0)
    assert plan.eta_seconds == 30.0
    assert plan.optimum_seconds == 0.0


def test_cohort_route_needs_measured_sizes() -> None:
    with pytest.raises(moeseg.ConfigurationError, match="ActionSize"):
        plan_sync("cohort", 5, 3)
    with pytest.raises(moeseg.ConfigurationError, match="add_members planned with"):
        plan_sync("cohort", size("remove_members", 1), None)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"route": "email"}, "route"),
        ({"replace": "sometimes"}, "replace"),
        ({"adds": -1}, "adds"),
        ({"removes": 1.5}, "removes"),
    ],
)
def test_bad_arguments_are_configuration_errors(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"route": "file", "adds": 1, "removes": 1, **kwargs}
    with pytest.raises(moeseg.ConfigurationError, match=match):
        plan_sync(**args)  # type: ignore[arg-type]


def test_file_replace_is_chosen_when_cheaper() -> None:
    plan = plan_sync("file", 5_000, 5_000)
    assert plan.method == "replace"
    assert [s.operation for s in plan.steps] == ["file_replace"]
    assert plan.quota == {"file_ops": 1, "file_users": 5_000}
    assert "cheaper than add/remove" in plan.reason
    assert "2 file_ops" in plan.reason


def test_file_add_alone_is_no_dearer_than_replace() -> None:
    plan = plan_sync("file", 5_000, 0)
    assert plan.method == "add/remove"
    assert plan.quota == {"file_ops": 1, "file_users": 5_000}
    assert "costs no more than replace" in plan.reason


def test_file_replace_never() -> None:
    plan = plan_sync("file", 5_000, 5_000, replace="never")
    assert plan.method == "add/remove"
    assert plan.quota == {"file_ops": 2, "file_users": 10_000}
    assert "replace not allowed" in plan.reason


def test_file_first_sync_adds_and_offers_replace() -> None:
    plan = plan_sync("file", 7, None)
    assert plan.method == "add only"
    assert [s.operation for s in plan.steps] == ["file_add"]
    assert any("ask for replace" in n for n in plan.notes)
    exact = plan_sync("file", 7, None, replace="always")
    assert exact.method == "replace"
    assert exact.quota == {"file_ops": 1, "file_users": 7}


def test_file_users_beyond_a_day_split_and_wait() -> None:
    plan = plan_sync("file", 2_500_000, 10)
    assert plan.method == "add/remove"
    assert plan.steps[0].requests == 2
    assert plan.quota == {"file_ops": 3, "file_users": 2_500_010}
    assert plan.eta_seconds == 86_400.0
    assert any("replace is not possible" in n for n in plan.notes)


def test_file_ops_per_hour_bound_the_eta() -> None:
    # 1,000 users a second: 11 files, 10 an hour -> the 11th waits an hour.
    base = QuotaPolicy.moengage().with_group(
        QuotaGroup("file_users", (Window(1_000, 1.0),), weighted=True)
    )
    plan = plan_sync("file", 11_000, 0, policy=base, replace="never")
    assert plan.steps[0].requests == 11
    assert plan.eta_seconds == 3_600.0


def test_file_nothing_to_do() -> None:
    plan = plan_sync("file", 0, 0)
    assert (plan.steps, plan.requests) == ((), 0)
    assert "nothing to send" in plan.reason


def test_the_plan_spends_the_policy_the_client_spends() -> None:
    """The default is MoEngage's policy, with Cohort Sync's 300 a minute; a custom policy
    without the group is refused as the client refuses it (no group added behind its back)."""
    assert QuotaPolicy.moengage().group("cohort_sync").windows == (Window(300, 60.0),)
    adds, removes = ActionSize("add_members", 3, 30, 1), ActionSize("remove_members", 0, 0, 0)
    assert plan_sync("cohort", adds, removes).requests == 1
    bare = QuotaPolicy((QuotaGroup("segments", (Window(50, 60.0),)),), {"create": {"segments": 1}})
    with pytest.raises(moeseg.ConfigurationError, match="cohort_sync"):
        plan_sync("cohort", adds, removes, policy=bare)
