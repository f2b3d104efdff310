"""A simulated SAM reader on a real pty, and a driver with short timeouts pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from peripherals.idcard import IdCardReader, IdCardSimulator, ReaderSettings, SimCard
from tests.unit.peripherals.idcard.samples import AYI_GULI, ZHANG_SAN, tiny_jpeg


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[IdCardSimulator]:
    """A started simulator behind tmp_path/ttyIDCARD holding two cards, none on the reader yet."""
    cards = {"zhang": SimCard(ZHANG_SAN, tiny_jpeg()), "ayi": SimCard(AYI_GULI, tiny_jpeg(), b"\x43" * 1024)}
    with IdCardSimulator(tmp_path / "ttyIDCARD", cards) as sim:
        yield sim


@pytest.fixture
def settings(simulator: IdCardSimulator) -> ReaderSettings:
    """Timeouts short enough for tests, long enough for a loaded CI machine."""
    return ReaderSettings(
        port=simulator.port,
        command_timeout_s=0.5,
        read_timeout_s=1.0,
        retries=2,
        poll_interval_s=0.02,
        reconnect_interval_s=0.05,
    )


@pytest.fixture
def reader(settings: ReaderSettings) -> Iterator[IdCardReader]:
    """An open driver on the simulator."""
    with IdCardReader(settings) as opened:
        yield opened
