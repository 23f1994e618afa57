"""``moeseg members sync`` (a segment's members equal a list) and ``moeseg cohort add|remove``
(one-off Cohort Sync), with a progress bar on stderr."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
import typer

from .._cohorts import (
    DEFAULT_STATE_DIR,
    CohortAction,
    CohortValidationError,
    SnapshotError,
    SyncResult,
    read_uid_csv,
)
from .._exceptions import ConfigurationError
from ..client import Client
from ..files import CallbackReceiver, FileSegments
from ._options import Connection, JsonOpt, connected
from ._output import err, out, print_json, progress_bar, usage

__all__ = ["cohort_add", "cohort_remove", "members_sync"]

FromOpt = Annotated[
    Path,
    typer.Option(
        "--from",
        help="CSV of uids: its 'uid' column (any case), --column, or its only column.",
        exists=True,
        dir_okay=False,
    ),
]
#: Bad input (the CSV, the name, the state files): exit 2, not 1.
_BAD_INPUT = (CohortValidationError, SnapshotError)
ColumnOpt = Annotated[str | None, typer.Option("--column", help="The CSV column holding the uids.")]


class _Bar:
    """Requests (or uids) done, on stderr; silent with --json."""

    def __init__(self, description: str, total: int | None, *, enabled: bool) -> None:
        self.progress = progress_bar(enabled=enabled)
        self.task = self.progress.add_task(description, total=total)

    def __enter__(self) -> _Bar:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def step(self, action: CohortAction, uids: int) -> None:
        self.progress.advance(self.task, uids)


def _uploader(command: str) -> Any:
    """An uploader that runs ``command PATH`` and reads the URL from its stdout."""
    argv = shlex.split(command)
    if not argv:
        usage("--uploader: empty command")

    async def upload(path: Path) -> str:
        done = await anyio.run_process([*argv, str(path)], check=False)
        url = done.stdout.decode("utf-8", "replace").strip()
        if done.returncode != 0 or not url or len(url.split()) != 1:
            raise ConfigurationError(
                f"--uploader {argv[0]!r} exited {done.returncode} with {url[:200]!r} for "
                f"{path.name}; it must print the file's URL and exit 0"
            )
        return url

    return upload


def _result_json(result: SyncResult) -> dict[str, Any]:
    data: dict[str, Any] = {
        "segment": result.segment,
        "route": result.route,
        "method": result.method,
        "added": result.added,
        "removed": result.removed,
        "requests": result.requests,
        "dry_run": result.dry_run,
        "committed": result.committed,
        "notes": list(result.notes),
    }
    if result.plan is not None:
        data["plan"] = {
            "reason": result.plan.reason,
            "requests": result.plan.requests,
            "quota": result.plan.quota,
            "eta_seconds": result.plan.eta_seconds,
            "optimum_seconds": result.plan.optimum_seconds,
            "steps": [
                {
                    "operation": s.operation,
                    "action": s.action,
                    "uids": s.uids,
                    "requests": s.requests,
                    "minimum": s.minimum,
                }
                for s in result.plan.steps
            ],
        }
    return data


@connected
def members_sync(
    conn: Connection,
    segment: Annotated[str, typer.Argument(metavar="SEGMENT", help="The segment's name.")],
    source: FromOpt,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan (adds, removes, quota, ETA) only.")
    ] = False,
    uploader: Annotated[
        str | None,
        typer.Option(
            "--uploader",
            help="File segments: a command run as `CMD FILE.csv` that uploads the file and "
            "prints a URL MoEngage can fetch.",
        ),
    ] = None,
    callback_url: Annotated[
        str | None,
        typer.Option(
            "--callback-url",
            help="File segments: the public URL MoEngage posts each job's outcome to, forwarded "
            "to the receiver this command serves (default: the receiver's own URL, enough for a "
            "sandbox on this machine).",
        ),
    ] = None,
    callback_host: Annotated[
        str,
        typer.Option("--callback-host", help="File segments: the address the receiver serves on."),
    ] = "127.0.0.1",
    callback_port: Annotated[
        int,
        typer.Option(
            "--callback-port", min=0, max=65535, help="File segments: its port (0: any free one)."
        ),
    ] = 0,
    callback_timeout: Annotated[
        float,
        typer.Option(
            "--callback-timeout",
            min=1.0,
            help="File segments: seconds to wait for each job's outcome before failing.",
        ),
    ] = 3600.0,
    replace: Annotated[
        str,
        typer.Option(
            "--replace",
            help="File segments: auto (the cheaper in quota), never, or always (also makes a "
            "first sync exact).",
        ),
    ] = "auto",
    state_dir: Annotated[
        Path, typer.Option("--state-dir", help="Where snapshots are kept.")
    ] = DEFAULT_STATE_DIR,
    column: ColumnOpt = None,
    cohort_id: Annotated[
        str | None,
        typer.Option(
            "--cohort-id",
            help="Cohort Sync: the key of a cohort another tool created (default: the one "
            "recorded, else derived from the name).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Make SEGMENT's members equal the uids of --from, sending only what changed since the
    last sync (Cohort Sync for its segments and new ones; file add/remove/replace for file
    segments, through --uploader, waiting for each job's outcome: exit 1 if one failed)."""
    if replace not in ("auto", "never", "always"):
        usage(f"--replace must be auto, never or always, got {replace!r}")
    choice: Literal["auto", "never", "always"] = replace  # type: ignore[assignment]
    upload = _uploader(uploader) if uploader is not None else None
    bar = _Bar("uids done", None, enabled=not (as_json or dry_run))

    async def sync(client: Client, files: FileSegments | None) -> SyncResult:
        with bar:
            return await client.sync_members(
                segment,
                source,
                state_dir=state_dir,
                uploader=upload,
                files=files,
                dry_run=dry_run,
                replace=choice,
                column=column,
                cohort_id=cohort_id,
                on_progress=bar.step,
            )

    async def go(client: Client) -> SyncResult:
        if upload is None or dry_run:  # no file jobs: no callbacks to take
            return await sync(client, None)
        # File jobs report their outcome to a callback: serve a receiver for them.
        receiver = CallbackReceiver(public_url=callback_url)
        async with (
            receiver.serve(host=callback_host, port=callback_port) as served,
            FileSegments(client, receiver, callback_timeout=callback_timeout) as files,
        ):
            if not as_json:
                public = f" (public URL {callback_url})" if callback_url else ""
                err.print(f"callbacks: receiver on {served}{public}", markup=False)
            return await sync(client, files)

    result = conn.call(go, _BAD_INPUT)
    if as_json:
        print_json(_result_json(result))
    else:
        out.print(result.describe(), markup=False)


