"""Fixtures for the uplink against a real Mosquitto: device accounts, central, device processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.uplink.helpers import (
    CENTRAL_PASSWORD,
    DEVICE_PASSWORD,
    Central,
    DeviceProcess,
)
from tests.support.mosquitto import Mosquitto
from uplink.config import UplinkConfig


@pytest.fixture
def central(broker: Mosquitto) -> Iterator[Central]:
    """A central subscriber, already subscribed when the test starts."""
    broker.add_account("central", CENTRAL_PASSWORD, "central")
    sub = Central(broker)
    assert sub.subscribed.wait(15), broker.log_text()
    yield sub
    sub.close()


@pytest.fixture
def device_config(broker: Mosquitto, tmp_path: Path) -> Callable[..., UplinkConfig]:
    """Make the config of a device with a broker account; keyword arguments override fields."""

    def make(device_id: str = "kiosk-01", **changes: Any) -> UplinkConfig:
        if device_id not in broker.passwords:
            broker.add_account(device_id, DEVICE_PASSWORD, "device")
        fields: dict[str, Any] = {
            "device_id": device_id,
            "host": broker.host,
            "port": broker.port,
            "password": DEVICE_PASSWORD,
            "outbox_path": tmp_path / f"{device_id}-outbox.db",
            "reconnect_min_s": 0.1,
            "reconnect_max_s": 0.5,
            "outbox_synchronous": "NORMAL",
            "versions": {"uplink": "test"},
        }
        fields.update(changes)
        return UplinkConfig.model_validate(fields)

    return make


@pytest.fixture
def device_process() -> Iterator[Callable[..., DeviceProcess]]:
    """Start device processes; any still running at the end are killed."""
    started: list[DeviceProcess] = []

    def start(config: UplinkConfig, *args: str) -> DeviceProcess:
        process = DeviceProcess(config, *args)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
