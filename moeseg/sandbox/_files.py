"""Background file processing: download the CSV, check it, count its values, call back.

Downloads and callbacks use httpx. Without a configured transport only loopback hosts
(127.0.0.1, ::1, localhost) are contacted: the sandbox never reaches the internet.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import cast
from urllib.parse import urlsplit

import attrs
import httpx

__all__ = ["CsvCount", "FileRejected", "count_csv", "fetch_file", "is_loopback_url", "post_json"]

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
# Identifier characters accepted in a value: letters, digits and @ . _ + - : (emails, phone
# numbers, GAIDs, ids). Anything else (quotes, #, spaces...) makes the value "corrupted".
_VALUE = re.compile(r"[A-Za-z0-9@._+\-:]+")


class FileRejected(Exception):
    """The file cannot be processed; ``message`` is the callback's ``error_message``."""

    def __init__(self, message: str, status: int = 400) -> None:
        self.message = message
        self.status = status
        super().__init__(message)


@attrs.frozen(slots=True)
class CsvCount:
    """``found``: data rows; ``values``: the distinct valid values (processed rows)."""

    found: int
    values: frozenset[str]


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` is http(s) on a loopback host."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and (parts.hostname or "") in _LOOPBACK


async def fetch_file(
    url: str,
    *,
    max_bytes: int,
    transport: httpx.AsyncBaseTransport | None,
    timeout: float,
) -> bytes:
    """Download ``url``, refusing more than ``max_bytes``. Raises ``FileRejected``."""
    failed = "File download failed."
    if transport is None and not is_loopback_url(url):
        raise FileRejected(failed)
    too_big = f"File size cannot be greater than {max_bytes / (1024 * 1024):g}MB."
    try:
        async with (
            httpx.AsyncClient(transport=transport, timeout=timeout) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise FileRejected(failed)
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                raise FileRejected(too_big)
            chunks: list[bytes] = []
            size = 0
            # aclosing: leaving the loop early must close the stream's generators at once.
            chunk_stream = cast("AsyncGenerator[bytes, None]", response.aiter_bytes())
            async with aclosing(chunk_stream) as stream:
                async for chunk in stream:
                    size += len(chunk)
                    if size > max_bytes:
                        raise FileRejected(too_big)
                    chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise FileRejected(failed) from exc
    return b"".join(chunks)


def count_csv(data: bytes, attribute_name: str) -> CsvCount:
    """Apply MoEngage's CSV rules to a single-column file.

    A first row equal to ``attribute_name`` is a header. A row with a comma inside (two
    columns) rejects the whole file; a value ending with a comma, holding special characters,
    repeating an earlier value, or an empty row is counted as found but not processed.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileRejected("File is not a UTF-8 CSV file.") from exc
    rows = text.splitlines()
    if rows and rows[0].strip().lower() == attribute_name.strip().lower():
        rows = rows[1:]
    values: set[str] = set()
    for row in rows:
        value = row.strip()
        if "," in value.rstrip(","):
            raise FileRejected("File should have a single column.")
        if value and not value.endswith(",") and _VALUE.fullmatch(value):
            values.add(value)
    return CsvCount(len(rows), frozenset(values))


async def post_json(
    url: str,
    body: dict[str, object],
    *,
    transport: httpx.AsyncBaseTransport | None,
    timeout: float,
) -> int:
    """POST ``body`` to ``url``; the receiver's status. Raises ``httpx.HTTPError`` or
    ``ValueError`` (not loopback)."""
    if transport is None and not is_loopback_url(url):
        raise ValueError(f"callback URL is not on loopback: {url}")
    async with httpx.AsyncClient(transport=transport, timeout=timeout) as client:
        response = await client.post(url, json=body)
        return response.status_code
