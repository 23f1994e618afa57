"""The handle stores (memory, SQLite): callbacks for ids never issued, unusable files, and every
order of uploads, callbacks, restarts and expiries (hypothesis).

Callbacks are posted to the receiver through httpx's ASGI transport; the client is a stub that
answers each upload as MoEngage's 202 would (what happens on the wire is tested over the sandbox
in test_handles.py).
"""

from __future__ import annotations

import pickle
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import moeseg
from moeseg.files import CallbackReceiver, FileSegments, HandleStoreError, _handles
from moeseg.segments import V2AcceptedBody

BASE = "http://service.test/cb"
TIMEOUT = 3600.0


def body(name: str, users: int = 60, status: int = 201) -> dict[str, Any]:
    return {"db_name": "db", "segment_name": name, "request_id": "r1", "values_found": users,
            "values_processed": users, "user_count": users, "status": status}  # fmt: skip


class ManualClock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def now(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.t


class StubClient:
    """Answers every file-segment request with a 202 body, as MoEngage does."""

    async def create_file_segment(self, name: str, url: str, callback_url: str, **_: Any) -> Any:
        return V2AcceptedBody(message="accepted", success=True, cs_name=name, cs_id=f"id-{name}")


class Process:
    """One run of a service: a receiver, a FileSegments on the store, a way to call back."""

    def __init__(self, handles: Any, clock: ManualClock | None = None) -> None:
        self.receiver = CallbackReceiver(public_url=BASE)
        self.files = FileSegments(
            StubClient(),  # type: ignore[arg-type]
            self.receiver,
            handles=handles,
            callback_timeout=TIMEOUT,
            clock=clock or ManualClock(),
        )
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.receiver))

    async def upload(self, name: str) -> moeseg.files.FileSegmentHandle:
        return await self.files.create(name, "https://files.test/x.csv", users=1, expiry_time=30)

    async def post(self, url: str, payload: dict[str, Any]) -> httpx.Response:
        return await self.http.post(url, json=payload)

    async def exit(self) -> None:
        await self.http.aclose()
        await self.files.aclose()


pytestmark = pytest.mark.anyio

ORPHAN = f"{BASE}/0123456789abcdef.{'s' * 43}"


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_a_callback_for_an_id_never_issued_is_kept_as_an_orphan(
    kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    handles = None if kind == "memory" else tmp_path / "h.sqlite3"
    proc = Process(handles)
    resp = await proc.post(ORPHAN, body("old_vip", users=7))
    assert resp.status_code == 200
    assert resp.json() == {
        "ok": True,
        "message": "callback for an unknown handle: kept as an orphan",
    }
    assert "never issued: kept as an orphan" in caplog.text
    assert "s" * 43 not in caplog.text
    # A replay is refused as for any handle; another secret for that id is unknown.
    assert (await proc.post(ORPHAN, body("old_vip"))).status_code == 409
    assert (await proc.post(ORPHAN.replace("sss", "ttt"), body("old_vip"))).status_code == 404
    # Ids of another shape than ours are not kept; malformed bodies are refused, kept nowhere.
    assert (await proc.post(f"{BASE}/{'x' * 300}.{'s' * 43}", body("x"))).status_code == 404
    assert (await proc.post(f"{BASE}/fedcba9876543210.x", [1])).status_code == 400
    assert await proc.files.handle("fedcba9876543210") is None
    orphan = await proc.files.handle("0123456789abcdef")
    assert orphan is not None
    assert orphan.done()
    outcome = await orphan.wait()
    assert (outcome.operation, outcome.segment_name, outcome.user_count) == (
        "unknown",
        "old_vip",
        7,
    )
    assert await proc.files.pending() == []
    await proc.exit()
    if kind == "sqlite":  # and a later process still finds it
        later = Process(handles)
        found = await later.files.handle("0123456789abcdef")
        assert found is not None
        assert found.outcome == outcome
        await later.exit()


async def test_without_a_store_an_unknown_id_is_still_refused() -> None:
    receiver = CallbackReceiver(public_url=BASE)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver)) as http:
        assert (await http.post(ORPHAN, json=body("x"))).status_code == 404


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_orphans_are_bounded(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_handles, "MAX_ORPHANS", 3)
    proc = Process(None if kind == "memory" else tmp_path / "h.sqlite3")
    pending = await proc.upload("real")
    for i in range(6):
        assert (await proc.post(f"{BASE}/{i:016x}.secret", body(f"o{i}"))).status_code == 200
    kept = [await proc.files.handle(f"{i:016x}") for i in range(6)]
    assert [h is not None for h in kept] == [False, False, False, True, True, True]
    assert await proc.files.pending() == [pending]  # orphans never push out a real handle
    await proc.exit()


# -- unusable files: a typed error naming the path, never a raw sqlite3 error ------------------


