"""moeseg.files: CSV check throughput and memory, and callbacks resolved per second.

- ``check_csv`` on a generated file of GAIDs (37 bytes a row), next to a naive in-memory check
  (read the whole file, split lines, one regex and one set for duplicates) in the same run:
  CPU seconds (best of 3) and peak Python allocations (tracemalloc, a separate run).
- The callback receiver: N handles pending, N callbacks posted through httpx's ASGI transport,
  every handle awaited; callbacks per second on asyncio and on trio.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx

from moeseg.files import CallbackReceiver, check_csv

ROWS = 500_000
CALLBACKS = 2_000
_CLEAN = re.compile(rb"[A-Za-z0-9@._+:-]+")


def naive_check(path: Path) -> int:
    """The obvious check: everything in memory at once."""
    rows = path.read_bytes().splitlines()
    bad = sum(1 for r in rows if not _CLEAN.fullmatch(r))
    return bad + len(rows) - len(set(rows))


def best_cpu(fn: Callable[[], Any], rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def peak(fn: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def callbacks_per_second() -> float:
    receiver = CallbackReceiver(public_url="http://receiver.test/cb")
    handles = [receiver.expect("create", f"s{i}") for i in range(CALLBACKS)]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver)) as http:
        start = time.perf_counter()
        for i, h in enumerate(handles):
            body = {"segment_name": f"s{i}", "status": 201, "user_count": i}
            await http.post(h.callback_url, json=body)
        for h in handles:
            await h.wait(timeout=10)
        return CALLBACKS / (time.perf_counter() - start)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gaids.csv"
        with path.open("w") as f:
            f.writelines(f"{uuid.UUID(int=i * 7919 + 12345)}\n" for i in range(ROWS))
        size = os.path.getsize(path)
        assert check_csv(path).ok
        assert naive_check(path) == 0
        ours, naive = best_cpu(lambda: check_csv(path)), best_cpu(lambda: naive_check(path))
        ours_peak, naive_peak = peak(lambda: check_csv(path)), peak(lambda: naive_check(path))
    mb = size / 1e6
    print(f"file: {ROWS:,} GAID rows, {mb:.1f} MB")
    print("| check | CPU s | MB/s | rows/s | peak MB | peak / file |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, cpu, pk in (("check_csv", ours, ours_peak), ("naive in memory", naive, naive_peak)):
        print(
            f"| {label} | {cpu:.2f} | {mb / cpu:.1f} | {ROWS / cpu:,.0f} | {pk / 1e6:.1f} "
            f"| {pk / size:.2f} |"
        )
    for backend in ("asyncio", "trio"):
        rate = anyio.run(callbacks_per_second, backend=backend)
        print(f"receiver on {backend}: {rate:,.0f} callbacks/s ({CALLBACKS:,} pending at once)")


if __name__ == "__main__":
    main()
