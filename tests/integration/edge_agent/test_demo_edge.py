"""demo/edge.py against a real central (serve + ingest) and broker: enrol through the kiosk API, start `corr-edge`,
and the demo's central stores sightings naming the enrolled subject."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select

from central.db.models import Event
from demo import edge as demo_edge
from tests.integration.edge_agent import clip
from tests.integration.edge_agent.edge_process import EDGE, KIOSK, seed_edge_on_broker
from tests.support.central import migrated_central
from tests.support.mosquitto import Mosquitto
from tests.support.ports import free_port, wait_for_port
from tests.support.processes import CentralProcess, write_config

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_the_demo_agent_names_an_enrolled_subject_at_central(
    broker: Mosquitto, faces_dir: Path, tmp_path: Path
) -> None:
    """enrol_demo_faces → start_edge → sighting events at central naming S-350205-0001 (ben_afflek's part)."""
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
    conf = write_config(cfg, tmp_path / "central.toml")
    procs = [CentralProcess(conf, name, log=tmp_path / f"{name}.log") for name in ("serve", "ingest")]
    for p in procs:
        p.start()
    proc = None
    try:
        wait_for_port(port, timeout=60)
        announced = demo_edge.enrol_demo_faces(api, KIOSK, seeded.device_secrets[KIOSK], per_subject=3)
        assert announced.get(EDGE), announced
        proc = demo_edge.start_edge(
            tmp_path / "edge",
            broker_host=broker.host,
            broker_port=broker.port,
            password=seeded.device_secrets[EDGE],
            central_url=api,
            fps=20.0,
        )
        assert len(list((tmp_path / "edge" / "clip").glob("*.png"))) == clip.FRAMES
        deadline = time.monotonic() + 180
        named: set[str | None] = set()
        while time.monotonic() < deadline and not {"S-350205-0001", None} <= named:
            assert proc.poll() is None, (tmp_path / "edge" / "edge.log").read_text()[-3000:]
            with central.sessions() as s:
                named = set(
                    s.execute(
                        select(Event.subject_id).where(Event.type == "sighting", Event.device_id == EDGE)
                    ).scalars()
                )
            time.sleep(0.5)
        assert {"S-350205-0001", None} <= named, (tmp_path / "edge" / "edge.log").read_text()[-3000:]
        proc.terminate()
        assert proc.wait(30) == 0
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        for p in procs:
            p.stop()
        central.close()
