"""The ``moeseg`` command: validate, plan and create batches of segments; list, get, archive.

Built with typer and rich (the ``cli`` extra: ``pip install 'moeseg[cli]'``). Every command that
talks to MoEngage takes the same connection options (credentials from flags or the environment:
``MOENGAGE_WORKSPACE_ID``, ``MOENGAGE_API_KEY``, ``MOENGAGE_DC``, ``MOENGAGE_DB_NAME``), or
``--sandbox`` for an embedded in-process sandbox, or ``--base-url`` for a sandbox server. The
governor's quota state lives in the SQLite store (``--quota-db``), shared by every process of
the machine and kept across restarts; with ``--sandbox``, in memory.

Exit codes: 0 everything succeeded; 1 some item or the request failed (a summary says which);
2 bad usage, unreadable batch file or bad configuration; 130 interrupted (the outcomes of the
items that finished are still printed, and a journal keeps them).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import signal
import sqlite3
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import anyio
import attrs
import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import moeseg

from ..batch import Journal
from ..batch._batch import (
    Batch,
    BatchPlan,
    BatchProgress,
    Outcome,
    OutcomeKind,
    _prepare,
    governor_of,
    plan_batch,
)
from ..client import ENV_WORKSPACE_ID, Client
from ..client import env as _env
from ..governor import Governor, QuotaPolicy, SQLiteStore, WallClock
from ..segments import Segment, describe, load_definitions

__all__ = ["app", "main"]

T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_QUOTA_NOTE = (
    "Quota state is kept in a SQLite file shared by every moeseg process on this machine "
    "(--quota-db, default ~/.cache/moeseg/quota.sqlite3), so a new run knows the requests of "
    "earlier runs in the last 24 h; --sandbox keeps it in memory (a fresh sandbox has fresh "
    "quota)."
)

_HELP = (
    "Create and manage MoEngage custom segments within the API's quotas.\n\n"
    "Credentials: --workspace-id/--api-key/--dc or the environment (MOENGAGE_WORKSPACE_ID, "
    "MOENGAGE_API_KEY, MOENGAGE_DC, MOENGAGE_DB_NAME). --sandbox runs against an embedded "
    "in-process sandbox instead. " + _QUOTA_NOTE + "\n\n"
    "Exit codes: 0 all succeeded, 1 something failed, 2 bad usage or input, 130 interrupted."
)

app = typer.Typer(
    name="moeseg",
    help=_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
sandbox_app = typer.Typer(help="Run the MoEngage sandbox (a local stand-in for the API).")
app.add_typer(sandbox_app, name="sandbox")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)

# -- shared options ------------------------------------------------------------------------------

WorkspaceOpt = Annotated[
    str | None,
    typer.Option(
        "--workspace-id", help="Workspace id [env MOENGAGE_WORKSPACE_ID].", show_default=False
    ),
]
ApiKeyOpt = Annotated[
    str | None,
    typer.Option("--api-key", help="Data API key [env MOENGAGE_API_KEY].", show_default=False),
]
DcOpt = Annotated[
    str | None,
    typer.Option("--dc", help="Data center: 01..06 or 101 [env MOENGAGE_DC].", show_default=False),
]
DbNameOpt = Annotated[
    str | None,
    typer.Option("--db-name", help="MOE-DBNAME header [env MOENGAGE_DB_NAME].", show_default=False),
]
AppKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--app-key",
        help="MOE-APPKEY header of v3 calls (default: the workspace id).",
        show_default=False,
    ),
]
BaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        help="Send to this URL instead of MoEngage (e.g. a `moeseg sandbox serve` server).",
        show_default=False,
    ),
]
SandboxOpt = Annotated[
    bool,
    typer.Option(
        "--sandbox",
        help="Run against an embedded in-process sandbox (fresh and empty on every run).",
    ),
]
TimeScaleOpt = Annotated[
    float,
    typer.Option(
        "--time-scale",
        min=0.0001,
        help=(
            "Multiply every quota window by this factor, in the sandbox and in the client's "
            "governor alike (0.05: a 60 s window lasts 3 s). Only with --sandbox or --base-url."
        ),
    ),
]
QuotaDbOpt = Annotated[
    str | None,
    typer.Option(
        "--quota-db",
        help=(
            "SQLite file of the quota governor's state, shared by every process on this machine "
            "[default: ~/.cache/moeseg/quota.sqlite3]; 'memory' keeps it in this process only. "
            "Ignored with --sandbox."
        ),
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout (for scripts).")]
FileArg = Annotated[
    Path,
    typer.Argument(
        help="YAML or JSON list of segment definitions, as the dashboard generates them.",
        exists=True,
        dir_okay=False,
        readable=True,
    ),
]
JournalOpt = Annotated[
    Path | None,
    typer.Option(
        "--journal",
        help=(
            "SQLite resume journal: a rerun after a kill sends nothing that already succeeded "
            "and creates nothing twice."
        ),
        dir_okay=False,
        show_default=False,
    ),
]


@attrs.frozen(kw_only=True)
class Connection:
    """How to reach MoEngage (or a sandbox): the connection options of one command."""

    workspace_id: str | None
    api_key: str | None = attrs.field(repr=False)
    dc: str | None
    db_name: str | None
    app_key: str | None
    base_url: str | None
    sandbox: bool
    time_scale: float
    quota_db: str | None

    def __attrs_post_init__(self) -> None:
        if self.sandbox and self.base_url:
            _usage("--sandbox and --base-url exclude each other")
        if self.time_scale != 1.0 and not (self.sandbox or self.base_url):
            _usage("--time-scale only applies to a sandbox (--sandbox or --base-url)")

    def policy(self) -> QuotaPolicy:
        """MoEngage's quotas, scaled like the sandbox's windows."""
        policy = QuotaPolicy.moengage()
        return policy if self.time_scale == 1.0 else policy.scaled(self.time_scale)

    @contextlib.asynccontextmanager
    async def client(self) -> AsyncIterator[Client]:
        """An open client for these options (with its embedded sandbox, if asked for)."""
        if self.sandbox:
            from ..sandbox import Sandbox, SandboxConfig

            box = Sandbox(SandboxConfig(time_scale=self.time_scale))
            async with Client(
                self.workspace_id or box.workspace_id,
                self.api_key or box.api_key,
                base_url="http://sandbox.invalid",
                db_name=self.db_name or box.db_name,
                # a fresh sandbox has fresh quota: its own governor, not the workspace's shared one
                governor=Governor(self.policy()),
                transport=httpx.ASGITransport(app=box.app),
            ) as client:
                yield client
            return
        workspace = _env(self.workspace_id, ENV_WORKSPACE_ID)  # as the client resolves it
        async with contextlib.AsyncExitStack() as stack:
            governor: Governor | None = None
            if workspace and self.quota_db == "memory":
                governor = Governor(self.policy())
            elif workspace:
                store = SQLiteStore(self.quota_db or None, workspace=workspace)
                await stack.enter_async_context(store)
                governor = Governor(self.policy(), store=store, clock=WallClock())
            client = await stack.enter_async_context(
                Client(
                    self.workspace_id,
                    self.api_key,
                    dc=self.dc,
                    base_url=self.base_url,
                    db_name=self.db_name,
                    app_key=self.app_key,
                    governor=governor,
                )
            )
            yield client


_CONNECTION_OPTIONS = (
    ("workspace_id", WorkspaceOpt, None),
    ("api_key", ApiKeyOpt, None),
    ("dc", DcOpt, None),
    ("db_name", DbNameOpt, None),
    ("app_key", AppKeyOpt, None),
    ("base_url", BaseUrlOpt, None),
    ("sandbox", SandboxOpt, False),
    ("time_scale", TimeScaleOpt, 1.0),
    ("quota_db", QuotaDbOpt, None),
)


def _connected(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command`` the connection options; it receives them as one ``conn: Connection``.

    typer reads a command's options from its signature: the wrapper's signature is the
    command's own (without ``conn``) followed by the shared connection options.
    """
    own = [
        p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "conn"
    ]
    shared = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=ann)
        for name, ann, default in _CONNECTION_OPTIONS
    ]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> None:
        options = {name: kwargs.pop(name) for name, _, _ in _CONNECTION_OPTIONS}
        command(conn=Connection(**options), **kwargs)

    params = [*own, *shared]
    wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper


