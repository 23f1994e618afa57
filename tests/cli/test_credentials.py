"""The API key can come from a file or stdin, so it never shows in the process list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from moeseg.cli._app import app

runner = CliRunner()
SANDBOX = ["--sandbox", "--time-scale", "0.01"]
RIGHT = "sandbox-api-key"  # the embedded sandbox's key


def run(*args: str, **kw: Any) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False, **kw)


def test_help_says_how_to_keep_the_key_off_the_command_line() -> None:
    text = " ".join(run("list", "--help").output.split())
    assert "--api-key-file" in text
    assert "('-': from stdin)" in text
    assert "visible to every local user in the process list" in text
    assert "--api-key-file - reads the key from stdin" in " ".join(run("--help").output.split())


def test_key_read_from_a_file(tmp_path: Path) -> None:
    good = tmp_path / "key"
    good.write_text(RIGHT + "\n")
    assert run("list", *SANDBOX, "--api-key-file", str(good)).exit_code == 0
    bad = tmp_path / "bad"
    bad.write_text("wrong-key\n")
    refused = run("list", *SANDBOX, "--api-key-file", str(bad))
    assert refused.exit_code == 1
    assert "AuthenticationError" in refused.stderr
    assert "wrong-key" not in refused.output


def test_key_read_from_stdin() -> None:
    assert run("quota", *SANDBOX, "--api-key-file", "-", input=RIGHT + "\n").exit_code == 0
    refused = run("list", *SANDBOX, "--api-key-file", "-", input="wrong-key")
    assert refused.exit_code == 1
    assert "AuthenticationError" in refused.stderr


@pytest.mark.parametrize(
    ("content", "needle"),
    [("", "no key in it"), ("  \n", "no key in it"), ("a b\n", "expected one key")],
)
def test_an_unusable_key_file_exits_2(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "key"
    path.write_text(content)
    result = run("list", *SANDBOX, "--api-key-file", str(path))
    assert result.exit_code == 2
    assert needle in result.stderr


def test_key_file_errors_exit_2(tmp_path: Path) -> None:
    missing = run("list", *SANDBOX, "--api-key-file", str(tmp_path / "nope"))
    assert missing.exit_code == 2
    assert "nope" in missing.stderr
    both = run("list", *SANDBOX, "--api-key", "k", "--api-key-file", "-", input="k")
    assert both.exit_code == 2
    assert "exclude each other" in both.stderr
