"""Gallery sync end to end: a kiosk enrols a subject at the real central → retained `gallery` command over the real
broker → the agent downloads, checks and swaps → it names a subject it reported as unknown before; and after a
restart with central gone, it still names them from its encrypted cache."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest

from contracts import Sighting
from edge_agent.agent import Agent
from edge_agent.config import AgentConfig, parse_config
from tests.integration.edge_agent import clip
from tests.integration.edge_agent.edge_process import EDGE, KIOSK, seed_edge_on_broker
from tests.integration.uplink.helpers import wait_until
from tests.support.central import migrated_central
from tests.support.mosquitto import Mosquitto
from tests.support.ports import free_port, wait_for_port
from tests.support.processes import CentralProcess, write_config
from vision.pipeline import FacePipeline
from vision.template import Template

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SUBJECT = "S-350205-0001"  # a Haicang subject: in edge-haicang's jurisdiction
PERSON = "ben_afflek"  # whose photos enrol them, and who walks through the clip twice per loop


def _config(broker: Mosquitto, secret: str, folder: Path, workdir: Path) -> AgentConfig:
    return parse_config(
        {
            "device_id": EDGE,
            "state_dir": str(workdir / "state"),
            "uplink": {
                "host": broker.host,
                "port": broker.port,
                "password": secret,
                "outbox_path": str(workdir / "outbox.db"),
                "status_interval_s": 2.0,
            },
            "gallery_sync": {"allow_http": True, "retry_min_s": 0.2, "retry_max_s": 2.0},
            "cameras": [{"id": "hall", "source": {"type": "images", "path": str(folder), "fps": 25.0, "loop": True}}],
            "vision": {"runtime": {"threads": 1}},
        }
    )


def test_an_enrolment_at_central_reaches_the_agent_and_survives_a_restart_without_central(
    broker: Mosquitto,
    pipeline: FacePipeline,
    enrolled: list[tuple[str, Template]],
    clip_dir: tuple[Path, list[clip.Passage]],
    tmp_path: Path,
) -> None:
    """Unknown before the enrolment; named after the swap; named again from the cache with central stopped."""
    folder, _ = clip_dir
    central = migrated_central(f"sqlite:///{tmp_path / 'central.db'}")
    seeded, cfg = seed_edge_on_broker(central, broker)
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    cfg = cfg.model_copy(
        update={
            "api": cfg.api.model_copy(update={"port": port}),
            "device_api": cfg.device_api.model_copy(update={"public_url": api}),
        }
    )
    server = CentralProcess(write_config(cfg, tmp_path / "central.toml"), "serve", log=tmp_path / "serve.log")
    server.start()
    config = _config(broker, seeded.device_secrets[EDGE], folder, tmp_path)
    seen: list[Sighting] = []
    agent = Agent(config, pipeline=pipeline, on_sighting=seen.append)
    restarted: Agent | None = None
    try:
        wait_for_port(port, timeout=60)
        agent.start()
        # Before any enrolment every face is unknown: the clip's first passage is this person's.
        assert wait_until(lambda: any(s.subject_id is None for s in seen), 60), server.output()[-3000:]
        assert agent.gallery.get() is None
        assert not any(s.subject_id == SUBJECT for s in seen)

        photos = [t for sid, t in enrolled if sid == clip.subject_id(PERSON)]
        kiosk = (KIOSK, seeded.device_secrets[KIOSK])
        versions = []
        with httpx.Client(base_url=api, auth=kiosk, timeout=30) as http:
            for template in photos:
                reply = http.post(
                    f"/device-api/v1/subjects/{SUBJECT}/templates",
                    json={
                        "kind": "face",
                        "model": template.backend,
                        "template": base64.b64encode(template.to_bytes()).decode(),
                        "enrolled_by": "haicang.town",
                    },
                )
                assert reply.status_code == 201, reply.text
                body = reply.json()
                assert body["publish_error"] is None, body
                versions += [g["version"] for g in body["galleries"] if g["device_id"] == EDGE]
        assert versions, "central announced a new gallery for the edge device"
        final = max(versions)
        assert wait_until(lambda: agent.gallery.version == final, 60), agent.status()
        status = agent.status()
        assert status["gallery_source"] == "central"
        assert status["gallery_templates"] == len(photos)
        assert status["gallery_error"] is None
        named_from = len(seen)
        assert wait_until(lambda: any(s.subject_id == SUBJECT for s in seen[named_from:]), 90), [
            (s.track_id, s.subject_id) for s in seen
        ]
        cache = tmp_path / "state" / "gallery"
        cached = list(cache.glob("gallery-*.bin"))
        assert len(cached) == 1
        assert not any(t.vector in cached[0].read_bytes() for t in photos), "the cache holds no template in clear"
        agent.stop(drain_timeout=10)

        # Central goes away; the agent restarts on its cache and still names the subject.
        server.stop()
        seen.clear()
        restarted = Agent(config, pipeline=pipeline, on_sighting=seen.append).start()
        assert (restarted.gallery.version, restarted.gallery.source) == (final, "cache")
        assert wait_until(lambda: any(s.subject_id == SUBJECT for s in seen), 90)
    finally:
        if restarted is not None:
            restarted.stop(drain_timeout=5)
        agent.stop(drain_timeout=1)
        server.stop()
        central.close()
