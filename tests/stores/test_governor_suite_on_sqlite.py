"""The governor's own test suite (tests/governor/test_governor.py), every test that takes a
``store_kind``, run again with the Governor on a SQLite store in virtual time.

The suite builds its governors with its ``make(policy, kind)``; the ``store_kind`` fixture
below answers ``"sqlite"`` and routes ``make`` to a SQLite-backed governor on the loop clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import tests.governor.test_governor as suite
from moeseg.governor import AnyioClock, Governor, QuotaPolicy, SQLiteStore
from tests.governor.test_governor import (  # noqa: F401 (collected here, on SQLite)
    test_50_creates_go_at_once_and_the_51st_waits_a_minute,
    test_a_429_pauses_the_group_for_the_named_window,
    test_a_429_wakes_no_one_early,
    test_a_cancelled_waiter_takes_nothing_and_delays_no_one,
    test_a_large_weight_is_not_starved_by_small_ones,
    test_a_lease_never_ended_expires_after_its_bound,
    test_a_slot_stays_occupied_until_a_window_after_the_lease_ends,
    test_a_waiter_never_waits_on_a_group_it_does_not_need,
    test_complete_and_refund_work_inside_a_cancelled_scope,
    test_eta_and_next_free_match_what_then_happens,
    test_headers_only_make_the_governor_more_conservative,
    test_lease_context_manager_completes_even_on_error,
    test_max_wait_fails_at_once_with_when_quota_frees,
    test_max_wait_that_passes_while_waiting_raises_then,
    test_refund_gives_the_slot_back_at_once,
    test_waiters_are_served_in_arrival_order,
)

pytestmark = [pytest.mark.anyio, pytest.mark.virtual_time]


@pytest.fixture
def store_kind(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    stores: list[SQLiteStore] = []

    def make(policy: QuotaPolicy | None = None, kind: str = "memory") -> Governor:
        assert kind == "sqlite"
        clock = AnyioClock()
        store = SQLiteStore(tmp_path / "quota.sqlite3", workspace=uuid.uuid4().hex, clock=clock)
        store.open()  # now, not in a worker thread while virtual time could jump
        stores.append(store)
        return Governor(policy, store=store, clock=clock)

    monkeypatch.setattr(suite, "make", make)
    yield "sqlite"
    assert stores, "the test did not build its governor through make()"
    for store in stores:
        store.close()
