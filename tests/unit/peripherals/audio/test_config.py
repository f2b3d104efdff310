"""Microphone settings: the `type` union, defaults and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from peripherals.audio.config import PyAudioMicrophone, WavMicrophone, microphone_config


def test_defaults() -> None:
    """100 ms chunks, 10 s of buffer, the default input device; WAV replays in real time and converts."""
    mic = microphone_config({"type": "pyaudio"})
    assert mic == PyAudioMicrophone(chunk_ms=100, buffer_s=10.0, device=None)
    wav = microphone_config({"type": "wav", "path": "a.wav"})
    assert wav == WavMicrophone(path=Path("a.wav"), realtime=True, loop=False, convert=True)


def test_device_by_index_or_name() -> None:
    """A device is an index or part of a name."""
    assert microphone_config({"type": "pyaudio", "device": 2}).device == 2  # type: ignore[union-attr]
    assert microphone_config({"type": "pyaudio", "device": "USB"}).device == "USB"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"type": "alsa"}, "'pyaudio', 'wav'"),
        ({"type": "wav"}, "path"),
        ({"type": "pyaudio", "rate": 44100}, "rate"),
        ({"type": "pyaudio", "chunk_ms": 5}, "chunk_ms"),
        ({"type": "wav", "path": "a.wav", "buffer_s": 0}, "buffer_s"),
    ],
)
def test_bad_settings_name_the_key(data: dict[str, object], fragment: str) -> None:
    """Unknown types and keys and out-of-range values are refused naming the key or the choices."""
    with pytest.raises(ValidationError) as info:
        microphone_config(data)
    assert fragment in str(info.value)
