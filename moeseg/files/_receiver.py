"""An ASGI app that receives MoEngage's processing callbacks and resolves the waiting handles.

MoEngage does not sign callbacks. Every callback URL handed out here ends in
``/<op_id>.<secret>``: ``op_id`` names the operation, ``secret`` is ``secrets.token_urlsafe(32)``
(256 bits), kept only as its SHA-256 digest and compared with :func:`hmac.compare_digest`. A
callback is accepted once per token, only for the segment the token was issued for, only with a
JSON object of the documented shape no larger than ``max_body_bytes``; a refused one records
nothing. With a handle store (attached by :class:`FileSegments`), an id this process has not
seen is looked up in the store (a restart loses nothing), one the store never issued is kept as
an orphan, and one arriving after its handle's deadline changes nothing (logged).

Statuses: 200 accepted (also an orphan, or a callback after expiry); 400 malformed JSON (too
deeply nested included) or wrong shape; 403 the body names another segment; 404 unknown or
forged token; 405 not a POST; 408 the body did not arrive within ``read_timeout`` (a sender
dripping bytes cannot hold a connection; under :meth:`CallbackReceiver.serve` a connection
without its headers by then is closed); 409 replay; 413 body too large; 503 the waiting side
has stopped, or the app runs on another thread's loop without ``serve()``'s portal.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import anyio
import anyio.from_thread
import anyio.to_thread
import attrs
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .._exceptions import ConfigurationError
from ..governor import Clock, WallClock
from ..segments import (
    FileSegmentCallback,
    LegacyCsvCallback,
    StructureError,
    V2AcceptedBody,
    structure,
)
from ._handles import HandleRecord, MemoryHandles, SQLiteHandles, Status
from ._results import FileSegmentHandle, FileSegmentOutcome

__all__ = ["CallbackReceiver"]

logger = logging.getLogger("moeseg")

_OP_ID = re.compile(r"[0-9a-f]{16}")  # secrets.token_hex(8)


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _secret_digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _parse_callback(body: bytes, operation: str) -> FileSegmentOutcome:
    """Parse a callback body (v2 file segment or legacy CSV) or raise ``_Refused(400, why)``:
    ``status`` and ``segment_name`` (checked against the token's segment) are required, every
    known field must have its documented type, unknown fields are ignored."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Refused(400, f"malformed JSON: {exc}") from None
    except RecursionError:
        raise _Refused(400, "malformed JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise _Refused(400, f"callback body must be a JSON object, not {type(data).__name__}")
    issues: list[str] = []
    cb: FileSegmentCallback | LegacyCsvCallback | None = None
    try:
        legacy = operation == "legacy_csv"
        cb = structure(data, LegacyCsvCallback) if legacy else structure(data, FileSegmentCallback)
    except StructureError as exc:
        issues = [str(issue) for issue in exc.issues]
    except RecursionError:
        issues = ["nested too deeply"]
    if data.get("segment_name") is None:
        issues.append("segment_name: required field missing")
    if cb is None or cb.segment_name is None:
        raise _Refused(400, "invalid callback body: " + "; ".join(issues))
    return FileSegmentOutcome(operation, **attrs.asdict(cb))  # the callback's fields, as sent


class CallbackReceiver:
    """ASGI app receiving MoEngage's file-segment (and legacy CSV) callbacks.

    Mount it in Starlette or FastAPI and tell it the public URL it is reachable at::

        receiver = CallbackReceiver(public_url="https://example.com/moengage/callbacks")
        app.mount("/moengage/callbacks", receiver)

    or run it on loopback for scripts and tests (uvicorn, in a thread of its own)::

        async with receiver.serve(port=0) as url:
            ...

    :meth:`expect` registers an operation and returns the handle whose ``callback_url`` goes into
    the request; :class:`FileSegments` does this for you. Handles are objects of one event loop:
    the receiver must run in the process, and (mounted) on the event loop, that awaits them;
    ``serve()`` runs uvicorn in a thread of its own and hands each callback over to that loop.
    Their records outlive the process when ``FileSegments(..., handles=path)`` gives the
    receiver a SQLite store. A handle nobody awaits any more should be :meth:`discard`-ed
    (MoEngage sets no processing deadline).
    """

    def __init__(
        self,
        public_url: str | None = None,
        *,
        max_body_bytes: int = 64 * 1024,
        remembered_tokens: int = 10_000,
        read_timeout: float = 10.0,
    ) -> None:
        self._public_url = public_url.rstrip("/") if public_url else None
        self.max_body_bytes = max_body_bytes
        self._remembered = remembered_tokens
        self._pending: dict[str, FileSegmentHandle] = {}
        self._used: OrderedDict[str, bytes] = OrderedDict()
        self._store: SQLiteHandles | None = None
        self._clock: Clock = WallClock()
        self._portal: anyio.from_thread.BlockingPortal | None = None
        self._home_thread: int | None = None  # the thread whose event loop owns the handles
        self.read_timeout = read_timeout
        self._app = Starlette(
            routes=[Route("/{path:path}", self._callback, methods=["POST"])],
            exception_handlers={HTTPException: _http_error},
        )

    def __repr__(self) -> str:
        return f"<CallbackReceiver {self._public_url or '(no public URL)'} pending={self.pending}>"

    @property
    def public_url(self) -> str | None:
        """The base URL MoEngage posts to (set by :meth:`serve` when not given)."""
        return self._public_url

    @property
    def pending(self) -> int:
        """How many operations still wait for their callback."""
        return len(self._pending)

    def expect(self, operation: str, segment_name: str) -> FileSegmentHandle:
        """Register an operation and return its handle, with a fresh single-use callback URL.

        Call it in the event loop that will await the handle, before sending the request (the
        callback may arrive before the request returns).
        """
        if self._public_url is None:
            raise ConfigurationError(
                "CallbackReceiver has no public URL: pass public_url= or use receiver.serve()"
            )
        self._claim_thread()
        op_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        handle = FileSegmentHandle(operation, segment_name, f"{self._public_url}/{op_id}.{secret}")
        handle._keeper, handle._digest = self, _secret_digest(secret)
        self._pending[op_id] = handle
        return handle

    def _attach(
        self, handles: str | os.PathLike[str] | SQLiteHandles | None, clock: Clock | None
    ) -> SQLiteHandles:
        """Keep this receiver's handles in ``handles`` (a store, a SQLite path, or None: the
        store it already has, else memory). One receiver, one store."""
        if clock is not None:
            self._clock = clock
        if handles is None:
            store = self._store or MemoryHandles()
        elif isinstance(handles, (str, os.PathLike)):
            store = SQLiteHandles(handles)
            if self._store is not None and self._store.path.absolute() == store.path.absolute():
                store = self._store
        else:
            store = handles
        if self._store is not None and store is not self._store:
            raise ConfigurationError(
                f"this CallbackReceiver keeps its handles in {self._store!r}, not {store!r}: "
                "make one receiver per handle store"
            )
        self._store = store
        return store

    async def _reopen(self, record: HandleRecord) -> FileSegmentHandle:
        """This process's handle for a stored record (the same object while it is pending),
        expired on the way once past its deadline."""
        self._claim_thread()
        handle = self._pending.get(record.id)
        if handle is None:
            handle = FileSegmentHandle(record.operation, record.segment_name, None, id=record.id)
            handle.created_at, handle.deadline = record.created_at, record.deadline
            handle._keeper, handle._digest = self, record.digest
            if record.segment_id is not None:
                handle.accepted = V2AcceptedBody(
                    cs_name=record.segment_name, cs_id=record.segment_id
                )
            if record.status == "pending":
                self._pending[record.id] = handle
            else:  # done or orphan: the callback's outcome; expired: None
                handle._finish(record.outcome)
        if handle.deadline is not None and self._left(handle.deadline) <= 0:
            await self._expire(handle)
        return handle

    def _left(self, deadline: float) -> float:
        """Seconds until a wall-clock deadline (negative once passed)."""
        return deadline - self._clock.now()

    async def _expire(self, handle: FileSegmentHandle) -> None:
        """Settle an overdue handle as expired (unless its callback came first)."""
        if handle.id in self._pending:
            await self._settle(handle.id, "expired", None)
        handle._finish(None)

    async def _settle(
        self, op_id: str, status: Status, outcome: FileSegmentOutcome | None
    ) -> tuple[bool, Status]:
        """Decide the one outcome of ``op_id`` (in the store first, the decision that counts),
        then resolve this process's handle. Returns (this call decided, the final status)."""
        store = self._store
        record, won = await store.settle(op_id, status, outcome) if store else (None, False)
        handle = self._pending.pop(op_id, None)
        if record is None:  # no store, or a handle of expect() alone: it is in memory only
            final, won = status, handle is not None
        else:
            final, outcome = record.status, record.outcome
        if handle is not None and final != "expired":
            self._used[op_id] = handle._digest
            while len(self._used) > self._remembered:
                self._used.popitem(last=False)
        if handle is not None:  # an expired one: a late callback finds its record, answered 200
            handle._finish(None if final == "expired" else outcome)
        return won, final

    def _claim_thread(self) -> None:
        """Bind the receiver to the calling thread's event loop (the one awaiting handles)."""
        here = threading.get_ident()
        if self._home_thread is None:
            self._home_thread = here
        elif self._home_thread != here:
            raise RuntimeError(
                "a CallbackReceiver serves the event loop of one thread; make one per loop"
            )

    def discard(self, handle: FileSegmentHandle) -> None:
        """Forget a pending handle (its request failed, or nobody waits any more)."""
        if self._pending.get(handle.id) is handle:
            del self._pending[handle.id]

    # -- the decision, always taken in the event loop that owns the handles ---------------------

    async def _accept(self, token: str, body: bytes) -> str:
        op_id, _, secret = token.partition(".")
        digest = _secret_digest(secret)
        handle = self._pending.get(op_id)
        if handle is not None:
            known = (handle._digest, handle.operation, handle.segment_name, handle.deadline)
        else:
            used = self._used.get(op_id)
            if used is not None and hmac.compare_digest(used, digest):
                raise _Refused(409, "callback already received (replay refused)")
            if self._store is None or not secret or not _OP_ID.fullmatch(op_id):
                raise _Refused(404, "unknown callback token")  # only our ids' shape is kept
            record = await self._store.get(op_id)
            if record is None or record.status == "orphan":
                return await self._orphan(op_id, digest, body)
            known = (record.digest, record.operation, record.segment_name, record.deadline)
        expected, operation, segment_name, deadline = known
        if not hmac.compare_digest(expected, digest):
            raise _Refused(404, "unknown callback token")
        if deadline is not None and self._left(deadline) <= 0:
            _, final = await self._settle(op_id, "expired", None)
        else:
            outcome = _parse_callback(body, operation)
            if outcome.segment_name != segment_name:
                raise _Refused(403, "callback names a segment this token was not issued for")
            won, final = await self._settle(op_id, "done", outcome)
            if won:
                return "callback received"
        if final != "expired":
            raise _Refused(409, "callback already received (replay refused)")
        logger.warning(
            "file-segment callback for %s of %r (handle %s) arrived after the handle expired: "
            "ignored", operation, segment_name, op_id,
        )  # fmt: skip
        return "callback received after the handle expired: ignored"

    async def _orphan(self, op_id: str, digest: bytes, body: bytes) -> str:
        """A callback for an id the store never issued: kept, so it is not lost (see
        :class:`FileSegments`); a replay of it is refused like any other."""
        assert self._store is not None
        outcome = _parse_callback(body, "unknown")
        record = HandleRecord(
            op_id, digest, "unknown", outcome.segment_name, self._clock.now(),
            status="orphan", outcome=outcome,
        )  # fmt: skip
        stored = await self._store.add_orphan(record)
        if stored != record:
            if stored.status == "orphan" and hmac.compare_digest(stored.digest, digest):
                raise _Refused(409, "callback already received (replay refused)")
            raise _Refused(404, "unknown callback token")
        logger.warning(
            "file-segment callback for handle %s (segment %r, status %d), which this handle "
            "store never issued: kept as an orphan", op_id, outcome.segment_name, outcome.status,
        )  # fmt: skip
        return "callback for an unknown handle: kept as an orphan"

    # -- HTTP (a Starlette app of one route) -----------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] not in ("http", "lifespan"):
            raise RuntimeError(f"CallbackReceiver serves HTTP only, not {scope['type']!r}")
        await self._app(scope, receive, send)

    async def _callback(self, request: Request) -> Response:
        """``POST .../<op_id>.<secret>``: decide on the callback in the loop that owns it."""
        try:
            with anyio.fail_after(self.read_timeout):
                body = await self._read_body(request)
        except TimeoutError:
            return _reply(408, f"callback body not received within {self.read_timeout:g} s")
        except _Refused as refused:
            return _reply(refused.status, refused.message)
        except ClientDisconnect:
            return _NoAnswer()  # the sender left before the whole body arrived: nothing to decide
        token = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        status, message = await self._decide(token, body)
        return _reply(status, message)

    async def _read_body(self, request: Request) -> bytes:
        """The whole body; ``_Refused(413)`` as soon as it is larger than allowed (not read any
        further). ``ClientDisconnect`` when the sender leaves mid-body."""
        too_big = _Refused(413, f"callback body above {self.max_body_bytes} bytes")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            raise too_big
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body_bytes:
                raise too_big
            chunks.append(chunk)
        return b"".join(chunks)

    async def _decide(self, token: str, body: bytes) -> tuple[int, str]:
        """The answer to a callback, decided in the event loop that owns the handles (reached
        through ``serve()``'s portal from uvicorn's thread)."""
        if self._home_thread not in (None, threading.get_ident()):
            portal = self._portal
            if portal is None:  # another thread's loop, and no way to reach the one that waits
                return 503, "receiver runs outside the event loop that awaits its handles"
            try:
                return await anyio.to_thread.run_sync(
                    partial(portal.call, self._decide, token, body)
                )
            except RuntimeError as exc:  # the portal stopped: nobody waits any more
                if type(exc) is not RuntimeError:
                    raise
                return 503, "receiver is shutting down"
        try:
            return 200, await self._accept(token, body)
        except _Refused as refused:
            return refused.status, refused.message

    # -- standalone server ----------------------------------------------------------------------

    @asynccontextmanager
    async def serve(self, *, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve this receiver with uvicorn on ``host:port`` (0: any free port); yield its URL.

        uvicorn runs on asyncio in a thread of its own (``moeseg._asgi_server.serve_app``), so this
        works whichever loop (asyncio or trio) the caller runs; callbacks are handed to the
        caller's loop through a portal. When the receiver has no public URL, the served URL
        becomes it for the duration. Needs uvicorn (the ``sandbox`` extra).
        """
        if self._portal is not None:
            raise RuntimeError("this CallbackReceiver is already being served")
        from .._asgi_server import serve_app

        own_url = self._public_url is None
        failure: Exception | None = None
        async with anyio.from_thread.BlockingPortal() as portal:
            self._claim_thread()
            self._portal = portal
            try:
                async with serve_app(self, host, port, read_timeout=self.read_timeout) as url:
                    self._public_url = self._public_url or url
                    try:
                        yield url
                    except Exception as exc:  # raised below as itself, not in the portal's group
                        failure = exc
            finally:
                self._portal = None
                if own_url:
                    self._public_url = None
        if failure is not None:
            raise failure


def _reply(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    ok = status == 200
    return JSONResponse({"ok": ok, "message" if ok else "error": message}, status, headers=headers)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = "callbacks are POST requests" if exc.status_code == 405 else str(exc.detail)
    return _reply(exc.status_code, message, dict(exc.headers or {}))


class _NoAnswer(Response):
    """Nothing to send: the sender is gone."""

    def __init__(self) -> None:
        super().__init__(status_code=499)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        return
