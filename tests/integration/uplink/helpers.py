"""Test helpers for the uplink against a real broker: test events, a central subscriber, a device process."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contracts import Fix, Message, decode
from tests.support.mosquitto import Mosquitto
from uplink.config import UplinkConfig

REPO = Path(__file__).resolve().parents[3]
DEVICE_PASSWORD = "device-secret"
CENTRAL_PASSWORD = "central-secret"
EVENT_NAMESPACE = uuid.UUID("6f0c5d3e-2b7a-4c1e-9f43-0a5b8e2d7c10")


def event_id(i: int) -> uuid.UUID:
    """The event id of the i-th test event: the device and the test agree on it without talking."""
    return uuid.uuid5(EVENT_NAMESPACE, str(i))


def fix(device_id: str, i: int) -> Fix:
    """The i-th test position of a device, with a known event id."""
    return Fix(
        event_id=event_id(i),
        device_id=device_id,
        device_time=datetime.now(UTC),
        subject_id="S-350205-0001",
        lat=24.5158,
        lon=117.99,
        accuracy_m=15.0,
        source="gnss",
    )


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """Poll `predicate` until it holds or `timeout` passes (for state that has no event to wait on)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class Central:
    """A central-role subscriber on corr/v1/dev/# with a persistent session, keeping every message."""

    def __init__(self, broker: Mosquitto, client_id: str = "central-test") -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self._changed = threading.Condition()
        self.subscribed = threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        client.username_pw_set("central", CENTRAL_PASSWORD)
        client.reconnect_delay_set(0.1, 1)  # type: ignore[arg-type]
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 3600
        # clean_start=False from the first connect: Mosquitto 2.0 does not restore, after a restart, a
        # session that began with clean start (paho's default MQTT_CLEAN_START_FIRST_ONLY).
        client.connect_async(broker.host, broker.port, clean_start=False, properties=properties)
        client.loop_start()
        self.client = client

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not reason.is_failure:
            client.subscribe("corr/v1/dev/#", qos=1)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, codes: Any, props: Any) -> None:
        self.subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._changed:
            self.messages.append(message)
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[list[mqtt.MQTTMessage]], bool], timeout: float) -> bool:
        """Block until `predicate(messages so far)` holds, or `timeout` passes."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self.messages), timeout)

    def decoded(self, kind: str | None = None) -> list[Message]:
        """Every message received so far (optionally of one topic kind), decoded with the contract."""
        with self._changed:
            messages = list(self.messages)
        return [decode(m.topic, bytes(m.payload)) for m in messages if kind is None or m.topic.endswith("/" + kind)]

    def event_ids(self) -> list[uuid.UUID]:
        """Event ids of the fixes received so far, in arrival order, duplicates included."""
        return [m.event_id for m in self.decoded("fix")]

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """Publish at QoS 1 and wait for the broker's PUBACK."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(10)
        assert info.is_published()

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()


class DeviceProcess:
    """tests/integration/uplink/device_process.py in a child process, to be killed without warning."""

    def __init__(self, config: UplinkConfig, *args: str) -> None:
        self.config_file = config.outbox_path.with_suffix(".json")
        self.config_file.write_text(config.model_dump_json())
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.uplink.device_process", str(self.config_file), *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def read_line(self, timeout: float) -> str:
        """The child's next stdout line; fails the test with its stderr if none comes in time."""
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                self.kill()
                raise AssertionError(f"device process printed nothing in {timeout} s: {self.stderr()}")
        return self.proc.stdout.readline().decode().strip()

    def kill(self) -> None:
        """SIGKILL: no DISCONNECT, no offline status, no outbox close."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    def stderr(self) -> str:
        """What the child wrote to stderr (once it has ended)."""
        if self.proc.poll() is None:
            return "(still running)"
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace")