def _one_off(
    conn: Connection, action: CohortAction, name: str, source: Path, column: str | None, js: bool
) -> None:
    try:
        uids = list(read_uid_csv(source, column=column))
    except CohortValidationError as exc:
        usage(str(exc))
    bar = _Bar("adding" if action == "add_members" else "removing", len(uids), enabled=not js)

    async def go(client: Client) -> SyncResult:
        with bar:
            if action == "add_members":
                return await client.sync_cohort(name, add=uids, on_progress=bar.step)
            return await client.sync_cohort(name, remove=uids, on_progress=bar.step)

    result = conn.call(go, _BAD_INPUT)
    if js:
        print_json(_result_json(result))
    else:
        verb = "added to" if action == "add_members" else "removed from"
        count = result.added if action == "add_members" else result.removed
        n = result.requests
        out.print(
            f"{count:,} uids {verb} {name} in {n:,} request{'' if n == 1 else 's'}", markup=False
        )


@connected
def cohort_add(
    conn: Connection,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The cohort's name.")],
    source: FromOpt,
    column: ColumnOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add the uids of --from to Cohort Sync segment NAME (created by the first add)."""
    _one_off(conn, "add_members", name, source, column, as_json)


@connected
def cohort_remove(
    conn: Connection,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The cohort's name.")],
    source: FromOpt,
    column: ColumnOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove the uids of --from from Cohort Sync segment NAME."""
    _one_off(conn, "remove_members", name, source, column, as_json)
