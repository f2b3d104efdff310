"""Sightings through the real path: edge device → Mosquitto → ingest worker → `sighting` rows → officer API."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from central.db.models import Event, Sighting
from central.ingest.worker import IngestWorker
from contracts import Sighting as SightingMsg
from contracts import encode, topic_for
from tests.integration.central.conftest import Env
from tests.integration.central.device_support import wired
from tests.support.mosquitto import Mosquitto

# 09:00 China time two days ago: in the past of the receiver's clock, as real sightings are.
T0 = (datetime.now(UTC) - timedelta(days=2)).replace(hour=1, minute=0, second=0, microsecond=0)


def sighting(subject_id: str | None, minute: int, *, camera: str = "hall-entrance", track: int = 1) -> SightingMsg:
    """A sighting by edge-haicang of a track that lasted two minutes from T0 + `minute`."""
    first = T0 + timedelta(minutes=minute)
    return SightingMsg(
        event_id=uuid.uuid4(),
        device_id="edge-haicang",
        device_time=first + timedelta(minutes=2),
        camera_id=camera,
        subject_id=subject_id,
        score=0.71 if subject_id else 0.2,
        track_id=track,
        first_seen=first,
        last_seen=first + timedelta(minutes=2),
        quality=0.83,
        bbox=[412, 96, 520, 230],
    )


def _wait(pred: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_sightings_ingested_linked_and_listed(env: Env, broker: Mosquitto, caplog: pytest.LogCaptureFixture) -> None:
    """In-scope subjects are linked; another county's, unknown ids and unknown faces are kept unlinked; once each."""
    with wired(env, broker) as w:
        worker = IngestWorker(w.central)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        assert worker.wait_connected(15)
        dev = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="edge-haicang", protocol=mqtt.MQTTv5)
        dev.username_pw_set("edge-haicang", env.seeded.device_secrets["edge-haicang"])
        dev.connect(broker.host, broker.port)
        dev.loop_start()
        linked = sighting("S-350205-0001", 0)
        county = sighting("S-350205-0003", 30, camera="yard", track=2)
        foreign = sighting("S-350206-0001", 5, track=3)
        ghost = sighting("S-999999-0001", 6, track=4)
        unknown = sighting(None, 7, track=5)
        messages = [linked, county, foreign, ghost, unknown, linked]  # the last: a redelivery
        try:
            with caplog.at_level(logging.WARNING, logger="central.ingest"):
                for m in messages:
                    dev.publish(topic_for(m), encode(m), qos=1).wait_for_publish(10)

                def count() -> int:
                    with env.central.sessions() as s:
                        return s.execute(select(func.count()).select_from(Sighting)).scalar_one()

                assert _wait(lambda: count() == 5 and worker.duplicates == 1), (count(), worker.duplicates)
        finally:
            dev.disconnect()
            dev.loop_stop()
            worker.stop()
            thread.join(15)

        with env.central.sessions() as s:
            rows = {r.event_id: r for r in s.execute(select(Sighting)).scalars()}
            assert s.execute(select(func.count()).select_from(Event).where(Event.type == "sighting")).scalar_one() == 5
        got = {
            str(m.event_id): (rows[str(m.event_id)].subject_id, rows[str(m.event_id)].reported_subject_id)
            for m in messages
        }
        assert got == {
            str(linked.event_id): ("S-350205-0001", "S-350205-0001"),
            str(county.event_id): ("S-350205-0003", "S-350205-0003"),  # the camera is at the county: covered
            str(foreign.event_id): (None, "S-350206-0001"),
            str(ghost.event_id): (None, "S-999999-0001"),
            str(unknown.event_id): (None, None),
        }
        row = rows[str(linked.event_id)]
        assert (row.device_id, row.camera_id, row.node_path, row.track_id) == (
            "edge-haicang",
            "hall-entrance",
            "/35/3502/350205/",
            1,
        )
        assert (row.first_seen, row.last_seen) == (T0, T0 + timedelta(minutes=2))
        assert (row.score, row.quality) == pytest.approx((0.71, 0.83))
        warnings = [r.getMessage() for r in caplog.records if "stored unlinked" in r.getMessage()]
        assert any("S-350206-0001" in w and "outside the camera's jurisdiction" in w for w in warnings), warnings
        assert any("unknown subject S-999999-0001" in w for w in warnings), warnings

        # The officer API: camera, time and score, scoped and filtered by time.
        h = env.login("haicang.officer")
        r = w.client.get("/api/v1/subjects/S-350205-0001/sightings", headers=h)
        assert r.status_code == 200, r.text
        assert [(x["camera_id"], x["score"], x["first_seen"]) for x in r.json()] == [
            ("hall-entrance", pytest.approx(0.71), T0.isoformat().replace("+00:00", "Z"))
        ]
        china = T0.astimezone(timezone(timedelta(hours=8)))
        window = {"from": (china + timedelta(minutes=1)).isoformat(), "to": (china + timedelta(minutes=30)).isoformat()}
        assert len(w.client.get("/api/v1/subjects/S-350205-0001/sightings", headers=h, params=window).json()) == 1
        later = {"from": (china + timedelta(minutes=3)).isoformat()}
        assert w.client.get("/api/v1/subjects/S-350205-0001/sightings", headers=h, params=later).json() == []
        naive = w.client.get("/api/v1/subjects/S-350205-0001/sightings", headers=h, params={"from": "2026-11-25T09:00"})
        assert naive.status_code == 400 and "time zone" in naive.json()["error"]
        for officer in ("huli.officer", "haicang.town"):  # a sibling county; a township above whom S-…-0003 sits
            r = w.client.get("/api/v1/subjects/S-350205-0003/sightings", headers=env.login(officer))
            assert r.status_code == 404, (officer, r.text)
        assert w.client.get("/api/v1/subjects/S-350205-0001/sightings").status_code == 401
