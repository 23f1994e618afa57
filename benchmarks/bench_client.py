"""Client overhead: CPU per call of ``moeseg.Client`` vs raw httpx, same loopback server, same run.

A minimal HTTP/1.1 keep-alive server (raw asyncio, in a child process so that its CPU is not
counted) answers every request on 127.0.0.1 with a fixed segment body. Both sides use an
``httpx.AsyncClient`` with default settings; the raw side sends the same headers and parses the
JSON body, moeseg additionally goes through the governor (limits set high: it never waits),
builds the request from models, logs, and structures the answer into a ``Segment``.

Calls alternate one raw, one moeseg, so that machine noise (other processes, frequency changes)
hits both sides alike; each call's CPU time (this process only) is taken, and a side's figure is
the median of its calls: robust to the rare call that pays for a context switch or a GC pass.
The ratio is moeseg's median over raw httpx's median.
Run: ``.venv/bin/python -m benchmarks bench_client``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

import anyio
import httpx

import moeseg
from moeseg import Client
from moeseg.governor import Governor, QuotaGroup, QuotaPolicy, Window

CALLS = int(os.environ.get("BENCH_CLIENT_CALLS", "4000"))

PAYLOAD: dict[str, Any] = {
    "name": "bench_segment",
    "included_filters": {
        "filter_operator": "and",
        "filters": [
            {
                "filter_type": "user_attributes",
                "name": "Name",
                "data_type": "string",
                "operator": "is",
                "value": "chandan",
                "negate": False,
                "case_sensitive": False,
            }
        ],
    },
}

SEGMENT = {
    "data": {
        "name": "bench_segment",
        "id": "6388a97a02adb9071ca84ce9",
        "created_time": "2022-12-20T06:21:44.112000",
        "updated_time": "2022-12-20T06:21:44.160000",
        "type": "ELASTIC_SEARCH",
        "source": "API",
        "description": "Name is chandan AND Has executed Email Sent atleast 1 time",
        "included_filters": {
            "filter_operator": "and",
            "filters": [
                {**PAYLOAD["included_filters"]["filters"][0], "value1": ""},
                {
                    "filter_type": "actions",
                    "action_name": "MOE_EMAIL_SENT",
                    "attributes": {"filter_operator": "and", "filters": []},
                    "executed": True,
                    "execution": {"count": 1, "type": "atleast"},
                    "primary_time_range": {
                        "type": "between",
                        "value": "2023-02-15T00:00:00.000Z",
                        "value1": "2023-02-24T23:59:59.999Z",
                        "value_type": "absolute",
                        "period_unit": "days",
                    },
                },
            ],
        },
    },
    "response_id": "cNjnTEJw",
    "type": "custom_segment",
}

SERVER = r"""
import asyncio, sys
body = sys.stdin.buffer.read()
head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
answer = head % len(body) + body

class Http(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buf = transport, b""

    def data_received(self, data):
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            length = 0
            for line in self.buf[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length:]
            self.transport.write(answer)

async def main():
    server = await asyncio.get_running_loop().create_server(Http, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"""


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    stdin, stdout = proc.stdin, proc.stdout
    if stdin is None or stdout is None:
        raise RuntimeError("the benchmark server has no pipes")
    stdin.write(json.dumps(SEGMENT).encode())
    stdin.close()
    port = int(stdout.readline())
    return proc, f"http://127.0.0.1:{port}"


def high_policy() -> QuotaPolicy:
    policy = QuotaPolicy.moengage()
    for name in ("segments", "segment_reads"):
        policy = policy.with_group(QuotaGroup(name, (Window(10_000_000, 1.0),)))
    return policy


async def cpu_per_call(
    first: Callable[[], Awaitable[Any]], second: Callable[[], Awaitable[Any]], n: int
) -> tuple[float, float]:
    """Median CPU seconds of this process per call of ``first`` and of ``second``, alternated."""
    clock = time.process_time
    a: list[float] = []
    b: list[float] = []
    for _ in range(n):
        start = clock()
        await first()
        middle = clock()
        await second()
        a.append(middle - start)
        b.append(clock() - middle)
    return statistics.median(a), statistics.median(b)


async def measure(base_url: str) -> dict[str, tuple[float, float]]:
    workspace, key = "BENCHWS", "bench-key-0123456789"
    headers = {
        "Authorization": httpx.BasicAuth(workspace, key)._auth_header,
        "Accept": "application/json",
        "MOE-APPKEY": workspace,
    }
    definition = moeseg.from_payload(PAYLOAD)
    async with (
        httpx.AsyncClient() as raw,
        Client(
            workspace, key, base_url=base_url, governor=Governor(high_policy()), max_retries=0
        ) as client,
    ):

        async def raw_get() -> Any:
            response = await raw.get(f"{base_url}/v3/custom-segments/seg-1", headers=headers)
            response.raise_for_status()
            return response.json()

        async def raw_create() -> Any:
            response = await raw.post(
                f"{base_url}/v3/custom-segments", headers=headers, json=PAYLOAD
            )
            response.raise_for_status()
            return response.json()

        async def moeseg_get() -> Any:
            return await client.get_segment("seg-1")

        async def moeseg_create() -> Any:
            return await client.create_segment(definition)

        pairs = {
            "get_segment": (raw_get, moeseg_get),
            "create_segment": (raw_create, moeseg_create),
        }
        results: dict[str, tuple[float, float]] = {}
        for name, (raw_call, moeseg_call) in pairs.items():
            await cpu_per_call(raw_call, moeseg_call, 300)  # warm up connections and caches
            results[name] = await cpu_per_call(raw_call, moeseg_call, CALLS)
    return results


def main() -> None:
    proc, base_url = start_server()
    try:
        print(
            f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpus, "
            f"Python {platform.python_version()}, httpx {httpx.__version__}, "
            f"{platform.system()} {platform.release()}"
        )
        print(f"date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
        print(f"{CALLS} sequential calls per side, alternated; median CPU time per call")
        for backend in ("asyncio", "trio"):
            results = anyio.run(measure, base_url, backend=backend)
            for name, (raw, ours) in results.items():
                print(
                    f"{backend:8} {name:15} raw httpx {raw * 1e6:7.1f} us/call  "
                    f"moeseg {ours * 1e6:7.1f} us/call  ratio {ours / raw:.2f}x"
                )
    finally:
        proc.terminate()
        proc.wait(timeout=5)


if __name__ == "__main__":
    main()
