"""One camera: a capture thread that keeps only the newest frame, reconnects, and reports its health.

The capture thread never waits for its readers. Each new frame replaces the previous one; a
frame replaced before any reader took it counts as dropped, so a slow detector shows up as drops
instead of a growing backlog (the same bookkeeping as Frigate's capture process). Readers either
take the newest frame at once (`read_latest`) or wait, with a timeout, for one newer than the
last they saw (`wait_newer`).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any, Literal, Self

from peripherals.camera.backoff import Backoff
from peripherals.camera.config import DeviceCamera, FileCamera, ImageFolderCamera, UrlCamera
from peripherals.camera.driver import open_source
from peripherals.camera.errors import CameraError
from peripherals.camera.rate import FpsMeter
from peripherals.camera.source import FrameSource, Image

log = logging.getLogger(__name__)

CameraState = Literal["idle", "starting", "streaming", "reconnecting", "ended", "failed", "stopped"]
FINAL_STATES: frozenset[CameraState] = frozenset({"ended", "failed", "stopped"})
# A replay more than this far behind its schedule (slow decoding) restarts the schedule instead of
# bursting frames to catch up, as a real camera would not.
_MAX_LAG_S = 1.0


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured frame and when it was taken."""

    image: Image
    seq: int
    """1, 2, 3, … over the camera's life; a reader passes the last one it saw to `wait_newer`."""
    index: int
    """Position in the current pass over the source, from 0 (a file's frame number; resets on reopen)."""
    monotonic: float
    """`time.monotonic()` when the frame was read, for intervals."""
    time: float
    """`time.time()` when the frame was read, for event timestamps."""

    @property
    def width(self) -> int:
        """Frame width in pixels."""
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        """Frame height in pixels."""
        return int(self.image.shape[0])


@dataclass(frozen=True, slots=True)
class CameraStats:
    """A snapshot of the camera's health, for status messages and the maintenance screen."""

    source: str
    state: CameraState
    fps: float
    width: int | None
    height: int | None
    frames_read: int
    frames_dropped: int
    """Frames replaced by a newer one before any reader took them."""
    reconnects: int
    """Times a live source came back after it was lost or failed to open."""
    open_failures: int
    loops: int
    """Times a looping file or folder started again from the beginning."""
    last_error: str | None
    last_frame_age_s: float | None

    def as_dict(self) -> dict[str, Any]:
        """The snapshot as plain JSON-ready values."""
        return asdict(self)


