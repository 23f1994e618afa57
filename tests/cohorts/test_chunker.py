"""Bodies cut to the size limit: exact byte accounting, never a split uid, lazy streaming."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import moeseg
from moeseg._cohorts import (
    MAX_BODY_BYTES,
    Cohort,
    CohortChunk,
    UidTooLarge,
    chunk_members,
    encode_body,
    encode_member,
)

COHORT = Cohort("Boundaries", description="chunk tests")
EMPTY_MEMBER = len(b'{"uid":""}')


def fixed_bytes(cohort: Cohort, action: str = "add_members") -> int:
    return len(encode_body(cohort, action, []))  # type: ignore[arg-type]


def uids_filling(total: int, cohort: Cohort = COHORT) -> list[str]:
    """Uids whose single body is exactly ``total`` bytes (the last one padded)."""
    uids: list[str] = []
    size = fixed_bytes(cohort)
    i = 0
    while True:
        uid = f"user-{i:08d}"
        cost = len(encode_member(uid)) + (1 if uids else 0)
        if size + cost + 20 > total:
            break
        uids.append(uid)
        size += cost
        i += 1
    pad = total - size - EMPTY_MEMBER - 1  # the last member's padding
    uids.append("z" * pad)
    assert len(encode_body(cohort, "add_members", uids)) == total
    return uids


def check_chunks(chunks: list[CohortChunk], uids: list[str], limit: int) -> None:
    assert [u for c in chunks for u in c.uids] == uids
    for chunk in chunks:
        assert len(chunk.body) <= limit
        assert chunk.body == encode_body(COHORT, chunk.action, chunk.uids)
        decoded = json.loads(chunk.body.decode("utf-8"))
        assert [m["uid"] for m in decoded["parameters"]["members"]] == list(chunk.uids)
    # Greedy: the first uid of the next body would not have fitted in this one.
    for this, nxt in itertools.pairwise(chunks):
        assert len(encode_body(COHORT, this.action, (*this.uids, nxt.uids[0]))) > limit


def test_a_body_of_exactly_the_limit_is_one_request() -> None:
    uids = uids_filling(MAX_BODY_BYTES)
    chunks = list(chunk_members(COHORT, "add_members", uids))
    assert len(chunks) == 1
    assert len(chunks[0].body) == MAX_BODY_BYTES


def test_one_uid_over_the_limit_starts_a_second_request() -> None:
    uids = [*uids_filling(MAX_BODY_BYTES), "x"]
    chunks = list(chunk_members(COHORT, "add_members", uids))
    assert [len(c.uids) for c in chunks] == [len(uids) - 1, 1]
    assert len(chunks[0].body) == MAX_BODY_BYTES
    check_chunks(chunks, uids, MAX_BODY_BYTES)


def test_one_byte_less_moves_the_last_uid() -> None:
    uids = uids_filling(MAX_BODY_BYTES)
    chunks = list(chunk_members(COHORT, "add_members", uids, limit=MAX_BODY_BYTES - 1))
    assert [len(c.uids) for c in chunks] == [len(uids) - 1, 1]


def test_unicode_is_counted_in_utf8_bytes() -> None:
    uid = "é" * 10 + "😀"  # 10 * 2 + 4 bytes
    member = encode_member(uid)
    assert len(member) == len('{"uid":""}') + 24
    limit = fixed_bytes(COHORT) + 2 * len(member) + 1
    chunks = list(chunk_members(COHORT, "add_members", [uid] * 3, limit=limit))
    assert [len(c.uids) for c in chunks] == [2, 1]
    assert len(chunks[0].body) == limit


def test_escapes_are_counted_as_sent() -> None:
    uid = 'a"b\\c\x01'  # " -> \", \ -> \\, \x01 -> \u0001
    assert encode_member(uid) == b'{"uid":"a\\"b\\\\c\\u0001"}'


def test_a_uid_too_large_for_any_body_is_named() -> None:
    big = "big-" + "x" * MAX_BODY_BYTES
    gen = chunk_members(COHORT, "remove_members", ["a", "b", big, "c"])
    with pytest.raises(UidTooLarge) as info:
        list(gen)
    err = info.value
    assert err.uid == big
    assert err.size == fixed_bytes(COHORT, "remove_members") + len(encode_member(big))
    assert err.limit == MAX_BODY_BYTES
    assert "'big-xxx" in str(err)
    assert len(str(err)) < 400  # the uid is shortened in the message, whole on .uid
    assert isinstance(err, moeseg.SegmentValidationError)


def test_the_largest_uid_that_fits_alone() -> None:
    room = MAX_BODY_BYTES - fixed_bytes(COHORT) - EMPTY_MEMBER
    (chunk,) = chunk_members(COHORT, "add_members", ["x" * room])
    assert len(chunk.body) == MAX_BODY_BYTES
    with pytest.raises(UidTooLarge):
        list(chunk_members(COHORT, "add_members", ["x" * (room + 1)]))


def test_no_members_no_requests() -> None:
    assert list(chunk_members(COHORT, "add_members", [])) == []


def test_members_are_read_lazily() -> None:
    endless = (f"u{i}" for i in itertools.count())
    first = next(chunk_members(COHORT, "add_members", endless))
    assert len(first.body) <= MAX_BODY_BYTES
    assert next(endless) == f"u{len(first.uids) + 1}"  # read one past the first body only


def test_bad_uids_stop_the_stream_before_their_body() -> None:
    with pytest.raises(moeseg.SegmentValidationError, match="members"):
        list(chunk_members(COHORT, "add_members", ["ok", ""]))


uid_text = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\n\r"),
    min_size=1,
    max_size=12,
).filter(lambda s: s.strip() != "")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(uids=st.lists(uid_text, max_size=30), room=st.integers(min_value=0, max_value=300))
def test_random_lists_pack_greedily_within_the_limit(uids: list[str], room: int) -> None:
    longest = max((len(encode_member(u)) for u in uids), default=0)
    limit = fixed_bytes(COHORT) + longest + room
    chunks = list(chunk_members(COHORT, "add_members", uids, limit=limit))
    check_chunks(chunks, uids, limit)


@pytest.mark.slow
def test_a_million_members() -> None:
    uids = (f"{i:012d}" for i in range(1_000_000))
    count = requests = 0
    for chunk in chunk_members(COHORT, "add_members", uids):
        assert len(chunk.body) <= MAX_BODY_BYTES
        count += len(chunk.uids)
        requests += 1
    assert count == 1_000_000
    member = len(encode_member("0" * 12)) + 1
    assert requests == -(-1_000_000 // ((MAX_BODY_BYTES - fixed_bytes(COHORT) + 1) // member))
