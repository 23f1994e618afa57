"""``moeseg members sync`` and ``moeseg cohort add|remove`` through typer's CliRunner."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import start_blocking_portal
from typer.testing import CliRunner, Result

import moeseg
from moeseg.cli._app import app
from moeseg.sandbox import Sandbox, WorkspaceCredentials, serve_app

runner = CliRunner()


def run(*args: str) -> Result:
    return runner.invoke(app, list(args))


def users(path: Path, *uids: str) -> Path:
    path.write_text("uid\n" + "".join(f"{u}\n" for u in uids), encoding="utf-8")
    return path


def test_members_sync_dry_run_prints_the_plan_and_keeps_no_state(tmp_path: Path) -> None:
    src = users(tmp_path / "u.csv", "a", "b", "c")
    state = tmp_path / "state"
    r = run("members", "sync", "Fans", "--from", str(src), "--sandbox", "--dry-run",
            "--state-dir", str(state))  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "cohort_sync add_members: 3 uids in 1 request" in r.stdout
    assert "ETA" in r.stdout
    assert "cannot be removed" in r.stdout
    assert "dry run: nothing sent" in r.stdout
    assert not list(state.glob("members/*.uids"))


def test_members_sync_sends_only_the_deltas_on_the_second_run(tmp_path: Path) -> None:
    state = tmp_path / "state"
    conn = ["--sandbox", "--state-dir", str(state), "--json"]
    first = run(
        "members", "sync", "Fans", "--from", str(users(tmp_path / "1.csv", "a", "b")), *conn
    )
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["added"] == 2
    second = run(
        "members", "sync", "Fans", "--from", str(users(tmp_path / "2.csv", "b", "c")), *conn
    )
    assert second.exit_code == 0, second.output
    got = json.loads(second.stdout)
    assert (got["added"], got["removed"], got["requests"], got["committed"]) == (1, 1, 2, True)
    assert got["plan"]["quota"] == {"cohort_sync": 2}


def test_cohort_add_and_remove_report_counts(tmp_path: Path) -> None:
    src = users(tmp_path / "u.csv", *(f"u{i}" for i in range(10)))
    added = run("cohort", "add", "Fans", "--from", str(src), "--sandbox")
    assert added.exit_code == 0, added.output
    assert "10 uids added to Fans in 1 request" in added.stdout
    removed = run("cohort", "remove", "Fans", "--from", str(src), "--sandbox", "--json")
    assert json.loads(removed.stdout)["removed"] == 10


@pytest.mark.parametrize(
    ("content", "message"),
    [('uid\nok\n"a\nb"\n', "line break"), ("id,mail\n1,x\n", "no 'uid' column")],
)
def test_bad_input_is_a_usage_error(tmp_path: Path, content: str, message: str) -> None:
    src = tmp_path / "u.csv"
    src.write_text(content, encoding="utf-8")
    state = ("--state-dir", str(tmp_path))
    for args in (("members", "sync", "S", *state), ("cohort", "add", "S")):
        r = run(*args, "--from", str(src), "--sandbox")
        assert r.exit_code == 2, r.output
        assert message in r.stderr


def test_a_forbidden_cohort_name_is_a_usage_error(tmp_path: Path) -> None:
    r = run("cohort", "add", "a|b", "--from", str(users(tmp_path / "u.csv", "x")), "--sandbox")
    assert r.exit_code == 2
    assert "cohort_name" in r.stderr


class _Files:
    """Serves the files of a directory over loopback; accepts callbacks."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                kind = (await receive())["type"].rsplit(".", 1)[-1]
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        while (await receive()).get("more_body"):
            pass
        path = self.root / scope["path"].lstrip("/")
        ok = scope["method"] == "POST" or path.is_file()
        data = path.read_bytes() if scope["method"] == "GET" and ok else b""
        await send({"type": "http.response.start", "status": 200 if ok else 404, "headers": []})
        await send({"type": "http.response.body", "body": data})


def _uploader(path: Path, served: Path, files_url: str) -> str:
    """An uploader command: copies the CSV where the file server serves it, prints its URL
    (with ``missing``: a URL that answers 404, so MoEngage cannot download it)."""
    path.write_text(
        "import shutil, sys, uuid\n"
        "name = uuid.uuid4().hex + '.csv'\n"
        f"shutil.copy(sys.argv[-1], {str(served)!r} + '/' + name)\n"
        f"print({files_url!r} + '/' + ('missing' if len(sys.argv) > 2 else name))\n"
    )
    return f"{sys.executable} {path}"


