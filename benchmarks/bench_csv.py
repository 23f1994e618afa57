"""CSV check throughput: ``check_csv`` now against the version on main before the chunked reader,
in one run, on one generated file of GAIDs (37 bytes a row).

``MOESEG_BENCH_CSV_MB`` sets the file size (default 200 MB, the size of the complaint in issue 12;
the old reader takes minutes on it). The old version is read from git (``BEFORE``), so this needs
a clone with history; without it only the current figures are printed. Peak memory (tracemalloc)
is measured on a 20 MB file: tracing every allocation of a 200 MB run would take too long.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

from moeseg.files import check_csv

BEFORE = "a0820bc"  # main before the chunked reader (issue 12 §4)
MB = float(os.environ.get("MOESEG_BENCH_CSV_MB", "200"))


def write_gaids(path: Path, megabytes: float) -> int:
    rows = int(megabytes * 1e6 / 37)
    with path.open("w") as f:
        f.writelines(f"{uuid.UUID(int=i * 7919 + 12345)}\n" for i in range(rows))
    return rows


def load_before(tmp: Path) -> ModuleType | None:
    root = Path(__file__).resolve().parent.parent
    try:
        source = subprocess.run(
            ["git", "show", f"{BEFORE}:moeseg/files/_csv.py"],
            cwd=root,
            check=True,
            capture_output=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = tmp / "_csv_before.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location("moeseg.files._csv_before", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cpu(fn: Any, path: Path) -> tuple[float, Any]:
    start = time.process_time()
    report = fn(path)
    return time.process_time() - start, report


def peak(fn: Any, path: Path) -> int:
    tracemalloc.start()
    try:
        fn(path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> None:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        before = load_before(tmp)
        big, small = tmp / "gaids.csv", tmp / "gaids-20mb.csv"
        rows = write_gaids(big, MB)
        write_gaids(small, 20)
        size = big.stat().st_size / 1e6
        print(f"file: {rows:,} GAID rows, {size:.1f} MB; peak memory on a 20 MB file")
        print("| check_csv | CPU s | MB/s | rows/s | peak MB (20 MB file) |")
        print("| --- | ---: | ---: | ---: | ---: |")
        results = {}
        sides = [("now", check_csv)] + (
            [(f"before ({BEFORE})", before.check_csv)] if before else []
        )
        for label, fn in sides:
            seconds, report = cpu(fn, big)
            assert report.users == rows
            assert report.violation_count == (1 if MB > 150 else 0)
            results[label] = seconds
            print(
                f"| {label} | {seconds:.2f} | {size / seconds:.1f} | {rows / seconds:,.0f} "
                f"| {peak(fn, small) / 1e6:.1f} |",
                flush=True,
            )
        if before:
            print(f"speed-up, same run: {results[sides[1][0]] / results['now']:.1f}x")
        else:
            print(f"(no git history: the version before, {BEFORE}, was not measured)")


if __name__ == "__main__":
    main()
