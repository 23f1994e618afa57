"""Background file jobs: download the CSV, count its users, charge them, update the segment,
record the job, then call back.

Downloads and callbacks use httpx. Without a configured transport only loopback hosts are
contacted: the sandbox never reaches the internet.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import cast
from urllib.parse import urlsplit

import attrs
import httpx

from .._asgi_server import is_loopback
from ._answers import Call
from ._state import FileJobRecord, SandboxState, StoredSegment

__all__ = ["schedule"]

# Identifier characters accepted in a value: letters, digits and @ . _ + - : (emails, phone
# numbers, GAIDs, ids). Anything else (quotes, #, spaces...) makes the value "corrupted".
_VALUE = re.compile(r"[A-Za-z0-9@._+\-:]+")


class _Rejected(Exception):
    """The file cannot be processed; the message is the callback's ``error_message``."""


def schedule(
    sb: SandboxState,
    call: Call,
    seg: StoredSegment,
    file_url: str,
    callback_url: str | None,
    request_id: str | None = None,
) -> None:
    """Start processing ``file_url`` for ``seg`` in the sandbox's task group."""
    assert sb.task_group is not None
    request_id = request_id or sb.request_id()
    sb.pending += 1
    sb.task_group.start_soon(_run, sb, call, seg, file_url, callback_url or None, request_id)


async def _run(
    sb: SandboxState,
    call: Call,
    seg: StoredSegment,
    file_url: str,
    callback_url: str | None,
    request_id: str,
) -> None:
    assert call.workspace is not None
    try:
        status, extra = await _process(sb, call, seg, file_url)
        if call.route == "legacy_csv":
            body = {"status": status, **extra, "request_id": request_id, "segment_name": seg.name}
        else:
            head = {"db_name": call.workspace.db_name, "segment_name": seg.name}
            body = {**head, "request_id": request_id, **extra, "status": status}
        ws = call.workspace.workspace_id
        record = FileJobRecord(
            call.route, ws, seg.id, seg.name, request_id, status, body, callback_url, None
        )
        # Recorded before the callback: whoever it wakes already finds the job here.
        index = len(sb.jobs)
        sb.jobs.append(record)
        if callback_url:
            try:
                if sb.config.fetch_transport is None and not _on_loopback(callback_url):
                    raise ValueError(f"callback URL is not on loopback: {callback_url}")
                async with _http(sb) as client:
                    response = await client.post(callback_url, json=body)
                sb.jobs[index] = attrs.evolve(record, callback_status=response.status_code)
            except (httpx.HTTPError, ValueError) as exc:
                error = f"{type(exc).__name__}: {exc}"
                sb.jobs[index] = attrs.evolve(record, callback_error=error)
    finally:
        sb.pending -= 1


async def _process(
    sb: SandboxState, call: Call, seg: StoredSegment, file_url: str
) -> tuple[int, dict[str, object]]:
    route = call.route
    suffix = " Created custom_segment contains 0 users." if route == "file_create" else ""
    try:
        found, values = _count_csv(await _fetch(sb, file_url), seg.attribute_name or "")
    except _Rejected as exc:
        return 400, {"error_message": f"{exc}{suffix}"}
    if route == "file_replace":
        weight = len(values - seg.users)
    else:
        weight = 0 if route == "legacy_csv" else len(values)
    ws = call.workspace_id or ""
    if weight and sb.quota.admit(ws, "file_users", call.arrival, weight) is not None:
        message = "File segment users limit breached. Please retry after some time."
        return 400, {"error_message": message + suffix}
    user_count = len(values)
    if route in ("file_create", "legacy_csv", "file_replace"):
        seg.users = values
    elif route == "file_add":
        seg.users |= values
    else:
        user_count = len(values & seg.users)
        seg.users -= values
    seg.updated = sb.epoch()
    return 201, {"values_found": found, "values_processed": len(values), "user_count": user_count}


def _on_loopback(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and is_loopback(parts.hostname or "")


def _http(sb: SandboxState) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=sb.config.fetch_transport, timeout=sb.config.fetch_timeout)


async def _fetch(sb: SandboxState, url: str) -> bytes:
    """Download ``url``, refusing more than ``max_file_bytes``."""
    failed = "File download failed."
    if sb.config.fetch_transport is None and not _on_loopback(url):
        raise _Rejected(failed)
    max_bytes = sb.config.max_file_bytes
    too_big = f"File size cannot be greater than {max_bytes / (1024 * 1024):g}MB."
    try:
        async with _http(sb) as client, client.stream("GET", url) as response:
            if response.status_code != 200:
                raise _Rejected(failed)
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                raise _Rejected(too_big)
            data = bytearray()
            # aclosing: leaving the loop early must close the stream's generators at once.
            chunk_stream = cast("AsyncGenerator[bytes, None]", response.aiter_bytes())
            async with aclosing(chunk_stream) as stream:
                async for chunk in stream:
                    data += chunk
                    if len(data) > max_bytes:
                        raise _Rejected(too_big)
    except httpx.HTTPError as exc:
        raise _Rejected(failed) from exc
    return bytes(data)


def _count_csv(data: bytes, attribute_name: str) -> tuple[int, set[str]]:
    """MoEngage's rules for a single-column file: the rows found and the valid distinct values.

    A first row equal to ``attribute_name`` is a header. A row with a comma inside (two
    columns) rejects the whole file; a value ending with a comma, holding special characters,
    repeating an earlier value, or an empty row is counted as found but not processed.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _Rejected("File is not a UTF-8 CSV file.") from exc
    rows = text.splitlines()
    if rows and rows[0].strip().lower() == attribute_name.strip().lower():
        rows = rows[1:]
    values: set[str] = set()
    for row in rows:
        value = row.strip()
        if "," in value.rstrip(","):
            raise _Rejected("File should have a single column.")
        if value and not value.endswith(",") and _VALUE.fullmatch(value):
            values.add(value)
    return len(rows), values
