"""Live transcription of a recording from the device daemon's `audio_chunk` events (Vosk, kiosk.speech).

The event thread hands every chunk to `LiveTranscription.push` and returns at once; a worker thread
of its own feeds Vosk, so decoding never holds up card, level or preview events. Each changed text
(closed utterances plus the current partial) goes to the `on_text` callback for the recording view.

When the recording stops, `finish` returns the transcript of the live stream if that stream saw the
whole recording: every chunk from index 0 with no gap (a PUB socket drops messages for a subscriber
that falls far behind) and as much audio as the recording holds. Otherwise it returns None and the
runtime decodes the WAV file instead, which is always complete.

Chunks that arrive before the runtime learned the recording's id (the daemon starts publishing
before its reply to start_recording is read) are held briefly and replayed when `begin` names it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from kiosk.speech import BYTES_PER_SECOND, SpeechError, SpeechModel, Stream, Transcript, clean_text

log = logging.getLogger(__name__)

_HELD_RECORDINGS = 2
_HELD_CHUNKS = 400
_STOP = object()


@dataclass
class _Live:
    recording_id: str
    on_text: Callable[[str], None]
    stream: Stream
    next_index: int = 0
    fed_bytes: int = 0
    gap: bool = False
    finals: list[str] = field(default_factory=list)
    text: str = ""
    feeding: bool = False


class LiveTranscription:
    """One recording at a time, streamed into Vosk off the event thread."""

    def __init__(self, model: SpeechModel) -> None:
        self.model = model
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._live: _Live | None = None
        self._held: OrderedDict[str, list[tuple[int, bytes]]] = OrderedDict()
        self._thread = threading.Thread(target=self._run, name="live-transcript", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the worker."""
        self._queue.put(_STOP)
        self._thread.join(5)

    def begin(self, recording_id: str, on_text: Callable[[str], None]) -> None:
        """Start transcribing this recording (a new Vosk stream); chunks already held are fed first."""
        live = _Live(recording_id, on_text, self.model.stream())
        with self._cond:
            self._live = live
            held = self._held.pop(recording_id, [])
        for index, pcm in held:
            self._queue.put((recording_id, index, pcm))

    def discard(self, recording_id: str | None = None) -> None:
        """Forget the current recording (or only if it is `recording_id`)."""
        with self._cond:
            if self._live is not None and (recording_id is None or self._live.recording_id == recording_id):
                self._live = None
            self._cond.notify_all()

    def push(self, recording_id: str, index: int, pcm: bytes) -> None:
        """An audio_chunk event's PCM (called on the event thread; returns at once)."""
        self._queue.put((recording_id, index, pcm))

    def finish(self, recording_id: str, duration_s: float, wait_s: float = 1.0) -> Transcript | None:
        """The live transcript if it covered the whole recording (waiting up to `wait_s` for the last chunks).

        The daemon rounds `duration_s` to the millisecond, so "whole" allows 1 ms: a larger margin
        let a short last chunk (under the margin) be left out of the transcript when the decoder lagged.
        """
        wanted = max(0, int((duration_s - 0.001) * BYTES_PER_SECOND))
        deadline = time.monotonic() + wait_s
        with self._cond:
            while True:
                live = self._live
                if live is None or live.recording_id != recording_id or live.gap:
                    return None
                if live.fed_bytes >= wanted and not live.feeding:
                    self._live = None
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    log.info(
                        "live transcript of %s has %.1f s of %.1f s: decoding the file instead",
                        recording_id,
                        live.fed_bytes / BYTES_PER_SECOND,
                        duration_s,
                    )
                    return None
                self._cond.wait(left)
        try:
            return live.stream.finish()
        except SpeechError as exc:
            log.warning("live transcript of %s: %s", recording_id, exc)
            return None

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            assert isinstance(item, tuple)
            recording_id: str = item[0]
            index: int = item[1]
            pcm: bytes = item[2]
            try:
                self._feed(recording_id, index, pcm)
            except Exception:  # a Vosk failure must not end the worker; the file is decoded instead
                log.exception("live transcription failed on chunk %d of %s", index, recording_id)
                with self._cond:
                    if self._live is not None and self._live.recording_id == recording_id:
                        self._live.gap = True
                    self._cond.notify_all()

    def _feed(self, recording_id: str, index: int, pcm: bytes) -> None:
        with self._cond:
            live = self._live
            if live is None or live.recording_id != recording_id:
                held = self._held.setdefault(recording_id, [])
                self._held.move_to_end(recording_id)
                if len(held) < _HELD_CHUNKS:
                    held.append((index, pcm))
                while len(self._held) > _HELD_RECORDINGS:
                    self._held.popitem(last=False)
                return
            if live.gap:
                return
            if index != live.next_index:
                log.info(
                    "live transcript of %s: chunk %d after %d (events lost)", recording_id, index, live.next_index - 1
                )
                live.gap = True
                self._cond.notify_all()
                return
            live.next_index += 1
            live.feeding = True
        try:
            update = live.stream.feed(pcm)  # decoding outside the lock; finish() waits while a chunk is fed
        finally:
            with self._cond:
                live.feeding = False
                live.fed_bytes += len(pcm)
                self._cond.notify_all()
        if update.final is None and update.partial is None:
            return
        with self._cond:
            if update.final is not None:
                live.finals.append(update.final.text)
            text = clean_text(" ".join([*live.finals, update.partial or ""]).strip())
            changed = text != live.text
            live.text = text
            current = self._live is live
        if current and changed:
            live.on_text(text)
