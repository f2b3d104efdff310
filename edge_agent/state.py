"""What the agent keeps on disk between runs, written so a crash at any instant leaves the old or the new file.

Two things live in the agent's state folder:

- `state.json`: the install's random `epoch` and, per camera, the next free block of track ids.
  Track ids are reserved in blocks (`TRACK_ID_BLOCK`) before they are given out, so ids stay
  unique per camera across restarts and SIGKILLs without a write per track; a crash only skips
  the rest of a block. Sighting event ids are derived from (epoch, device, camera, track id,
  subject), so the same judgement always carries the same event id and a retried send cannot
  make a second event; a wiped state folder draws a new epoch, so new ids never collide with
  old ones.
- the gallery cache (`vision.gallery_sync`), written with the same `atomic_write`.

`atomic_write` (vision.atomic_file, shared with the gallery cache) is the one way files are written
here: a temporary file in the same folder, fsync, `os.replace`, fsync of the folder.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vision.atomic_file import atomic_write, remove_temp_files

TRACK_ID_BLOCK = 10_000
# Central stores track ids in a 32-bit column; blocks are handed out below this.
MAX_TRACK_ID = 2**31 - 1
log = logging.getLogger(__name__)
_NAMESPACE = uuid.UUID("6f0c4b3e-8f7d-4c8e-9a55-2b7d0e5c1a90")  # sighting event ids (uuid5)


class StateError(RuntimeError):
    """The state folder cannot be read or written; the message names the file."""


def sighting_event_id(epoch: str, device_id: str, camera_id: str, track_id: int, subject_id: str | None) -> uuid.UUID:
    """The event id of the sighting of `subject_id` (None: unknown) on a track: the same inputs, the same id."""
    return uuid.uuid5(_NAMESPACE, f"{epoch}/{device_id}/{camera_id}/{track_id}/{subject_id or ''}")


class AgentState:
    """The state file of one agent; thread-safe (each camera's tracker reserves its own blocks)."""

    def __init__(self, folder: Path | None) -> None:
        """`folder` None: nothing persists (a bench or a test); track ids start at 1 and the epoch is new."""
        self.folder = folder
        self._lock = threading.Lock()
        self._data: dict[str, Any] = {}
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            remove_temp_files(folder)
            self._data = self._read(folder / "state.json")
        if not isinstance(self._data.get("epoch"), str) or not self._data["epoch"]:
            self._data = {"epoch": uuid.uuid4().hex, "next_track_id": {}}
            self._write()

    @property
    def epoch(self) -> str:
        """A random id of this install's state, part of every sighting's event id."""
        return str(self._data["epoch"])

    def reserve_track_ids(self, camera_id: str, count: int = TRACK_ID_BLOCK) -> range:
        """The next `count` track ids of a camera, recorded as used before they are returned."""
        with self._lock:
            table = self._data.setdefault("next_track_id", {})
            start = int(table.get(camera_id, 1))
            if start + count - 1 > MAX_TRACK_ID:
                raise StateError(
                    f"camera {camera_id}: track ids would pass {MAX_TRACK_ID}; "
                    f"start a new state folder (it draws a new epoch, so event ids stay unique)"
                )
            table[camera_id] = start + count
            self._write()
            return range(start, start + count)

    def track_ids(self, camera_id: str, block: int = TRACK_ID_BLOCK) -> Iterator[int]:
        """Endless track ids for one camera, reserving a new block whenever one runs out."""
        while True:
            yield from self.reserve_track_ids(camera_id, block)

    def _write(self) -> None:
        if self.folder is None:
            return
        try:
            atomic_write(self.folder / "state.json", json.dumps(self._data, sort_keys=True).encode())
        except OSError as exc:
            raise StateError(f"cannot write {self.folder / 'state.json'}: {exc}") from exc

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        """The saved state; a damaged file is moved aside (and logged) so the agent still starts, with a new epoch."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            data, problem = None, str(exc)
        else:
            problem = "not a JSON object"
        if isinstance(data, dict):
            return data
        aside = path.with_name(f"{path.name}.damaged-{int(time.time())}")
        try:
            os.replace(path, aside)
        except OSError as exc:
            raise StateError(f"{path} is damaged ({problem}) and cannot be moved aside: {exc}") from exc
        log.error(
            "%s is damaged (%s): moved to %s; starting with a new state (new event-id epoch)", path, problem, aside
        )
        return {}
