"""Helpers for the device-API tests: the seeded `env` wired to a real broker, templates, an MQTT reader."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from central.api.app import create_app
from central.config import DeviceApiSection
from central.context import Central
from central.devices import add_device
from tests.integration.central.conftest import Env
from tests.support.mosquitto import Mosquitto
from vision.template import Template

PUBLIC_URL = "https://central.test:8443"
CENTRAL_ACCOUNT = "central-cmd"
MODEL_SHA = hashlib.sha256(b"test embedder").hexdigest()


def basic(env: Env, device_id: str, secret: str | None = None) -> tuple[str, str]:
    """HTTP Basic credentials of a seeded device (its real secret unless one is given)."""
    return (device_id, secret if secret is not None else env.seeded.device_secrets[device_id])


def face_template(seed: int) -> Template:
    """A valid 128-d face template, different per seed."""
    rng = random.Random(seed)
    return Template.from_values("sface", MODEL_SHA, [rng.gauss(0, 1) for _ in range(128)])


def template_body(template: Template | bytes, kind: str = "face", enrolled_by: str = "haicang.town") -> dict[str, Any]:
    """A template upload body."""
    raw = template.to_bytes() if isinstance(template, Template) else template
    return {
        "kind": kind,
        "model": "sface" if kind == "face" else "zk-v10",
        "template": base64.b64encode(raw).decode(),
        "enrolled_by": enrolled_by,
    }


@dataclass
class Wired:
    """The seeded central with a broker account of its own, a broker holding every device, and a client."""

    env: Env
    central: Central
    client: TestClient
    broker: Mosquitto
    central_secret: str


@contextmanager
def wired(env: Env, broker: Mosquitto, **device_api: Any) -> Iterator[Wired]:
    """`env` with central's MQTT login on `broker` (password file and ACL written from the database)."""
    with env.central.sessions.begin() as s:
        secret = add_device(s, env.central.audit_key, device_id=CENTRAL_ACCOUNT, kind="central", node_code="35").secret
    for device_id, device_secret in env.seeded.device_secrets.items():
        broker.add_account(device_id, device_secret, "device")
    broker.add_account(CENTRAL_ACCOUNT, secret, "central")
    mqtt_cfg = env.central.config.mqtt.model_copy(
        update={
            "host": broker.host,
            "port": broker.port,
            "username": CENTRAL_ACCOUNT,
            "password": secret,
            "password_file": broker.password_file,
            "acl_file": broker.acl_file,
            "pid_file": broker.pid_file,
        }
    )
    cfg = env.central.config.model_copy(
        update={"mqtt": mqtt_cfg, "device_api": DeviceApiSection(public_url=PUBLIC_URL, **device_api)}
    )
    central = dataclasses.replace(env.central, config=cfg)
    with TestClient(create_app(central)) as client:
        yield Wired(env, central, client, broker, secret)


class Subscriber:
    """A device's own MQTT session reading its command topic (retained messages included)."""

    def __init__(self, broker: Mosquitto, username: str, password: str, topic: str) -> None:
        self.messages: list[tuple[str, dict[str, Any], bool]] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self._connected = threading.Event()
        self.connect_reason: str | None = None
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{username}-test", protocol=mqtt.MQTTv5)
        self._client.username_pw_set(username, password)
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *_a: self._subscribed.set()
        self._topic = topic
        self._client.on_connect = self._on_connect
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()

    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, reason: Any, _p: object) -> None:
        self.connect_reason = str(reason)
        self._connected.set()
        if not reason.is_failure:
            client.subscribe(self._topic, qos=1)

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append((msg.topic, json.loads(msg.payload), bool(msg.retain)))
            self._cond.notify_all()

    def wait_connected(self, timeout: float = 10) -> str | None:
        """The broker's answer to CONNECT ("Success", "Not authorized", ...)."""
        self._connected.wait(timeout)
        return self.connect_reason

    def wait_subscribed(self, timeout: float = 10) -> bool:
        """True once the broker confirmed the subscription."""
        return self._subscribed.wait(timeout)

    def wait_for(self, predicate: Any, timeout: float = 15) -> dict[str, Any]:
        """The first message (payload) satisfying `predicate`."""
        with self._cond:
            found: list[dict[str, Any]] = []

            def ready() -> bool:
                found[:] = [m for _t, m, _r in self.messages if predicate(m)]
                return bool(found)

            assert self._cond.wait_for(ready, timeout), f"no matching message; got {self.messages}"
            return found[0]

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()