def _usage(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(EXIT_USAGE)


def _run(fn: Callable[[], Awaitable[T]]) -> T:
    """Run ``fn`` on an event loop; library errors become a message and an exit code."""
    try:
        return anyio.run(fn)
    except moeseg.ConfigurationError as exc:
        _usage(str(exc))
    except (OSError, sqlite3.Error) as exc:  # an unusable --journal or --quota-db file
        _usage(f"{type(exc).__name__}: {exc}")
    except moeseg.MoesegError as exc:
        err.print(f"[red]error:[/red] {type(exc).__name__}: {exc}")
        raise typer.Exit(EXIT_FAILED) from None


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _load(file: Path) -> list[dict[str, Any]]:
    try:
        return load_definitions(file)
    except moeseg.SegmentValidationError as exc:
        _usage(str(exc))


# -- commands ------------------------------------------------------------------------------------


def _version(value: bool) -> None:
    if value:
        typer.echo(f"moeseg {moeseg.__version__}")
        raise typer.Exit()


@app.callback(help=_HELP)
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    pass


@app.command()
def validate(file: FileArg, as_json: JsonOpt = False) -> None:
    """Check every definition locally (nothing is sent); find duplicates by fingerprint."""
    defs = _load(file)
    rejected: dict[int, Outcome] = {}
    items = _prepare(defs, lambda o: rejected.__setitem__(o.index, o))
    valid = {item.index: item for item in items}
    rows: list[dict[str, Any]] = []
    for index in range(len(defs)):
        if index in valid:
            item = valid[index]
            status, name, detail = "valid", item.name, describe(item.defn)
        else:
            o = rejected[index]
            status, name, detail = o.kind.value, o.name, o.detail
        rows.append({"index": index, "name": name, "status": status, "detail": detail})
    bad = len(defs) - len(items)
    if as_json:
        _print_json({"ok": bad == 0, "items": rows})
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
        out.print(f"{len(items)} valid, {bad} with problems")
    raise typer.Exit(EXIT_OK if bad == 0 else EXIT_FAILED)


@app.command()
@_connected
def plan(
    conn: Connection,
    file: FileArg,
    journal: JournalOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """How long a batch will take with the quota left now (sends nothing)."""
    defs = _load(file)

    async def go() -> BatchPlan:
        async with conn.client() as client:
            with Journal(journal) if journal else contextlib.nullcontext() as j:
                return await plan_batch(client, defs, journal=j)

    result = _run(go)
    if as_json:
        _print_json(result.to_json())
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


@app.command()
@_connected
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
    as_json: JsonOpt = False,
) -> None:
    """Create every segment of FILE, paced by the quota governor; one outcome per item.

    Exit code 0 when every item was created, recovered or already existed with an identical
    definition (or is of an --accept'ed kind), 1 otherwise, 130 when interrupted.
    """
    defs = _load(file)
    view = _ProgressView(enabled=not as_json, total=len(defs))
    state: dict[str, Any] = {"interrupted": False, "quota": None}

    async def go() -> Batch:
        async with conn.client() as client:
            with Journal(journal) if journal else contextlib.nullcontext() as j:
                batch = Batch(
                    client,
                    defs,
                    concurrency=concurrency,
                    journal=j,
                    progress=view.update,
                    max_wait=max_wait,
                )
                async with anyio.create_task_group() as tg:
                    tg.start_soon(_cancel_on_signal, tg.cancel_scope, state)
                    with view:
                        await batch.run()
                    tg.cancel_scope.cancel()
                state["quota"] = await _quota_rows(client)
                return batch

    batch = _run(go)
    outcomes = batch.outcomes
    accepted = set(accept or ())
    if as_json:
        _print_json(
            {
                "ok": all(o is not None and o.ok for o in outcomes),
                "interrupted": state["interrupted"],
                "summary": _summary(outcomes),
                "outcomes": [o.to_json() for o in outcomes if o is not None],
                "quota": state["quota"],
            }
        )
    else:
        _outcome_table(outcomes)
        if state["quota"] is not None:
            _quota_table(state["quota"])
        out.print(_summary_line(outcomes, state["interrupted"], accepted))
    if state["interrupted"]:
        raise typer.Exit(EXIT_INTERRUPTED)
    good = all(o is not None and (o.ok or o.kind in accepted) for o in outcomes)
    raise typer.Exit(EXIT_OK if good else EXIT_FAILED)


async def _cancel_on_signal(scope: anyio.CancelScope, state: dict[str, Any]) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            state["interrupted"] = True
            scope.cancel()
            return


class _ProgressView:
    """A rich progress bar on stderr, with a line whenever the batch waits for quota."""

    def __init__(self, *, enabled: bool, total: int) -> None:
        self.enabled = enabled
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
            console=err,
            disable=not enabled,
        )
        self.task = self.progress.add_task("creating", total=total, status="")
        self.waiting: datetime | None = None

    def __enter__(self) -> _ProgressView:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, p: BatchProgress) -> None:
        status = ""
        if p.waiting_until is not None:
            status = f"waiting for quota until {p.waiting_until:%H:%M:%S}"
            if self.waiting is None and self.enabled:
                until = f"{p.waiting_until:%H:%M:%S.%f}"[:-3]
                self.progress.console.print(
                    f"[yellow]quota full[/] after {p.done}/{p.total}: "
                    f"the governor holds the next create until {until}"
                )
        self.waiting = p.waiting_until
        self.progress.update(self.task, completed=p.done, status=status)


