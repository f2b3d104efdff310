"""Recordings on disk: a WAV file written as the audio comes, named by its id, readable by the kiosk's user only.

The file is written to `.<id>.wav.part` and renamed when the recording ends, so a file named
`<id>.wav` is always complete. Its sha256 is of the whole file, header included: that is what the
kiosk uploads (audio is addressed by sha256 at central).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import wave
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from peripherals.audio.pcm import BYTES_PER_SECOND, CHANNELS, SAMPLE_RATE, SAMPLE_WIDTH


@dataclass(frozen=True, slots=True)
class FinishedRecording:
    """A complete WAV file and what the reply says about it."""

    recording_id: str
    path: Path
    sha256: str
    size: int
    duration_s: float
    stopped_by: str
    error: str | None = None


def sha256_of(path: Path) -> str:
    """The file's sha256, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


class WavWriter:
    """One recording being written: 16 kHz mono 16-bit PCM appended as it arrives."""

    def __init__(self, directory: Path, recording_id: str) -> None:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.recording_id = recording_id
        self.path = directory / f"{recording_id}.wav"
        self._part = directory / f".{recording_id}.wav.part"
        fd = os.open(self._part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._file = os.fdopen(fd, "wb")
        self._wav = wave.open(self._file, "wb")  # noqa: SIM115 - closed in finish()
        self._wav.setnchannels(CHANNELS)
        self._wav.setsampwidth(SAMPLE_WIDTH)
        self._wav.setframerate(SAMPLE_RATE)
        self.pcm_bytes = 0

    @property
    def seconds(self) -> float:
        """Audio written so far."""
        return self.pcm_bytes / BYTES_PER_SECOND

    def append(self, pcm: bytes) -> None:
        """Add PCM bytes (whole 16-bit samples); handed to the kernel at once, so a killed daemon loses none."""
        self._wav.writeframesraw(pcm)
        self._file.flush()
        self.pcm_bytes += len(pcm)

    def finish(self, stopped_by: str, error: str | None = None) -> FinishedRecording:
        """Close the file (header sizes written), flush it to disk, give it its final name."""
        self._wav.close()  # patches the header's sizes
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._part, self.path)
        return FinishedRecording(
            recording_id=self.recording_id,
            path=self.path,
            sha256=sha256_of(self.path),
            size=self.path.stat().st_size,
            duration_s=round(self.pcm_bytes / BYTES_PER_SECOND, 3),
            stopped_by=stopped_by,
            error=error,
        )

    def discard(self) -> None:
        """Drop a recording that cannot be finished."""
        with contextlib.suppress(Exception):
            self._wav.close()
        with contextlib.suppress(OSError):
            self._file.close()
        self._part.unlink(missing_ok=True)


class RecordingStore:
    """Finished recordings, kept across driver restarts; the oldest files beyond `keep` are deleted.

    Files left by an earlier run of the daemon are taken back at start, so they can still be
    collected by id; a recording cut short by a crash (its `.part` file) is finished as it is,
    marked `source_failed`, rather than thrown away.
    """

    def __init__(self, directory: Path, keep: int) -> None:
        self.directory = directory
        self.keep = keep
        self._lock = threading.Lock()
        self._finished: OrderedDict[str, FinishedRecording] = OrderedDict()
        self._recover()

    def _recover(self) -> None:
        if not self.directory.is_dir():
            return
        found: list[FinishedRecording] = []
        for part in self.directory.glob(".*.wav.part"):
            recording_id = part.name[1 : -len(".wav.part")]
            with contextlib.suppress(OSError, EOFError, wave.Error):
                found.append(_finish_part(part, self.directory / f"{recording_id}.wav", recording_id))
        for path in self.directory.glob("*.wav"):
            if any(f.path == path for f in found):
                continue
            with contextlib.suppress(OSError, EOFError, wave.Error):
                found.append(_existing(path))
        found.sort(key=lambda f: f.path.stat().st_mtime if f.path.exists() else 0.0)
        for recording in found:
            self.add(recording)

    def add(self, recording: FinishedRecording) -> None:
        """Remember a finished recording, deleting the oldest ones beyond `keep`."""
        with self._lock:
            self._finished[recording.recording_id] = recording
            while len(self._finished) > self.keep:
                _, old = self._finished.popitem(last=False)
                old.path.unlink(missing_ok=True)

    def get(self, recording_id: str | None) -> FinishedRecording | None:
        """A finished recording by id, or the latest one."""
        with self._lock:
            if recording_id is None:
                return next(reversed(self._finished.values()), None)
            return self._finished.get(recording_id)

    def count(self) -> int:
        """How many are kept."""
        with self._lock:
            return len(self._finished)


def _existing(path: Path) -> FinishedRecording:
    with wave.open(str(path), "rb") as wav:
        frames = wav.getnframes()
    return FinishedRecording(
        recording_id=path.stem,
        path=path,
        sha256=sha256_of(path),
        size=path.stat().st_size,
        duration_s=round(frames / SAMPLE_RATE, 3),
        stopped_by="recovered",
        error="found at start: recorded by an earlier run of the device daemon",
    )


_HEADER = 44  # the wave module's header for plain PCM


def _finish_part(part: Path, path: Path, recording_id: str) -> FinishedRecording:
    """A recording whose daemon died: its header sizes were never written, so write the file again around its PCM."""
    raw = part.read_bytes()[_HEADER:]
    pcm = raw[: len(raw) - len(raw) % SAMPLE_WIDTH]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out, wave.open(out, "wb") as wav:
        wav.setnchannels(CHANNELS)
        wav.setsampwidth(SAMPLE_WIDTH)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(pcm)
    part.unlink()
    return FinishedRecording(
        recording_id=recording_id,
        path=path,
        sha256=sha256_of(path),
        size=path.stat().st_size,
        duration_s=round(len(pcm) / BYTES_PER_SECOND, 3),
        stopped_by="source_failed",
        error="the device daemon stopped during the recording; the audio captured until then is kept",
    )
