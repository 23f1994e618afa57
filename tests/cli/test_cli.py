"""The ``moeseg`` command through typer's CliRunner: output, --json, exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from moeseg.cli import app

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
    assert "Quota state lives in this process's memory" in text
    assert "130 interrupted" in text
    for command in ("validate", "plan", "create", "list", "get", "archive", "unarchive", "quota"):
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
    path.write_text("name: not a list\n")
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
    assert left[("segments", 0.6)] == 45


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


def test_plan_json(tmp_path: Path) -> None:
    path = write(tmp_path, [payload(f"s{i}", f"c{i}") for i in range(120)] + [invalid_payload("x")])
    result = run("plan", str(path), *SCALE, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["to_send"] == 120
    assert data["invalid"] == 1
    assert data["milestones"][0]["count"] == 50
    assert data["milestones"][-1]["count"] == 120
    assert data["summary"].startswith("120 creates: 50 now")
    human = run("plan", str(path), *SCALE)
    assert "120 creates: 50 now" in human.stdout
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


def test_missing_credentials_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("MOENGAGE_WORKSPACE_ID", "MOENGAGE_API_KEY", "MOENGAGE_DC", "MOENGAGE_DB_NAME"):
        monkeypatch.delenv(var, raising=False)
    result = run("quota")
    assert result.exit_code == 2
    assert "error" in result.stderr
