"""Pick the microphone adapter a config asks for: PyAudio, or its WAV-file twin."""

from __future__ import annotations

from peripherals.audio.config import PyAudioMicrophone, WavMicrophone
from peripherals.audio.driver import PyAudioSource
from peripherals.audio.source import AudioSource
from peripherals.audio.wav import WavSource


def open_microphone(config: PyAudioMicrophone | WavMicrophone) -> AudioSource:
    """The source for one microphone config, not yet started (call `start()`)."""
    if isinstance(config, WavMicrophone):
        return WavSource(config)
    return PyAudioSource(config)
