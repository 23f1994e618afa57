"""``moeseg export / plan / apply / diff``: exit codes, output forms, saved plans; and one
smoke run of the whole cycle against `moeseg sandbox serve` on loopback."""

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
import redis
import yaml
from typer.testing import CliRunner

import moeseg
from moeseg.cli._app import app
from moeseg.governor import Governor, QuotaPolicy
from moeseg.sandbox import WorkspaceCredentials
from tests.governor.conftest import redis_url  # noqa: F401 - the fixture

from ._helpers import payload

runner = CliRunner()
SANDBOX = ["--sandbox", "--time-scale", "0.01"]


def run(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def desired(tmp_path: Path, *items: dict[str, Any], name: str = "desired.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(list(items), sort_keys=False), encoding="utf-8")
    return path


def two(tmp_path: Path) -> Path:
    base = payload("Buyers", "Berlin") | {"key": "buyers"}
    loyal = payload("Loyal buyers", "Berlin", ltv=100.0) | {"key": "loyal"}
    loyal["included_filters"]["filters"].append(
        {"filter_type": "custom_segments", "segment_key": "buyers"}
    )
    return desired(tmp_path, base, loyal)


def test_plan_forms_and_exit_code(tmp_path: Path) -> None:
    files, state = two(tmp_path), ["--state", str(tmp_path / "s.sqlite")]
    changes = run("plan", str(files), *SANDBOX, *state, "--exit-code")
    assert changes.exit_code == 3, changes.output
    assert "2 to create" in changes.stdout
    assert "+AND In segment key:buyers" in changes.stdout  # the describe() diff of the item
    assert run("plan", str(files), *SANDBOX, *state).exit_code == 0  # without --exit-code
    data = json.loads(run("plan", str(files), *SANDBOX, *state, "--json").stdout)
    assert data["format"] == "moeseg-workspace-plan"
    assert [s["kind"] for s in data["steps"]] == ["create", "create"]
    assert {q["group"]: q["requests"] for q in data["quota"]} == {
        "segment_reads": 0,
        "segments": 3,
    }
    md = run("plan", str(files), *SANDBOX, *state, "--markdown")
    assert md.stdout.startswith("### moeseg plan: 2 to create")


def test_apply_asks_unless_yes_and_reports_each_step(tmp_path: Path) -> None:
    files, state = two(tmp_path), ["--state", str(tmp_path / "s.sqlite")]
    refused = run("apply", str(files), *SANDBOX, *state)
    assert refused.exit_code == 2
    assert "--yes" in refused.stderr
    done = run("apply", str(files), *SANDBOX, *state, "--yes", "--json")
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["ok"] is True
    assert [(o["key"], o["status"]) for o in data["outcomes"]] == [
        ("buyers", "done"),
        ("loyal", "done"),
    ]


def test_a_stale_saved_plan_exits_1_and_a_fresh_one_applies(tmp_path: Path) -> None:
    files, state = two(tmp_path), ["--state", str(tmp_path / "s.sqlite")]
    saved = tmp_path / "plan.json"
    assert run("plan", str(files), *SANDBOX, *state, "--out", str(saved)).exit_code == 0
    fresh = run("apply", str(saved), *SANDBOX, *state, "--yes")
    assert fresh.exit_code == 0, fresh.output
    # the state changed since (it records the apply): the same saved plan is stale now
    stale = run("apply", str(saved), *SANDBOX, *state, "--yes")
    assert stale.exit_code == 1
    assert "StalePlan" in stale.stderr
    assert "plan again" in " ".join(stale.stderr.split())


@pytest.mark.parametrize(
    ("items", "needle"),
    [
        ([payload("A", "x") | {"key": "a"}, payload("A", "y") | {"key": "b"}], "duplicate name"),
        ([payload("A", "x") | {"key": "a"}, payload("B", "x") | {"key": "b"}], "duplicate def"),
        ([payload("A", "x") | {"key": "a"}, payload("B", "y") | {"key": "a"}], "duplicate key"),
    ],
)
def test_bad_desired_files_exit_2_naming_file_and_item(
    tmp_path: Path, items: list[dict[str, Any]], needle: str
) -> None:
    path = desired(tmp_path, *items)
    for command in (["plan"], ["apply", "--yes"]):
        result = run(*command, str(path), *SANDBOX, "--state", str(tmp_path / "s.sqlite"))
        assert result.exit_code == 2, result.output
        text = " ".join(result.stderr.split())
        assert "desired.yaml, item 1" in text
        assert needle in text


def test_bad_options_exit_2(tmp_path: Path) -> None:
    files = two(tmp_path)
    for args in (
        ["plan", str(files), "--refresh-after", "soon"],
        ["plan", str(files), "--json", "--markdown"],
    ):
        result = run(*args, *SANDBOX)
        assert result.exit_code == 2, (args, result.output)
    not_state = tmp_path / "not-state.sqlite"
    not_state.write_text("hello\n" * 100)
    result = run("plan", str(files), *SANDBOX, "--state", str(not_state))
    assert result.exit_code == 2
    assert "not-state.sqlite" in result.stderr


@pytest.mark.slow
def test_export_edit_plan_apply_diff_against_a_served_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cycle of docs/workspace.md from the command line, on loopback."""
    creds = WorkspaceCredentials()
    for var, value in (
        ("MOENGAGE_WORKSPACE_ID", creds.workspace_id),
        ("MOENGAGE_API_KEY", creds.api_key),
        ("MOENGAGE_DB_NAME", creds.db_name),
    ):
        monkeypatch.setenv(var, value)
    server = subprocess.Popen(
        [sys.executable, "-m", "moeseg", "sandbox", "serve", "--port", "0", "--time-scale",
         "0.01"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        url = re.search(r"http://127\.0\.0\.1:\d+", server.stdout.readline())
        assert url
        conn = ["--base-url", url.group(0), "--time-scale", "0.01", "--quota-db", "memory"]
        state = ["--state", str(tmp_path / ".moeseg" / "state.sqlite")]
        batch = tmp_path / "batch.json"
        batch.write_text(json.dumps([payload("Pune users", "Pune"), payload("Goa users", "Goa")]))
        assert run("create", str(batch), *conn).exit_code == 0
        folder = tmp_path / "segments"
        exported = run("export", "--out", str(folder), *conn, *state)
        assert exported.exit_code == 0, exported.output
        assert sorted(p.name for p in folder.iterdir()) == ["goa-users.yaml", "pune-users.yaml"]
        assert run("plan", str(folder), *conn, *state, "--exit-code").exit_code == 0
        # edit: rename one, add one that refers to it
        pune = yaml.safe_load((folder / "pune-users.yaml").read_text())
        pune["name"] = "Users in Pune"
        (folder / "pune-users.yaml").write_text(yaml.safe_dump(pune))
        new = payload("Pune high value", "Pune", ltv=500.0) | {"key": "pune-hv"}
        new["included_filters"]["filters"].append(
            {"filter_type": "custom_segments", "segment_key": "pune-users"}
        )
        (folder / "pune-hv.yaml").write_text(yaml.safe_dump(new))
        planned = run("plan", str(folder), *conn, *state, "--exit-code", "--json")
        assert planned.exit_code == 3
        kinds = [(s["kind"], s["key"]) for s in json.loads(planned.stdout)["steps"]]
        assert ("rename", "pune-users") in kinds
        assert ("create", "pune-hv") in kinds
        applied = run("apply", str(folder), *conn, *state, "--yes")
        assert applied.exit_code == 0, applied.output
        assert run("plan", str(folder), *conn, *state, "--exit-code").exit_code == 0
        assert run("diff", *conn, *state, "--exit-code").exit_code == 0

        async def edit_behind_its_back() -> None:
            async with moeseg.Client(
                base_url=url.group(0), governor=Governor(QuotaPolicy.moengage().scaled(0.01))
            ) as client:
                [seg] = await client.list_segments("Goa users")
                await client.update_segment(seg.id, moeseg.from_payload(payload("Goa users", "X")))

        anyio.run(edit_behind_its_back)
        drift = run("diff", *conn, *state, "--exit-code")
        assert drift.exit_code == 3
        assert "changed  goa-users" in drift.stdout
        back = run("plan", str(folder), *conn, *state, "--json")
        assert [s["key"] for s in json.loads(back.stdout)["steps"] if s["kind"] == "update"] == [
            "goa-users"
        ]
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


@pytest.mark.redis
def test_the_state_can_live_in_redis(tmp_path: Path, redis_url: str) -> None:  # noqa: F811
    files = two(tmp_path)
    url = redis_url.replace("/0", "/1")  # a database of its own
    applied = run("apply", str(files), *SANDBOX, "--state", url, "--yes")
    assert applied.exit_code == 0, applied.output
    probe = redis.Redis.from_url(url)
    try:
        assert probe.hlen("moeseg:state:{SANDBOX_WORKSPACE}:rows") == 2
        probe.flushdb()
    finally:
        probe.close()
