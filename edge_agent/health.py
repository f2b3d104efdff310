"""Camera stall watch: no frame for `stall_after_s` → report once per episode, and reconnect with backoff. Pure.

`peripherals.camera.Camera` already reopens a live source that errors or ends. What it cannot
see is a source that stays "open" and simply stops: a camera that froze with its TCP connection
up, an RTSP server that stopped sending, a driver call that never returns. The agent notices
that from the outside — no new frame for `stall_after_s` — and replaces the camera (a new capture
thread on a new connection; the stuck one is abandoned and exits when its call returns).

`StallWatch` decides, from times and the camera's own state, when to report and when to
reconnect; the agent does the I/O. A camera in a final state (a file that ended) never stalls;
one that says it is `reconnecting` is reported but not replaced, since it is already retrying.
"""

from __future__ import annotations

from dataclasses import dataclass

from peripherals.camera import FINAL_STATES
from peripherals.camera.backoff import Backoff

REPLACEABLE = frozenset({"starting", "streaming"})


@dataclass(frozen=True)
class StallAction:
    """What the agent should do now: report a new stall episode, and/or replace the camera."""

    report: bool = False
    reconnect: bool = False


NOTHING = StallAction()


class StallWatch:
    """One camera's stall state; feed it frame times and periodic checks (monotonic seconds)."""

    def __init__(self, stall_after_s: float, now: float, retry_max_s: float | None = None) -> None:
        if stall_after_s <= 0:
            raise ValueError(f"stall_after_s {stall_after_s}: must be more than 0 seconds")
        self.stall_after_s = stall_after_s
        self._backoff = Backoff(stall_after_s, max(retry_max_s or 8 * stall_after_s, stall_after_s))
        self._last_frame = now
        self._next_reconnect: float | None = None
        self.stalled_since: float | None = None
        self.stalls = 0  # episodes
        self.reconnects = 0  # camera replacements

    @property
    def stalled(self) -> bool:
        """True from the moment a stall is reported until the next frame."""
        return self.stalled_since is not None

    def frame(self, now: float) -> float | None:
        """A new frame arrived; returns how long the stall it ends lasted (None: there was none)."""
        self._last_frame = now
        since, self.stalled_since = self.stalled_since, None
        self._next_reconnect = None
        if since is None:
            return None
        self._backoff.reset()
        return max(0.0, now - since)

    def silent_for(self, now: float) -> float:
        """Seconds since the last frame (or since the watch started)."""
        return max(0.0, now - self._last_frame)

    def check(self, now: float, camera_state: str) -> StallAction:
        """What to do at `now`, the camera being in `camera_state`."""
        if camera_state in FINAL_STATES or self.silent_for(now) < self.stall_after_s:
            return NOTHING
        report = self.stalled_since is None
        if report:
            self.stalled_since = self._last_frame + self.stall_after_s
            self.stalls += 1
            self._next_reconnect = now
        reconnect = camera_state in REPLACEABLE and self._next_reconnect is not None and now >= self._next_reconnect
        if reconnect:
            self.reconnects += 1
            self._next_reconnect = now + self._backoff.next()
        return StallAction(report=report, reconnect=reconnect)
