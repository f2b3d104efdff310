"""The config's `type` picks the adapter: PyAudio or the WAV-file twin."""

from __future__ import annotations

from pathlib import Path

from peripherals.audio.config import PyAudioMicrophone, WavMicrophone
from peripherals.audio.driver import PyAudioSource
from peripherals.audio.microphone import open_microphone
from peripherals.audio.wav import WavSource


def test_type_picks_the_adapter() -> None:
    """A WAV config gets WavSource, a PyAudio config PyAudioSource; neither is opened yet."""
    wav = open_microphone(WavMicrophone(path=Path("missing.wav")))
    mic = open_microphone(PyAudioMicrophone(device="USB"))
    assert isinstance(wav, WavSource)
    assert isinstance(mic, PyAudioSource)
    assert (wav.state, mic.state) == ("idle", "idle")
    assert mic.description == "microphone (input 'USB')"