def foreign(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    db.close()


def journal(path: Path) -> None:
    with moeseg.Journal(path) as j:
        j.record_intent("ws", "name", "fp")


def ours(path: Path) -> None:
    """A handle store file, as moeseg makes it."""
    store = _handles.SQLiteHandles(path)
    store._locked(lambda db: None)
    store._close()


def newer(path: Path) -> None:
    ours(path)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    db.close()


def garbage(path: Path) -> None:
    path.write_bytes(b"this is not a database, whatever its name says\n" * 200)


def directory(path: Path) -> None:
    path.mkdir()


def bad_record(path: Path) -> None:
    ours(path)
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO handles VALUES "
            "('abc', 'text', 'create', 'n', NULL, 1.0, NULL, 'pending', NULL)"
        )
    db.close()


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (garbage, "not a SQLite file"),
        (foreign, "not a moeseg handle store (another program's SQLite file)"),
        (journal, "not a moeseg handle store (another program's SQLite file)"),
        (newer, "written by a newer moeseg (schema 99; this one reads 1)"),
        (directory, "cannot open"),
        (bad_record, "unreadable record 'abc': digest is not bytes"),
    ],
)
async def test_an_unusable_store_is_a_typed_error_naming_the_file(
    make: Any, problem: str, tmp_path: Path
) -> None:
    path = tmp_path / "handles.sqlite3"
    make(path)
    before = path.read_bytes() if path.is_file() else None
    proc = Process(path)
    with pytest.raises(HandleStoreError) as info:
        await proc.files.pending()
    assert info.value.path == str(path)
    assert str(info.value).startswith(f"file-segment handle store {path}: {problem}")
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__  # no raw sqlite3
    assert isinstance(info.value, moeseg.ConfigurationError)
    assert str(pickle.loads(pickle.dumps(info.value))) == str(info.value)
    if make is not bad_record:
        # An upload is refused before anything is sent, and leaves no callback token behind.
        with pytest.raises(HandleStoreError):
            await proc.upload("vip")
        assert proc.receiver.pending == 0
        assert before is None or path.read_bytes() == before  # nothing written to the file
    await proc.exit()


async def test_a_store_locked_by_another_process_is_a_typed_error(tmp_path: Path) -> None:
    path = tmp_path / "handles.sqlite3"
    for opened in (False, True):  # locked while being set up, and later
        store = _handles.SQLiteHandles(path, timeout=0.05)
        if opened:
            await store.pending()
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(HandleStoreError, match="locked by another process") as info:
                await store.pending()
            assert info.value.path == str(path)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert await store.pending() == []  # usable once the lock is gone
        await store.aclose()


# -- every order of events: each handle ends with exactly one outcome --------------------------

EVENT = st.one_of(
    st.just(("upload", 0)),
    st.tuples(st.just("callback"), st.integers(0, 7)),
    st.just(("restart", 0)),
    st.just(("expire", 0)),
)


async def scenario(events: list[tuple[str, int]], kind: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store: Any = Path(tmp) / "h.sqlite3" if kind == "sqlite" else _handles.MemoryHandles()
        clock = ManualClock()
        proc = Process(store, clock)
        uploads: list[tuple[str, str, str, float]] = []  # id, callback URL, name, deadline
        model: dict[str, str | int] = {}  # "pending", "expired", or the user count called back
        for event, n in events:
            if event == "upload":
                name = f"s{len(uploads)}"
                handle = await proc.upload(name)
                assert handle.callback_url is not None
                uploads.append((handle.id, handle.callback_url, name, clock.t + TIMEOUT))
                model[handle.id] = "pending"
            elif event == "callback" and uploads:
                hid, url, name, deadline = uploads[n % len(uploads)]
                resp = await proc.post(url, body(name, users=n))
                if model[hid] == "pending" and clock.t >= deadline:
                    model[hid] = "expired"
                if model[hid] == "pending":
                    model[hid] = n
                    assert resp.status_code == 200
                elif model[hid] == "expired":
                    assert resp.status_code == 200
                    assert "expired" in resp.json()["message"]
                else:
                    assert resp.status_code == 409
            elif event == "restart":
                await proc.exit()
                proc = Process(store, clock)
            elif event == "expire":
                clock.t += TIMEOUT
        still = [h for h, state in model.items() if state == "pending"]
        still = [h for h in still if clock.t < next(u[3] for u in uploads if u[0] == h)]
        assert [h.id for h in await proc.files.pending()] == still
        for hid, *_ in uploads:
            handle = await proc.files.handle(hid)
            assert handle is not None
            assert handle.done() == (hid not in still)
            assert not (handle.expired and handle.outcome is not None)  # never two outcomes
            state = model[hid]
            if isinstance(state, int):
                assert handle.outcome is not None
                assert handle.outcome.user_count == state
            elif hid not in still:
                assert handle.expired
        await proc.exit()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@settings(
    max_examples=25, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=st.lists(EVENT, max_size=14))
def test_every_handle_ends_with_exactly_one_outcome(
    backend: str, kind: str, events: list[tuple[str, int]]
) -> None:
    anyio.run(scenario, events, kind, backend=backend)
