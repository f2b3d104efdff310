"""Frames per second measured from capture timestamps, with no clock of its own."""

from __future__ import annotations

from collections import deque


class FpsMeter:
    """Rate of the ticks seen in the last `window_s` seconds.

    Until the first tick leaves the window the rate is (ticks - 1) / (now - first tick): exact for
    an even stream queried at its last tick. Once ticks have left it, the rate is the ticks inside
    the window divided by its length. The two agree where one hands over to the other, so while no
    ticks arrive the rate only falls, and a stalled camera shows as slowing at once instead of
    keeping its last good figure.
    """

    def __init__(self, window_s: float = 5.0, max_ticks: int = 50_000) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s {window_s}: must be more than 0 seconds")
        self.window_s = window_s
        self._ticks: deque[float] = deque(maxlen=max_ticks)
        self._full = False

    def tick(self, t: float) -> None:
        """Record one frame at monotonic time `t` (seconds)."""
        self._ticks.append(t)
        self._forget(t)

    def rate(self, now: float) -> float:
        """Frames per second at monotonic time `now`."""
        self._forget(now)
        if self._full:
            return len(self._ticks) / self.window_s
        if len(self._ticks) < 2:
            return 0.0
        span = max(now, self._ticks[-1]) - self._ticks[0]
        return (len(self._ticks) - 1) / span if span > 0 else 0.0

    def clear(self) -> None:
        """Forget every tick (the source was reopened)."""
        self._ticks.clear()
        self._full = False

    def _forget(self, now: float) -> None:
        horizon = now - self.window_s
        while self._ticks and self._ticks[0] < horizon:
            self._ticks.popleft()
            self._full = True
