"""``moeseg validate`` and ``create``: a batch file checked, and created (``create --dry-run``:
how long it will take with the quota left now, sending no create)."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import TextColumn
from rich.table import Table

from .._exceptions import MoesegError
from ..batch import (
    LIMIT_REACHED,
    Batch,
    BatchPlan,
    BatchProgress,
    Journal,
    Outcome,
    OutcomeKind,
    plan_batch,
    prepare_batch,
)
from ..client import Client
from ..segments import describe, load_definitions
from ._options import Connection, FileArg, JournalOpt, JsonOpt, connected
from ._output import (
    Interrupt,
    err,
    exit_by,
    exit_interrupted,
    out,
    print_json,
    progress_bar,
    quota_rows,
    quota_table,
    run_interruptible,
    usage,
)

__all__ = ["create", "validate"]


def validate(file: FileArg, as_json: JsonOpt = False) -> None:
    """Check every definition locally (nothing is sent); find duplicates by fingerprint."""
    defs = load(file)
    prepared = prepare_batch(defs)
    rows: list[dict[str, Any]] = [
        {"index": i.index, "name": i.name, "status": "valid", "detail": describe(i.definition)}
        for i in prepared.items
    ]
    rows += [
        {"index": o.index, "name": o.name, "status": o.kind.value, "detail": o.detail}
        for o in prepared.rejected
    ]
    rows.sort(key=lambda row: int(row["index"]))
    bad = len(prepared.rejected)
    if as_json:
        print_json({"ok": bad == 0, "items": rows})
    else:
        table = Table(title=f"{file.name}: {len(defs)} definitions")
        for col in ("#", "name", "status", "definition / problem"):
            table.add_column(col, overflow="fold")
        for row in rows:
            style = "green" if row["status"] == "valid" else "red"
            table.add_row(
                str(row["index"]), row["name"], f"[{style}]{row['status']}[/]", row["detail"]
            )
        out.print(table)
        out.print(f"{len(prepared.items)} valid, {bad} with problems")
    exit_by(bad == 0)


def _dry_run(
    conn: Connection, file: Path, journal: Path | None, count_active: bool, as_json: bool
) -> None:
    """How long a batch will take with the quota left now (sends no create)."""
    defs = load(file)

    async def plan(client: Client) -> BatchPlan:
        with Journal(journal) if journal else contextlib.nullcontext() as j:
            return await plan_batch(client, defs, journal=j, count_active=count_active)

    result = conn.call(plan)
    if as_json:
        print_json(result.to_json())
        return
    out.print(result.describe())
    extra = []
    if result.invalid:
        extra.append(f"{result.invalid} invalid")
    if result.duplicates:
        extra.append(f"{result.duplicates} duplicate{'s' if result.duplicates != 1 else ''}")
    if result.already_done:
        extra.append(f"{result.already_done} already done per the journal")
    if result.to_resolve:
        extra.append(f"{result.to_resolve} to look up first (sent by an interrupted run)")
    if extra:
        out.print("not sent: " + ", ".join(extra))
    if result.active_estimate is not None:
        out.print(
            f"workspace: up to {result.active_estimate} segments of {result.active_limit} active "
            "allowed (one list call; archived segments are counted too)"
        )
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/] {warning}")


@connected
def create(
    conn: Connection,
    file: FileArg,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="Requests in flight at most.")
    ] = 10,
    journal: JournalOpt = None,
    max_wait: Annotated[
        float | None,
        typer.Option(
            "--max-wait",
            min=0.0,
            help="Fail an item at once (nothing sent) if its quota slot is further than this "
            "many seconds away; a rerun with --journal sends it later.",
            show_default=False,
        ),
    ] = None,
    accept: Annotated[
        list[OutcomeKind] | None,
        typer.Option(
            "--accept",
            help="Also count this outcome kind as success for the exit code (repeatable), "
            "e.g. --accept duplicate --accept invalid for a file with known bad items.",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Send no create: say how long the batch will take with the quota left now "
            "(its ETA milestones), after the journal's finished items.",
        ),
    ] = False,
    count_active: Annotated[
        bool,
        typer.Option(
            "--count-active",
            help="Also list the workspace's segments once (one request of the segments quota, like "
            "a create) to warn when the batch would cross MoEngage's limit of 1000 active "
            "segments. The count is an upper bound: listed segments carry no status, so "
            "archived ones are counted too.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create every segment of FILE, paced by the quota governor; one outcome per item.

    Ctrl-C or SIGTERM stops gracefully: requests already sent finish, the other items are
    reported as not sent, then the summary is printed (a second signal abandons the requests in
    flight). Exit code 0 when every item was created, recovered or already existed with an
    identical definition (or is of an --accept'ed kind), 1 otherwise, 130 when interrupted.
    """
    if dry_run:
        _dry_run(conn, file, journal, count_active, as_json)
        return
    if count_active:
        usage("--count-active goes with --dry-run")
    defs = load(file)
    view = _ProgressView(enabled=not as_json, total=len(defs))
    interrupt = Interrupt()
    state: dict[str, Any] = {"batch": None, "quota": None}

    def stop() -> None:
        err.print("stopping: requests already sent finish, the rest is not sent")
        if state["batch"] is not None:
            state["batch"].stop()

    interrupt.graceful = stop

    async def go() -> Batch:
        async with conn.client() as client:
            with Journal(journal) if journal else contextlib.nullcontext() as j:
                batch = state["batch"] = Batch(
                    client,
                    defs,
                    concurrency=concurrency,
                    journal=j,
                    progress=view.update,
                    max_wait=max_wait,
                )
                if interrupt.received:  # a signal came while the client was opening
                    batch.stop()
                with view.progress:
                    await batch.run()
                state["quota"] = await quota_rows(client)
                return batch

    run_interruptible(go, interrupt)
    batch = state["batch"]
    if batch is None:  # interrupted before the batch existed
        exit_interrupted()
    interrupted = interrupt.received > 0
    outcomes = batch.outcomes
    accepted = set(accept or ())
    if as_json:
        print_json(
            {
                "ok": all(o is not None and o.ok for o in outcomes),
                "interrupted": interrupted,
                "stopped": batch.stopped,
                "summary": summary(outcomes),
                "outcomes": [o.to_json() for o in outcomes if o is not None],
                "quota": state["quota"],
            }
        )
    else:
        outcome_table(outcomes)
        if state["quota"] is not None:
            quota_table(state["quota"])
        if batch.stopped == LIMIT_REACHED:
            err.print(
                "[yellow]stopped:[/] the workspace holds its maximum of active segments; "
                "the items not sent spent nothing (archive segments, then run again)"
            )
        out.print(summary_line(outcomes, interrupted, accepted))
    exit_by(all(o is not None and (o.ok or o.kind in accepted) for o in outcomes), interrupted)


