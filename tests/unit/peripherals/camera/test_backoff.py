"""Reconnect delays: start at the first, double, never pass the longest, start over on reset."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peripherals.camera.backoff import Backoff


@given(st.floats(0.01, 5.0), st.floats(1.0, 100.0), st.integers(1, 40))
def test_delays_grow_up_to_the_longest(first: float, ratio: float, count: int) -> None:
    """The first delay is `first_s`; later ones never shrink and never exceed `longest_s`."""
    backoff = Backoff(first, first * ratio)
    delays = [backoff.next() for _ in range(count)]
    assert delays[0] == first
    assert all(a <= b for a, b in itertools.pairwise(delays))
    assert max(delays) <= first * ratio


def test_doubles_then_stays() -> None:
    """0.5, 1, 2, 4, then capped at 5."""
    backoff = Backoff(0.5, 5.0)
    assert [backoff.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_reset_starts_over() -> None:
    """After frames flow again the next loss waits the first delay."""
    backoff = Backoff(0.5, 5.0)
    backoff.next()
    backoff.next()
    backoff.reset()
    assert backoff.next() == 0.5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0.0, 1.0), "first_s 0.0: must be more than 0 seconds"),
        ((2.0, 1.0), "longest_s 1.0: must be at least first_s (2.0)"),
        ((1.0, 2.0, 0.5), "factor 0.5: must be 1 or more"),
    ],
)
def test_bad_settings_are_refused(args: tuple[float, ...], message: str) -> None:
    """Impossible delays are refused with the value."""
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        Backoff(*args)
