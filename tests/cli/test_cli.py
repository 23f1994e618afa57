"""The ``moeseg`` command through typer's CliRunner: output, --json, exit codes."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from typer.testing import CliRunner

from moeseg.cli._app import app
from moeseg.governor import Governor, QuotaPolicy, SQLiteStore
from moeseg.sandbox import WorkspaceCredentials

from ._helpers import invalid_payload, payload

runner = CliRunner()
SCALE = ["--sandbox", "--time-scale", "0.01"]


def write(tmp_path: Path, items: list[dict[str, Any]], name: str = "batch.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(items))
    return path


def run(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_help_mentions_quota_memory_and_exit_codes() -> None:
    result = run("--help")
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "Quota state is kept in a SQLite file shared by every moeseg process" in text
    assert "130 interrupted" in text
    for command in (
        "validate", "create", "list", "get", "archive", "unarchive", "quota",
        "export", "plan", "apply", "diff",
    ):  # fmt: skip
        assert command in result.output


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert result.output.startswith("moeseg ")


def test_validate_ok_and_problems(tmp_path: Path) -> None:
    good = write(tmp_path, [payload("a", "Pune"), payload("b", "Goa")], "good.json")
    result = run("validate", str(good), "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["ok"] is True
    assert [i["status"] for i in data["items"]] == ["valid", "valid"]

    bad = write(
        tmp_path, [payload("a", "Pune"), invalid_payload("x"), payload("c", "Pune")], "bad.json"
    )
    result = run("validate", str(bad), "--json")
    assert result.exit_code == 1
    items = json.loads(result.stdout)["items"]
    assert [i["status"] for i in items] == ["valid", "invalid", "duplicate"]
    assert "startsWith" in items[1]["detail"]
    assert "item 0" in items[2]["detail"]
    table = run("validate", str(bad))
    assert table.exit_code == 1
    assert "1 valid, 2 with problems" in table.stdout


def test_unreadable_file_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("42\n")
    result = run("validate", str(path))
    assert result.exit_code == 2
    assert "expected a list" in result.stderr
    assert run("validate", str(tmp_path / "missing.yaml")).exit_code == 2


def test_create_all_ok_json(tmp_path: Path) -> None:
    path = write(tmp_path, [payload(f"s{i}", f"c{i}") for i in range(5)])
    result = run("create", str(path), *SCALE, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True
    assert data["summary"] == {"created": 5}
    assert [o["index"] for o in data["outcomes"]] == list(range(5))
    assert all(o["segment_id"] for o in data["outcomes"])
    left = {(q["group"], q["window_seconds"]): q["remaining"] for q in data["quota"]}
    assert left[("segments", 0.6)] == 44  # 5 creates and the batch's one list call


def test_create_with_problems_exits_1_unless_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, [payload("a", "Pune"), invalid_payload("x"), payload("c", "Pune")])
    result = run("create", str(path), *SCALE)
    assert result.exit_code == 1
    assert "Outcomes" in result.stdout
    assert "1 created" in result.stdout
    assert "2 not succeeded" in result.stdout
    accepted = run(
        "create", str(path), *SCALE, "--accept", "invalid", "--accept", "duplicate", "--json"
    )
    assert accepted.exit_code == 0
    kinds = [o["kind"] for o in json.loads(accepted.stdout)["outcomes"]]
    assert kinds == ["created", "invalid", "duplicate"]


def test_create_with_journal_twice_sends_nothing_the_second_time(tmp_path: Path) -> None:
    path = write(tmp_path, [payload("a", "Pune"), payload("b", "Goa")])
    journal = tmp_path / "j.sqlite"
    first = run("create", str(path), *SCALE, "--journal", str(journal), "--json")
    assert first.exit_code == 0
    # a new embedded sandbox is empty, but the journal says both were done: nothing is sent
    second = run("create", str(path), *SCALE, "--journal", str(journal), "--json")
    assert second.exit_code == 0
    outcomes = json.loads(second.stdout)["outcomes"]
    assert all(o["from_journal"] for o in outcomes)
    assert [o["segment_id"] for o in outcomes] == [
        o["segment_id"] for o in json.loads(first.stdout)["outcomes"]
    ]


def test_create_dry_run_json(tmp_path: Path) -> None:
    path = write(tmp_path, [payload(f"s{i}", f"c{i}") for i in range(120)] + [invalid_payload("x")])
    result = run("create", str(path), "--dry-run", *SCALE, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["to_send"] == 120
    assert data["invalid"] == 1
    assert data["milestones"][0]["count"] == 50
    assert data["list_calls"] == 1  # no journal: the batch lists the workspace first
    assert data["milestones"][-1]["count"] == 121
    assert data["summary"].startswith("120 creates and 1 list call: 50 now")
    human = run("create", str(path), "--dry-run", *SCALE)
    assert "120 creates and 1 list call: 50 now" in human.stdout
    assert "1 invalid" in human.stdout


def test_quota_list_get_archive_on_the_sandbox() -> None:
    quota = run("quota", *SCALE, "--json")
    assert quota.exit_code == 0
    rows = json.loads(quota.stdout)
    assert {r["group"] for r in rows} >= {"segments", "segment_reads"}
    assert all(r["remaining"] == r["limit"] for r in rows)
    listed = run("list", *SCALE, "--json")
    assert listed.exit_code == 0
    assert json.loads(listed.stdout) == []
    missing = run("get", "0123456789abcdef01234567", *SCALE)
    assert missing.exit_code == 1
    assert "NotFound" in missing.stderr
    archive = run("archive", "nope", *SCALE)
    assert archive.exit_code == 1


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["quota", "--sandbox", "--base-url", "http://127.0.0.1:1"], "exclude each other"),
        (["quota", "--time-scale", "0.5"], "--time-scale only applies"),
    ],
)
def test_bad_option_combinations_exit_2(args: list[str], needle: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert needle in result.stderr


def test_time_scale_applies_to_a_base_url_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """MOENGAGE_BASE_URL names a sandbox as --base-url does (it was refused: "only applies")."""
    monkeypatch.setenv("MOENGAGE_BASE_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("MOENGAGE_WORKSPACE_ID", "ws")
    monkeypatch.setenv("MOENGAGE_API_KEY", "key")
    result = run("quota", "--time-scale", "0.5", "--quota-db", "memory", "--json")
    assert result.exit_code == 0, result.stderr
    assert {r["group"] for r in json.loads(result.stdout)} >= {"segments"}


def test_unusable_journal_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, [payload("a", "Pune")])
    result = run("create", str(path), *SCALE, "--journal", str(tmp_path / "no" / "j.sqlite"))
    assert result.exit_code == 2
    assert "unable to open database file" in result.stderr


def test_missing_credentials_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("MOENGAGE_WORKSPACE_ID", "MOENGAGE_API_KEY", "MOENGAGE_DC", "MOENGAGE_DB_NAME"):
        monkeypatch.delenv(var, raising=False)
    result = run("quota")
    assert result.exit_code == 2
    assert "error" in result.stderr


def test_quota_state_persists_in_the_sqlite_store(tmp_path: Path) -> None:
    """Requests admitted by another process (here: this one) are seen by quota and a dry run."""
    db = tmp_path / "quota.sqlite3"
    policy = QuotaPolicy.moengage()

    async def spend() -> None:
        async with SQLiteStore(db, workspace="ws-1") as store:
            gov = Governor(policy, store=store)
            for _ in range(3):
                lease = await gov.acquire(policy.demand("create"))
                await lease.complete()

    anyio.run(spend)
    conn = [
        "--workspace-id", "ws-1", "--api-key", "k", "--base-url", "http://127.0.0.1:9",
        "--quota-db", str(db),
    ]  # fmt: skip
    result = run("quota", *conn, "--json")
    assert result.exit_code == 0, result.output
    left = {(q["group"], q["window_seconds"]): q["remaining"] for q in json.loads(result.stdout)}
    assert left[("segments", 60.0)] == 47
    assert left[("segments", 86400.0)] == 997
    assert left[("segment_reads", 60.0)] == 100
    other = run("quota", *conn[:-2], "--quota-db", "memory", "--json")
    assert {q["remaining"] for q in json.loads(other.stdout) if q["group"] == "segments"} == {
        50,
        200,
        1000,
    }
    path = write(tmp_path, [payload(f"s{i}", f"c{i}") for i in range(60)])
    plan = json.loads(run("create", str(path), "--dry-run", *conn, "--json").stdout)
    assert plan["milestones"][0]["count"] == 47


@pytest.mark.slow
def test_commands_against_a_served_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`moeseg sandbox serve` in a subprocess; create, list, get, archive through --base-url."""
    creds = WorkspaceCredentials()
    monkeypatch.setenv("MOENGAGE_WORKSPACE_ID", creds.workspace_id)
    monkeypatch.setenv("MOENGAGE_API_KEY", creds.api_key)
    monkeypatch.setenv("MOENGAGE_DB_NAME", creds.db_name)
    server = subprocess.Popen(
        [sys.executable, "-m", "moeseg", "sandbox", "serve", "--port", "0", "--time-scale",
         "0.01"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", banner)
        assert url, banner
        conn = ["--base-url", url.group(0), "--time-scale", "0.01", "--quota-db", "memory"]
        path = write(tmp_path, [payload("a", "Pune"), payload("b", "Goa")])
        created = run("create", str(path), *conn, "--json")
        assert created.exit_code == 0, created.output
        ids = {o["name"]: o["segment_id"] for o in json.loads(created.stdout)["outcomes"]}
        again = run("create", str(path), *conn, "--json")  # same names and definitions
        assert again.exit_code == 0
        assert {o["kind"] for o in json.loads(again.stdout)["outcomes"]} == {"exists"}
        listed = json.loads(run("list", *conn, "--json").stdout)
        assert sorted(s["name"] for s in listed) == ["a", "b"]
        only = json.loads(run("list", "--name", "a", *conn, "--json").stdout)
        assert [s["id"] for s in only] == [ids["a"]]
        got = run("get", ids["a"], *conn, "--json")
        assert got.exit_code == 0
        seg = json.loads(got.stdout)
        assert seg["name"] == "a"
        assert seg["included_filters"]["filters"][0]["value"] == "Pune"
        human = run("get", ids["a"], *conn)
        assert f"(id {ids['a']})" in human.stdout
        assert run("archive", "a", *conn).exit_code == 0
        assert run("unarchive", "a", *conn, "--json").exit_code == 0
        assert "a" in run("list", *conn).stdout
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


def test_create_stops_at_the_active_segment_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import functools

    import moeseg.sandbox

    limited = functools.partial(moeseg.sandbox.SandboxConfig, active_segment_limit=3)
    monkeypatch.setattr(moeseg.sandbox, "SandboxConfig", limited)
    path = write(tmp_path, [payload(f"s{i}", f"c{i}") for i in range(10)])
    result = run("create", str(path), *SCALE, "--concurrency", "1")
    assert result.exit_code == 1
    assert "stopped: the workspace holds its maximum of active segments" in result.stderr
    assert "3 created, 1 failed, 6 not sent" in result.stdout
    data = json.loads(run("create", str(path), *SCALE, "--concurrency", "1", "--json").stdout)
    assert data["stopped"] == "active-segment limit"
    assert [o["kind"] for o in data["outcomes"]] == ["created"] * 3 + ["failed"] + ["not_sent"] * 6
    assert {o["reason"] for o in data["outcomes"][4:]} == {"active-segment limit"}


def test_create_dry_run_count_active_reports_the_workspace(tmp_path: Path) -> None:
    path = write(tmp_path, [payload(f"s{i}", f"c{i}") for i in range(3)])
    result = run("create", str(path), "--dry-run", *SCALE, "--count-active")
    assert result.exit_code == 0
    assert "workspace: up to 0 segments of 1000 active allowed" in " ".join(result.stdout.split())
    dry = run("create", str(path), "--dry-run", *SCALE, "--count-active", "--json")
    data = json.loads(dry.stdout)
    assert (data["active_estimate"], data["active_limit"], data["warnings"]) == (0, 1000, [])


def test_quota_shows_the_headroom(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOESEG_HEADROOM", "0.1")
    rows = json.loads(run("quota", *SCALE, "--json").stdout)
    segments = {r["window_seconds"]: r for r in rows if r["group"] == "segments"}
    minute = segments[min(segments)]
    assert (minute["limit"], minute["headroom"], minute["remaining"]) == (50, 5, 45)
    monkeypatch.setenv("MOESEG_HEADROOM", "2.5")
    bad = run("quota", *SCALE)
    assert bad.exit_code == 2
    assert "MOESEG_HEADROOM" in bad.stderr
