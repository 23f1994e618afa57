"""The ``moeseg`` command: the typer application, its root options and its command groups.

``_HELP`` is the user's guide to what every command shares: credentials (``_options``), the
quota state kept across processes, and the exit codes (``_output``).
"""

from __future__ import annotations

from typing import Annotated

import typer

import moeseg

from . import _batch_commands, _cohort_commands, _segment_commands, _workspace_commands
from ._output import QUOTA_NOTE

__all__ = ["app"]

_HELP = (
    "Create and manage MoEngage custom segments within the API's quotas.\n\n"
    "Credentials: --workspace-id/--api-key-file/--dc or the environment (MOENGAGE_WORKSPACE_ID, "
    "MOENGAGE_API_KEY, MOENGAGE_DC, MOENGAGE_DB_NAME); --api-key-file - reads the key from "
    "stdin, and a key given with --api-key is visible in the process list. --sandbox runs "
    "against an embedded in-process sandbox instead. " + QUOTA_NOTE + "\n\n"
    "Exit codes: 0 all succeeded, 1 something failed, 2 bad usage or input, 3 changes present "
    "(plan/diff --exit-code), 130 interrupted."
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

app.command()(_batch_commands.validate)
app.command()(_batch_commands.create)
app.command(name="list")(_segment_commands.list_)
app.command()(_segment_commands.get)
app.command()(_segment_commands.archive)
app.command()(_segment_commands.unarchive)
app.command()(_segment_commands.quota)
app.command()(_workspace_commands.export)
app.command()(_workspace_commands.plan)
app.command()(_workspace_commands.apply)
app.command()(_workspace_commands.diff)
members_app = typer.Typer(help="Keep a segment's members equal to a list of uids.")
app.add_typer(members_app, name="members")
members_app.command("sync")(_cohort_commands.members_sync)
cohort_app = typer.Typer(help="One-off Cohort Sync: add or remove uids.")
app.add_typer(cohort_app, name="cohort")
cohort_app.command("add")(_cohort_commands.cohort_add)
cohort_app.command("remove")(_cohort_commands.cohort_remove)


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
