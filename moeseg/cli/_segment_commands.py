"""``moeseg list``, ``get``, ``archive``, ``unarchive`` and ``quota``: one request (or none)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from ..segments import Segment, unstructure
from ._options import Connection, JsonOpt, connected
from ._output import QUOTA_NOTE, out, print_json, quota_rows, quota_table, run, usage
from ._quota_watch import watch as watch_quota

__all__ = ["archive", "get", "list_", "quota", "unarchive"]


@connected
def quota(
    conn: Connection,
    as_json: JsonOpt = False,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            help="A live view of every group's windows, leases in flight and next free slot on "
            "the shared store (Ctrl-C ends it).",
        ),
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, help="Seconds between refreshes of --watch.")
    ] = 1.0,
    iterations: Annotated[
        int | None,
        typer.Option("--iterations", min=1, help="Stop --watch after this many refreshes."),
    ] = None,
    quota_redis: Annotated[
        str | None,
        typer.Option(
            "--quota-redis",
            help="With --watch: the workspace's quota in this Redis (redis://host:port/db) "
            "instead of the SQLite --quota-db.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """What is left now in each quota window (from the governor; sends nothing)."""
    if watch or quota_redis or iterations is not None:
        if not watch:
            usage("--quota-redis and --iterations need --watch")
        if as_json:
            usage("--watch and --json exclude each other")
        run(lambda: watch_quota(conn, quota_redis, interval, iterations))
        return
    rows = conn.call(quota_rows)
    if as_json:
        print_json(rows)
    else:
        quota_table(rows)
        out.print(QUOTA_NOTE)


@connected
def list_(
    conn: Connection,
    name: Annotated[
        str | None, typer.Option("--name", help="Only the segment with exactly this name.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List custom segments (optionally the one with an exact name)."""
    segments = conn.call(lambda client: client.list_segments(name=name))
    if as_json:
        print_json([_segment_json(s) for s in segments])
        return
    table = Table(title=f"{len(segments)} segments")
    for col in ("id", "name", "created", "type", "source"):
        table.add_column(col, overflow="fold")
    for s in segments:
        table.add_row(s.id, s.name, s.created_time or "", s.type or "", s.source or "")
    out.print(table)


def _segment_json(s: Segment) -> dict[str, Any]:
    data: dict[str, Any] = unstructure(s)
    data.pop("recovered", None)
    return {k: v for k, v in data.items() if v is not None}


@connected
def get(
    conn: Connection,
    segment_id: Annotated[str, typer.Argument(metavar="ID", help="The segment's id.")],
    as_json: JsonOpt = False,
) -> None:
    """Show one segment and its definition."""
    seg = conn.call(lambda client: client.get_segment(segment_id))
    data = _segment_json(seg)
    if as_json:
        print_json(data)
        return
    out.print(f"[bold]{seg.name}[/]  (id {seg.id})")
    for key in ("created_time", "updated_time", "type", "source", "description"):
        if data.get(key):
            out.print(f"  {key}: {data[key]}")
    for key in ("included_filters", "excluded_filters"):
        if data.get(key):
            out.print(f"  {key}: " + json.dumps(data[key], ensure_ascii=False))


NameArg = Annotated[str, typer.Argument(help="The segment's name.")]


@connected
def archive(conn: Connection, name: NameArg, as_json: JsonOpt = False) -> None:
    """Archive a segment by name."""
    _archive(conn, name, archive=True, as_json=as_json)


@connected
def unarchive(conn: Connection, name: NameArg, as_json: JsonOpt = False) -> None:
    """Unarchive a segment by name."""
    _archive(conn, name, archive=False, as_json=as_json)


def _archive(conn: Connection, name: str, *, archive: bool, as_json: bool) -> None:
    conn.call(lambda client: (client.archive if archive else client.unarchive)(name=name))
    verb = "archived" if archive else "unarchived"
    if as_json:
        print_json({"ok": True, "name": name, "action": verb})
    else:
        out.print(f"{verb} {name}")
