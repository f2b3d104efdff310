"""Level of a PCM chunk: RMS, peak, dBFS and the meter position, for silence, full scale and anything between."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from peripherals.audio.level import DBFS_FLOOR, SILENCE, Level, measure
from tests.unit.peripherals.audio.strategies import pcm_chunks


def _at(dbfs: float) -> Level:
    return Level(rms=0.0, peak=0.0, dbfs=dbfs, clipped=False)


def _pcm(values: list[int] | np.ndarray) -> bytes:
    return np.asarray(values, dtype="<i2").tobytes()


def test_silence_sits_on_the_floor() -> None:
    """Digital silence and an empty chunk are both the floor, with the meter at 0."""
    assert measure(_pcm([0] * 160)) == SILENCE
    assert measure(b"") == SILENCE
    assert SILENCE.meter() == 0.0


def test_full_scale_square_wave_is_0_dbfs_and_clipped() -> None:
    """A square wave between the 16-bit limits is 0 dBFS, peak 1, clipped, meter full."""
    level = measure(_pcm([32767, -32768] * 80))
    assert level.dbfs == pytest.approx(0.0, abs=0.001)
    assert level.peak == 1.0
    assert level.clipped
    assert level.meter() == pytest.approx(1.0, abs=1e-4)


def test_half_amplitude_is_minus_6_db() -> None:
    """Halving the amplitude lowers the level by 6.02 dB and is not clipped."""
    level = measure(_pcm([16384, -16384] * 80))
    assert level.dbfs == pytest.approx(-6.02, abs=0.01)
    assert not level.clipped


def test_sine_rms_is_peak_over_root_two() -> None:
    """A sine's RMS is its peak divided by the square root of 2 (about -3 dB from the peak)."""
    t = np.arange(16000) / 16000
    level = measure(_pcm(np.round(10000 * np.sin(2 * np.pi * 440 * t))))
    assert level.rms == pytest.approx(10000 / 32768 / np.sqrt(2), rel=1e-3)


def test_odd_byte_count_is_refused() -> None:
    """Half a sample is an error that gives the byte count."""
    with pytest.raises(ValueError, match=r"^PCM chunk of 3 bytes: not a whole number of 16-bit samples$"):
        measure(b"\x00\x01\x02")


@given(pcm_chunks)
def test_level_bounds(pcm: bytes) -> None:
    """RMS and peak lie in [0, 1], RMS never exceeds the peak, dBFS lies between the floor and 0."""
    level = measure(pcm)
    assert 0.0 <= level.rms <= level.peak + 1e-12 <= 1.0 + 1e-12
    assert DBFS_FLOOR <= level.dbfs <= 0.0
    assert 0.0 <= level.meter() <= 1.0


@given(st.floats(DBFS_FLOOR, 0.0), st.floats(DBFS_FLOOR, 0.0), st.floats(-90.0, -1.0))
def test_meter_rises_with_level(a: float, b: float, floor: float) -> None:
    """A louder chunk never shows a shorter bar."""
    low, high = sorted((a, b))
    assert _at(low).meter(floor) <= _at(high).meter(floor)


def test_meter_floor_must_be_below_zero() -> None:
    """A floor at or above 0 dBFS is refused with its value."""
    with pytest.raises(ValueError, match=r"^floor_db 0.0: must be below 0 dBFS$"):
        SILENCE.meter(0.0)
