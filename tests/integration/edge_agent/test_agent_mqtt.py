"""The whole agent (capture thread, recognition thread, uplink) on the clip, through a real Mosquitto."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts import Sighting, Status
from edge_agent.agent import Agent
from edge_agent.config import parse_config
from edge_agent.journal import read_journal
from edge_agent.state import sighting_event_id
from tests.integration.edge_agent import clip
from tests.integration.uplink.helpers import CENTRAL_PASSWORD, Central, wait_until
from tests.support.mosquitto import Mosquitto
from uplink import Uplink
from vision.gallery import Gallery
from vision.pipeline import FacePipeline

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

DEVICE = "edge-test-01"
DEVICE_PASSWORD = "edge-secret"


def test_sightings_reach_central_once_each(
    broker: Mosquitto,
    pipeline: FacePipeline,
    gallery: Gallery,
    clip_dir: tuple[Path, list[clip.Passage]],
    tmp_path: Path,
) -> None:
    """A central subscriber receives exactly the agent's sightings, once each, naming the clip's passages."""
    folder, truth = clip_dir
    broker.add_account(DEVICE, DEVICE_PASSWORD, "device")
    broker.add_account("central", CENTRAL_PASSWORD, "central")
    central = Central(broker)
    config = parse_config(
        {
            "device_id": DEVICE,
            "cameras": [
                {"id": "hall-entrance", "source": {"type": "images", "path": str(folder), "fps": 25.0}},
            ],
            "uplink": {
                "host": broker.host,
                "port": broker.port,
                "password": DEVICE_PASSWORD,
                "outbox_path": str(tmp_path / "outbox.db"),
                "status_interval_s": 1.0,
            },
            "vision": {"runtime": {"threads": 1}},
        }
    )
    sent: list[Sighting] = []
    try:
        assert central.subscribed.wait(15)
        agent = Agent(config, pipeline=pipeline, gallery=gallery, on_sighting=sent.append).start()
        assert agent.wait_ended(60), "the clip did not end within 60 s"
        agent.stop(drain_timeout=15)
        assert central.wait_for(lambda ms: sum(m.topic.endswith("/sighting") for m in ms) >= len(sent), 15)
        assert wait_until(lambda: any(isinstance(m, Status) and not m.online for m in central.decoded("status")), 10)
        received = [m for m in central.decoded("sighting") if isinstance(m, Sighting)]
        statuses = [m for m in central.decoded("status") if isinstance(m, Status)]
    finally:
        central.close()
    assert sorted(str(s.event_id) for s in received) == sorted(str(s.event_id) for s in sent)
    assert all(s.device_id == DEVICE and s.camera_id == "hall-entrance" for s in received)
    expected = Counter(p.subject_id for p in truth)
    assert Counter(s.subject_id for s in received) == expected
    last = statuses[-1]
    assert last.versions["detector"] == "yunet"
    assert last.versions["embedder"].startswith("sface:")
    extra = last.model_extra or {}
    assert set(extra["camera_dropped"]) == {"hall-entrance"}
    assert any(s.camera_fps.get("hall-entrance", 0) > 0 for s in statuses)


def test_sightings_a_full_outbox_refuses_are_held_and_delivered_once_later(
    broker: Mosquitto, pipeline: FacePipeline, clip_dir: tuple[Path, list[clip.Passage]], tmp_path: Path
) -> None:
    """Outbox limit 2, broker unreachable: 2 sightings queued, 2 held in memory (journal says so); once the
    broker is back, all 4 reach central once each, with the event ids they were made with."""
    folder, _ = clip_dir
    broker.add_account(DEVICE, DEVICE_PASSWORD, "device")
    broker.add_account("central", CENTRAL_PASSWORD, "central")
    config = parse_config(
        {
            "device_id": DEVICE,
            "journal_path": str(tmp_path / "journal.jsonl"),
            "cameras": [{"id": "hall-entrance", "source": {"type": "images", "path": str(folder)}}],
            "uplink": {
                "host": broker.host,
                "port": broker.port,
                "password": DEVICE_PASSWORD,
                "outbox_path": str(tmp_path / "outbox.db"),
            },
        }
    )
    assert config.uplink is not None
    uplink = Uplink(config.uplink.build(DEVICE, {}).model_copy(update={"outbox_max_rows": 2}))
    sent: list[Sighting] = []
    agent = Agent(config, pipeline=pipeline, gallery=None, uplink=uplink, on_sighting=sent.append)
    made = [
        Sighting(
            event_id=sighting_event_id(agent.state.epoch, DEVICE, "hall-entrance", track, None),
            device_id=DEVICE,
            device_time=datetime.now(UTC),
            camera_id="hall-entrance",
            subject_id=None,
            score=0.0,
            track_id=track,
            first_seen=datetime.now(UTC),
            last_seen=datetime.now(UTC),
            quality=0.5,
            bbox=[0, 0, 10, 10],
        )
        for track in range(1, 5)
    ]
    # What the recognition thread does with each finished sighting, with the uplink not yet connected.
    for sighting in made:
        agent._emit(sighting)
    assert [s.event_id for s in sent] == [s.event_id for s in made[:2]]
    assert agent.status()["sightings_held"] == 2
    central = Central(broker)
    try:
        assert central.subscribed.wait(15)
        uplink.start()
        assert central.wait_for(lambda ms: sum(m.topic.endswith("/sighting") for m in ms) >= 2, 15)

        # The status thread retries held sightings every second; here the test does it.
        def retried() -> bool:
            agent._retry_held()
            return not agent.held

        assert wait_until(retried, 15)
        assert central.wait_for(lambda ms: sum(m.topic.endswith("/sighting") for m in ms) >= 4, 15)
        time.sleep(1.0)
        received = [m.event_id for m in central.decoded("sighting")]
    finally:
        agent.stop(drain_timeout=5)
        central.close()
    assert sorted(map(str, received)) == sorted(str(s.event_id) for s in made)
    assert [s.event_id for s in sent] == [s.event_id for s in made]
    entries = read_journal(tmp_path / "journal.jsonl")
    assert [entries[str(s.event_id)]["states"] for s in made] == [["pending", "queued"]] * 2 + [
        ["pending", "held", "queued"]
    ] * 2
