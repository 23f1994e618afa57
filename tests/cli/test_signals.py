"""Ctrl-C on ``moeseg create``: a graceful stop, the summary, then exit 130."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ._helpers import payload

N = 120


def _done(journal: Path) -> int:
    try:
        with contextlib.closing(sqlite3.connect(journal)) as db:
            return int(db.execute("SELECT count(*) FROM items WHERE state = 'done'").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet by the process under test
        return 0


@pytest.mark.slow
def test_sigint_stops_gracefully_prints_the_summary_and_exits_130(tmp_path: Path) -> None:
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps([payload(f"seg-{i}", f"city-{i}") for i in range(N)]))
    journal = tmp_path / "journal.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-m", "moeseg", "create", str(batch), "--sandbox", "--time-scale",
         "0.2", "--journal", str(journal)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        # 49 creates go at once (the batch's list call took one slot), then the 12 s minute
        # window holds the rest: the stop comes while items wait for quota
        while time.monotonic() < deadline and _done(journal) < 49:
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "stopping: requests already sent finish, the rest is not sent" in stderr
    assert "Outcomes" in stdout
    assert "not sent: batch stopped" in " ".join(stdout.split())
    summary = stdout.strip().splitlines()[-1]
    assert summary.startswith(f"interrupted: {N} items: ")
    assert "not sent" in summary
    assert "Traceback" not in stderr


@pytest.mark.slow
def test_sigterm_interrupts_any_command_with_130() -> None:
    """``moeseg list`` waiting on a server that never answers: SIGTERM, then exit 130."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(60)
        port = server.getsockname()[1]
        proc = subprocess.Popen(
            [sys.executable, "-m", "moeseg", "list", "--workspace-id", "ws", "--api-key", "k",
             "--base-url", f"http://127.0.0.1:{port}", "--quota-db", "memory"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            conn, _ = server.accept()  # the command is running and waits for an answer
            with conn:
                proc.send_signal(signal.SIGTERM)
                _, stderr = proc.communicate(timeout=30)
        finally:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert stderr.strip() == "interrupted"