_STYLE = {
    OutcomeKind.CREATED: "green",
    OutcomeKind.RECOVERED: "green",
    OutcomeKind.EXISTS: "cyan",
    OutcomeKind.DUPLICATE: "yellow",
    OutcomeKind.CONFLICT: "red",
    OutcomeKind.INVALID: "red",
    OutcomeKind.FAILED: "red",
}


def _outcome_table(outcomes: Sequence[Outcome | None]) -> None:
    table = Table(title="Outcomes")
    for col in ("#", "name", "outcome", "detail"):
        table.add_column(col, overflow="fold")
    for index, o in enumerate(outcomes):
        if o is None:
            table.add_row(str(index), "", "[dim]not finished[/]", "")
            continue
        table.add_row(str(index), o.name, f"[{_STYLE[o.kind]}]{o.kind.value}[/]", o.detail)
    out.print(table)


def _summary(outcomes: Sequence[Outcome | None]) -> dict[str, int]:
    counts = Counter("not_finished" if o is None else o.kind.value for o in outcomes)
    return dict(sorted(counts.items()))


def _summary_line(
    outcomes: Sequence[Outcome | None], interrupted: bool, accepted: set[OutcomeKind]
) -> str:
    counts = _summary(outcomes)
    ok = sum(1 for o in outcomes if o is not None and o.ok)
    parts = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in counts.items())
    head = "interrupted: " if interrupted else ""
    verdict = "all succeeded" if ok == len(outcomes) else f"{len(outcomes) - ok} not succeeded"
    if accepted and ok < len(outcomes):
        verdict += " (accepted: " + ", ".join(sorted(k.value for k in accepted)) + ")"
    return f"{head}{len(outcomes)} items: {parts} — {verdict}"


