"""Choosing the PortAudio input device, from enumerated devices, without any sound hardware."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peripherals.audio.driver import AudioDevice, pick_input_device, portaudio_reason
from peripherals.audio.errors import AudioDeviceError
from tests.unit.peripherals.audio.strategies import device_lists

HDMI = AudioDevice(index=0, name="HDA Intel HDMI 0", host_api="ALSA", input_channels=0, default_rate=48000.0)
BUILT_IN = AudioDevice(index=1, name="HDA Intel PCH: ALC3246", host_api="ALSA", input_channels=2, default_rate=44100.0)
USB = AudioDevice(index=4, name="USB PnP Sound Device", host_api="ALSA", input_channels=1, default_rate=48000.0)
DEVICES = [HDMI, BUILT_IN, USB]


def test_no_input_device_says_so() -> None:
    """With only outputs (or nothing) the error counts the devices, names the host APIs and suggests the WAV twin."""
    with pytest.raises(AudioDeviceError) as info:
        pick_input_device([HDMI], None, host_apis=["ALSA", "OSS"])
    assert str(info.value) == (
        "no audio input device: PortAudio sees 1 device and none has input channels (host APIs: ALSA, OSS); "
        'connect a microphone, check that this user may use it (group "audio"), or set type = "wav" to replay a file'
    )
    with pytest.raises(AudioDeviceError, match="PortAudio sees 0 devices and none has input channels"):
        pick_input_device([], 3)


@pytest.mark.parametrize(
    ("wanted", "default", "expected"),
    [
        (None, 4, USB),
        (None, None, BUILT_IN),
        (None, 0, BUILT_IN),
        (4, None, USB),
        ("4", None, USB),
        ("usb", None, USB),
        ("alc", None, BUILT_IN),
    ],
)
def test_picks_by_default_index_or_name(wanted: int | str | None, default: int | None, expected: AudioDevice) -> None:
    """The default input when none is asked for (the first input if there is no default), else by index or name."""
    assert pick_input_device(DEVICES, wanted, default_index=default) == expected


@pytest.mark.parametrize(
    ("wanted", "message"),
    [
        (7, "audio device 7: no such device (input devices: 1 'HDA Intel PCH: ALC3246', 4 'USB PnP Sound Device')"),
        (
            0,
            "audio device 0 'HDA Intel HDMI 0': has no input channels "
            "(input devices: 1 'HDA Intel PCH: ALC3246', 4 'USB PnP Sound Device')",
        ),
        (
            "Blue Yeti",
            "audio device 'Blue Yeti': no input device name contains it "
            "(input devices: 1 'HDA Intel PCH: ALC3246', 4 'USB PnP Sound Device')",
        ),
    ],
)
def test_missing_or_unsuitable_device_lists_the_inputs(wanted: int | str, message: str) -> None:
    """Asking for a device that is absent or has no input names it and lists the inputs there are."""
    with pytest.raises(AudioDeviceError) as info:
        pick_input_device(DEVICES, wanted)
    assert str(info.value) == message


@given(
    device_lists, st.none() | st.integers(0, 30) | st.sampled_from(["USB", "a", "zz"]), st.none() | st.integers(0, 30)
)
def test_a_pick_is_always_an_input(devices: list[AudioDevice], wanted: int | str | None, default: int | None) -> None:
    """Whatever is enumerated and asked for, the result is an input device or an AudioDeviceError."""
    try:
        chosen = pick_input_device(devices, wanted, default_index=default)
    except AudioDeviceError:
        return
    assert chosen in devices
    assert chosen.input_channels > 0


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ValueError("Invalid sample rate", -9997), "Invalid sample rate"),
        (
            OSError(-9996, "Invalid input device (no default output device)"),
            "Invalid input device (no default output device)",
        ),
        (OSError("Stream closed"), "Stream closed"),
        (ValueError(), "ValueError"),
    ],
)
def test_portaudio_reason_keeps_the_words(error: BaseException, reason: str) -> None:
    """PyAudio's (text, code) errors are shown as their text."""
    assert portaudio_reason(error) == reason
