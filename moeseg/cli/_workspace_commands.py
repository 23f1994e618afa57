"""``moeseg export``, ``plan``, ``apply`` and ``diff``: a workspace's segments kept as code,
its state in ``--state`` (a SQLite file or a Redis URL)."""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from .._workspace import (
    DEFAULT_STATE_PATH,
    PLAN_FORMAT,
    DesiredItemError,
    FetchProgress,
    PlanFileError,
    StateSchemaError,
    definition_diff,
    format_duration,
    is_redis_url,
    load_plan,
    plan_to_json,
    render_markdown,
    render_text,
    save_plan,
)
from ..client import Client
from ..workspace import ApplyProgress, ApplyResult, Plan, StepOutcome, Workspace
from ._options import Connection, JsonOpt, connected
from ._output import (
    EXIT_CHANGES,
    EXIT_FAILED,
    EXIT_OK,
    Interrupt,
    err,
    exit_by,
    out,
    pick,
    print_json,
    run_interruptible,
    usage,
)

__all__ = ["apply", "diff", "export", "plan"]

T = TypeVar("T")

StateOpt = Annotated[
    str,
    typer.Option(
        "--state",
        help="The workspace state: which segment each key manages. A SQLite file, or a Redis "
        "URL (redis://host:6379/0) to share it between machines (one namespace per workspace).",
    ),
]
RefreshOpt = Annotated[
    str,
    typer.Option(
        "--refresh-after",
        help="Fetch (GET, get quota) a segment's definition again when it was last verified "
        "longer ago than this: 90s, 30m, 24h, 7d, or 0 for always.",
    ),
]
PruneOpt = Annotated[
    bool, typer.Option("--prune", help="Archive managed segments no longer in the desired files.")
]
MaxArchiveOpt = Annotated[
    int, typer.Option("--max-archive", min=0, help="With --prune: archive at most this many.")
]
TargetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--target", help="Only this key and what it refers to (repeatable).", show_default=False
    ),
]
ExitCodeOpt = Annotated[
    bool, typer.Option("--exit-code", help="Exit 3 when there are changes (0 when none).")
]
FilesArg = Annotated[
    list[Path],
    typer.Argument(
        help="Desired files or folders (YAML or JSON create payloads with an optional key).",
        metavar="FILES",
        exists=True,
        readable=True,
    ),
]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h|d)?")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def duration(text: str) -> float:
    """Seconds in ``90s``, ``30m``, ``24h``, ``7d`` (a bare number is seconds)."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        usage(f"--refresh-after {text!r}: expected a duration such as 90s, 30m, 24h or 7d")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _workspace(client: Client, state: str) -> Workspace:
    """A workspace on ``client`` with the ``--state`` store (a file path or a Redis URL)."""
    return Workspace(client, state if is_redis_url(state) else Path(state))


# Bad desired files, plan files or state files exit 2, before any request.
_INPUT_ERRORS = (DesiredItemError, PlanFileError, StateSchemaError)


def _on_workspace(conn: Connection, state: str, fn: Callable[[Workspace], Awaitable[T]]) -> T:
    return conn.call(lambda client: fn(_workspace(client, state)), _INPUT_ERRORS)


def _fetch_note(p: FetchProgress) -> None:
    if p.done == 0 and p.total:
        err.print(
            f"fetching {p.total} segment definition{'s' if p.total != 1 else ''} "
            f"(get quota), ETA {format_duration(p.eta_seconds)}"
        )


@connected
def export(
    conn: Connection,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write one <key>.yaml per segment into this folder (default: YAML on stdout).",
            file_okay=False,
            show_default=False,
        ),
    ] = None,
    state: StateOpt = str(DEFAULT_STATE_PATH),
    refresh_after: RefreshOpt = "24h",
    as_json: JsonOpt = False,
) -> None:
    """Write the workspace's filter segments as desired YAML and adopt them into the state.

    One list call, then a GET per segment not verified within --refresh-after (get quota:
    100/min, 1,000/h): the ETA is printed first, and an interrupted export resumes."""
    fresh = duration(refresh_after)
    result = _on_workspace(
        conn, state, lambda ws: ws.export(out_dir, refresh_after=fresh, progress=_fetch_note)
    )
    if as_json:
        print_json(
            {
                "items": [i["key"] for i in result.items],
                "references": [pick(s, "id", "name") for s in result.references],
                "invalid": [{"key": k, "rule": r} for k, r in result.invalid],
            }
        )
    elif out_dir is None:
        from .._workspace import dump_desired

        sys.stdout.write(dump_desired(result.items))
    else:
        out.print(f"wrote {len(result.items)} segments to {out_dir}")
    if not as_json:
        if result.references:
            err.print(f"{len(result.references)} segments without a filter definition (by id)")
        for key, rule in result.invalid:
            err.print(f"[yellow]left out:[/] {escape(key)}: {escape(rule)}")


@connected
def plan(
    conn: Connection,
    files: FilesArg,
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Save the plan (JSON) for `moeseg apply PLAN`; refused there once stale.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    refresh_after: RefreshOpt = "24h",
    prune: PruneOpt = False,
    max_archive: MaxArchiveOpt = 10,
    target: TargetOpt = None,
    state: StateOpt = str(DEFAULT_STATE_PATH),
    as_json: JsonOpt = False,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print Markdown fit for a pull-request comment.")
    ] = False,
    exit_code: ExitCodeOpt = False,
) -> None:
    """What `moeseg apply` would do: create / update / rename / unarchive / archive /
    unchanged / read-only, each changed definition as a diff, the quota it costs and the ETA.
    Sends no change: one list call, and a GET per segment due (--refresh-after)."""
    if as_json and markdown:
        usage("--json and --markdown exclude each other")
    fresh = duration(refresh_after)
    result = _on_workspace(
        conn,
        state,
        lambda ws: ws.plan(
            files,
            prune=prune,
            max_archive=max_archive,
            targets=target,
            refresh_after=fresh,
            progress=_fetch_note,
        ),
    )
    if out_file is not None:
        save_plan(result, out_file)
        err.print(f"plan saved to {out_file}")
    if as_json:
        print_json(plan_to_json(result))
    else:
        sys.stdout.write((render_markdown(result) if markdown else render_text(result)) + "\n")
    if result.problems:
        for problem in result.problems:
            err.print(f"[red]problem:[/] {escape(problem)}")
        raise typer.Exit(EXIT_FAILED)
    raise typer.Exit(EXIT_CHANGES if exit_code and not result.empty else EXIT_OK)


def _saved_plan(paths: list[Path]) -> Plan | None:
    """The plan in ``paths`` when it is one saved plan file, else ``None`` (desired files)."""
    if len(paths) != 1 or not paths[0].is_file() or paths[0].suffix.lower() != ".json":
        return None
    try:
        data = json.loads(paths[0].read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not (isinstance(data, dict) and data.get("format") == PLAN_FORMAT):
        return None
    try:
        return load_plan(paths[0])
    except PlanFileError as exc:
        usage(str(exc))


@connected
def apply(
    conn: Connection,
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Desired files or folders, or one plan saved by `moeseg plan --out`.",
            metavar="FILES|PLAN",
            exists=True,
            readable=True,
        ),
    ],
    prune: PruneOpt = False,
    max_archive: MaxArchiveOpt = 10,
    target: TargetOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking.")] = False,
    refresh_after: RefreshOpt = "24h",
    state: StateOpt = str(DEFAULT_STATE_PATH),
    as_json: JsonOpt = False,
) -> None:
    """Carry the plan out under the quota governor: archive first (only with --prune, at most
    --max-archive), then unarchive / create / update / rename in dependency order; every step
    recorded in the state as it completes, so a rerun after a kill resumes. A saved plan is
    refused when the state or the server changed since it was made."""
    saved = _saved_plan(files)
    if saved is not None and (prune or target or max_archive != 10):
        usage("--prune, --max-archive and --target belong to `moeseg plan` for a saved plan")
    fresh = duration(refresh_after)
    interrupt = Interrupt()
    done: list[StepOutcome] = []
    view: dict[str, Any] = {"plan": saved}

    def progress(p: ApplyProgress) -> None:
        done.append(p.outcome)
        if not as_json:
            o = p.outcome
            err.print(f"[{p.done}/{p.total}] {o.kind} {escape(o.key)}: {o.status} {o.detail}")

    async def go() -> ApplyResult | None:
        async with conn.client() as client:
            ws = _workspace(client, state)
            the_plan = saved
            if the_plan is None:
                the_plan = await ws.plan(
                    files,
                    prune=prune,
                    max_archive=max_archive,
                    targets=target,
                    refresh_after=fresh,
                    progress=_fetch_note,
                )
            view["plan"] = the_plan
            if the_plan.empty:
                return ApplyResult(())
            if not as_json:
                sys.stdout.write(render_text(the_plan) + "\n")
            if not yes and not _confirmed():
                return None
            return await ws.apply(the_plan, saved=saved is not None, progress=progress)

    result = run_interruptible(go, interrupt, _INPUT_ERRORS)
    interrupted = interrupt.cancelled
    if result is None and not interrupted:
        err.print("not applied")
        raise typer.Exit(EXIT_FAILED)
    outcomes = list(result.outcomes) if result is not None else done
    _report(outcomes, view["plan"], interrupted, as_json)
    exit_by(all(o.ok for o in outcomes), interrupted)


def _confirmed() -> bool:
    if not sys.stdin.isatty():
        usage("apply asks before changing anything: pass --yes when there is no terminal")
    return typer.confirm("Apply these changes?", default=False)


def _report(outcomes: list[StepOutcome], plan: Plan | None, interrupted: bool, js: bool) -> None:
    counts = Counter(o.status for o in outcomes)
    if plan is not None and len(outcomes) < len(plan.steps):
        counts["not_run"] += len(plan.steps) - len(outcomes)
    if js:
        print_json(
            {
                "ok": not interrupted and all(o.ok for o in outcomes),
                "interrupted": interrupted,
                "summary": dict(sorted(counts.items())),
                "outcomes": [
                    pick(o, "key", "kind", "status", "segment_id", "detail") for o in outcomes
                ],
            }
        )
        return
    if not outcomes:
        out.print("No changes.")
        return
    table = Table(title="Outcomes")
    for col in ("key", "step", "outcome", "segment id", "detail"):
        table.add_column(col, overflow="fold")
    for o in outcomes:
        style = "green" if o.ok else "red"
        table.add_row(o.key, o.kind, f"[{style}]{o.status}[/]", o.segment_id or "", o.detail)
    out.print(table)
    head = "interrupted: " if interrupted else ""
    out.print(head + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(counts.items())))


@connected
def diff(
    conn: Connection,
    refresh_after: RefreshOpt = "0",
    state: StateOpt = str(DEFAULT_STATE_PATH),
    as_json: JsonOpt = False,
    exit_code: ExitCodeOpt = False,
) -> None:
    """Drift between the state and the server: managed segments edited, renamed or gone
    behind moeseg's back (e.g. on the dashboard). One list call and a GET per managed
    segment not verified within --refresh-after (default 0: all of them)."""
    fresh = duration(refresh_after)
    drift = _on_workspace(
        conn, state, lambda ws: ws.diff(refresh_after=fresh, progress=_fetch_note)
    )
    if as_json:
        print_json([pick(d, "key", "segment_id", "kind", "name", "server_name") for d in drift])
    elif not drift:
        out.print("No drift: the server holds what the state recorded.")
    else:
        for d in drift:
            renamed = f" -> {d.server_name!r}" if d.server_name not in (None, d.name) else ""
            out.print(f"{d.kind:8} {escape(d.key)}  {escape(repr(d.name))}{escape(renamed)}")
            if d.step is not None:
                for line in definition_diff(d.step):
                    out.print("    " + escape(line))
    raise typer.Exit(EXIT_CHANGES if exit_code and drift else EXIT_OK)
