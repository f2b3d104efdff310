"""Frame-rate measurement from timestamps: exact on even streams, falling when frames stop."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peripherals.camera.rate import FpsMeter
from tests.unit.peripherals.camera.strategies import gaps


@given(st.floats(0.01, 1.0), st.integers(2, 200))
def test_even_stream_gives_its_rate(interval: float, count: int) -> None:
    """Ticks every `interval` s read back as 1/interval fps at the last tick (while inside the window)."""
    meter = FpsMeter(window_s=1000.0)
    times = [100.0 + i * interval for i in range(count)]
    for t in times:
        meter.tick(t)
    assert meter.rate(times[-1]) == pytest.approx(1 / interval, rel=1e-6)


@given(st.floats(0.02, 1.0), st.integers(2, 300))
def test_long_even_stream_is_within_one_frame_per_window(interval: float, count: int) -> None:
    """Once ticks have left the window, an even stream reads within 1/window fps of its rate."""
    meter = FpsMeter(window_s=2.0)
    times = [100.0 + i * interval for i in range(count)]
    for t in times:
        meter.tick(t)
    if times[-1] - times[0] > 2.0:
        assert meter.rate(times[-1]) == pytest.approx(1 / interval, abs=1 / 2.0 + 1e-9)


@given(gaps, st.lists(st.floats(0.0, 3.0), min_size=1, max_size=8))
def test_rate_is_never_negative_and_falls_while_idle(steps: list[float], waits: list[float]) -> None:
    """Without new ticks the rate only goes down, whenever it is asked, and it is never below 0."""
    meter = FpsMeter(window_s=5.0)
    times = list(itertools.accumulate(steps, initial=50.0))
    for t in times:
        meter.tick(t)
    now = times[-1]
    rates = [meter.rate(now)]
    for wait in waits:
        now += wait
        rates.append(meter.rate(now))
    assert all(later <= earlier + 1e-9 for earlier, later in itertools.pairwise(rates))
    assert rates[-1] >= 0.0


def test_fewer_than_two_ticks_is_zero() -> None:
    """No ticks, or one, is not a rate."""
    meter = FpsMeter()
    assert meter.rate(0.0) == 0.0
    meter.tick(1.0)
    assert meter.rate(1.0) == 0.0


def test_old_ticks_leave_the_window() -> None:
    """A camera that stopped longer ago than the window reads 0 fps, and it slows down on the way."""
    meter = FpsMeter(window_s=2.0)
    for i in range(10):
        meter.tick(i * 0.1)
    assert meter.rate(0.9) == pytest.approx(10.0)
    assert meter.rate(2.0) == pytest.approx(9 / 2.0)
    assert meter.rate(2.45) == pytest.approx(5 / 2.0)
    assert meter.rate(10.0) == 0.0


def test_clear_forgets_ticks() -> None:
    """After a reopen the rate starts from nothing."""
    meter = FpsMeter()
    meter.tick(0.0)
    meter.tick(0.1)
    meter.clear()
    assert meter.rate(0.1) == 0.0


def test_window_must_be_positive() -> None:
    """A zero window is refused with the value."""
    with pytest.raises(ValueError, match="window_s 0: must be more than 0 seconds"):
        FpsMeter(window_s=0)