async def _quota_rows(client: Client) -> list[dict[str, Any]]:
    """What is left now in every window of every quota group."""
    gov = governor_of(client)
    remaining = await gov.remaining()
    rows = []
    for group in gov.policy.groups:
        left = remaining.get(group.name, {})
        for window in group.windows:
            rows.append(
                {
                    "group": group.name,
                    "window_seconds": window.seconds,
                    "limit": window.limit,
                    "remaining": left.get(window.seconds, window.limit),
                }
            )
    return rows


def _quota_table(rows: Sequence[dict[str, Any]]) -> None:
    table = Table(title="Quota left now")
    for col in ("group", "window", "left", "limit"):
        table.add_column(col, justify="right" if col in ("left", "limit") else "left")
    for row in rows:
        table.add_row(
            row["group"], _seconds(row["window_seconds"]), str(row["remaining"]), str(row["limit"])
        )
    out.print(table)


def _seconds(s: float) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if s >= size and s % size == 0:
            return f"{s / size:g} {unit}"
    return f"{s:g} s"


@app.command()
@_connected
def quota(
    conn: Connection,
    as_json: JsonOpt = False,
) -> None:
    """What is left now in each quota window (from the governor; sends nothing)."""

    async def go() -> list[dict[str, Any]]:
        async with conn.client() as client:
            return await _quota_rows(client)

    rows = _run(go)
    if as_json:
        _print_json(rows)
    else:
        _quota_table(rows)
        out.print(_QUOTA_NOTE)


