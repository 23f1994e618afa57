"""moeseg._telemetry: spans and metrics through OpenTelemetry's SDK (in-memory reader and
exporter) on sandbox batches whose counts are known, in virtual time; and nothing at all when
OpenTelemetry is absent."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import moeseg
from moeseg import OpenTelemetryObserver, OutcomeKind, create_many
from moeseg.governor import Governor, QuotaPolicy
from moeseg.sandbox import FaultConfig, Latency, LatencyFault, OtherTenant, Sandbox
from tests.cli._helpers import client_for, payload, sandbox


class Otel:
    """An observer on SDK providers that keep everything in memory."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.observer = OpenTelemetryObserver(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider
        )

    def points(self, name: str) -> list[Any]:
        """The data points of metric ``name`` (cumulative)."""
        data = self.reader.get_metrics_data()
        out: list[Any] = []
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        out.extend(metric.data.data_points)
        return out

    def total(self, name: str, **attributes: Any) -> float:
        """The sum of ``name``'s points whose attributes include ``attributes``."""
        wanted = {k.replace("__", "."): v for k, v in attributes.items()}
        return sum(
            getattr(p, "value", None) if hasattr(p, "value") else p.count
            for p in self.points(name)
            if all(p.attributes.get(k) == v for k, v in wanted.items())
        )

    def finished(self, name: str | None = None) -> list[ReadableSpan]:
        spans = list(self.spans.get_finished_spans())
        return [s for s in spans if name is None or s.name == name]


@pytest.fixture
def otel() -> Iterator[Otel]:
    o = Otel()
    yield o
    o.tracer_provider.shutdown()
    o.meter_provider.shutdown()


def _governor(otel: Otel) -> Governor:
    return Governor(QuotaPolicy.moengage(), observer=otel.observer)


def _burst_box(*rules: OtherTenant) -> Sandbox:
    """Requests spend half a second in transit, so that concurrent ones are in flight together
    (in process, a request is otherwise answered before the next one is sent)."""
    transit = LatencyFault(latency=Latency.fixed(0.5), phase="request")
    return sandbox(faults=FaultConfig((*rules, transit)))


pytestmark = pytest.mark.anyio


@pytest.mark.virtual_time
async def test_a_batch_admits_what_it_sends_and_a_429_burst_is_one_pause(otel: Otel) -> None:
    # Another tenant fills the minute window as the first create arrives: every create then in
    # flight gets a 429 at the same moment (one burst), and all are retried after one pause.
    box = _burst_box(OtherTenant(group="segments", amount=50, times=1, routes={"create"}))
    gov = _governor(otel)
    async with client_for(box, governor=gov, observer=otel.observer) as client:
        defs = [payload(f"otel-item-{i}", f"City{i}") for i in range(10)]
        outcomes = await create_many(client, defs, concurrency=5)
    assert {o.kind for o in outcomes} == {OutcomeKind.CREATED}
    sent = len(box.log)
    limited = [r for r in box.log if r.status == 429]
    assert len(limited) >= 2  # a real burst

    assert otel.total("moeseg.quota.requests", moeseg__quota__result="admitted") == sent
    assert otel.total("moeseg.quota.requests") == sent  # nothing else left the queue
    assert otel.total("moeseg.quota.pauses", moeseg__quota__pause__cause="own_429") == 1
    assert otel.total("moeseg.quota.pauses") == 1
    assert otel.total("moeseg.retries", error__type="moeseg.RateLimited") == len(limited)
    assert otel.total("moeseg.quota.queued") == 0
    assert otel.total("moeseg.quota.leases.active") == 0
    assert otel.total("moeseg.quota.lease.duration") == sent  # a histogram's count
    waits = otel.points("moeseg.quota.wait.duration")
    assert sum(p.count for p in waits) == sent
    assert max(p.max for p in waits) >= 60  # the pause: one minute window

    creates = otel.finished("moeseg.create_segment")
    assert len(creates) == 10
    retried = [s for s in creates if s.attributes["moeseg.attempts"] == 2]
    assert len(retried) == len(limited)
    for span in creates:
        attrs = span.attributes
        assert attrs["moeseg.operation"] == "create_segment"
        assert attrs["moeseg.quota.group"] == ("segments",)
        assert attrs["moeseg.recovered"] is False
        assert attrs["moeseg.response_id"]
    for span in retried:
        events = [e for e in span.events if e.name == "moeseg.quota.wait"]
        assert events
        assert span.attributes["moeseg.quota.wait.duration"] >= 60
        assert events[-1].attributes["moeseg.attempt"] == 2
    assert len(otel.finished("moeseg.list_segments")) == 1  # the batch's one listing


