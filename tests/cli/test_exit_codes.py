"""Exit codes are the same for every command: 0 done, 1 failed, 2 usage or input, 3 changes
present (plan/diff --exit-code), 130 interrupted; and the command line without its extra says
which one to install."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import moeseg
from moeseg.cli._app import app

from ._helpers import payload

runner = CliRunner()
SANDBOX = ["--sandbox", "--time-scale", "0.01"]
COMMANDS_WITH_FILE = ("validate", "plan", "create")
CONNECTED = (
    "plan", "create", "list", "get", "archive", "unarchive", "quota", "export", "apply", "diff"
)  # fmt: skip


def run(*args: str, **kw: Any) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False, **kw)


def _args(command: str, tmp_path: Path) -> list[str]:
    """The smallest valid invocation of ``command`` on the embedded sandbox."""
    batch = tmp_path / "ok.json"
    batch.write_text(json.dumps([payload("a", "Pune")]))
    extra = {
        "validate": [str(batch)],
        "plan": [str(batch), "--state", str(tmp_path / "state.sqlite")],
        "apply": [str(batch), "--yes", "--state", str(tmp_path / "state.sqlite")],
        "export": ["--state", str(tmp_path / "state.sqlite")],
        "diff": ["--state", str(tmp_path / "state.sqlite")],
        "create": [str(batch)],
        "get": ["0123456789abcdef01234567"],
        "archive": ["a"],
        "unarchive": ["a"],
    }.get(command, [])
    return [command, *extra, *([] if command == "validate" else SANDBOX)]


@pytest.mark.parametrize("command", [*CONNECTED, "validate"])
def test_an_unknown_option_exits_2(command: str, tmp_path: Path) -> None:
    assert run(*_args(command, tmp_path), "--no-such-option").exit_code == 2


@pytest.mark.parametrize("command", COMMANDS_WITH_FILE)
def test_unreadable_batch_files_exit_2(command: str, tmp_path: Path) -> None:
    extra = [] if command == "validate" else SANDBOX
    assert run(command, str(tmp_path / "missing.json"), *extra).exit_code == 2
    binary = tmp_path / "latin1.yaml"
    binary.write_bytes(b"- name: caf\xe9\n")
    result = run(command, str(binary), *extra)
    assert result.exit_code == 2
    assert "latin1.yaml" in result.stderr
    assert "Traceback" not in result.output
    not_a_list = tmp_path / "x.json"
    not_a_list.write_text('"just a string"')
    assert run(command, str(not_a_list), *extra).exit_code == 2


@pytest.mark.parametrize("command", CONNECTED)
def test_bad_configuration_exits_2(command: str, tmp_path: Path) -> None:
    result = run(*_args(command, tmp_path), "--base-url", "http://127.0.0.1:9")
    assert result.exit_code == 2
    assert "exclude each other" in result.stderr


@pytest.mark.parametrize(
    ("command", "code"),
    [
        ("validate", 0),
        ("plan", 0),
        ("create", 0),
        ("list", 0),
        ("quota", 0),
        ("get", 1),  # no such segment
        ("archive", 1),  # no such segment
        ("unarchive", 1),
    ],
)
def test_done_exits_0_and_failed_exits_1(command: str, code: int, tmp_path: Path) -> None:
    result = run(*_args(command, tmp_path))
    assert result.exit_code == code, result.output
    if code == 1:
        assert result.stderr.startswith("error: NotFound")


@pytest.mark.parametrize("command", CONNECTED)
def test_an_interrupt_exits_130(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(moeseg.Client, "__init__", interrupted)
    result = run(*_args(command, tmp_path))
    assert result.exit_code == 130
    assert "interrupted" in result.stderr


def test_a_drifted_journal_exits_2_naming_the_file(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    journal.write_text("not a journal at all\n" * 50)
    for dry_run in (["--dry-run"], []):
        result = run(*_args("create", tmp_path), *dry_run, "--journal", str(journal))
        assert result.exit_code == 2
        assert f"journal {journal}" in " ".join(result.stderr.split())
        assert "not a SQLite journal" in result.stderr


@pytest.mark.slow
def test_without_the_cli_extra_one_line_says_what_to_install() -> None:
    """``python -m moeseg`` (and the ``moeseg`` script, the same ``main``) without typer/rich."""
    for module in ("typer", "rich"):
        code = (
            f"import runpy, sys; sys.modules[{module!r}] = None; sys.argv = ['moeseg', 'list']; "
            "runpy.run_module('moeseg', run_name='__main__')"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 2
        assert done.stderr.splitlines() == [
            f"moeseg: the command line needs the 'cli' extra ({module} is not installed): "
            "pip install 'moeseg[cli]'"
        ]


def test_a_configuration_error_met_mid_batch_exits_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from moeseg.cli._options import Connection
    from moeseg.governor import QuotaPolicy

    # the client's policy stays unscaled while the sandbox runs at --time-scale 0.5
    monkeypatch.setattr(Connection, "policy", lambda self: QuotaPolicy.moengage())
    result = run(*_args("create", tmp_path)[:2], "--sandbox", "--time-scale", "0.5")
    assert result.exit_code == 2
    assert "time-scale mismatch" in result.stderr
