"""The OpenCV adapter on real media: an MJPG AVI the test writes, a missing device, a refused stream."""

from __future__ import annotations

from pathlib import Path

import pytest

from peripherals.camera.config import DeviceCamera, FileCamera, ImageFolderCamera, UrlCamera
from peripherals.camera.driver import OpenCvSource, open_source, video_devices
from peripherals.camera.errors import CameraError
from peripherals.camera.folder import ImageFolderSource
from tests.integration.peripherals.camera.conftest import HEIGHT, PERIOD, WIDTH, frame_number
from tests.support.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


def test_reads_every_frame_of_an_avi_in_order(clip: Path) -> None:
    """All 60 frames of the MJPG AVI come back in order, 160x120 BGR, with the file's 25 fps."""
    source = OpenCvSource(FileCamera(path=clip))
    assert source.open() == pytest.approx(25.0)
    numbers = []
    while (image := source.read()) is not None:
        assert image.shape == (HEIGHT, WIDTH, 3)
        numbers.append(frame_number(image))
    source.close()
    assert numbers == [n % PERIOD for n in range(60)]


def test_source_can_be_opened_again_after_the_end(clip: Path) -> None:
    """Opening a second time starts from the first frame (what a looping file relies on)."""
    source = OpenCvSource(FileCamera(path=clip))
    source.open()
    while source.read() is not None:
        pass
    source.open()
    image = source.read()
    assert image is not None
    assert frame_number(image) == 0
    source.close()


def test_missing_video_file(tmp_path: Path) -> None:
    """A file that is not there is named in the error."""
    with pytest.raises(CameraError) as info:
        OpenCvSource(FileCamera(path=tmp_path / "nope.avi")).open()
    assert str(info.value) == f"video file {tmp_path / 'nope.avi'}: does not exist"


def test_folder_given_as_a_video_file(tmp_path: Path) -> None:
    """A folder configured as a file points at the images type."""
    with pytest.raises(CameraError, match='is a folder; use type = "images" for a folder of images'):
        OpenCvSource(FileCamera(path=tmp_path)).open()


def test_file_that_is_not_a_video(tmp_path: Path) -> None:
    """Random bytes with a video suffix are refused as not a video, not read as zero frames."""
    junk = tmp_path / "junk.avi"
    junk.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(CameraError, match="could not open it as a video"):
        OpenCvSource(FileCamera(path=junk)).open()


def test_device_that_does_not_exist_is_named_without_waiting() -> None:
    """An absent device index fails at once, naming its node and the devices that do exist."""
    index = 63
    while Path(f"/dev/video{index}").exists():
        index += 1
    with pytest.raises(CameraError) as info:
        OpenCvSource(DeviceCamera(index=index)).open()
    present = ", ".join(video_devices()) or "none"
    assert str(info.value) == (
        f"camera device {index}: /dev/video{index} does not exist (video devices present: {present})"
    )


def test_refused_stream_fails_within_its_open_timeout() -> None:
    """A URL nobody serves fails the open with a reason, instead of hanging."""
    url = f"http://127.0.0.1:{free_port()}/cam.avi"
    with pytest.raises(CameraError) as info:
        OpenCvSource(UrlCamera(url=url, open_timeout_s=2)).open()
    assert str(info.value).startswith(f"stream {url}: could not connect to it or read a video stream from it")


def test_open_source_picks_the_adapter(clip: Path, png_folder: Path) -> None:
    """A folder of images gets the folder adapter, everything else OpenCV's capture."""
    assert isinstance(open_source(ImageFolderCamera(path=png_folder)), ImageFolderSource)
    assert isinstance(open_source(FileCamera(path=clip)), OpenCvSource)
    assert isinstance(open_source(DeviceCamera(index=0)), OpenCvSource)


def test_video_devices_lists_nodes_in_index_order(tmp_path: Path) -> None:
    """Nodes are listed video2 before video10, and other names are ignored."""
    for name in ("video10", "video2", "video-meta", "vbi0"):
        (tmp_path / name).touch()
    assert video_devices(tmp_path) == [str(tmp_path / "video2"), str(tmp_path / "video10")]
