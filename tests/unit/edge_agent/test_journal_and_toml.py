"""The sighting journal's lines, and the TOML writer the demo and the kill tests configure the agent with."""

from __future__ import annotations

import tomllib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from contracts import Sighting
from edge_agent.config import parse_config, to_toml
from edge_agent.journal import SightingJournal, read_journal

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def sighting(track_id: int, subject_id: str | None) -> Sighting:
    """A sighting of one track."""
    return Sighting(
        event_id=uuid.uuid4(),
        device_id="edge-01",
        device_time=T0,
        camera_id="hall",
        subject_id=subject_id,
        score=0.6,
        track_id=track_id,
        first_seen=T0,
        last_seen=T0 + timedelta(seconds=2),
        quality=0.8,
        bbox=[1, 2, 30, 40],
    )


def test_the_journal_records_each_step_and_survives_a_torn_last_line(tmp_path: Path) -> None:
    """pending → queued per sighting, held when the outbox was full; a half-written last line is skipped."""
    path = tmp_path / "journal.jsonl"
    journal = SightingJournal(path)
    a, b = sighting(1, "S-1"), sighting(2, None)
    journal.write("pending", a)
    journal.write("queued", a)
    journal.write("pending", b)
    journal.write("held", b)
    journal.close()
    journal.write("pending", sighting(3, "S-3"))  # after close: ignored
    with path.open("a") as out:
        out.write('{"at": "2026-11-23T08:00:00+00:00", "state": "pen')
    entries = read_journal(path)
    assert list(entries) == [str(a.event_id), str(b.event_id)]
    assert entries[str(a.event_id)]["states"] == ["pending", "queued"]
    assert entries[str(a.event_id)]["subject_id"] == "S-1"
    assert entries[str(b.event_id)]["states"] == ["pending", "held"]
    assert entries[str(b.event_id)]["track_id"] == 2
    assert (path.stat().st_mode & 0o777) == 0o600


text = st.text(st.characters(codec="utf-8", categories=("L", "M", "N", "P", "S", "Z", "Cc")), min_size=1, max_size=30)


@given(password=text, folder=text, host=st.from_regex(r"[a-z][a-z0-9.-]{0,20}", fullmatch=True))
def test_to_toml_round_trips_through_load(password: str, folder: str, host: str) -> None:
    """Any strings (quotes, backslashes, control characters, CJK) come back as written."""
    data = {
        "device_id": "edge-haicang",
        "detect_every": 2,
        "uplink": {"host": host, "port": 8883, "password": password, "outbox_path": "/var/lib/o.db"},
        "gallery_sync": {"allow_http": True},
        "cameras": [{"id": "hall", "source": {"type": "images", "path": "/d/" + folder, "fps": 12.5, "loop": True}}],
        "vision": {"runtime": {"threads": 1}},
    }
    assert parse_config(tomllib.loads(to_toml(data))) == parse_config(data)
