"""Telemetry overhead: CPU per ``get_segment`` call with no observer (what runs when OpenTelemetry
is absent), with the default observer on OpenTelemetry's API alone (no SDK: no-op providers),
and with the SDK recording spans and metrics in memory; same run, calls interleaved.

The transport is an ``httpx.MockTransport`` answering a fixed segment body, so only the client's
CPU is counted (no server, no socket). The three clients alternate call by call, so that machine
noise hits all alike; a side's figure is the median CPU time (``time.process_time``) of its
calls. Run: ``.venv/bin/python -m benchmarks bench_telemetry``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from datetime import datetime, timezone

import anyio
import httpx

import moeseg
from moeseg.governor import Governor, QuotaGroup, QuotaPolicy, Window
from moeseg.governor._hooks import Hooks

CALLS = int(os.environ.get("BENCH_TELEMETRY_CALLS", "3000"))
WARMUP = 300

BODY = json.dumps(
    {
        "data": {"name": "bench", "id": "6388a97a02adb9071ca84ce9", "type": "ELASTIC_SEARCH"},
        "response_id": "cNjnTEJw",
        "type": "custom_segment",
    }
).encode()

POLICY = QuotaPolicy(
    (QuotaGroup("segment_reads", (Window(10**9, 60.0),)),),
    {"get": {"segment_reads": 1}},
)


def _answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=BODY, headers={"content-type": "application/json"})


def _client(observer: moeseg.Observer | None) -> moeseg.Client:
    gov = Governor(POLICY, observer=observer)
    client = moeseg.Client(
        "WS", "key", base_url="http://bench.invalid", governor=gov,
        transport=httpx.MockTransport(_answer), observer=observer,
    )  # fmt: skip
    return client


async def _run() -> dict[str, float]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    absent = _client(None)
    absent._sender.observer = None  # exactly the path taken without opentelemetry installed
    absent.governor._hooks = Hooks(None)  # type: ignore[attr-defined]
    api_only = _client(None)  # the default: OpenTelemetry's API, no SDK configured
    spans = InMemorySpanExporter()
    tracing = TracerProvider()
    tracing.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    sdk_observer = moeseg.OpenTelemetryObserver(
        tracer_provider=tracing, meter_provider=MeterProvider(metric_readers=[reader])
    )
    sdk = _client(sdk_observer)
    sides = {"absent": absent, "api only (default)": api_only, "sdk, in memory": sdk}
    times: dict[str, list[float]] = {name: [] for name in sides}
    for i in range(WARMUP + CALLS):
        for name, client in sides.items():
            t0 = time.process_time()
            await client.get_segment("6388a97a02adb9071ca84ce9")
            if i >= WARMUP:
                times[name].append(time.process_time() - t0)
        if i % 500 == 0:
            spans.clear()
    for client in sides.values():
        await client.aclose()
    return {name: statistics.median(t) * 1e6 for name, t in times.items()}


def main() -> None:
    for backend in ("asyncio", "trio"):
        result = anyio.run(_run, backend=backend)
        base = result["absent"]
        print(f"{backend}: " + ", ".join(
            f"{name} {us:.1f} µs/call ({us / base:.2f})" for name, us in result.items()
        ))  # fmt: skip
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
