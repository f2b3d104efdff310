"""The WAV-file twin of a microphone: a file replayed in chunks, at the pace of a real one or faster."""

from __future__ import annotations

import logging
import threading
import time
import wave
from pathlib import Path

import numpy as np

from peripherals.audio.config import WavMicrophone
from peripherals.audio.errors import AudioFormatError
from peripherals.audio.pcm import FORMAT_TEXT, SAMPLE_RATE, plan_conversion, resample, to_mono
from peripherals.audio.source import AudioSource

log = logging.getLogger(__name__)


def load_wav(path: Path, *, convert: bool = True) -> tuple[bytes, list[str]]:
    """The file's audio as 16 kHz mono 16-bit PCM bytes, and the conversions applied to get there.

    Raises AudioFormatError naming the file and what is wrong with it.
    """
    if not path.is_file():
        raise AudioFormatError(f"WAV file {path}: {'is a folder' if path.exists() else 'does not exist'}")
    try:
        with wave.open(str(path), "rb") as wav:
            rate, width, channels = wav.getframerate(), wav.getsampwidth(), wav.getnchannels()
            steps = plan_conversion(str(path), rate, width, channels, convert=convert)
            raw = wav.readframes(wav.getnframes())
    except wave.Error as exc:
        raise AudioFormatError(f"WAV file {path}: not a plain PCM WAV file ({exc}); expected {FORMAT_TEXT}") from exc
    except EOFError as exc:
        raise AudioFormatError(f"WAV file {path}: the header is cut short; expected {FORMAT_TEXT}") from exc
    if not steps:
        return raw, steps
    samples = np.frombuffer(raw[: len(raw) - len(raw) % 2], dtype="<i2")
    samples = to_mono(samples, channels)
    samples = resample(samples, rate, SAMPLE_RATE)
    return samples.astype("<i2").tobytes(), steps


class WavSource(AudioSource):
    """Replays one WAV file as 16 kHz mono chunks, converted on reading when the config allows."""

    def __init__(self, config: WavMicrophone) -> None:
        super().__init__(f"WAV file {config.path}", chunk_ms=config.chunk_ms, buffer_s=config.buffer_s)
        self.config = config
        self.conversions: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _open(self) -> None:
        pcm, self.conversions = load_wav(self.config.path, convert=self.config.convert)
        if self.conversions:
            log.info("%s: %s", self.description, ", ".join(self.conversions))
        self._thread = threading.Thread(target=self._play, args=(pcm,), name="wav-microphone", daemon=True)
        self._thread.start()

    def _close(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5.0)

    def _play(self, pcm: bytes) -> None:
        interval = self.chunk_ms / 1000
        started = time.monotonic()
        sent = 0
        while not self._stop.is_set():
            for offset in range(0, len(pcm), self.chunk_bytes):
                chunk = pcm[offset : offset + self.chunk_bytes]
                if self.config.realtime:
                    # A microphone hands over a chunk once it has been spoken, not before.
                    due = started + (sent + 1) * interval
                    if self._stop.wait(max(0.0, due - time.monotonic())):
                        return
                    self._deliver(chunk)
                elif not self._deliver_waiting(chunk, self._stop):
                    return
                sent += 1
            if not self.config.loop or not pcm:
                self._end()
                return
