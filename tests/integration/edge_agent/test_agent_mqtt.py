"""The whole agent (capture thread, recognition thread, uplink) on the clip, through a real Mosquitto."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from contracts import Sighting, Status
from edge_agent.agent import Agent
from edge_agent.config import parse_config
from tests.integration.edge_agent import clip
from tests.integration.uplink.helpers import CENTRAL_PASSWORD, Central, wait_until
from tests.support.mosquitto import Mosquitto
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