@pytest.mark.slow  # real HTTP on loopback and an uploader process
def test_file_segments_go_through_the_uploader_and_wait_for_each_jobs_outcome(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = tmp_path / "served"
    served.mkdir()
    (served / "seed.csv").write_text("uid\na\nb\n")
    sb = Sandbox()
    monkeypatch.setenv("MOENGAGE_WORKSPACE_ID", sb.workspace_id)
    monkeypatch.setenv("MOENGAGE_API_KEY", sb.api_key)
    monkeypatch.setenv("MOENGAGE_DB_NAME", sb.db_name)
    # The servers run on a background loop; the CLI runs here, on the main thread (signals).
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(serve_app(_Files(served))) as files_url,
        portal.wrap_async_context_manager(sb.serve()) as base_url,
    ):

        async def seed() -> None:
            async with moeseg.Client(base_url=base_url) as client:
                await client.create_file_segment(
                    "Subs", f"{files_url}/seed.csv", f"{files_url}/cb", moeseg.FileOptions("uid"),
                    users=2, expiry_time=30,
                )  # fmt: skip
            await sb.wait_idle()

        portal.call(seed)
        upload = _uploader(tmp_path / "upload.py", served, files_url)
        conn = ["--base-url", base_url, "--quota-db", "memory", "--state-dir", str(tmp_path)]
        first = str(users(tmp_path / "u.csv", "b", "c"))
        refused = run("members", "sync", "Subs", "--from", first, *conn)
        # The CLI serves a callback receiver on loopback (its own URL is the public one here).
        synced = run(
            "members", "sync", "Subs", "--from", first, *conn,
            "--uploader", upload, "--replace", "always",
        )  # fmt: skip
        assert [job.status for job in sb.jobs] == [201, 201]  # done before the CLI returned
        second = str(users(tmp_path / "v.csv", "c", "d"))
        failed = run(
            "members", "sync", "Subs", "--from", second, *conn,
            "--uploader", f"{upload} missing", "--replace", "never", "--json",
        )  # fmt: skip
        unsure = list((tmp_path / "members").glob("*.unsure"))  # the failed deltas
        rerun = run(
            "members", "sync", "Subs", "--from", second, *conn,
            "--uploader", upload, "--replace", "never", "--json",
        )  # fmt: skip
    assert refused.exit_code == 2
    assert "uploader" in refused.stderr
    assert synced.exit_code == 0, synced.output
    assert "route file, replace" in synced.stdout
    assert "callbacks: receiver on http://127.0.0.1:" in synced.stderr
    assert failed.exit_code == 1, failed.output
    assert "FileSegmentFailed" in failed.stderr
    assert "File download failed" in failed.stderr
    # Nothing committed: the failed deltas stayed uncertain, and the rerun sent them again.
    assert len(unsure) == 1
    assert rerun.exit_code == 0, rerun.output
    got = json.loads(rerun.stdout)
    assert (got["added"], got["removed"], got["committed"]) == (1, 1, True)
    seg = sb.find("Subs")
    assert seg is not None
    assert seg.users == {"c", "d"}
    assert not list((tmp_path / "members").glob("*.unsure"))


@pytest.mark.slow  # a `moeseg sandbox serve` process, real HTTP on loopback
def test_smoke_against_moeseg_sandbox_serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = WorkspaceCredentials()
    monkeypatch.setenv("MOENGAGE_WORKSPACE_ID", creds.workspace_id)
    monkeypatch.setenv("MOENGAGE_API_KEY", creds.api_key)
    server = subprocess.Popen(
        [sys.executable, "-m", "moeseg", "sandbox", "serve", "--port", "0"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        url = re.search(r"http://127\.0\.0\.1:\d+", server.stdout.readline())
        assert url
        conn = ["--base-url", url.group(0), "--quota-db", "memory"]
        state = ["--state-dir", str(tmp_path)]
        src = users(tmp_path / "u.csv", *(f"u{i}" for i in range(5000)))
        first = run("members", "sync", "Smoke", "--from", str(src), *conn, *state, "--json")
        assert first.exit_code == 0, first.output
        assert json.loads(first.stdout)["added"] == 5000
        src = users(tmp_path / "u.csv", *(f"u{i}" for i in range(10, 5000)))
        second = run("members", "sync", "Smoke", "--from", str(src), *conn, *state, "--json")
        assert json.loads(second.stdout)["removed"] == 10
        added = run("cohort", "add", "Smoke", "--from", str(users(tmp_path / "x.csv", "x")), *conn)
        assert added.exit_code == 0, added.output
        listed = json.loads(run("list", "--name", "Smoke", *conn, "--json").stdout)
        assert [(s["type"], s["source"]) for s in listed] == [("FILE", "COHORT_SYNC")]
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
