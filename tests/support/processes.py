"""Central processes run as real subprocesses, so tests can SIGKILL and restart them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from central.config import CentralConfig, dump_toml


def write_config(config: CentralConfig, path: Path) -> Path:
    """Write central's config where a subprocess can read it (mode 600: it holds keys)."""
    path.write_text(dump_toml(config))
    os.chmod(path, 0o600)
    return path


class CentralProcess:
    """`python -m central -c CONFIG <args>` as a child process with its output in a log file."""

    def __init__(self, config_path: Path, *args: str, log: Path) -> None:
        self.argv = [sys.executable, "-m", "central", "-c", str(config_path), *args]
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start (again)."""
        with self.log.open("ab") as out:
            # Own session: a terminal's Ctrl-C reaches only the parent, which stops children in order.
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> None:
        """SIGKILL: no chance to finish a batch or say goodbye."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> int | None:
        """SIGTERM and wait; returns the exit code."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait(timeout=10)
        return self.proc.returncode if self.proc else None

    def output(self) -> str:
        """What the process printed so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""
