"""The capture thread on real media: files, folders and a device that is not there."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from peripherals.camera.capture import FINAL_STATES, Camera, Frame
from peripherals.camera.config import DeviceCamera, FileCamera, ImageFolderCamera
from tests.integration.peripherals.camera.conftest import PERIOD, frame_number, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


def _read_all(camera: Camera) -> list[Frame]:
    frames = []
    last = 0
    while (frame := camera.wait_newer(last, timeout=10)) is not None:
        frames.append(frame)
        last = frame.seq
    return frames


def test_file_without_reader_keeps_only_the_newest_frame(clip: Path) -> None:
    """Decoding ahead of any reader leaves one frame, the last, and counts the rest as dropped."""
    with Camera(FileCamera(path=clip, realtime=False)) as camera:
        wait_until(lambda: camera.state in FINAL_STATES, "the file to end")
        stats = camera.stats()
        latest = camera.read_latest()
    assert (stats.state, stats.frames_read, stats.frames_dropped) == ("ended", 60, 59)
    assert (stats.width, stats.height) == (160, 120)
    assert stats.last_error is None
    assert latest is not None
    assert (latest.index, frame_number(latest.image)) == (59, 59 % PERIOD)


def test_realtime_replay_reaches_a_reader_that_keeps_up(clip: Path) -> None:
    """At the file's pace a waiting reader gets the frames in order, each index matching its content."""
    with Camera(FileCamera(path=clip, fps=250)) as camera:
        frames = _read_all(camera)
        stats = camera.stats()
    assert stats.frames_read == 60
    assert [f.index for f in frames] == sorted({f.index for f in frames})
    assert all(frame_number(f.image) == f.index % PERIOD for f in frames)
    assert len(frames) + stats.frames_dropped == 60


def test_slow_reader_gets_the_newest_frame_never_a_backlog(tmp_path: Path) -> None:
    """A reader slower than decoding always gets the frame read last; what it skipped is counted as dropped."""
    from tests.integration.peripherals.camera.conftest import write_clip

    clip = write_clip(tmp_path / "long.avi", 400)
    taken = set()
    with Camera(FileCamera(path=clip, realtime=False)) as camera:
        while camera.state not in FINAL_STATES:
            read_before = camera.stats().frames_read
            frame = camera.read_latest()
            if frame is not None:
                assert frame.seq >= read_before
                taken.add(frame.seq)
            time.sleep(0.002)  # a slow detector
        last = camera.read_latest()
        assert last is not None
        taken.add(last.seq)
        stats = camera.stats()
    assert stats.frames_read == 400
    assert stats.frames_dropped == 400 - len(taken)


def test_looping_file_plays_again(clip: Path) -> None:
    """A looping file starts over at its end and keeps streaming until stopped."""
    camera = Camera(FileCamera(path=clip, realtime=False, loop=True)).start()
    wait_until(lambda: camera.stats().loops >= 2, "two loops")
    assert camera.state == "streaming"
    assert camera.stop() is True
    stats = camera.stats()
    assert stats.state == "stopped"
    assert stats.frames_read >= 120


@pytest.mark.parametrize("fixture", ["png_folder", "jpeg_folder"])
def test_image_folder_replays_as_a_camera(fixture: str, request: pytest.FixtureRequest) -> None:
    """Each image of the folder arrives once, in name order, at the configured rate."""
    folder: Path = request.getfixturevalue(fixture)
    with Camera(ImageFolderCamera(path=folder, fps=200)) as camera:
        frames = _read_all(camera)
        stats = camera.stats()
    assert stats.state == "ended"
    assert [frame_number(f.image) for f in frames] == [f.index for f in frames]
    assert stats.frames_read == 8


def test_missing_file_fails_with_its_name(tmp_path: Path) -> None:
    """A video file that is not there ends the camera as failed, naming the file."""
    with Camera(FileCamera(path=tmp_path / "gone.avi")) as camera:
        wait_until(lambda: camera.state in FINAL_STATES, "the camera to give up")
        stats = camera.stats()
    assert (stats.state, stats.last_error) == ("failed", f"video file {tmp_path / 'gone.avi'}: does not exist")


def test_missing_device_is_a_state_not_a_hang() -> None:
    """start() returns at once for an absent device; stats say why and that it keeps trying."""
    index = 63
    while Path(f"/dev/video{index}").exists():
        index += 1
    camera = Camera(DeviceCamera(index=index, reconnect_min_s=0.05, reconnect_max_s=0.1)).start()
    try:
        wait_until(lambda: camera.stats().open_failures >= 2, "two attempts to open")
        stats = camera.stats()
        assert stats.state == "reconnecting"
        assert stats.frames_read == 0
        assert stats.last_error is not None
        assert stats.last_error.startswith(f"camera device {index}: /dev/video{index} does not exist")
        assert camera.read_latest() is None
        assert camera.wait_newer(0, timeout=0.05) is None
    finally:
        assert camera.stop() is True
