"""An optional append-only record of every sighting the agent hands to its outbox (JSON lines).

Each sighting gets a `pending` line before it first goes to the outbox and a `queued` line once
the outbox holds it (committed to SQLite); in between, `held` when the outbox was full and the
agent keeps it in memory to try again (retries write no new `pending`). An operator can answer
"what did this camera report, and when" from it, and the kill tests prove delivery with it: every
`queued` event id must reach central exactly once, and central may hold nothing that has no
`pending` line (a SIGKILL between the two lines leaves a sighting that may or may not have been
stored; never one that is lost after `queued`).

The lines hold subject ids and times, like the outbox itself; the file is created mode 600.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from contracts import Sighting

State = Literal["pending", "queued", "held"]


class SightingJournal:
    """Appends one flushed line per step; safe to share between camera threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._file = os.fdopen(fd, "a", encoding="utf-8", buffering=1)
        self._lock = threading.Lock()

    def write(self, state: State, sighting: Sighting) -> None:
        """One line: the step, the event id and what identifies the sighting."""
        line: dict[str, Any] = {"at": datetime.now(UTC).isoformat(), "state": state, "event_id": str(sighting.event_id)}
        if state == "pending":
            line.update(
                camera_id=sighting.camera_id,
                track_id=sighting.track_id,
                subject_id=sighting.subject_id,
                first_seen=sighting.first_seen.isoformat(),
                last_seen=sighting.last_seen.isoformat(),
            )
        text = json.dumps(line, separators=(",", ":")) + "\n"
        with self._lock:
            if not self._file.closed:
                self._file.write(text)
                self._file.flush()

    def close(self) -> None:
        """Close the file (further writes are ignored)."""
        with self._lock:
            self._file.close()


def read_journal(path: Path) -> dict[str, dict[str, Any]]:
    """Event id → {"states": [...], "<state>_at": time of the last line of each state, and the fields of its
    `pending` line}; a torn last line is skipped."""
    out: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return out
    for raw in path.read_text(encoding="utf-8").splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue  # the last line of a killed process may be cut short
        entry = out.setdefault(line["event_id"], {"states": []})
        entry["states"].append(line["state"])
        entry[f"{line['state']}_at"] = line["at"]
        if line["state"] == "pending":
            entry.update({k: v for k, v in line.items() if k not in ("state", "at", "event_id")})
    return out
