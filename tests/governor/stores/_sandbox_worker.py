"""One OS process of test_sandbox_processes.py: a moeseg.Client whose governor shares a
workspace's quota with other processes through a store, creating segments on a served sandbox.

    python -m tests.governor.stores._sandbox_worker \
        BACKEND KIND WHERE STORE_WS BASE_URL SCALE PREFIX N

It prints ``ready`` once imported and connected, then waits for a line on stdin before sending,
so that all processes start together (Python start-up takes a second and would spread them).

Credentials come from MOENGAGE_WORKSPACE_ID / MOENGAGE_API_KEY, as a user's job would take them.
"""

from __future__ import annotations

import sys

import anyio

import moeseg
from moeseg.governor import Governor, QuotaGroup, QuotaPolicy, WallClock, Window
from tests.governor.stores._worker import open_store


async def main(kind: str, where: str, workspace: str, base_url: str, scale: str, prefix: str,
               n: str) -> None:  # fmt: skip
    store = open_store(kind, where, workspace)
    await store.view([QuotaGroup("warm-up", (Window(1, 1.0),))])  # connect before the start
    print("ready", flush=True)
    await anyio.to_thread.run_sync(sys.stdin.readline)
    governor = Governor(QuotaPolicy.moengage().scaled(float(scale)), store=store, clock=WallClock())
    try:
        async with (
            moeseg.Client(base_url=base_url, governor=governor) as client,
            anyio.create_task_group() as tg,
        ):
            for i in range(int(n)):
                name = f"{prefix}-{i}"
                tg.start_soon(
                    client.create_segment, moeseg.segment(name, moeseg.attr("City").is_(name))
                )
    finally:
        await store.aclose()  # type: ignore[attr-defined]
    print("done", flush=True)


if __name__ == "__main__":
    anyio.run(main, *sys.argv[2:], backend=sys.argv[1])
