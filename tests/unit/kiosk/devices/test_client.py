"""The client without a daemon: DeviceUnavailable after the timeout, never a hang; bad arguments caught early."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from kiosk.devices.client import DeviceClient, DeviceUnavailable
from kiosk.devices.config import parse_config
from kiosk.devices.protocol import DeviceProtocolError


@pytest.fixture
def client(tmp_path: Path):
    config = parse_config({"devices": {"runtime_dir": str(tmp_path)}}, environ={})
    with DeviceClient.from_config(config, margin_s=0.2) as made:
        yield made


def test_no_daemon_means_device_unavailable_after_the_timeout(client: DeviceClient, tmp_path: Path) -> None:
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            client.status(timeout_s=0.3)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    worker.join(30)  # a hang check, not a timing one
    assert not worker.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], DeviceUnavailable)
    assert outcome[0].code == "unreachable"
    assert str(outcome[0]) == (
        f"status: cannot reach the device daemon at ipc://{tmp_path}/devices-commands within 0.5 s "
        "(is corr-kiosk-devices running?)"
    )


def test_no_daemon_means_no_events_either(client: DeviceClient) -> None:
    assert client.next_event(0.05) is None
    assert client.wait_event("card_inserted", 0.05) is None
    assert not client.heard_within(10)
    assert not client.wait_connected(0.05)


def test_bad_arguments_are_refused_before_anything_is_sent(client: DeviceClient) -> None:
    with pytest.raises(DeviceProtocolError, match=r"verify_finger request field 'args': give exactly one"):
        client.verify_finger()
    with pytest.raises(DeviceProtocolError, match=r"unknown command 'fly'"):
        client.call("fly")
    with pytest.raises(DeviceProtocolError, match=r"capture_face request field 'args.frames'"):
        client.capture_face(frames=0)


def test_unknown_topics_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="topics: unknown event 'card_eaten'"):
        DeviceClient("ipc:///tmp/x", "ipc:///tmp/y", topics=["card_eaten"])
