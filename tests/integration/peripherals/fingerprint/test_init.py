"""Importing the package in a fresh interpreter: the codec without the serial driver."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


def test_codec_import_does_not_need_pyserial():
    """Importing the package and decoding leaves pyserial unimported (central and the CLI may lack it)."""
    code = (
        "import sys, peripherals.fingerprint as f;"
        "f.decode(bytes.fromhex('EF01FFFFFFFF010003010005'));"
        "print('serial' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
