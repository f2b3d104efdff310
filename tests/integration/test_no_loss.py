"""Nothing lost, nothing doubled: devices → real Mosquitto → ingest worker → database, through failures.

Two devices publish 10 000 events through `uplink` while the broker is restarted twice
and the ingest worker is SIGKILLed once and restarted. Afterwards central holds exactly
the events sent, once each, and both outboxes are empty. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from central.db.models import Event
from contracts import Fix
from tests.support.central import migrated_central, seed_on_broker
from tests.support.mosquitto import Mosquitto
from tests.support.processes import CentralProcess, write_config
from uplink import Uplink, UplinkConfig

PER_DEVICE = 5000
DEVICES = ("kiosk-haicang", "kiosk-huli")


def _count(central) -> int:
    """Stored fix events (the devices' retained statuses are events too, counted apart)."""
    with central.sessions() as s:
        return int(s.execute(select(func.count()).select_from(Event).where(Event.type == "fix")).scalar_one())


def _wait_until(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def test_ten_thousand_events_through_broker_restarts_and_worker_kill(
    db_url: str, broker: Mosquitto, tmp_path: Path
) -> None:
    """10 000 events arrive exactly once despite two broker restarts and a SIGKILLed ingest worker."""
    central = migrated_central(db_url)
    seeded, cfg = seed_on_broker(central, broker, list(DEVICES))
    worker = CentralProcess(write_config(cfg, tmp_path / "central.toml"), "ingest", log=tmp_path / "ingest.log")
    worker.start()

    uplinks = [
        Uplink(
            UplinkConfig(
                device_id=d,
                host=broker.host,
                port=broker.port,
                password=seeded.device_secrets[d],
                outbox_path=tmp_path / f"{d}.outbox",
                reconnect_min_s=0.1,
                reconnect_max_s=1.0,
                status_interval_s=3600,
            )
        )
        for d in DEVICES
    ]
    sent: set[str] = set()
    lock = threading.Lock()

    def produce(up: Uplink, device_id: str) -> None:
        for start in range(0, PER_DEVICE, 250):
            batch = [
                Fix(
                    event_id=uuid.uuid4(),
                    device_id=device_id,
                    device_time=datetime.now(UTC),
                    subject_id="S-350205-0001",
                    lat=24.5 + i / 1e5,
                    lon=118.0,
                    accuracy_m=10,
                    source="gnss",
                )
                for i in range(start, start + 250)
            ]
            up.send_many(batch)
            with lock:
                sent.update(str(m.event_id) for m in batch)
            time.sleep(0.1)

    for up in uplinks:
        up.start()
    producers = [threading.Thread(target=produce, args=(up, d)) for up, d in zip(uplinks, DEVICES, strict=True)]
    for t in producers:
        t.start()
    try:
        total = 2 * PER_DEVICE
        _wait_until(lambda: _count(central) >= 1500, 120, "1500 events before the first broker restart")
        assert _count(central) < total, "the restart must hit the stream, not an idle system"
        broker.restart()
        _wait_until(lambda: _count(central) >= 4000, 120, "4000 events before killing the worker")
        assert _count(central) < total
        worker.kill()
        time.sleep(1.0)  # devices keep publishing into the broker's queue for the absent worker
        worker.start()
        _wait_until(lambda: _count(central) >= 6500, 120, "6500 events before the second broker restart")
        assert _count(central) < total
        broker.restart()
        for t in producers:
            t.join(timeout=300)
        for up in uplinks:
            assert up.wait_drained(120), f"outbox not drained: {up.stats()}"
        _wait_until(lambda: _count(central) >= 2 * PER_DEVICE, 180, "all events stored")
        time.sleep(2.0)  # anything redelivered late must not add rows
        with central.sessions() as s:
            stored = set(s.execute(select(Event.event_id).where(Event.type == "fix")).scalars())
        assert len(sent) == 2 * PER_DEVICE
        assert stored == sent, f"missing {len(sent - stored)}, unexpected {len(stored - sent)}"
        assert _count(central) == 2 * PER_DEVICE
    finally:
        for up in uplinks:
            up.stop()
        worker.stop()
        central.close()
    for up in uplinks:
        assert up.stats()["depth"] == 0
