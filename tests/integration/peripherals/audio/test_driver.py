"""PyAudio for real: enumeration, the error with no input device, and recording through PortAudio and ALSA.

This container has no sound card. What runs here: device enumeration, the no-input-device
error, and capture through a virtual ALSA device that plays a real speech file (see
alsa_record.py). Recording from a physical microphone runs only on a machine that has one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from peripherals.audio.config import PyAudioMicrophone
from peripherals.audio.driver import PyAudioSource, list_audio_devices
from peripherals.audio.errors import AudioDeviceError
from tests.integration.peripherals.audio.conftest import pcm_of

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

ROOT = Path(__file__).resolve().parents[4]


def _has_input() -> bool:
    return any(d.input_channels > 0 for d in list_audio_devices())


def test_enumeration_describes_every_device() -> None:
    """Every device PortAudio lists has an index, a name, a host API and channel counts."""
    devices = list_audio_devices()
    assert [d.index for d in devices] == list(range(len(devices)))
    for device in devices:
        assert device.name
        assert device.host_api
        assert device.input_channels >= 0
        assert device.default_rate > 0


def test_no_input_device_is_a_clear_error() -> None:
    """Without any input device, start() raises at once saying so, and the source is failed, not hung."""
    if _has_input():
        pytest.skip("this machine has an audio input device")
    source = PyAudioSource(PyAudioMicrophone())
    with pytest.raises(
        AudioDeviceError, match=r"^no audio input device: PortAudio sees .* and none has input channels"
    ):
        source.start()
    assert source.state == "failed"
    assert source.stats().last_error is not None
    with pytest.raises(AudioDeviceError, match=r"^no audio input device"):
        PyAudioSource(PyAudioMicrophone(device=3)).start()


def test_records_from_the_default_input() -> None:
    """On a machine with a microphone: 16 kHz mono 16-bit chunks of 100 ms arrive and are measured."""
    if not _has_input():
        pytest.skip("no audio input device here (no sound card); the ALSA file-device test covers PortAudio")
    with PyAudioSource(PyAudioMicrophone()) as source:
        chunks = [source.read(5.0) for _ in range(3)]
        stats = source.stats()
    assert [len(c or b"") for c in chunks] == [3200, 3200, 3200]
    assert stats.chunks >= 3
    assert stats.state == "stopped"


def test_portaudio_delivers_the_speech_an_alsa_device_plays(tmp_path: Path, utterance: Path) -> None:
    """Through PortAudio and ALSA's file plugin, the callback delivers the speech bytes unchanged, in order."""
    raw = pcm_of(utterance)
    (tmp_path / "speech.raw").write_bytes(raw)
    (tmp_path / ".asoundrc").write_text(
        "pcm.!default {\n"
        "    type file\n"
        '    slave.pcm "null"\n'
        '    file "/dev/null"\n'
        f'    infile "{tmp_path / "speech.raw"}"\n'
        '    format "raw"\n'
        "}\n"
    )
    count = min(20, len(raw) // 3200)
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    env.pop("XDG_CONFIG_HOME", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.integration.peripherals.audio.alsa_record",
            str(tmp_path / "got.raw"),
            str(count),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=45,
        check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    if not report["ok"]:
        pytest.skip(f"ALSA's file plugin gave PortAudio no input device here: {report['error']}")
    got = (tmp_path / "got.raw").read_bytes()
    assert report["chunk_sizes"] == [3200]
    assert report["device"].endswith("'default' (ALSA)")
    assert len(got) == count * 3200
    assert got == raw[: len(got)]
    assert report["level_dbfs"] > -96
    small = report["small_buffer"]
    assert small["state"] == "running"
    assert small["dropped"] > 0, "a reader that never reads costs dropped chunks, not a blocked callback"