class Camera:
    """A capture thread over one source: a device, a stream, a video file or a folder of images."""

    def __init__(
        self,
        config: DeviceCamera | UrlCamera | FileCamera | ImageFolderCamera,
        *,
        name: str = "camera",
        source: FrameSource | None = None,
        fps_window_s: float = 5.0,
    ) -> None:
        self.config = config
        self.name = name
        self._source = source if source is not None else open_source(config)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._meter = FpsMeter(fps_window_s)
        self._latest: Frame | None = None
        self._taken = 0
        self._seq = 0
        self._state: CameraState = "idle"
        self._read = 0
        self._dropped = 0
        self._reconnects = 0
        self._open_failures = 0
        self._loops = 0
        self._last_error: str | None = None

    # -- readers ---------------------------------------------------------------------------

    def read_latest(self) -> Frame | None:
        """The newest frame, at once; None before the first. May be a frame this reader saw before."""
        with self._cond:
            return self._take()

    def wait_newer(self, seq: int, timeout: float) -> Frame | None:
        """Wait up to `timeout` s for a frame with a `seq` above `seq` (0 for any); None if none came.

        Returns at once, with None, when the camera has ended, failed or stopped.
        """
        with self._cond:
            self._cond.wait_for(lambda: self._newer(seq) or self._state in FINAL_STATES, timeout)
            return self._take() if self._newer(seq) else None

    def stats(self) -> CameraStats:
        """Health figures: state, fps, frame size, frames read and dropped, reconnects, last error."""
        now = time.monotonic()
        with self._cond:
            latest = self._latest
            return CameraStats(
                source=self._source.description,
                state=self._state,
                fps=round(self._meter.rate(now), 2),
                width=latest.width if latest else None,
                height=latest.height if latest else None,
                frames_read=self._read,
                frames_dropped=self._dropped,
                reconnects=self._reconnects,
                open_failures=self._open_failures,
                loops=self._loops,
                last_error=self._last_error,
                last_frame_age_s=round(now - latest.monotonic, 3) if latest else None,
            )

    @property
    def state(self) -> CameraState:
        """idle, starting, streaming, reconnecting, ended (a file or folder ran out), failed or stopped."""
        with self._cond:
            return self._state

    # -- life ------------------------------------------------------------------------------

    def start(self) -> Self:
        """Start the capture thread and return at once, whether or not the source opens."""
        if self._thread is not None:
            raise RuntimeError(f"camera {self.name!r} was already started; make a new Camera")
        self._set(state="starting")
        self._thread = threading.Thread(target=self._run, name=f"camera-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop capturing; False if the thread is still inside a driver call after `timeout` s."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is None:
            self._set(state="stopped")
            return True
        self._thread.join(timeout)
        if self._thread.is_alive():
            # A driver call that ignores its timeouts: the thread exits when it returns.
            log.warning("%s: capture thread still in a driver call %.1f s after stop", self.name, timeout)
            self._set(state="stopped")
            return False
        return True

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- capture thread --------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._capture()
        except Exception as exc:
            # Anything unexpected must show in stats(), not vanish with the thread.
            log.exception("%s: capture thread crashed", self.name)
            self._set(state="failed", error=f"{self._source.description}: capture thread crashed: {exc!r}")
        finally:
            self._source.close()

    def _capture(self) -> None:
        src = self._source
        backoff = self._backoff()
        down = False
        while not self._stop.is_set():
            try:
                native_fps = src.open()
            except CameraError as exc:
                if backoff is None:
                    self._set(state="failed", error=str(exc))
                    return
                with self._cond:
                    self._open_failures += 1
                down = True
                self._wait_to_reconnect(str(exc), backoff)
                continue
            if down:
                with self._cond:
                    self._reconnects += 1
                log.info("%s: %s is back", self.name, src.description)
                down = False
            self._set(state="streaming")
            outcome, count = self._stream(src, native_fps, backoff)
            src.close()
            if outcome == "stopped":
                break
            if backoff is not None:
                down = True
                self._wait_to_reconnect(f"{src.description}: stream lost after {count} frames", backoff)
                continue
            if count == 0:
                self._set(state="failed", error=f"{src.description}: delivered no frames")
                return
            if not self._loops_at_end():
                self._set(state="ended")
                return
            with self._cond:
                self._loops += 1
        self._set(state="stopped")

    def _stream(self, src: FrameSource, native_fps: float | None, backoff: Backoff | None) -> tuple[str, int]:
        interval = self._replay_interval(native_fps)
        count = 0
        schedule_start = 0.0
        while not self._stop.is_set():
            try:
                image = src.read()
            except CameraError as exc:
                self._set(error=str(exc))
                if src.finite:
                    continue
                return "lost", count
            if image is None:
                return ("ended" if src.finite else "lost"), count
            if interval is not None:
                now = time.monotonic()
                if count == 0 or now - (schedule_start + count * interval) > _MAX_LAG_S:
                    schedule_start = now - count * interval
                due = schedule_start + count * interval
                if due > now and self._stop.wait(due - now):
                    return "stopped", count
            if count == 0 and backoff is not None:
                backoff.reset()
            self._publish(image, count)
            count += 1
        return "stopped", count

    def _publish(self, image: Image, index: int) -> None:
        frame_time = time.time()
        now = time.monotonic()
        with self._cond:
            if self._latest is not None and self._latest.seq > self._taken:
                self._dropped += 1
            self._seq += 1
            self._latest = Frame(image=image, seq=self._seq, index=index, monotonic=now, time=frame_time)
            self._read += 1
            self._meter.tick(now)
            self._cond.notify_all()

    def _wait_to_reconnect(self, why: str, backoff: Backoff) -> None:
        delay = backoff.next()
        log.warning("%s: %s; reconnecting in %.1f s", self.name, why, delay)
        self._set(state="reconnecting", error=f"{why}; reconnecting in {delay:.1f} s")
        with self._cond:
            self._meter.clear()
        self._stop.wait(delay)

    def _backoff(self) -> Backoff | None:
        if isinstance(self.config, DeviceCamera | UrlCamera):
            return Backoff(self.config.reconnect_min_s, self.config.reconnect_max_s)
        return None

    def _loops_at_end(self) -> bool:
        return isinstance(self.config, FileCamera | ImageFolderCamera) and self.config.loop

    def _replay_interval(self, native_fps: float | None) -> float | None:
        config = self.config
        if isinstance(config, ImageFolderCamera) and config.realtime:
            return 1.0 / config.fps
        if isinstance(config, FileCamera) and config.realtime:
            return 1.0 / (config.fps or native_fps or 25.0)
        return None

    # -- shared state ----------------------------------------------------------------------

    def _set(self, *, state: CameraState | None = None, error: str | None = None) -> None:
        with self._cond:
            if state is not None and self._state != "stopped":
                self._state = state
            if error is not None:
                self._last_error = error
            self._cond.notify_all()

    def _newer(self, seq: int) -> bool:
        return self._latest is not None and self._latest.seq > seq

    def _take(self) -> Frame | None:
        if self._latest is not None:
            self._taken = max(self._taken, self._latest.seq)
        return self._latest
