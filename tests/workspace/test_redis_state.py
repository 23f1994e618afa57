"""The workspace state in Redis: rows, the apply lock, the namespace check, and an apply."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from moeseg._workspace import (
    RedisState,
    StateError,
    StateLocked,
    StateRow,
    StateSchemaError,
    StateStore,
    parse_desired,
)
from moeseg.workspace import Workspace
from tests.cli._helpers import client_for, sandbox

from ._model import payload

pytestmark = pytest.mark.redis


def fresh(url: str) -> RedisState:
    return RedisState(url, namespace=uuid.uuid4().hex)


def test_rows_round_trip_and_are_per_namespace(redis_url: str) -> None:
    state = fresh(redis_url)
    assert isinstance(state, StateStore)
    row = StateRow("k", "id1", "Name", "fp", '{"a": 1}', 12.5, None, True)
    state.put(row)
    state.put(StateRow("j", "id2", "Other"))
    assert state.snapshot().rows == {"j": StateRow("j", "id2", "Other"), "k": row}
    state.forget("j")
    assert list(state.snapshot().rows) == ["k"]
    assert fresh(redis_url).snapshot().rows == {}


def test_the_lock_belongs_to_one_owner_and_expires(redis_url: str) -> None:
    state = fresh(redis_url)
    now = time.time()
    state.acquire("a", ttl=60, now=now)
    state.acquire("a", ttl=60, now=now)  # renewed by its owner
    with pytest.raises(StateLocked, match="'a'") as info:
        state.acquire("b", ttl=60, now=now)
    assert now + 55 < info.value.expires_at <= now + 60.5
    state.release("b")  # not b's: nothing happens
    with pytest.raises(StateLocked):
        state.acquire("b", ttl=60, now=now)
    state.release("a")
    state.acquire("b", ttl=0.05, now=now)
    time.sleep(0.1)  # a dead owner's lock frees itself
    state.acquire("c", ttl=60, now=now)


def test_foreign_keys_and_other_versions_are_refused(redis_url: str) -> None:
    ns = uuid.uuid4().hex
    probe = redis.Redis.from_url(redis_url)
    try:
        probe.hset(f"moeseg:state:{{{ns}}}:meta", mapping={"app": "other"})
        with pytest.raises(StateSchemaError, match="not a moeseg workspace state"):
            RedisState(redis_url, namespace=ns)
        probe.hset(f"moeseg:state:{{{ns}}}:meta", mapping={"app": "moeseg-workspace"})
        probe.hset(f"moeseg:state:{{{ns}}}:meta", "schema_version", "99")
        with pytest.raises(StateSchemaError, match="schema version"):
            RedisState(redis_url, namespace=ns)
    finally:
        probe.close()


def test_an_unreachable_server_is_a_state_error_without_the_password() -> None:
    with pytest.raises(StateError) as info:
        RedisState("redis://user:s3cret@127.0.0.1:9/0", timeout=0.2)
    assert "s3cret" not in str(info.value)
    assert "127.0.0.1:9" in str(info.value)


@pytest.mark.anyio
async def test_plan_and_apply_with_the_state_in_redis(redis_url: str) -> None:
    box = sandbox()
    items = [payload("A", "a", key="a"), payload("B", "b", ("a",), key="b")]
    want = parse_desired([("d.yaml", items)])
    async with client_for(box) as client:
        ws = Workspace(client, fresh(redis_url))
        assert (await ws.apply(want)).ok
        state = await ws.state()
        assert (await Workspace(client, state).plan(want)).empty
        assert set(state.snapshot().rows) == {"a", "b"}
        by_url = await Workspace(client, redis_url).state()  # namespace: the workspace id
        assert by_url.location.endswith(f"({box.workspace_id})")
