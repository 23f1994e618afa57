"""What every command shares on the way out: consoles, exit codes, errors, JSON and tables."""

from __future__ import annotations

import json
import signal
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn, TypeVar, cast

import anyio
import attrs
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .._exceptions import ConfigurationError, MoesegError
from ..batch import governor_of
from ..client import Client

T = TypeVar("T")

# The exit codes of every command (see ``moeseg --help``).
EXIT_OK = 0
EXIT_FAILED = 1  # an item or the request failed; a message or summary says what
EXIT_USAGE = 2  # bad options, files, credentials or configuration
EXIT_CHANGES = 3  # ``plan``/``diff --exit-code``: changes are present
EXIT_INTERRUPTED = 130  # SIGINT/SIGTERM; what finished is still reported

QUOTA_NOTE = (
    "Quota state is kept in a SQLite file shared by every moeseg process on this machine "
    "(--quota-db, default ~/.cache/moeseg/quota.sqlite3), so a new run knows the requests of "
    "earlier runs in the last 24 h; --sandbox keeps it in memory (a fresh sandbox has fresh "
    "quota)."
)

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)


def exit_by(ok: bool, interrupted: bool = False) -> NoReturn:
    """Exit 130 when interrupted, else 0 when ``ok``, else 1."""
    raise typer.Exit(EXIT_INTERRUPTED if interrupted else EXIT_OK if ok else EXIT_FAILED)


def usage(message: str) -> NoReturn:
    """Print ``error: message`` on stderr and exit 2."""
    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(EXIT_USAGE)


@attrs.define
class Interrupt:
    """How a command meets SIGINT/SIGTERM: the first signal calls ``graceful`` when it is set
    (else it cancels the command), a second one cancels it; ``received`` counts them."""

    graceful: Callable[[], None] | None = None
    received: int = 0
    cancelled: bool = False


InputErrors = tuple[type[Exception], ...]


def run(fn: Callable[[], Awaitable[T]], usage_errors: InputErrors = ()) -> T:
    """Run ``fn`` on an event loop; errors and interrupts become a message and an exit code
    (``usage_errors``: bad input, exit 2 like a ``ConfigurationError``)."""
    interrupt = Interrupt()
    result = run_interruptible(fn, interrupt, usage_errors)
    if interrupt.cancelled:
        exit_interrupted()
    return cast(T, result)


def exit_interrupted() -> NoReturn:
    """Say so and exit 130."""
    err.print("interrupted")
    raise typer.Exit(EXIT_INTERRUPTED)


def run_interruptible(
    fn: Callable[[], Awaitable[T]], interrupt: Interrupt, usage_errors: InputErrors = ()
) -> T | None:
    """Like :func:`run`, but ``None`` when a signal cancelled ``fn`` (``interrupt.cancelled``)."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    to_usage: InputErrors = (ConfigurationError, *usage_errors)
    try:
        return anyio.run(_until_signalled, fn, interrupt)
    except KeyboardInterrupt:  # before the loop listened for signals
        exit_interrupted()
    except to_usage as exc:  # credentials, options, --journal, input
        usage(str(exc))
    except (OSError, sqlite3.Error) as exc:  # an unusable --quota-db file
        usage(f"{type(exc).__name__}: {exc}")
    except MoesegError as exc:
        err.print(f"[red]error:[/red] {type(exc).__name__}: {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(EXIT_FAILED) from None
    finally:
        for sig, handler in previous.items():  # the event loop resets what it replaced
            if handler is not None:
                signal.signal(sig, handler)


async def _until_signalled(fn: Callable[[], Awaitable[T]], interrupt: Interrupt) -> T | None:
    result: T | None = None
    error: Exception | KeyboardInterrupt | None = None
    async with anyio.create_task_group() as tg:
        tg.start_soon(_on_signals, tg.cancel_scope, interrupt)
        try:
            result = await fn()
        except (Exception, KeyboardInterrupt) as exc:  # raised below as itself, not grouped
            error = exc
        tg.cancel_scope.cancel()
    if error is not None:
        raise error
    return result


async def _on_signals(scope: anyio.CancelScope, interrupt: Interrupt) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            interrupt.received += 1
            if interrupt.received == 1 and interrupt.graceful is not None:
                interrupt.graceful()
                continue
            interrupt.cancelled = True
            scope.cancel()
            return


def print_json(data: Any) -> None:
    """``data`` as indented JSON on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def pick(obj: object, *names: str) -> dict[str, Any]:
    """These attributes of ``obj`` as a dict, in this order (a JSON row)."""
    return {name: getattr(obj, name) for name in names}


async def quota_rows(client: Client) -> list[dict[str, Any]]:
    """What is left now in every window of every quota group."""
    gov = governor_of(client)
    remaining = await gov.remaining()
    return [
        {
            "group": group.name,
            "window_seconds": window.seconds,
            "limit": window.limit,
            "headroom": window.limit - gov.policy.usable(window),
            "remaining": remaining.get(group.name, {}).get(window.seconds, window.limit),
        }
        for group in gov.policy.groups
        for window in group.windows
    ]


def quota_table(rows: Sequence[dict[str, Any]]) -> None:
    """The quota rows as a table on stdout."""
    table = Table(title="Quota left now")
    for col in ("group", "window", "left", "limit", "headroom"):
        table.add_column(col, justify="left" if col in ("group", "window") else "right")
    for row in rows:
        counts = (row["remaining"], row["limit"], row["headroom"])
        table.add_row(row["group"], _seconds(row["window_seconds"]), *map(str, counts))
    out.print(table)


def _seconds(s: float) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if s >= size and s % size == 0:
            return f"{s / size:g} {unit}"
    return f"{s:g} s"


def progress_bar(*extra: TextColumn, enabled: bool) -> Progress:
    """The progress bar every command shows on stderr (description, bar, done/total, time)."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    return Progress(*columns, TimeElapsedColumn(), *extra, console=err, disable=not enabled)
