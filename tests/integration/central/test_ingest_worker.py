"""The ingest worker against a real broker: bad input dead-lettered with reasons, the worker keeps going."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from central.db.models import DeadLetter, Event
from central.ingest.worker import IngestWorker
from tests.support.central import migrated_central, seed_on_broker
from tests.support.mosquitto import Mosquitto

GOOD = {
    "v": 1,
    "type": "fix",
    "device_id": "kiosk-haicang",
    "device_time": "2026-11-23T08:05:00Z",
    "subject_id": "S-350205-0001",
    "lat": 24.5158,
    "lon": 117.99,
    "accuracy_m": 15,
    "source": "gnss",
}
TOPIC = "corr/v1/dev/kiosk-haicang/fix"


def _wait(pred, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_bad_messages_over_mqtt_are_dead_lettered_and_ingest_continues(
    db_url: str, broker: Mosquitto, tmp_path: Path
) -> None:
    """Malformed, oversize, wrong-version and mis-addressed messages land in dead_letter; valid ones still land."""
    central = migrated_central(db_url)
    seeded, central.config = seed_on_broker(central, broker, ["kiosk-haicang"])
    worker = IngestWorker(central)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    assert worker.wait_connected(15)

    dev = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="kiosk-haicang", protocol=mqtt.MQTTv5)
    dev.username_pw_set("kiosk-haicang", seeded.device_secrets["kiosk-haicang"])
    dev.connect(broker.host, broker.port)
    dev.loop_start()
    bad = [
        (TOPIC, b"\xff\xfe not json"),
        (TOPIC, json.dumps({**GOOD, "event_id": str(uuid.uuid4()), "v": 2}).encode()),
        (TOPIC, json.dumps({**GOOD, "event_id": str(uuid.uuid4()), "lon": 181}).encode()),
        (TOPIC, json.dumps({**GOOD, "event_id": str(uuid.uuid4()), "device_time": "yesterday"}).encode()),
        ("corr/v1/dev/kiosk-haicang/teleport", json.dumps({**GOOD, "event_id": str(uuid.uuid4())}).encode()),
        (TOPIC, json.dumps({**GOOD, "event_id": str(uuid.uuid4()), "pad": "x" * 100_000}).encode()),
    ]
    try:
        for topic, payload in bad:
            dev.publish(topic, payload, qos=1).wait_for_publish(10)
        good_id = str(uuid.uuid4())
        dev.publish(TOPIC, json.dumps({**GOOD, "event_id": good_id}).encode(), qos=1).wait_for_publish(10)

        def counts() -> tuple[int, int]:
            with central.sessions() as s:
                return (
                    s.execute(select(func.count()).select_from(DeadLetter)).scalar_one(),
                    s.execute(select(func.count()).select_from(Event).where(Event.type == "fix")).scalar_one(),
                )

        assert _wait(lambda: counts() == (len(bad), 1)), counts()
        with central.sessions() as s:
            reasons = [r.reason for r in s.execute(select(DeadLetter).order_by(DeadLetter.id)).scalars()]
        for fragment, reason in zip(
            ["JSON", "version 2", "lon", "device_time", "teleport", "65536"], reasons, strict=True
        ):
            assert fragment in reason, (fragment, reason)
        assert thread.is_alive(), "the worker must keep running after bad input"
        assert worker.dead == len(bad)
    finally:
        dev.disconnect()
        dev.loop_stop()
        worker.stop()
        thread.join(15)
        central.close()
