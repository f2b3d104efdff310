"""Waits between reconnection attempts: doubling from a first delay up to a longest one."""

from __future__ import annotations


class Backoff:
    """Exponential backoff without jitter (one camera per host process, so no thundering herd)."""

    def __init__(self, first_s: float, longest_s: float, factor: float = 2.0) -> None:
        if first_s <= 0:
            raise ValueError(f"first_s {first_s}: must be more than 0 seconds")
        if longest_s < first_s:
            raise ValueError(f"longest_s {longest_s}: must be at least first_s ({first_s})")
        if factor < 1:
            raise ValueError(f"factor {factor}: must be 1 or more")
        self.first_s = first_s
        self.longest_s = longest_s
        self.factor = factor
        self._next = first_s

    def next(self) -> float:
        """The delay to wait now; the following call returns a longer one, up to `longest_s`."""
        delay = self._next
        self._next = min(self._next * self.factor, self.longest_s)
        return delay

    def reset(self) -> None:
        """Start again from `first_s` (after the source delivered frames again)."""
        self._next = self.first_s
