"""A simulated sensor on a real pseudo-terminal, and the driver opened on it with pyserial."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from peripherals.fingerprint.driver import FingerprintSensor
from peripherals.fingerprint.sim import FingerprintSimulator

# Short enough to keep the suite fast, long enough for a loaded CI machine to answer in.
REPLY_TIMEOUT_S = 1.0


@pytest.fixture
def simulator() -> Iterator[FingerprintSimulator]:
    """A running simulator with an empty library and the default address."""
    with FingerprintSimulator() as sim:
        yield sim


@pytest.fixture
def sensor(simulator: FingerprintSimulator) -> Iterator[FingerprintSensor]:
    """The driver on the simulator's pty, handshake done."""
    with FingerprintSensor(simulator.port, reply_timeout=REPLY_TIMEOUT_S, poll_interval=0.02) as driver:
        driver.handshake()
        yield driver
