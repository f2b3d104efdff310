"""A scripted FrameSource, so the capture thread's bookkeeping is tested without OpenCV."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from peripherals.camera.errors import CameraError
from peripherals.camera.source import Image

REFUSE = "refuse"


class ScriptedSource:
    """Each open takes the next script entry: a number of frames to give before ending, or REFUSE.

    The last entry repeats once the script is used up. With `gated`, every read waits for the
    test to `release()` it, so the test decides when each frame arrives.
    """

    description = "scripted source"

    def __init__(
        self,
        script: list[int | str],
        *,
        finite: bool,
        gated: bool = False,
        shape: tuple[int, int] = (4, 6),
        on_read: Callable[[int], None] | None = None,
    ) -> None:
        self.script = list(script)
        self.finite = finite
        self.shape = shape
        self.on_read = on_read
        self.opens = 0
        self.closes = 0
        self._left = 0
        self._given = 0
        self._gated = gated
        self._gate = threading.Semaphore(0)

    def open(self) -> float | None:
        """Take the next script entry."""
        entry = self.script[min(self.opens, len(self.script) - 1)]
        self.opens += 1
        if entry == REFUSE:
            raise CameraError("scripted source: refused")
        assert isinstance(entry, int)
        self._left = entry
        return 25.0

    def read(self) -> Image | None:
        """The next frame of this session, or None when the session's frames are used up."""
        if self._gated and not self._gate.acquire(timeout=10):
            raise RuntimeError("test never released a frame")
        if self._left == 0:
            return None
        self._left -= 1
        self._given += 1
        if self.on_read is not None:
            self.on_read(self._given)
        return np.full((*self.shape, 3), self._given % 256, dtype=np.uint8)

    def close(self) -> None:
        """Count closes."""
        self.closes += 1

    def release(self, count: int = 1) -> None:
        """Let `count` more reads through."""
        for _ in range(count):
            self._gate.release()

    def ungate(self) -> None:
        """Stop gating (before stopping the camera, so no read is left waiting)."""
        self._gated = False
        self._gate.release()


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll until `predicate()` holds; fail the test naming `what` if it does not within `timeout`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.002)
