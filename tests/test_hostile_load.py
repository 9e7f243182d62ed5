"""`benchmarks/hostile.py` at its reduced size: hostile clients (never-finished requests under
an open-file limit, huge headers and bodies, padded credentials, an alias-bomb configuration)
leave the other clients' p99 under 500 ms and the server under 300 MB."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def test_hostile_clients_do_not_hold_up_the_others() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "hostile.py"), "--small"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    print(run.stdout)
    assert run.returncode == 0, run.stdout + run.stderr[-2000:]
    rows = [line for line in run.stdout.splitlines() if line.startswith("| ") and "MB" in line]
    assert len(rows) == 5
    assert "x 431 |" in run.stdout  # padded credentials over the header limit
    assert "an alias (*a) is not allowed here" in run.stdout
    assert run.stdout.rstrip().endswith("all met")
