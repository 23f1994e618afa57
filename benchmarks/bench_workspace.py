"""moeseg._workspace: planning 1,000 desired segments offline (no request).

Setup (not measured): 1,000 desired items of five conditions each (strings, a number, an event
with an attribute condition), one in ten referring to an earlier item by key, written as YAML
files of 100 items each. Measured, CPU time of this process, best of 5:

- load: read and check the files (YAML parse, validation, duplicate keys/names/definitions,
  references, cycles and caps);
- plan: ``plan_workspace`` for a first apply (empty workspace: 1,000 creates), a steady state
  (state and active list hold all 1,000, nothing changed), the same two days later (every
  segment due for a drift GET) and a 10 % change (100 updates, 10 renames) with every
  definition fetched;
- render: the text form of the 10 % plan.

Items per second = 1,000 / CPU seconds. ETAs are the plan's own (from idle quota, the optimum).
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ITEMS = 1_000
ROUNDS = 5
NOW = 2_000_000_000.0


def item(i: int, variant: str = "") -> dict[str, Any]:
    filters: list[dict[str, Any]] = [
        {
            "filter_type": "user_attributes",
            "name": "city",
            "data_type": "string",
            "operator": "in",
            "value": [f"city-{i}{variant}", "Berlin", "Paris"],
        },
        {
            "filter_type": "user_attributes",
            "name": "age",
            "data_type": "double",
            "operator": "greaterThan",
            "value": 18 + i % 40,
        },
        {
            "filter_type": "user_attributes",
            "name": "plan",
            "data_type": "string",
            "operator": "is",
            "value": "pro",
            "negate": i % 2 == 0,
        },
        {
            "filter_type": "actions",
            "action_name": "MOE_EMAIL_SENT",
            "executed": True,
            "execution": {"type": "atleast", "count": 1 + i % 3},
            "primary_time_range": {
                "type": "inTheLast",
                "value": 7,
                "period_unit": "days",
                "value_type": "relative_past",
            },
            "attributes": {
                "filter_operator": "and",
                "filters": [
                    {
                        "name": "campaign",
                        "data_type": "string",
                        "operator": "contains",
                        "value": f"c{i}",
                    }
                ],
            },
        },
    ]
    if i % 10 == 9:
        filters.append({"filter_type": "custom_segments", "segment_key": f"seg-{i - 5}"})
    return {
        "key": f"seg-{i}",
        "name": f"Segment {i}{variant}",
        "included_filters": {"filter_operator": "and", "filters": filters},
    }


def best(fn: Callable[[], Any]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(ROUNDS):
        t = time.process_time()
        result = fn()
        times.append(time.process_time() - t)
    return min(times), result


def main() -> None:
    import yaml

    from moeseg._workspace import (
        ActiveSegment,
        FetchedDefinition,
        MemoryState,
        PlanOptions,
        ServerFacts,
        StateRow,
        format_duration,
        load_desired,
        plan_workspace,
        render_text,
    )
    from moeseg.segments import fingerprint

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for f in range(ITEMS // 100):
            docs = [item(i) for i in range(f * 100, f * 100 + 100)]
            (folder / f"part-{f:02d}.yaml").write_text(yaml.safe_dump(docs), encoding="utf-8")
        load_cpu, desired = best(lambda: load_desired([folder]))

    empty = MemoryState().snapshot()
    first_cpu, first = best(lambda: plan_workspace(desired, empty, ServerFacts(), now=NOW))

    ids = {i.key: f"id-{i.key}" for i in desired.items}
    state = MemoryState()
    active, defs = [], {}
    for it in desired.items:
        p = it.resolve(ids)
        sid = ids[it.key]
        state.put(StateRow(it.key, sid, it.name, fingerprint(p), json.dumps(p), NOW - 60))
        active.append(ActiveSegment(sid, it.name, "ELASTIC_SEARCH", "API"))
        defs[sid] = FetchedDefinition(sid, p, NOW)
    snap = state.snapshot()
    steady_facts = ServerFacts(tuple(active))
    steady_cpu, steady = best(lambda: plan_workspace(desired, snap, steady_facts, now=NOW))
    later = NOW + 2 * 86400  # every verification older than refresh_after: a GET each
    stale_cpu, stale = best(lambda: plan_workspace(desired, snap, steady_facts, now=later))

    from moeseg._workspace import parse_desired

    changed = [item(i, " v2" if i % 100 == 0 else "") for i in range(ITEMS)]
    for raw in changed[1::10]:
        raw["included_filters"]["filters"][1]["value"] += 100
    desired2 = parse_desired([("mem", [changed])])
    facts2 = ServerFacts(tuple(active), defs)
    opts = PlanOptions()
    change_cpu, change = best(lambda: plan_workspace(desired2, snap, facts2, opts, now=NOW))
    render_cpu, text = best(lambda: render_text(change))

    print(f"Machine: {platform.platform()}, Python {platform.python_version()}")
    print("| step | CPU s | items/s | result |")
    print("| --- | ---: | ---: | --- |")

    def row(label: str, cpu: float, result: str) -> None:
        print(f"| {label} | {cpu:.3f} | {ITEMS / cpu:,.0f} | {result} |")

    def summary(p: Any) -> str:
        c = {k: v for k, v in p.counts().items() if v}
        etas = ", ".join(
            f"{q.group} {q.requests} req ETA {format_duration(q.eta_seconds)}" for q in p.costs
        )
        return f"{c}; {etas}"

    row("load 10 YAML files", load_cpu, f"{len(desired.items)} items")
    row("plan: first apply", first_cpu, summary(first))
    row("plan: steady state", steady_cpu, summary(steady))
    row("plan: steady, verified 2 days ago", stale_cpu, summary(stale))
    row("plan: 10 % changed, all fetched", change_cpu, summary(change))
    row("render text (10 % plan)", render_cpu, f"{len(text.splitlines())} lines")
    online()


def online() -> None:
    """Requests and quota spent by plan / apply / export for 1,000 segments against the
    in-process sandbox, in virtual time (trio's MockClock): elapsed against the plan's ETA and
    the quota optimum."""
    import anyio
    import httpx
    import trio.testing

    import moeseg
    from moeseg._workspace import MemoryState, format_duration, parse_desired
    from moeseg.governor import Governor, QuotaPolicy
    from moeseg.sandbox import Sandbox
    from moeseg.workspace import Workspace

    rows: list[str] = []

    async def scenario() -> None:
        box = Sandbox()
        start, base = anyio.current_time(), time.time()

        def clock() -> float:  # wall clock that follows virtual time
            return base + anyio.current_time() - start

        async with moeseg.Client(
            box.workspace_id,
            box.api_key,
            base_url="http://sandbox.invalid",
            db_name=box.db_name,
            transport=httpx.ASGITransport(app=box.app),
            governor=Governor(QuotaPolicy.moengage()),
        ) as client:
            ws = Workspace(client, MemoryState(), clock=clock)
            desired = parse_desired([("mem", [item(i) for i in range(ITEMS)])])

            async def measure(label: str, fn: Any, eta: str = "") -> Any:
                n, t = len(box.log), anyio.current_time()
                cpu = time.process_time()
                result = await fn()
                cpu = time.process_time() - cpu
                log = box.log[n:]
                routes: dict[str, int] = {}
                for r in log:
                    routes[r.route] = routes.get(r.route, 0) + 1
                reads = routes.get("get", 0)
                writes = sum(routes.get(k, 0) for k in ("list", "create", "update"))
                elapsed = anyio.current_time() - t
                took = f"{format_duration(elapsed)} ({elapsed:,.0f} s)"
                rows.append(
                    f"| {label} | {routes} | {writes} | {reads} | {took} | {eta} | {cpu:.1f} |"
                )
                return result

            def eta_of(plan: Any) -> str:
                return "; ".join(
                    f"{c.group} {c.requests} req, ETA {c.eta_seconds:,.0f} s "
                    f"(optimum {c.optimum_seconds:,.0f} s)"
                    for c in plan.costs
                    if c.requests
                )

            plan = await measure("plan, empty workspace", lambda: ws.plan(desired))
            await measure("apply 1,000 creates", lambda: ws.apply(plan, saved=False), eta_of(plan))
            steady = await measure("plan again (steady)", lambda: ws.plan(desired))
            assert steady.empty
            await anyio.sleep(2 * 86400)
            later = await measure("plan 2 days later (drift GETs)", lambda: ws.plan(desired))
            assert later.empty
            fresh = Workspace(client, MemoryState(), clock=clock)
            await anyio.sleep(86400)
            exported = await measure(
                "export into an empty state", lambda: fresh.export(refresh_after=0)
            )
            assert len(exported.items) == ITEMS

    anyio.run(
        scenario,
        backend="trio",
        backend_options={"clock": trio.testing.MockClock(autojump_threshold=0)},
    )
    print()
    print("Online, 1,000 segments, sandbox in virtual time:")
    print("| step | requests | segments group | get group | virtual time | plan ETA | CPU s |")
    print("| --- | --- | ---: | ---: | ---: | --- | ---: |")
    for r in rows:
        print(r)


if __name__ == "__main__":
    main()
