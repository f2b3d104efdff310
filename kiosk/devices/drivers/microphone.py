"""The microphone's driver: `start_recording` / `stop_recording`, levels and PCM while recording.

The microphone (or its WAV-file twin) is opened for each recording and closed after it, so the
device is free between reports. Opening the driver only checks that the source exists (the file
decodes, PortAudio lists the input). Audio already captured is never thrown away: a recording
that ends by itself (length limit, WAV source ended) or because the microphone failed is finished
to a file, and `stop_recording` returns it.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from pydantic import BaseModel

from kiosk.devices.config import RecordingSection
from kiosk.devices.faces import due
from kiosk.devices.protocol import (
    RecordingResult,
    RecordingStarted,
    Request,
    StartRecordingArgs,
    StopRecordingArgs,
)
from kiosk.devices.recording import FinishedRecording, RecordingStore, WavWriter
from kiosk.devices.supervisor import CommandFailed, DeviceFailure, Driver, Emit
from peripherals.audio import (
    AudioError,
    AudioSource,
    PyAudioMicrophone,
    WavMicrophone,
    load_wav,
    open_microphone,
)

log = logging.getLogger(__name__)

_IDLE_POLL_S = 1.0
_RECORDING_POLL_S = 0.02
# After a stop, how long to wait for the chunks a source still holds.
_DRAIN_S = 0.5


class _Active:
    """The recording in progress."""

    def __init__(self, recording_id: str, source: AudioSource, writer: WavWriter, max_s: float) -> None:
        self.recording_id = recording_id
        self.source = source
        self.writer = writer
        self.max_s = max_s
        self.chunks = 0
        self.last_level: float | None = None


class MicrophoneDriver(Driver):
    """A microphone through PyAudio, or a WAV file replayed as one."""

    def __init__(
        self, config: PyAudioMicrophone | WavMicrophone, recording: RecordingSection, store: RecordingStore, emit: Emit
    ) -> None:
        self.config = config
        self.recording = recording
        self.store = store
        self._emit = emit
        self.poll_interval_s = _IDLE_POLL_S
        self._active: _Active | None = None
        self._source_name = str(config.path) if isinstance(config, WavMicrophone) else f"microphone {config.device!r}"

    def open(self) -> None:
        """Check the source is there: the WAV file decodes, or PortAudio has the input device."""
        if isinstance(self.config, WavMicrophone):
            load_wav(self.config.path, convert=self.config.convert)
            self._source_name = f"WAV file {self.config.path}"
            return
        from peripherals.audio.driver import list_audio_devices, pick_input_device

        device = pick_input_device(list_audio_devices(), self.config.device)
        self._source_name = f"microphone {device.label} ({device.host_api})"

    def close(self) -> None:
        """Finish a recording in progress (its audio is kept) and release the source."""
        if self._active is not None:
            self._finish("source_failed", "the microphone driver was closed during the recording")

    def details(self) -> dict[str, Any]:
        """Source, the recording in progress, recordings kept."""
        active = self._active
        return {
            "source": self._source_name,
            "recording": None
            if active is None
            else {"recording_id": active.recording_id, "seconds": round(active.writer.seconds, 3)},
            "recordings_kept": self.store.count(),
        }

    # --- while recording --------------------------------------------------------------------------

    def poll(self) -> None:
        """Move captured chunks to the file, publish levels and PCM, end the recording at its limit."""
        active = self._active
        if active is None:
            return
        try:
            while True:
                chunk = active.source.read(timeout=0)
                if chunk is None:
                    break
                if not chunk:
                    self._finish("source_ended")
                    return
                self._take(active, chunk)
                if active.writer.seconds >= active.max_s:
                    self._finish("max_length")
                    return
        except AudioError as exc:
            self._finish("source_failed", str(exc))
            raise DeviceFailure(str(exc)) from exc

    def _take(self, active: _Active, chunk: bytes) -> None:
        offset = active.writer.seconds
        active.writer.append(chunk)
        if self.recording.chunks:
            self._emit(
                "audio_chunk",
                {"recording_id": active.recording_id, "index": active.chunks, "offset_s": offset, "pcm": chunk},
            )
        active.chunks += 1
        now = time.monotonic()
        if due(now, active.last_level, self.recording.level_hz):
            active.last_level = now
            level = active.source.level()
            self._emit(
                "audio_level",
                {
                    "recording_id": active.recording_id,
                    "rms": round(level.rms, 5),
                    "peak": round(level.peak, 5),
                    "dbfs": round(level.dbfs, 2),
                    "clipped": level.clipped,
                    "meter": round(level.meter(), 4),
                    "seconds": round(active.writer.seconds, 3),
                },
            )

    def _finish(self, stopped_by: str, error: str | None = None) -> FinishedRecording:
        active, self._active = self._active, None
        self.poll_interval_s = _IDLE_POLL_S
        assert active is not None
        try:
            active.source.stop()
        except AudioError as exc:
            log.warning("stopping %s: %s", self._source_name, exc)
        finished = active.writer.finish(stopped_by, error)
        self.store.add(finished)
        log.info(
            "recording %s: %.1f s, stopped by %s%s",
            finished.recording_id,
            finished.duration_s,
            stopped_by,
            f" ({error})" if error else "",
        )
        if stopped_by != "command":
            self._emit(
                "recording_stopped",
                {"recording_id": finished.recording_id, "stopped_by": stopped_by, "duration_s": finished.duration_s},
            )
        return finished

    # --- commands ---------------------------------------------------------------------------------

    def handle(self, request: Request, deadline: float) -> BaseModel:
        """start_recording or stop_recording."""
        args = request.args
        if isinstance(args, StartRecordingArgs):
            return self._start(args)
        if isinstance(args, StopRecordingArgs):
            return self._stop(args)
        raise CommandFailed("bad_request", f"{request.command}: not a microphone command")

    def _start(self, args: StartRecordingArgs) -> RecordingStarted:
        if self._active is not None:
            raise CommandFailed(
                "busy",
                f"start_recording: recording {self._active.recording_id} is still running; stop it first",
                {"recording_id": self._active.recording_id},
            )
        source = open_microphone(self.config)
        try:
            source.start()
        except AudioError as exc:
            raise DeviceFailure(f"start_recording: {exc}") from exc
        recording_id = f"rec-{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}"
        try:
            writer = WavWriter(self.store.directory, recording_id)
        except OSError as exc:
            source.stop()
            raise CommandFailed(
                "device_error", f"start_recording: cannot write to {self.store.directory}: {exc.strerror or exc}"
            ) from None
        self._active = _Active(recording_id, source, writer, args.max_s)
        self.poll_interval_s = _RECORDING_POLL_S
        log.info("recording %s started from %s", recording_id, self._source_name)
        return RecordingStarted(recording_id=recording_id, max_s=args.max_s, source=self._source_name)

    def _stop(self, args: StopRecordingArgs) -> RecordingResult:
        active = self._active
        if active is not None and args.recording_id in (None, active.recording_id):
            active.source.stop()
            end = time.monotonic() + _DRAIN_S
            try:
                while time.monotonic() < end:
                    chunk = active.source.read(timeout=max(0.0, end - time.monotonic()))
                    if not chunk:
                        break
                    self._take(active, chunk)
            except AudioError as exc:
                log.warning("draining %s after stop: %s", self._source_name, exc)
            finished = self._finish("command")
        else:
            found = self.store.get(args.recording_id)
            if found is None:
                which = f"recording {args.recording_id}" if args.recording_id else "any recording"
                raise CommandFailed("not_recording", f"stop_recording: no {which} to stop or collect")
            finished = found
        try:
            audio = finished.path.read_bytes() if args.include_audio else None
        except OSError as exc:
            raise CommandFailed(
                "not_recording", f"stop_recording: {finished.path} cannot be read ({exc.strerror or exc})"
            ) from None
        return RecordingResult(
            recording_id=finished.recording_id,
            path=str(finished.path),
            sha256=finished.sha256,
            duration_s=finished.duration_s,
            bytes=finished.size,
            stopped_by=finished.stopped_by,
            error=finished.error,
            audio=audio,
        )
