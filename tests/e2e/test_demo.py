"""`make demo` as a newcomer runs it: the whole system starts, events reach the officer API, it stops cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_check(tmp_path: Path) -> None:
    """`python -m demo --check`: everything starts, events reach the API, a fence alert opens and closes."""
    env = {**os.environ, "CORR_DEMO_DIR": str(tmp_path / "demo")}
    r = subprocess.run(
        [sys.executable, "-m", "demo", "--check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "reached the API" in r.stdout and "kiosk-haicang-01" in r.stdout
    # The wristband walked out of Haicang and back: the fence alert opened, then closed, and was printed.
    assert "demo: ALERT 1 opened: S-350205-0001 outside the allowed area" in r.stdout
    assert "demo: ALERT 1 closed: back inside the allowed area" in r.stdout
    assert "demo check: fence_breach alert 1 opened at" in r.stdout
    assert "officer      prov.admin / demo-" in r.stdout
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout
    assert leftovers.strip() == "", f"processes left running: {leftovers}"
