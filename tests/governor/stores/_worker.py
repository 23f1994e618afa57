"""A process sharing a workspace's quota through a store (run by test_processes.py).

    python -m tests.governor.stores._worker run  KIND WHERE WORKSPACE TASKS BASE_URL NAME
    python -m tests.governor.stores._worker hold KIND WHERE WORKSPACE LEASES LEASE_SECONDS

``run`` sends TASKS concurrent requests to BASE_URL, each inside a lease; ``hold`` takes
LEASES leases, prints ``held <earliest admission time>`` and then waits to be killed.
"""

from __future__ import annotations

import sys

import anyio
import httpx

from moeseg.governor import (
    Governor,
    QuotaGroup,
    QuotaPolicy,
    RedisStore,
    SQLiteStore,
    Store,
    WallClock,
    Window,
)

# Scaled-down "create" quota shared by the test and its workers.
POLICY = QuotaPolicy(
    groups=(QuotaGroup("segments", (Window(5, 0.3), Window(12, 1.2))),),
    operations={"create": {"segments": 1}},
)


def open_store(kind: str, where: str, workspace: str) -> Store:
    if kind == "sqlite":
        return SQLiteStore(where, workspace=workspace)
    return RedisStore(where, workspace=workspace)


async def run(store: Store, tasks: int, base_url: str, name: str) -> None:
    gov = Governor(POLICY, store=store, clock=WallClock())
    async with httpx.AsyncClient(base_url=base_url) as http:

        async def one(i: int) -> None:
            async with gov.lease("create", lease_timeout=10.0):
                response = await http.post("/create", json={"id": f"{name}-{i}"})
                response.raise_for_status()

        async with anyio.create_task_group() as tg:
            for i in range(tasks):
                tg.start_soon(one, i)
    print("done", flush=True)


async def hold(store: Store, leases: int, seconds: float) -> None:
    gov = Governor(POLICY, store=store, clock=WallClock())
    held = [await gov.acquire("create", lease_timeout=seconds) for _ in range(leases)]
    print("held", min(lease.admitted_at for lease in held), flush=True)
    await anyio.sleep_forever()


async def main(argv: list[str]) -> None:
    mode, kind, where, workspace = argv[:4]
    store = open_store(kind, where, workspace)
    if mode == "run":
        await run(store, int(argv[4]), argv[5], argv[6])
    else:
        await hold(store, int(argv[4]), float(argv[5]))


if __name__ == "__main__":
    anyio.run(main, sys.argv[1:])
