"""`python -m peripherals.fingerprint` as a process: the capture file in, JSON lines out."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.unit.peripherals.fingerprint.frames import CAPTURE_FILE

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


def test_capture_file_through_the_command_line():
    """Piping the capture file prints one ok object per frame and exits 0."""
    done = subprocess.run(
        [sys.executable, "-m", "peripherals.fingerprint"],
        input=CAPTURE_FILE.read_text(encoding="utf-8") + "EF01\n",
        capture_output=True,
        text=True,
        check=True,
    )
    objects = [json.loads(line) for line in done.stdout.splitlines()]
    assert [o["ok"] for o in objects] == [True, True, True, True, False]
    assert objects[-1]["error"] == "truncated packet: 2 bytes, expected at least 11"
    assert done.stderr == ""
