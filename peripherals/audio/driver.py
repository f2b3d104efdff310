"""The PyAudio adapter: a PortAudio input stream at 16 kHz mono 16-bit, in callback mode.

PortAudio calls `_on_audio` on its own thread for every chunk; the callback only queues the
bytes (never blocks, see AudioSource._deliver), so a slow reader costs dropped chunks, never an
input overflow in the driver.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyaudio  # type: ignore[import-untyped]

from peripherals.audio.config import PyAudioMicrophone
from peripherals.audio.errors import AudioDeviceError
from peripherals.audio.pcm import CHANNELS, SAMPLE_RATE
from peripherals.audio.source import AudioSource


@dataclass(frozen=True, slots=True)
class AudioDevice:
    """One PortAudio device as enumerated (inputs and outputs alike)."""

    index: int
    name: str
    host_api: str
    input_channels: int
    default_rate: float

    @property
    def label(self) -> str:
        """`index 'name'`, as messages show it."""
        return f"{self.index} {self.name!r}"


def _device(info: Mapping[str, Any], host_apis: Sequence[str]) -> AudioDevice:
    api = int(info["hostApi"])
    return AudioDevice(
        index=int(info["index"]),
        name=str(info["name"]),
        host_api=host_apis[api] if 0 <= api < len(host_apis) else f"host API {api}",
        input_channels=int(info["maxInputChannels"]),
        default_rate=float(info["defaultSampleRate"]),
    )


def _enumerate(pa: pyaudio.PyAudio) -> tuple[list[AudioDevice], list[str], int | None]:
    host_apis = [str(pa.get_host_api_info_by_index(i)["name"]) for i in range(pa.get_host_api_count())]
    devices = [_device(pa.get_device_info_by_index(i), host_apis) for i in range(pa.get_device_count())]
    try:
        default: int | None = int(pa.get_default_input_device_info()["index"])
    except OSError:  # PortAudio's "No Default Input Device Available"
        default = None
    return devices, host_apis, default


def portaudio_reason(exc: BaseException) -> str:
    """PortAudio's words from a PyAudio error: `ValueError(("Invalid sample rate", -9997))` gives the text only."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc.args[0]) if exc.args else type(exc).__name__


def list_audio_devices() -> list[AudioDevice]:
    """Every device PortAudio sees (check `input_channels` for microphones)."""
    pa = pyaudio.PyAudio()
    try:
        return _enumerate(pa)[0]
    finally:
        pa.terminate()


def pick_input_device(
    devices: Sequence[AudioDevice],
    wanted: int | str | None,
    *,
    default_index: int | None = None,
    host_apis: Sequence[str] = (),
) -> AudioDevice:
    """The input device to record from: by index, by part of its name, or the default one.

    Raises AudioDeviceError saying what was asked for and which inputs exist.
    """
    inputs = [d for d in devices if d.input_channels > 0]
    listing = ", ".join(d.label for d in inputs) or "none"
    if not inputs:
        apis = ", ".join(host_apis) or "none"
        raise AudioDeviceError(
            f"no audio input device: PortAudio sees {len(devices)} device{'' if len(devices) == 1 else 's'} "
            f"and none has input channels (host APIs: {apis}); connect a microphone, check that this user "
            'may use it (group "audio"), or set type = "wav" to replay a file'
        )
    if isinstance(wanted, str) and wanted.strip().isdigit():
        wanted = int(wanted)
    if wanted is None:
        chosen = next((d for d in inputs if d.index == default_index), inputs[0])
        return chosen
    if isinstance(wanted, int):
        match = next((d for d in devices if d.index == wanted), None)
        if match is None:
            raise AudioDeviceError(f"audio device {wanted}: no such device (input devices: {listing})")
        if match.input_channels == 0:
            raise AudioDeviceError(f"audio device {match.label}: has no input channels (input devices: {listing})")
        return match
    matches = [d for d in inputs if wanted.casefold() in d.name.casefold()]
    if not matches:
        raise AudioDeviceError(f"audio device {wanted!r}: no input device name contains it (input devices: {listing})")
    return matches[0]


class PyAudioSource(AudioSource):
    """A microphone through PortAudio."""

    def __init__(self, config: PyAudioMicrophone) -> None:
        wanted = "default input" if config.device is None else f"input {config.device!r}"
        super().__init__(f"microphone ({wanted})", chunk_ms=config.chunk_ms, buffer_s=config.buffer_s)
        self.config = config
        self.device: AudioDevice | None = None
        self._pa: pyaudio.PyAudio | None = None
        self._stream: pyaudio.Stream | None = None

    def _open(self) -> None:
        pa = pyaudio.PyAudio()
        try:
            devices, host_apis, default = _enumerate(pa)
            device = pick_input_device(devices, self.config.device, default_index=default, host_apis=host_apis)
            try:
                pa.is_format_supported(
                    SAMPLE_RATE, input_device=device.index, input_channels=CHANNELS, input_format=pyaudio.paInt16
                )
                stream = pa.open(
                    format=pyaudio.paInt16,
                    channels=CHANNELS,
                    rate=SAMPLE_RATE,
                    input=True,
                    input_device_index=device.index,
                    frames_per_buffer=self.chunk_bytes // 2,
                    stream_callback=self._on_audio,
                )
            except (ValueError, OSError) as exc:
                raise AudioDeviceError(
                    f"audio device {device.label}: cannot record {SAMPLE_RATE} Hz mono 16-bit "
                    f"(PortAudio: {portaudio_reason(exc)})"
                ) from exc
        except BaseException:
            pa.terminate()
            raise
        self.description = f"microphone {device.label} ({device.host_api})"
        self.device, self._pa, self._stream = device, pa, stream

    def _close(self) -> None:
        stream, pa = self._stream, self._pa
        self._stream = self._pa = None
        if stream is not None:
            stream.stop_stream()
            stream.close()
        if pa is not None:
            pa.terminate()

    def _health(self) -> str | None:
        stream = self._stream
        if stream is not None and not stream.is_active():
            return f"{self.description}: the input stream stopped (microphone unplugged?)"
        return None

    def _on_audio(
        self, data: bytes | None, frames: int, time_info: Mapping[str, float], status: int
    ) -> tuple[None, int]:
        if status & pyaudio.paInputOverflow:
            self._note_overflow()
        if data:
            self._deliver(data)
        return None, pyaudio.paContinue
