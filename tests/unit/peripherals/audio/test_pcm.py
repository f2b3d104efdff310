"""The 16 kHz mono 16-bit format: which WAV files are converted or refused, mixing down and resampling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peripherals.audio import pcm
from peripherals.audio.errors import AudioFormatError
from peripherals.audio.pcm import chunk_bytes, plan_conversion, resample, to_mono
from tests.unit.peripherals.audio.strategies import channel_counts, rates, sample_widths, samples


def _tone(freq: float, rate: int, seconds: float = 1.0, amplitude: float = 10000) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return np.round(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def _peak_hz(signal: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal.astype(np.float64) * np.hanning(len(signal))))
    return float(np.fft.rfftfreq(len(signal), 1 / rate)[int(np.argmax(spectrum))])


def test_chunk_bytes() -> None:
    """100 ms of 16 kHz mono 16-bit audio is 3200 bytes."""
    assert chunk_bytes(100) == 3200
    assert chunk_bytes(20) == 640
    with pytest.raises(ValueError, match="chunk_ms 0: must be more than 0"):
        chunk_bytes(0)


def test_right_format_needs_nothing() -> None:
    """16 kHz mono 16-bit is used as is, convert or not."""
    assert plan_conversion("a.wav", 16000, 2, 1, convert=False) == []


@pytest.mark.parametrize(
    ("rate", "width", "channels", "convert", "outcome"),
    [
        (44100, 2, 1, True, ["resample 44100 Hz to 16000 Hz"]),
        (16000, 2, 2, True, ["mix 2 channels down to mono"]),
        (48000, 2, 2, True, ["mix 2 channels down to mono", "resample 48000 Hz to 16000 Hz"]),
        (
            44100,
            2,
            1,
            False,
            "WAV file a.wav: 44100 Hz, 1 channel, expected 16000 Hz mono; set convert = true to resample "
            "44100 Hz to 16000 Hz on reading, or convert the file, e.g. `sox a.wav -r 16000 -c 1 out.wav`",
        ),
        (
            16000,
            2,
            2,
            False,
            "WAV file a.wav: 16000 Hz, 2 channels, expected 16000 Hz mono; set convert = true to mix 2 channels "
            "down to mono on reading, or convert the file, e.g. `sox a.wav -r 16000 -c 1 out.wav`",
        ),
        (
            16000,
            1,
            1,
            True,
            "WAV file a.wav: 8-bit samples, expected 16-bit PCM; convert it, e.g. `sox a.wav -b 16 out.wav`",
        ),
        (
            16000,
            3,
            1,
            True,
            "WAV file a.wav: 24-bit samples, expected 16-bit PCM; convert it, e.g. `sox a.wav -b 16 out.wav`",
        ),
        (
            16000,
            4,
            1,
            True,
            "WAV file a.wav: 32-bit samples, expected 16-bit PCM; convert it, e.g. `sox a.wav -b 16 out.wav`",
        ),
    ],
)
def test_plan_or_refusal(rate: int, width: int, channels: int, convert: bool, outcome: list[str] | str) -> None:
    """Each wrong property is converted (when allowed) or refused with a message saying which and what to do."""
    if isinstance(outcome, list):
        assert plan_conversion("a.wav", rate, width, channels, convert=convert) == outcome
    else:
        with pytest.raises(AudioFormatError) as info:
            plan_conversion("a.wav", rate, width, channels, convert=convert)
        assert str(info.value) == outcome


@given(rates, sample_widths, channel_counts, st.booleans())
def test_plan_refuses_exactly_the_unusable(rate: int, width: int, channels: int, convert: bool) -> None:
    """Other sample widths are always refused; rate and channels are refused only when conversion is off."""
    usable = width == 2 and (convert or (rate == 16000 and channels == 1))
    if usable:
        plan_conversion("x.wav", rate, width, channels, convert=convert)
        return
    with pytest.raises(AudioFormatError) as info:
        plan_conversion("x.wav", rate, width, channels, convert=convert)
    what = f"{8 * width}-bit samples" if width != 2 else f"{rate} Hz, {channels} channel"
    assert str(info.value).startswith(f"WAV file x.wav: {what}")


def test_to_mono_averages_channels() -> None:
    """Left and right are averaged sample by sample; a trailing half frame is dropped."""
    stereo = np.array([100, 300, -50, -150, 32767, 32767, 7], dtype=np.int16)
    assert to_mono(stereo, 2).tolist() == [200, -100, 32767]
    assert to_mono(stereo, 1).tolist() == stereo.tolist()


@given(samples, rates, rates)
def test_resample_length(values: list[int], src: int, dst: int) -> None:
    """The result holds len * dst // src samples (the same samples when the rates match)."""
    data = np.array(values, dtype=np.int16)
    out = resample(data, src, dst)
    assert out.dtype == np.int16
    if src == dst:
        assert out.tolist() == values
    else:
        assert len(out) == len(data) * dst // src


@pytest.mark.parametrize(("rate", "freq"), [(44100, 440.0), (48000, 1000.0), (8000, 300.0), (22050, 3000.0)])
def test_resample_keeps_the_pitch(rate: int, freq: float) -> None:
    """A tone resampled to 16 kHz is still at its frequency, at about its amplitude."""
    out = resample(_tone(freq, rate), rate, 16000)
    assert _peak_hz(out, 16000) == pytest.approx(freq, abs=2.0)
    assert np.sqrt(np.mean(out[200:-200].astype(np.float64) ** 2)) == pytest.approx(10000 / np.sqrt(2), rel=0.03)


def test_resample_filters_what_16k_cannot_hold() -> None:
    """A 12 kHz tone at 48 kHz, above the new 8 kHz limit, is filtered out rather than folded to 4 kHz."""
    out = resample(_tone(12000, 48000), 48000, 16000)
    assert np.sqrt(np.mean(out[200:-200].astype(np.float64) ** 2)) < 0.01 * 10000


def test_resample_refuses_zero_rates() -> None:
    """A rate of 0 is an error naming both rates."""
    with pytest.raises(ValueError, match="sample rates must be more than 0, got 0 and 16000"):
        resample(np.zeros(4, dtype=np.int16), 0, 16000)


def _resample_slowly(values: np.ndarray, src: int, dst: int) -> np.ndarray:
    """The same windowed-sinc interpolation, one output sample at a time, straight from its definition."""
    band = min(1.0, dst / src) * pcm._ROLLOFF
    half = pcm._ZERO_CROSSINGS / band
    out = []
    for k in range(len(values) * dst // src):
        t = k * src / dst
        n = np.arange(len(values))
        u = (t - n) / half
        window = np.where(np.abs(u) <= 1, np.i0(pcm._KAISER_BETA * np.sqrt(np.clip(1 - u * u, 0, None))), 0.0)
        kernel = band * np.sinc(band * (t - n)) * window / np.i0(pcm._KAISER_BETA)
        out.append(float(np.sum(values.astype(np.float64) * kernel)))
    return np.asarray(np.clip(np.round(out), -32768, 32767), dtype=np.int16)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(-32768, 32767), min_size=1, max_size=120), rates, st.sampled_from([16000, 8000, 44100]))
def test_polyphase_matches_the_definition(values: list[int], src: int, dst: int) -> None:
    """The fast polyphase resampler gives the samples of the direct formula (within one step of rounding)."""
    data = np.array(values, dtype=np.int16)
    fast = resample(data, src, dst).astype(np.int32)
    slow = _resample_slowly(data, src, dst).astype(np.int32) if src != dst else data.astype(np.int32)
    assert len(fast) == len(slow)
    assert np.all(np.abs(fast - slow) <= 1)