@pytest.mark.virtual_time
async def test_two_separate_429_events_are_two_pauses(otel: Otel) -> None:
    box = _burst_box(
        OtherTenant(group="segments", amount=50, times=1, routes={"list"}),
        OtherTenant(group="segments", amount=50, times=1, routes={"create"}),
    )
    async with client_for(box, governor=_governor(otel), observer=otel.observer) as client:
        outcomes = await create_many(client, [payload(f"p{i}", f"C{i}") for i in range(4)])
    assert {o.kind for o in outcomes} == {OutcomeKind.CREATED}
    causes = Counter(r.cause for r in box.log if r.status == 429)
    assert causes["rate_limit_other_tenant"] >= 2
    assert otel.total("moeseg.quota.pauses", moeseg__quota__pause__cause="own_429") == 2
    assert otel.total("moeseg.quota.requests", moeseg__quota__result="admitted") == len(box.log)


@pytest.mark.virtual_time
async def test_errors_follow_the_conventions_and_max_wait_is_counted(otel: Otel) -> None:
    box = sandbox()
    gov = _governor(otel)
    async with client_for(box, governor=gov, observer=otel.observer) as client:
        first = await client.create_segment(moeseg.from_payload(payload("dup", "A")))
        with pytest.raises(moeseg.NameConflict):
            await client.create_segment(moeseg.from_payload(payload("dup", "B")))
        for _ in range(48):  # spend the rest of the minute window (50)
            await client.get_segment(first.id)
            await client.list_segments()
        with pytest.raises(moeseg.QuotaWaitTooLong):
            await client.with_options(max_wait=1).list_segments()
    failed = otel.finished("moeseg.create_segment")[1]
    assert failed.attributes["error.type"] == "moeseg.NameConflict"
    assert failed.status.status_code.name == "ERROR"
    assert failed.attributes["moeseg.response_id"]  # from the error body
    too_long = otel.finished("moeseg.list_segments")[-1]
    assert too_long.attributes["error.type"] == "moeseg.QuotaWaitTooLong"
    assert otel.total("moeseg.quota.requests", moeseg__quota__result="max_wait") == 1
    assert otel.total("moeseg.quota.requests", moeseg__quota__group="segment_reads") == 48


@pytest.mark.virtual_time
async def test_remaining_is_a_gauge_read_from_a_cached_snapshot(otel: Otel) -> None:
    box = sandbox()
    gov = _governor(otel)
    assert otel.points("moeseg.quota.remaining") == []  # the first collection: none yet
    async with client_for(box, governor=gov, observer=otel.observer) as client:
        await client.create_segment(moeseg.from_payload(payload("r1", "A")))
        left = await gov.remaining()  # also refreshes the snapshot
    points = {
        (p.attributes["moeseg.quota.group"], p.attributes["moeseg.quota.window"]): p.value
        for p in otel.points("moeseg.quota.remaining")
    }
    for group, windows in left.items():
        for seconds, units in windows.items():
            assert points[group, seconds] == units
    assert points["segments", 60.0] == 49


@pytest.mark.virtual_time
async def test_attributes_have_bounded_cardinality(otel: Otel) -> None:
    box = _burst_box(OtherTenant(group="segments", amount=50, times=1, routes={"create"}))
    names = [f"secret-name-{i}" for i in range(6)]
    async with client_for(box, governor=_governor(otel), observer=otel.observer) as client:
        await create_many(client, [payload(n, f"Town{i}") for i, n in enumerate(names)])
        segment = await client.get_segment(box.find(names[0]).id)  # type: ignore[union-attr]
        update = moeseg.from_payload(payload(names[0], "Elsewhere"))
        await client.update_segment(segment.id, update)
    forbidden = {*names, *(s.id for s in box.segments()), box.api_key, box.workspace_id}
    allowed_metric_keys = {
        "moeseg.quota.group",
        "moeseg.quota.window",
        "moeseg.quota.result",
        "moeseg.quota.lease.state",
        "moeseg.quota.pause.cause",
        "moeseg.operation",
        "error.type",
    }
    data = otel.reader.get_metrics_data()
    assert data is not None
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                assert metric.name.startswith("moeseg.")
                for point in metric.data.data_points:
                    assert set(point.attributes) <= allowed_metric_keys, metric.name
                    assert not forbidden & {str(v) for v in point.attributes.values()}
    for span in otel.finished():
        values = [str(v) for v in span.attributes.values()]
        values += [str(v) for e in span.events for v in e.attributes.values()]
        assert not any(f in v for f in forbidden for v in values), span.name
        assert all(k.startswith(("moeseg.", "error.")) for k in span.attributes)


