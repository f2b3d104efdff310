"""`corr-central devices add` writes the real broker's password file and ACL; the broker enforces them."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.central import make_config
from tests.support.mosquitto import Mosquitto
from tests.support.processes import write_config


def _cli(config: Path, *args: str) -> str:
    r = subprocess.run(
        [sys.executable, "-m", "central", "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


class _Device:
    """A bare paho client, to see exactly what the broker answers."""

    def __init__(self, broker: Mosquitto, username: str | None, password: str | None) -> None:
        self.connack = threading.Event()
        self.reason: str | None = None
        self.acks: dict[int, str] = {}
        self.suback: list[str] = []
        self.received: list[str] = []
        self._acked = threading.Condition()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=username or "anonymous", protocol=mqtt.MQTTv5)
        if username is not None:
            self.c.username_pw_set(username, password)
        self.c.on_connect = self._on_connect
        self.c.on_publish = self._on_publish
        self.c.on_subscribe = self._on_subscribe
        self.c.on_message = lambda _c, _u, msg: self.received.append(msg.topic)
        self.c.connect(broker.host, broker.port)
        self.c.loop_start()
        assert self.connack.wait(10)

    def _on_connect(self, _c, _u, _f, reason, _p) -> None:
        self.reason = str(reason)
        self.connack.set()

    def _on_publish(self, _c, _u, mid, reason, _p) -> None:
        with self._acked:
            self.acks[mid] = str(reason)
            self._acked.notify_all()

    def _on_subscribe(self, _c, _u, _mid, reasons, _p) -> None:
        with self._acked:
            self.suback = [str(r) for r in reasons]
            self._acked.notify_all()

    def publish(self, topic: str) -> str:
        info = self.c.publish(topic, b"{}", qos=1)
        with self._acked:
            assert self._acked.wait_for(lambda: info.mid in self.acks, 10)
            return self.acks[info.mid]

    def subscribe(self, topic: str) -> list[str]:
        self.c.subscribe(topic, qos=1)
        with self._acked:
            assert self._acked.wait_for(lambda: self.suback, 10)
            return self.suback

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def test_devices_add_then_broker_enforces_acl(broker: Mosquitto, tmp_path: Path) -> None:
    """A device added by the CLI connects with its secret, writes only its own topics, reads only its commands."""
    cfg = make_config(
        f"sqlite:///{tmp_path / 'c.db'}",
        host=broker.host,
        port=broker.port,
        password_file=str(broker.password_file),
        acl_file=str(broker.acl_file),
        pid_file=str(broker.pid_file),
    )
    conf = write_config(cfg, tmp_path / "central.toml")
    _cli(conf, "db", "upgrade")
    _cli(conf, "nodes", "add", "35", "--name", "省", "--level", "province")
    _cli(conf, "nodes", "add", "3502", "--name", "市", "--level", "city", "--parent", "35")
    out1 = _cli(conf, "devices", "add", "kiosk-1", "--kind", "kiosk", "--node", "3502")
    _cli(conf, "devices", "add", "kiosk-2", "--kind", "kiosk", "--node", "3502")
    assert "broker reloaded" in out1
    secret = re.search(r"^secret: (\S+)$", out1, re.M)
    assert secret is not None
    assert secret.group(1) not in broker.password_file.read_text(), "the broker file holds a hash, not the secret"
    assert "topic write corr/v1/dev/kiosk-1/#" in broker.acl_file.read_text()

    def probe(action, topic: str):
        # One connection per probe: after refusing a PUBLISH, Mosquitto 2.0 drops the connection.
        dev = _Device(broker, "kiosk-1", secret.group(1))
        try:
            assert dev.reason == "Success"
            return action(dev, topic)
        finally:
            dev.close()

    assert probe(_Device.publish, "corr/v1/dev/kiosk-1/fix") in ("Success", "No matching subscribers")
    assert probe(_Device.publish, "corr/v1/dev/kiosk-2/fix") == "Not authorized"
    assert probe(_Device.publish, "corr/v1/cmd/kiosk-1/rollcall") == "Not authorized"

    # Mosquitto 2.0 grants any SUBSCRIBE and checks read access per delivered message.
    out_c = _cli(conf, "devices", "add", "central-1", "--kind", "central", "--node", "35")
    central_secret = re.search(r"^secret: (\S+)$", out_c, re.M)
    assert central_secret is not None
    spy = _Device(broker, "kiosk-1", secret.group(1))
    sender = _Device(broker, "central-1", central_secret.group(1))
    try:
        spy.subscribe("corr/v1/cmd/#")
        for target in ("kiosk-2", "kiosk-1"):
            assert sender.publish(f"corr/v1/cmd/{target}/rollcall") in ("Success", "No matching subscribers")
        deadline = time.monotonic() + 5
        while not spy.received and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        assert spy.received == ["corr/v1/cmd/kiosk-1/rollcall"], "a device read another device's command"
    finally:
        spy.close()
        sender.close()
    for username, password in ((None, None), ("kiosk-1", "wrong-secret"), ("kiosk-3", "anything")):
        refused = _Device(broker, username, password)
        refused.close()
        assert refused.reason in ("Not authorized", "Bad user name or password"), refused.reason
