"""The options every command that talks to MoEngage shares, and the client they build."""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import sys
import typing
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import attrs
import httpx
import typer

from ..client import ENV_WORKSPACE_ID, Client, env
from ..governor import Governor, QuotaPolicy, SQLiteStore
from ._output import InputErrors, run, usage

T = TypeVar("T")

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
        help="SQLite resume journal: a rerun after a kill sends nothing that already succeeded "
        "and creates nothing twice.",
        dir_okay=False,
        show_default=False,
    ),
]


@attrs.frozen(kw_only=True)
class Connection:
    """How to reach MoEngage (or a sandbox): the connection options of one command, each field
    annotated with its option (see :func:`connected`)."""

    workspace_id: Annotated[
        str | None,
        typer.Option(
            "--workspace-id", help="Workspace id [env MOENGAGE_WORKSPACE_ID].", show_default=False
        ),
    ] = None
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            help="Data API key [env MOENGAGE_API_KEY]. A key given here is visible to every local "
            "user in the process list: prefer the environment or --api-key-file.",
            show_default=False,
        ),
    ] = attrs.field(default=None, repr=False)
    api_key_file: Annotated[
        Path | None,
        typer.Option(
            "--api-key-file",
            help="Read the data API key from this file ('-': from stdin), e.g. "
            "--api-key-file ~/.moengage-key or `pass moengage | moeseg ... --api-key-file -`. "
            "Surrounding whitespace is ignored.",
            show_default=False,
            dir_okay=False,
            allow_dash=True,
        ),
    ] = None
    dc: Annotated[
        str | None,
        typer.Option(
            "--dc", help="Data center: 01..06 or 101 [env MOENGAGE_DC].", show_default=False
        ),
    ] = None
    db_name: Annotated[
        str | None,
        typer.Option(
            "--db-name", help="MOE-DBNAME header [env MOENGAGE_DB_NAME].", show_default=False
        ),
    ] = None
    app_key: Annotated[
        str | None,
        typer.Option(
            "--app-key",
            help="MOE-APPKEY header of v3 calls (default: the workspace id).",
            show_default=False,
        ),
    ] = None
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            help="Send to this URL instead of MoEngage (e.g. a `moeseg sandbox serve` server) "
            "[env MOENGAGE_BASE_URL].",
            envvar="MOENGAGE_BASE_URL",
            show_default=False,
        ),
    ] = None
    sandbox: Annotated[
        bool,
        typer.Option(
            "--sandbox",
            help="Run against an embedded in-process sandbox (fresh and empty on every run).",
        ),
    ] = False
    time_scale: Annotated[
        float,
        typer.Option(
            "--time-scale",
            min=0.0001,
            help="Multiply every quota window by this factor, in the sandbox and in the client's "
            "governor alike (0.05: a 60 s window lasts 3 s). Only with --sandbox or --base-url.",
        ),
    ] = 1.0
    quota_db: Annotated[
        str | None,
        typer.Option(
            "--quota-db",
            help="SQLite file of the quota governor's state, shared by every process on this "
            "machine [default: ~/.cache/moeseg/quota.sqlite3]; 'memory' keeps it in this "
            "process only. Ignored with --sandbox.",
            show_default=False,
        ),
    ] = None

    def __attrs_post_init__(self) -> None:
        if self.sandbox and self.base_url:
            usage("--sandbox and --base-url (or MOENGAGE_BASE_URL) exclude each other")
        if self.time_scale != 1.0 and not (self.sandbox or self.base_url):
            usage("--time-scale only applies to a sandbox (--sandbox or --base-url)")
        if self.api_key and self.api_key_file:
            usage("--api-key and --api-key-file exclude each other")

    def policy(self) -> QuotaPolicy:
        """MoEngage's quotas, scaled like the sandbox's windows, leaving MOESEG_HEADROOM of
        every window to other services of the workspace (a fraction < 1 or a count)."""
        policy = QuotaPolicy.moengage()
        if headroom := os.environ.get("MOESEG_HEADROOM"):
            try:
                policy = policy.with_headroom(float(headroom))
            except ValueError as exc:  # ConfigurationError is a ValueError
                usage(f"MOESEG_HEADROOM={headroom!r}: {exc}")
        return policy if self.time_scale == 1.0 else policy.scaled(self.time_scale)

    def call(self, fn: Callable[[Client], Awaitable[T]], usage_errors: InputErrors = ()) -> T:
        """``fn`` with an open client, run by :func:`run` (errors become exit codes)."""

        async def go() -> T:
            async with self.client() as client:
                return await fn(client)

        return run(go, usage_errors)

    @contextlib.asynccontextmanager
    async def client(self) -> AsyncIterator[Client]:
        """An open client for these options (with its embedded sandbox, if asked for)."""
        # None: the client reads MOENGAGE_API_KEY
        key = self.api_key if self.api_key_file is None else read_key(self.api_key_file)
        async with contextlib.AsyncExitStack() as stack:
            if self.sandbox:
                from ..sandbox import Sandbox, SandboxConfig

                box = Sandbox(SandboxConfig(time_scale=self.time_scale))
                client = Client(
                    self.workspace_id or box.workspace_id,
                    key or box.api_key,
                    base_url="http://sandbox.invalid",
                    db_name=self.db_name or box.db_name,
                    # a fresh sandbox has fresh quota: its own governor, not the shared one
                    governor=Governor(self.policy()),
                    transport=httpx.ASGITransport(app=box.app),
                )
            else:
                workspace = env(self.workspace_id, ENV_WORKSPACE_ID)  # as the client reads it
                governor = None
                if workspace and self.quota_db == "memory":
                    governor = Governor(self.policy())
                elif workspace:  # a shared store: wall clock
                    store = SQLiteStore(self.quota_db or None, workspace=workspace)
                    governor = Governor(self.policy(), store=await stack.enter_async_context(store))
                client = Client(
                    workspace,
                    key,
                    dc=self.dc,
                    base_url=self.base_url,
                    db_name=self.db_name,
                    app_key=self.app_key,
                    governor=governor,
                )
            yield await stack.enter_async_context(client)


def read_key(path: Path) -> str:
    """The key in ``path`` (``-``: stdin), stripped; a usage error when empty or unreadable."""
    where = "stdin" if str(path) == "-" else str(path)
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        usage(f"--api-key-file {where}: {type(exc).__name__}: {exc.args[-1] if exc.args else ''}")
    key = text.strip()
    if not key:
        usage(f"--api-key-file {where}: no key in it")
    if any(c.isspace() for c in key):
        usage(f"--api-key-file {where}: expected one key, found several words or lines")
    return key


def connected(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command`` the connection options; it receives them as one ``conn: Connection``.

    typer reads a command's options from its signature: the wrapper's signature is the
    command's own (without ``conn``) followed by the shared connection options.
    """
    own = [
        p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "conn"
    ]
    hints = typing.get_type_hints(Connection, include_extras=True)
    shared = [
        inspect.Parameter(
            f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=hints[f.name]
        )
        for f in attrs.fields(Connection)
    ]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> None:
        options = {p.name: kwargs.pop(p.name) for p in shared}
        command(conn=Connection(**options), **kwargs)

    params = [*own, *shared]
    wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper
