"""The capture thread over a scripted source: newest frame only, drop counting, loops, reconnects, failures."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peripherals.camera.capture import Camera
from peripherals.camera.config import FileCamera, UrlCamera
from peripherals.camera.errors import CameraError
from tests.unit.peripherals.camera.scripted import REFUSE, ScriptedSource, wait_until

pytestmark = pytest.mark.timeout(30)

FILE = FileCamera(path=Path("clip.avi"), realtime=False)
LOOPING_FILE = FileCamera(path=Path("clip.avi"), realtime=False, loop=True)
STREAM = UrlCamera(url="rtsp://cam.local/s1", reconnect_min_s=0.001, reconnect_max_s=0.004)


def _has_read(camera: Camera, count: int) -> Callable[[], bool]:
    return lambda: camera.stats().frames_read == count


def _ended(camera: Camera) -> bool:
    return camera.state in ("ended", "failed")


@pytest.fixture
def cameras() -> Iterator[list[tuple[Camera, ScriptedSource]]]:
    """Cameras made by a test, ungated and stopped at the end whatever happened."""
    made: list[tuple[Camera, ScriptedSource]] = []
    yield made
    for camera, source in made:
        source.ungate()
        camera.stop()


def _camera(
    made: list[tuple[Camera, ScriptedSource]],
    config: FileCamera | UrlCamera,
    source: ScriptedSource,
) -> Camera:
    camera = Camera(config, source=source)
    made.append((camera, source))
    return camera.start()


def test_unread_frames_count_as_dropped(cameras: list[tuple[Camera, ScriptedSource]]) -> None:
    """With no reader, every frame but the newest is replaced unread and counted as dropped."""
    camera = _camera(cameras, FILE, ScriptedSource([10], finite=True))
    wait_until(lambda: _ended(camera), "the file to end")
    stats = camera.stats()
    assert (stats.state, stats.frames_read, stats.frames_dropped) == ("ended", 10, 9)
    latest = camera.read_latest()
    assert latest is not None
    assert (latest.seq, latest.index) == (10, 9)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=25))
def test_drop_count_matches_a_model(actions: list[bool]) -> None:
    """For any order of arriving frames (True) and reads (False), drops are exactly the frames never read."""
    source = ScriptedSource([1000], finite=True, gated=True)
    camera = Camera(FILE, source=source).start()
    try:
        arrived = dropped = 0
        latest_read = True
        for frame_arrives in actions:
            if frame_arrives:
                source.release()
                arrived += 1
                wait_until(_has_read(camera, arrived), f"frame {arrived}")
                dropped += 0 if latest_read or arrived == 1 else 1
                latest_read = False
            else:
                frame = camera.read_latest()
                assert (frame is None) == (arrived == 0)
                latest_read = True
        assert camera.stats().frames_dropped == dropped
    finally:
        source.ungate()
        camera.stop()


def test_read_latest_never_waits(cameras: list[tuple[Camera, ScriptedSource]]) -> None:
    """Before the first frame read_latest returns None at once, while the source is open and silent."""
    source = ScriptedSource([5], finite=True, gated=True)
    camera = _camera(cameras, FILE, source)
    wait_until(lambda: camera.state == "streaming", "the source to open")
    assert camera.read_latest() is None


def test_wait_newer_gives_each_new_frame_or_none(cameras: list[tuple[Camera, ScriptedSource]]) -> None:
    """wait_newer returns the first frame newer than the one given, and None when none comes in time."""
    source = ScriptedSource([5], finite=True, gated=True)
    camera = _camera(cameras, FILE, source)
    assert camera.wait_newer(0, timeout=0.05) is None
    source.release()
    first = camera.wait_newer(0, timeout=10)
    assert first is not None
    assert first.seq == 1
    assert camera.wait_newer(first.seq, timeout=0.05) is None
    source.release()
    second = camera.wait_newer(first.seq, timeout=10)
    assert second is not None
    assert second.seq == 2


@pytest.mark.timeout(10)
def test_wait_newer_returns_at_once_when_the_source_ended(cameras: list[tuple[Camera, ScriptedSource]]) -> None:
    """A reader waiting on a camera that ended is not kept waiting for its whole timeout."""
    camera = _camera(cameras, FILE, ScriptedSource([2], finite=True))
    wait_until(lambda: _ended(camera), "the file to end")
    assert camera.wait_newer(2, timeout=3600) is None


def test_looping_file_starts_again(cameras: list[tuple[Camera, ScriptedSource]]) -> None:
    """A looping file is reopened at its end, counts loops, and numbers frames from 0 in each pass."""
    source = ScriptedSource([3], finite=True)
    camera = _camera(cameras, LOOPING_FILE, source)
    wait_until(lambda: camera.stats().loops >= 2, "two loops")
    latest = camera.read_latest()
    assert latest is not None
    assert latest.index < 3
    assert source.opens >= 3


def test_file_without_frames_fails(cameras: list[tuple[Camera, ScriptedSource]]) -> None:
    """A file that opens but gives no frame fails instead of looping on nothing."""
    camera = _camera(cameras, LOOPING_FILE, ScriptedSource([0], finite=True))
    wait_until(lambda: _ended(camera), "the camera to give up")
    stats = camera.stats()
    assert (stats.state, stats.last_error) == ("failed", "scripted source: delivered no frames")


def test_file_that_does_not_open_fails_with_the_reason(cameras: list[tuple[Camera, ScriptedSource]]) -> None:
    """A file or folder is not retried: the open error is the camera's last error."""
    camera = _camera(cameras, FILE, ScriptedSource([REFUSE], finite=True))
    wait_until(lambda: _ended(camera), "the camera to give up")
    assert (camera.state, camera.stats().last_error) == ("failed", "scripted source: refused")


def test_live_source_is_reopened_until_it_comes_back(cameras: list[tuple[Camera, ScriptedSource]]) -> None:
    """Refused opens and lost streams are retried; each return counts as a reconnect."""
    source = ScriptedSource([REFUSE, REFUSE, 2, 3], finite=False)
    camera = _camera(cameras, STREAM, source)
    wait_until(lambda: camera.stats().frames_read >= 5, "frames after two refusals and a loss")
    stats = camera.stats()
    assert stats.open_failures == 2
    assert stats.reconnects >= 2
    assert stats.last_error is not None
    assert stats.last_error.startswith("scripted source:")


def test_lost_stream_is_reported(
    cameras: list[tuple[Camera, ScriptedSource]], caplog: pytest.LogCaptureFixture
) -> None:
    """A stream that stops is logged with its frame count, and the state says reconnecting."""
    caplog.set_level(logging.WARNING, logger="peripherals.camera.capture")
    source = ScriptedSource([2, REFUSE], finite=False)
    camera = _camera(cameras, STREAM, source)
    wait_until(lambda: camera.stats().open_failures >= 1, "a failed reopen")
    stats = camera.stats()
    assert stats.state == "reconnecting"
    assert stats.last_error is not None
    assert stats.last_error.startswith("scripted source: refused; reconnecting in ")
    assert "scripted source: stream lost after 2 frames; reconnecting in" in caplog.text


def test_undecodable_frame_of_a_file_is_skipped(cameras: list[tuple[Camera, ScriptedSource]]) -> None:
    """A frame of a file or folder that fails to read is reported and skipped; the rest still come."""

    def fail_third(given: int) -> None:
        if given == 3:
            raise CameraError("scripted source: frame 3 does not decode")

    camera = _camera(cameras, FILE, ScriptedSource([5], finite=True, on_read=fail_third))
    wait_until(lambda: _ended(camera), "the file to end")
    stats = camera.stats()
    assert (stats.state, stats.frames_read) == ("ended", 4)
    assert stats.last_error == "scripted source: frame 3 does not decode"


def test_crash_in_the_source_shows_in_stats(cameras: list[tuple[Camera, ScriptedSource]]) -> None:
    """An unexpected exception ends the thread as failed, with the exception in last_error, and closes the source."""

    def crash(given: int) -> None:
        raise RuntimeError("boom")

    source = ScriptedSource([5], finite=True, on_read=crash)
    camera = _camera(cameras, FILE, source)
    wait_until(lambda: _ended(camera), "the camera to fail")
    assert camera.stats().last_error == "scripted source: capture thread crashed: RuntimeError('boom')"
    wait_until(lambda: source.closes >= 1, "the source to be closed")


def test_stats_report_frame_size(cameras: list[tuple[Camera, ScriptedSource]]) -> None:
    """Width and height come from the newest frame; none before the first."""
    source = ScriptedSource([1], finite=True, gated=True, shape=(48, 64))
    camera = _camera(cameras, FILE, source)
    assert (camera.stats().width, camera.stats().height) == (None, None)
    source.release()
    wait_until(lambda: camera.stats().frames_read == 1, "a frame")
    stats = camera.stats()
    assert (stats.width, stats.height) == (64, 48)
    assert stats.as_dict()["width"] == 64


def test_realtime_replay_delivers_every_frame(cameras: list[tuple[Camera, ScriptedSource]]) -> None:
    """Replaying at the file's pace still delivers each frame once, in order."""
    config = FileCamera(path=Path("clip.avi"), realtime=True, fps=500)
    camera = _camera(cameras, config, ScriptedSource([6], finite=True))
    seen = []
    last = 0
    while (frame := camera.wait_newer(last, timeout=10)) is not None:
        seen.append(frame.index)
        last = frame.seq
    assert seen == sorted(seen)
    assert camera.stats().frames_read == 6


def test_start_twice_is_refused(cameras: list[tuple[Camera, ScriptedSource]]) -> None:
    """A camera is started once."""
    camera = _camera(cameras, FILE, ScriptedSource([1], finite=True))
    with pytest.raises(RuntimeError, match="camera 'camera' was already started; make a new Camera"):
        camera.start()


def test_stop_ends_the_thread_and_closes_the_source() -> None:
    """stop() returns True once the thread ended; the state is stopped and the source closed."""
    source = ScriptedSource([10**9], finite=True, gated=True)
    with Camera(FILE, source=source) as camera:
        wait_until(lambda: camera.state == "streaming", "the source to open")
        source.ungate()
    assert camera.state == "stopped"
    assert source.closes >= 1
    assert camera.stop() is True


def test_stop_before_start() -> None:
    """A camera never started stops at once."""
    camera = Camera(FILE, source=ScriptedSource([1], finite=True))
    assert camera.stop() is True
    assert camera.state == "stopped"
