"""What every microphone source offers: start, stop, chunks of PCM, the current level and health figures.

A source's producer (PortAudio's callback thread, or the WAV replay thread) hands each chunk to
`_deliver`, which never blocks: when the reader falls `buffer_s` behind, the oldest chunk is
dropped and counted, so a stalled consumer cannot stall the audio driver. The level of every
chunk is measured as it arrives, so a UI meter moves even when nobody reads the audio.
"""

from __future__ import annotations

import math
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any, Literal, Self

from peripherals.audio.errors import AudioError
from peripherals.audio.level import SILENCE, Level, measure
from peripherals.audio.pcm import BYTES_PER_SECOND, chunk_bytes

AudioState = Literal["idle", "running", "ended", "failed", "stopped"]
# How often a blocked chunks() loop looks at the source's health.
_HEALTH_CHECK_S = 1.0


@dataclass(frozen=True, slots=True)
class AudioStats:
    """A snapshot of a source's health, for status messages and the maintenance screen."""

    source: str
    state: AudioState
    chunks: int
    """Chunks captured since start."""
    dropped: int
    """Chunks thrown away because the reader was more than `buffer_s` behind."""
    overflows: int
    """Times the device itself reported lost input (PortAudio input overflow)."""
    seconds: float
    """Audio captured since start, seconds."""
    level: Level
    last_error: str | None

    def as_dict(self) -> dict[str, Any]:
        """The snapshot as plain JSON-ready values."""
        return asdict(self)


class AudioSource(ABC):
    """16 kHz mono 16-bit PCM in chunks of `chunk_ms`, from a microphone or its WAV-file twin."""

    def __init__(self, description: str, *, chunk_ms: int, buffer_s: float) -> None:
        self.description = description
        self.chunk_ms = chunk_ms
        self.chunk_bytes = chunk_bytes(chunk_ms)
        self.max_chunks = max(1, math.ceil(buffer_s * 1000 / chunk_ms))
        self._cond = threading.Condition()
        self._queue: deque[bytes] = deque()
        self._state: AudioState = "idle"
        self._chunks = 0
        self._dropped = 0
        self._overflows = 0
        self._bytes = 0
        self._level = SILENCE
        self._last_error: str | None = None

    # -- subclasses ------------------------------------------------------------------------

    @abstractmethod
    def _open(self) -> None:
        """Open the device or file and start producing; raises AudioError saying what is wrong."""

    @abstractmethod
    def _close(self) -> None:
        """Stop producing and release the device or file."""

    def _health(self) -> str | None:
        """A reason the running source has stopped producing without saying so, or None."""
        return None

    # -- readers ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Open the source and start capturing; raises AudioError when it cannot (no device, bad file)."""
        with self._cond:
            if self._state != "idle":
                raise AudioError(f"{self.description}: already started; make a new source")
            self._state = "running"
        try:
            self._open()
        except AudioError as exc:
            self._fail(str(exc))
            raise
        return self

    def stop(self) -> None:
        """Stop capturing; chunks already captured can still be read, then `read` returns b""."""
        with self._cond:
            if self._state == "running":
                self._state = "stopped"
            self._cond.notify_all()
        self._close()

    def read(self, timeout: float | None = None) -> bytes | None:
        """The next chunk, waiting up to `timeout` s (None: until one comes or the source ends).

        Returns None on timeout, and b"" once the source has ended or stopped and every captured
        chunk was read. Raises AudioError when the source failed, with the reason.
        """
        with self._cond:
            if self._state == "idle":
                raise AudioError(f"{self.description}: read before start()")
            self._cond.wait_for(lambda: bool(self._queue) or self._state != "running", timeout)
            if self._queue:
                chunk = self._queue.popleft()
                self._cond.notify_all()
                return chunk
            state = self._state
        if state == "running":
            self._check_health()
            return None
        if state == "failed":
            raise AudioError(self._last_error or f"{self.description}: failed")
        return b""

    def chunks(self) -> Iterator[bytes]:
        """Every chunk until the source ends or is stopped; raises AudioError if it fails."""
        while True:
            chunk = self.read(_HEALTH_CHECK_S)
            if chunk is None:
                continue
            if not chunk:
                return
            yield chunk

    def level(self) -> Level:
        """Level of the newest chunk captured, at once (for a UI meter)."""
        with self._cond:
            return self._level

    def stats(self) -> AudioStats:
        """Health figures: state, chunks captured and dropped, overflows, seconds, level, last error."""
        self._check_health()
        with self._cond:
            return AudioStats(
                source=self.description,
                state=self._state,
                chunks=self._chunks,
                dropped=self._dropped,
                overflows=self._overflows,
                seconds=round(self._bytes / BYTES_PER_SECOND, 3),
                level=self._level,
                last_error=self._last_error,
            )

    @property
    def state(self) -> AudioState:
        """idle, running, ended (a WAV file ran out), failed or stopped."""
        with self._cond:
            return self._state

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- producers -------------------------------------------------------------------------

    def _deliver(self, chunk: bytes) -> None:
        """Queue a chunk without ever blocking; the oldest is dropped when the reader is too far behind."""
        level = measure(chunk)
        with self._cond:
            if self._state != "running":
                return
            if len(self._queue) >= self.max_chunks:
                self._queue.popleft()
                self._dropped += 1
            self._queue.append(chunk)
            self._count(chunk, level)

    def _deliver_waiting(self, chunk: bytes, stop: threading.Event) -> bool:
        """Queue a chunk, waiting for room (a file can wait for its reader); False once stopping."""
        level = measure(chunk)
        with self._cond:
            self._cond.wait_for(lambda: len(self._queue) < self.max_chunks or self._state != "running" or stop.is_set())
            if self._state != "running" or stop.is_set():
                return False
            self._queue.append(chunk)
            self._count(chunk, level)
            return True

    def _note_overflow(self) -> None:
        with self._cond:
            self._overflows += 1

    def _end(self) -> None:
        with self._cond:
            if self._state == "running":
                self._state = "ended"
            self._cond.notify_all()

    def _fail(self, error: str) -> None:
        with self._cond:
            if self._state in ("running", "idle"):
                self._state = "failed"
            self._last_error = error
            self._cond.notify_all()

    def _count(self, chunk: bytes, level: Level) -> None:
        self._chunks += 1
        self._bytes += len(chunk)
        self._level = level
        self._cond.notify_all()

    def _check_health(self) -> None:
        if self.state != "running":
            return
        problem = self._health()
        if problem is not None:
            self._fail(problem)
