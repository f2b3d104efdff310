"""Kill tests: the real `corr-edge` on the looping clip → real Mosquitto → real ingest worker → database.

While the agent recognises the clip, the broker is restarted, the agent is SIGKILLed and started
again, the broker is restarted a second time, and the broker is stopped for a while (a network
outage: the agent keeps recognising into its outbox). Then the agent stops (SIGTERM) and drains.

What "exactly once" means here, read from the agent's sighting journal (`journal_path`):
- every sighting whose `queued` line was written (the outbox committed it) is stored at central,
  once — 0 lost;
- central holds no sighting the agent did not hand to its outbox — at most the one sighting being
  handed over at the instant of the SIGKILL, whose `pending` line exists without `queued`;
- no judgement is stored twice: (camera, track id, subject) is unique at central, also across the
  restart, since track ids are reserved on disk and event ids derive from them — 0 duplicated.
Tracks open at the SIGKILL were never sightings; they are simply not reported.
Runs on SQLite and PostgreSQL, like the foundation's kill test.
"""

from __future__ import annotations

import base64
import secrets
import sqlite3
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from central.db.models import Event
from edge_agent.journal import read_journal
from tests.integration.edge_agent import clip
from tests.integration.edge_agent.edge_process import EDGE, EdgeProcess, seed_edge_on_broker, write_gallery_dir
from tests.support.central import migrated_central
from tests.support.mosquitto import Mosquitto
from tests.support.processes import CentralProcess, write_config
from vision.template import Template

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

FPS = 20.0


def _stored(central) -> dict[str, dict[str, Any]]:
    """Sighting events of the edge device at central: event id → payload."""
    with central.sessions() as s:
        rows = s.execute(select(Event.event_id, Event.payload).where(Event.type == "sighting", Event.device_id == EDGE))
        return {event_id: payload for event_id, payload in rows}


def _wait_until(pred, timeout: float, what: str, agent: EdgeProcess) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout} s waiting for {what}; agent log:\n{agent.output()[-4000:]}"
            )
        if not agent.alive and agent.proc is not None and agent.proc.returncode not in (None, -9):
            raise AssertionError(f"agent exited with {agent.proc.returncode}:\n{agent.output()[-4000:]}")
        time.sleep(0.2)


def _queued(journal: Path) -> set[str]:
    return {e for e, v in read_journal(journal).items() if "queued" in v["states"]}


def test_every_queued_sighting_arrives_once_through_restarts_kill_and_outage(
    db_url: str,
    broker: Mosquitto,
    enrolled: list[tuple[str, Template]],
    clip_dir: tuple[Path, list[clip.Passage]],
    tmp_path: Path,
) -> None:
    """0 lost, 0 duplicated sightings across two broker restarts, an agent SIGKILL and a broker outage."""
    folder, _ = clip_dir
    central = migrated_central(db_url)
    seeded, cfg = seed_edge_on_broker(central, broker)
    worker = CentralProcess(write_config(cfg, tmp_path / "central.toml"), "ingest", log=tmp_path / "ingest.log")
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    journal = tmp_path / "journal.jsonl"
    agent = EdgeProcess(
        {
            "device_id": EDGE,
            "gallery_dir": str(write_gallery_dir(tmp_path / "gallery", enrolled, key)),
            "state_dir": str(tmp_path / "state"),
            "journal_path": str(journal),
            "uplink": {
                "host": broker.host,
                "port": broker.port,
                "password": seeded.device_secrets[EDGE],
                "outbox_path": str(tmp_path / "outbox.db"),
                "status_interval_s": 5.0,
            },
            "cameras": [{"id": "hall", "source": {"type": "images", "path": str(folder), "fps": FPS, "loop": True}}],
            "vision": {"runtime": {"threads": 1}, "template_key": key},
        },
        tmp_path,
    )
    worker.start()
    agent.start()
    timeline: dict[str, float] = {}
    try:
        _wait_until(lambda: len(_stored(central)) >= 3, 180, "3 sightings before the first broker restart", agent)
        broker.restart()
        timeline["restart1"] = len(_stored(central))
        _wait_until(lambda: len(_stored(central)) >= timeline["restart1"] + 3, 180, "3 more sightings", agent)

        # SIGKILL mid-run: just after a sighting was queued, while the clip goes on with faces in view.
        seen = len(_queued(journal))
        _wait_until(lambda: len(_queued(journal)) > seen, 120, "a fresh sighting before the kill", agent)
        time.sleep(0.7)
        agent.kill()
        killed_at = len(read_journal(journal))
        agent.start()
        timeline["kill"] = len(_stored(central))
        _wait_until(lambda: len(_stored(central)) >= timeline["kill"] + 3, 180, "3 sightings after the kill", agent)

        broker.restart()
        timeline["restart2"] = len(_stored(central))
        _wait_until(lambda: len(_stored(central)) >= timeline["restart2"] + 3, 180, "3 more sightings", agent)

        # Network outage: the broker is away while the agent keeps recognising into its outbox.
        broker.stop()
        outage_start = time.time()
        before_outage = len(_queued(journal))
        time.sleep(5.0)
        _wait_until(lambda: len(_queued(journal)) >= before_outage + 2, 120, "2 sightings queued offline", agent)
        broker.start()
        outage_end = time.time()
        _wait_until(lambda: _queued(journal) <= set(_stored(central)), 180, "the outage's sightings delivered", agent)

        assert agent.stop() == 0, agent.output()[-4000:]
        entries = read_journal(journal)
        queued = {e for e, v in entries.items() if "queued" in v["states"]}
        _wait_until(lambda: queued <= set(_stored(central)), 120, "every queued sighting stored", agent)
        time.sleep(2.0)  # a late redelivery must not add anything
        stored = _stored(central)
    finally:
        agent.kill()
        worker.stop()
        central.close()

    pending_only = {e for e, v in entries.items() if "queued" not in v["states"]}
    lost = queued - set(stored)
    unexpected = set(stored) - queued - pending_only
    assert not lost, f"{len(lost)} queued sightings never reached central"
    assert not unexpected, f"{len(unexpected)} sightings at central the agent never handed to its outbox"
    # Only the SIGKILL can cut a hand-over short, and only one (one camera, one thread).
    assert len(pending_only) <= 1, pending_only
    assert all(e in list(entries)[:killed_at] for e in pending_only)
    judgements = Counter((p["camera_id"], p["track_id"], p["subject_id"]) for p in stored.values())
    assert max(judgements.values()) == 1, [k for k, n in judgements.items() if n > 1]
    assert not {e for e, v in entries.items() if v["states"].count("queued") > 1}, "a sighting queued twice"
    offline = [
        e
        for e, v in entries.items()
        if "queued" in v["states"] and outage_start <= datetime.fromisoformat(v["queued_at"]).timestamp() < outage_end
    ]
    assert len(offline) >= 2, "sightings were queued while the broker was away"
    with sqlite3.connect(tmp_path / "outbox.db") as db:
        assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM rejected").fetchone()[0] == 0
    named = Counter(p["subject_id"] for p in stored.values())
    assert set(named) <= {clip.subject_id(p) for p in clip.ENROLLED} | {None}
    print(
        f"{len(stored)} sightings stored once each over {agent.runs} agent runs; by subject {dict(named)}; {timeline}"
    )