async def test_http_spans_of_the_httpx_instrumentation_are_children(otel: Otel) -> None:
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    box = sandbox()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=box.app))
    HTTPXClientInstrumentor.instrument_client(http, tracer_provider=otel.tracer_provider)
    try:
        async with moeseg.Client(
            box.workspace_id,
            box.api_key,
            base_url="http://sandbox.invalid",
            http_client=http,
            governor=_governor(otel),
            observer=otel.observer,
        ) as client:
            await client.create_segment(moeseg.from_payload(payload("traced", "A")))
            await client.list_segments()
    finally:
        await http.aclose()
    spans = otel.finished()
    by_name = {s.name: s for s in spans}
    create, listing = by_name["moeseg.create_segment"], by_name["moeseg.list_segments"]
    http_spans = [s for s in spans if not s.name.startswith("moeseg.")]
    assert len(http_spans) == 2
    parents = {s.parent.span_id: s for s in http_spans if s.parent}
    assert set(parents) == {create.context.span_id, listing.context.span_id}
    for op in (create, listing):  # in the operation's own trace
        assert parents[op.context.span_id].context.trace_id == op.context.trace_id


async def test_an_observer_that_raises_never_breaks_a_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(moeseg.Observer):
        def operation_started(self, operation: str) -> object:
            raise RuntimeError("boom")

        def lease_started(self, group: str) -> None:
            raise RuntimeError("boom")

    box = sandbox()
    async with client_for(box, observer=Broken(), governor=Governor(observer=Broken())) as client:
        assert (await client.list_segments()) == []
    assert "observer Broken.operation_started failed" in caplog.text


def _run(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_without_opentelemetry_moeseg_works_and_emits_nothing() -> None:
    done = _run(
        """
        import sys
        sys.modules["opentelemetry"] = None  # as if not installed: every import of it fails
        import anyio, httpx, moeseg
        from moeseg.sandbox import Sandbox

        async def main():
            box = Sandbox()
            async with moeseg.Client(
                box.workspace_id, box.api_key, base_url="http://sandbox.invalid",
                transport=httpx.ASGITransport(app=box.app),
                governor=moeseg.governor.Governor(),
            ) as client:
                await client.create_segment(moeseg.from_payload({"name": "n", "included_filters":
                    {"filter_operator": "and", "filters": [{"filter_type": "user_attributes",
                    "name": "City", "data_type": "string", "operator": "is", "value": "x",
                    "negate": False, "case_sensitive": False}]}}))
                assert client._sender.observer is None
                assert client.governor._hooks.observer is None
                assert len(await client.list_segments()) == 1

        anyio.run(main)
        loaded = [m for m, v in sys.modules.items() if m.startswith("opentelemetry") and v]
        assert not loaded, loaded
        print("ok")
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_importing_moeseg_imports_no_opentelemetry() -> None:
    done = _run(
        """
        import sys, moeseg, moeseg.client, moeseg.governor, moeseg.batch
        print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.virtual_time
async def test_a_membership_sync_is_one_span_over_its_cohort_sync_spans(
    otel: Otel, tmp_path: Any
) -> None:
    box = sandbox()
    async with client_for(box, governor=_governor(otel), observer=otel.observer) as client:
        result = await client.sync_members("Fans", ["u1", "u2", "u3"], state_dir=tmp_path)
    assert result.added == 3
    (sync,) = otel.finished("moeseg.sync_members")
    (cohort,) = otel.finished("moeseg.sync_cohort")  # the adds; no call for no removes
    assert sync.attributes["moeseg.operation"] == "sync_members"
    assert cohort.attributes["moeseg.quota.group"] == ("cohort_sync",)
    assert cohort.parent is not None
    assert cohort.parent.span_id == sync.context.span_id
    assert otel.total("moeseg.quota.requests", moeseg__quota__group="cohort_sync") == 1