class _ProgressView:
    """A rich progress bar on stderr, with a line whenever the batch waits for quota."""

    def __init__(self, *, enabled: bool, total: int) -> None:
        self.progress = progress_bar(TextColumn("{task.fields[status]}"), enabled=enabled)
        self.task = self.progress.add_task("creating", total=total, status="")
        self.waiting: datetime | None = None

    def update(self, p: BatchProgress) -> None:
        status = ""
        if p.waiting_until is not None:
            status = f"waiting for quota until {p.waiting_until:%H:%M:%S}"
            if self.waiting is None and not self.progress.disable:
                until = f"{p.waiting_until:%H:%M:%S.%f}"[:-3]
                self.progress.console.print(
                    f"[yellow]quota full[/] after {p.done}/{p.total}: "
                    f"the governor holds the next create until {until}"
                )
        self.waiting = p.waiting_until
        self.progress.update(self.task, completed=p.done, status=status)


def load(file: Path) -> list[dict[str, Any]]:
    """The batch file's definitions; a usage error (exit 2) when it cannot be read as one."""
    try:
        return load_definitions(file)
    except MoesegError as exc:
        usage(str(exc))
    except UnicodeDecodeError as exc:
        usage(f"{file}: not UTF-8 text (byte {exc.start}: {exc.reason})")
    except (OSError, ValueError) as exc:
        usage(f"{file}: {type(exc).__name__}: {exc}")


# created and recovered green, the others red, except:
_STYLE = {
    OutcomeKind.EXISTS: "cyan",
    OutcomeKind.DUPLICATE: "yellow",
    OutcomeKind.NOT_SENT: "yellow",
}


def outcome_table(outcomes: Sequence[Outcome | None]) -> None:
    """One row per item: name, outcome, detail."""
    table = Table(title="Outcomes")
    for col in ("#", "name", "outcome", "detail"):
        table.add_column(col, overflow="fold")
    for index, o in enumerate(outcomes):
        if o is None:
            table.add_row(str(index), "", "[dim]not finished[/]", "")
            continue
        style = _STYLE.get(o.kind, "green" if o.ok else "red")
        table.add_row(str(index), o.name, f"[{style}]{o.kind.value}[/]", o.detail)
    out.print(table)


def summary(outcomes: Sequence[Outcome | None]) -> dict[str, int]:
    """How many items ended in each kind (``not_finished``: no outcome)."""
    counts = Counter("not_finished" if o is None else o.kind.value for o in outcomes)
    return dict(sorted(counts.items()))


def summary_line(
    outcomes: Sequence[Outcome | None], interrupted: bool, accepted: set[OutcomeKind]
) -> str:
    """E.g. ``3 items: 2 created, 1 invalid — 1 not succeeded (accepted: invalid)``."""
    counts = summary(outcomes)
    ok = sum(1 for o in outcomes if o is not None and o.ok)
    parts = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in counts.items())
    head = "interrupted: " if interrupted else ""
    verdict = "all succeeded" if ok == len(outcomes) else f"{len(outcomes) - ok} not succeeded"
    if accepted and ok < len(outcomes):
        verdict += " (accepted: " + ", ".join(sorted(k.value for k in accepted)) + ")"
    return f"{head}{len(outcomes)} items: {parts} — {verdict}"