@app.command(name="list")
@_connected
def list_(
    conn: Connection,
    name: Annotated[
        str | None, typer.Option("--name", help="Only the segment with exactly this name.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List custom segments (optionally the one with an exact name)."""

    async def go() -> list[Segment]:
        async with conn.client() as client:
            return await client.list_segments(name=name)

    segments = _run(go)
    if as_json:
        _print_json([_segment_json(s) for s in segments])
        return
    table = Table(title=f"{len(segments)} segments")
    for col in ("id", "name", "created", "type", "source"):
        table.add_column(col, overflow="fold")
    for s in segments:
        table.add_row(s.id, s.name, s.created_time or "", s.type or "", s.source or "")
    out.print(table)


def _segment_json(s: Segment) -> dict[str, Any]:
    from ..segments import unstructure

    data: dict[str, Any] = unstructure(s)
    data.pop("recovered", None)
    return {k: v for k, v in data.items() if v is not None}


@app.command()
@_connected
def get(
    conn: Connection,
    segment_id: Annotated[str, typer.Argument(metavar="ID", help="The segment's id.")],
    as_json: JsonOpt = False,
) -> None:
    """Show one segment and its definition."""

    async def go() -> Segment:
        async with conn.client() as client:
            return await client.get_segment(segment_id)

    seg = _run(go)
    if as_json:
        _print_json(_segment_json(seg))
        return
    data = _segment_json(seg)
    out.print(f"[bold]{seg.name}[/]  (id {seg.id})")
    for key in ("created_time", "updated_time", "type", "source", "description"):
        if data.get(key):
            out.print(f"  {key}: {data[key]}")
    for key in ("included_filters", "excluded_filters"):
        if data.get(key):
            out.print(f"  {key}: " + json.dumps(data[key], ensure_ascii=False))


NameArg = Annotated[str, typer.Argument(help="The segment's name.")]


@app.command()
@_connected
def archive(
    conn: Connection,
    name: NameArg,
    as_json: JsonOpt = False,
) -> None:
    """Archive a segment by name."""
    _archive(conn, name, archive=True, as_json=as_json)


@app.command()
@_connected
def unarchive(
    conn: Connection,
    name: NameArg,
    as_json: JsonOpt = False,
) -> None:
    """Unarchive a segment by name."""
    _archive(conn, name, archive=False, as_json=as_json)


def _archive(conn: Connection, name: str, *, archive: bool, as_json: bool) -> None:
    async def go() -> None:
        async with conn.client() as client:
            if archive:
                await client.archive(name=name)
            else:
                await client.unarchive(name=name)

    _run(go)
    verb = "archived" if archive else "unarchived"
    if as_json:
        _print_json({"ok": True, "name": name, "action": verb})
    else:
        out.print(f"{verb} {name}")


@sandbox_app.command("serve")
def sandbox_serve(
    host: Annotated[
        str, typer.Option("--host", help="Loopback address to bind (see --allow-remote).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port (0: any free port).")] = 8080,
    time_scale: Annotated[
        float,
        typer.Option(
            "--time-scale", min=0.0001, help="Multiply every quota window (0.05: 60 s -> 3 s)."
        ),
    ] = 1.0,
    error_rate: Annotated[
        float,
        typer.Option("--error-rate", min=0.0, max=1.0, help="Probability of a 503 per request."),
    ] = 0.0,
    drop_rate: Annotated[
        float,
        typer.Option(
            "--drop-rate",
            min=0.0,
            max=1.0,
            help="Probability of dropping the connection after processing a request.",
        ),
    ] = 0.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the fault RNG.")] = 0,
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote",
            help="Accept a --host that is not loopback (the sandbox's credentials are public).",
        ),
    ] = False,
) -> None:
    """Serve a sandbox over HTTP until interrupted; prints its URL and sandbox credentials."""
    from ..sandbox import serve_command

    code = serve_command(
        host,
        port,
        time_scale=time_scale,
        error_rate=error_rate,
        drop_rate=drop_rate,
        seed=seed,
        allow_remote=allow_remote,
    )
    raise typer.Exit(code)


def main() -> None:
    """Entry point of the ``moeseg`` script and ``python -m moeseg``."""
    app()
