"""Microphone adapter: PyAudio capture at 16 kHz mono 16-bit, and a WAV-file source with the same interface.

```python
from peripherals.audio import microphone_config, open_microphone

with open_microphone(microphone_config({"type": "wav", "path": "report.wav"})) as mic:
    for chunk in mic.chunks():        # 100 ms of PCM each
        recognizer.AcceptWaveform(chunk)
        mic.level().meter()           # 0..1 for the level bar
```
"""

from peripherals.audio.config import MicrophoneConfig, PyAudioMicrophone, WavMicrophone, microphone_config
from peripherals.audio.driver import AudioDevice, PyAudioSource, list_audio_devices, pick_input_device
from peripherals.audio.errors import AudioDeviceError, AudioError, AudioFormatError
from peripherals.audio.level import DBFS_FLOOR, SILENCE, Level, measure
from peripherals.audio.microphone import open_microphone
from peripherals.audio.pcm import BYTES_PER_SECOND, CHANNELS, SAMPLE_RATE, SAMPLE_WIDTH
from peripherals.audio.source import AudioSource, AudioState, AudioStats
from peripherals.audio.wav import WavSource, load_wav

__all__ = [
    "BYTES_PER_SECOND",
    "CHANNELS",
    "DBFS_FLOOR",
    "SAMPLE_RATE",
    "SAMPLE_WIDTH",
    "SILENCE",
    "AudioDevice",
    "AudioDeviceError",
    "AudioError",
    "AudioFormatError",
    "AudioSource",
    "AudioState",
    "AudioStats",
    "Level",
    "MicrophoneConfig",
    "PyAudioMicrophone",
    "PyAudioSource",
    "WavMicrophone",
    "WavSource",
    "list_audio_devices",
    "load_wav",
    "measure",
    "microphone_config",
    "open_microphone",
    "pick_input_device",
]
