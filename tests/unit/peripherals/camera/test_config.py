"""Camera settings: the `type` union, errors that name the key, source strings and hidden passwords."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from pydantic import ValidationError

from peripherals.camera.config import (
    DeviceCamera,
    FileCamera,
    ImageFolderCamera,
    UrlCamera,
    camera_config,
    describe_source,
    parse_source,
    redact_url,
)
from tests.unit.peripherals.camera.strategies import (
    device_indexes,
    folder_paths,
    passwords,
    stream_urls,
    video_paths,
)


@pytest.mark.parametrize(
    ("text", "kind", "key", "value"),
    [
        ("0", DeviceCamera, "index", 0),
        (" 12 ", DeviceCamera, "index", 12),
        ("/dev/video3", DeviceCamera, "index", 3),
        ("rtsp://cam.local:554/stream1", UrlCamera, "url", "rtsp://cam.local:554/stream1"),
        ("HTTP://10.0.0.9/video.mjpg", UrlCamera, "url", "HTTP://10.0.0.9/video.mjpg"),
        ("clips/hall.avi", FileCamera, "path", Path("clips/hall.avi")),
        ("clips/HALL.MP4", FileCamera, "path", Path("clips/HALL.MP4")),
        ("frames/", ImageFolderCamera, "path", Path("frames")),
        ("frames", ImageFolderCamera, "path", Path("frames")),
    ],
)
def test_parse_source_picks_the_kind(text: str, kind: type, key: str, value: object) -> None:
    """A device index, a URL, a video file and a folder are told apart from the text alone."""
    config = parse_source(text)
    assert isinstance(config, kind)
    assert getattr(config, key) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "camera source is empty; expected a device index, a URL, a video file or a folder of images"),
        ("-1", "camera source '-1': a device index must be 0 or more"),
        ("ftp://cam/x", "url 'ftp://cam/x': scheme 'ftp' is not supported, expected rtsp, rtsps, http, https"),
        ("rtsp:///stream", "url 'rtsp:///stream': has no host"),
        ("face.jpg", "camera source 'face.jpg' is a single image; give the folder that holds the images"),
    ],
)
def test_parse_source_errors_say_what_was_wrong(text: str, message: str) -> None:
    """Each refused source string gets a message naming it and what was expected."""
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_source(text)


def test_parse_source_passes_options_to_the_model() -> None:
    """Options such as loop reach the config, and an option the kind lacks is refused by name."""
    config = parse_source("clip.avi", loop=True, realtime=False)
    assert isinstance(config, FileCamera)
    assert (config.loop, config.realtime) == (True, False)
    with pytest.raises(ValidationError, match="loop"):
        parse_source("0", loop=True)


@given(device_indexes)
def test_any_index_parses_to_that_device(index: int) -> None:
    """Every non-negative integer, bare or as /dev/videoN, is that device index."""
    assert parse_source(str(index)) == DeviceCamera(index=index)
    assert parse_source(f"/dev/video{index}") == DeviceCamera(index=index)


@given(stream_urls())
def test_any_stream_url_parses_to_itself(url: str) -> None:
    """An rtsp/http URL is kept unchanged."""
    config = parse_source(url)
    assert isinstance(config, UrlCamera)
    assert config.url == url


@given(video_paths)
def test_video_suffix_means_file(path: str) -> None:
    """A known video suffix makes a file source."""
    assert isinstance(parse_source(path), FileCamera)


@given(folder_paths)
def test_other_paths_mean_image_folder(path: str) -> None:
    """A path without a video or image suffix is a folder of images."""
    assert isinstance(parse_source(path), ImageFolderCamera)


@given(stream_urls(with_password=True), passwords)
def test_redacted_url_never_shows_the_password(url: str, other: str) -> None:
    """The password between ':' and '@' is replaced by *** in messages, the rest stays readable."""
    password = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    shown = redact_url(url)
    assert f":{password}@" not in shown
    assert ":***@" in shown
    assert shown.split("@", 1)[1] == url.split("@", 1)[1]
    assert describe_source(UrlCamera(url=url)) == f"stream {shown}"


def test_redact_leaves_urls_without_password_alone() -> None:
    """A URL without credentials, or with only a user, is shown as is."""
    assert redact_url("rtsp://cam.local/s1") == "rtsp://cam.local/s1"
    assert redact_url("rtsp://admin@cam.local/s1") == "rtsp://admin@cam.local/s1"


def test_url_error_hides_the_password() -> None:
    """A refused URL is quoted in the error with its password hidden."""
    with pytest.raises(ValidationError) as info:
        UrlCamera(url="ftp://admin:hunter22@cam.local/x")
    assert "hunter22" not in str(info.value)
    assert "ftp://admin:***@cam.local/x" in str(info.value)


def test_camera_config_picks_the_model_by_type() -> None:
    """The `type` key chooses the model; defaults fill the rest."""
    config = camera_config({"type": "images", "path": "frames"})
    assert config == ImageFolderCamera(path=Path("frames"), fps=10.0, loop=False, realtime=True)
    assert camera_config({"type": "url", "url": "rtsp://cam/s"}).reconnect_max_s == 10.0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"type": "webcam", "index": 0}, "'device', 'url', 'file', 'images'"),
        ({"type": "device", "index": 0, "colour": True}, "colour"),
        ({"type": "device", "index": -2}, "index"),
        ({"type": "device", "index": 0, "fourcc": "MJPEG"}, "fourcc 'MJPEG': expected four ASCII characters"),
        ({"type": "file"}, "path"),
        ({"type": "images", "path": "f", "fps": 0}, "fps"),
        (
            {"type": "url", "url": "rtsp://c/s", "reconnect_min_s": 5, "reconnect_max_s": 1},
            "reconnect_max_s (1.0) must be at least reconnect_min_s (5.0)",
        ),
    ],
)
def test_bad_settings_name_the_key(data: dict[str, object], fragment: str) -> None:
    """Unknown types, unknown keys and bad values are refused with the key or the rule in the message."""
    with pytest.raises(ValidationError) as info:
        camera_config(data)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("config", "text"),
    [
        (DeviceCamera(index=2), "camera device 2"),
        (FileCamera(path=Path("a/b.avi")), "video file a/b.avi"),
        (ImageFolderCamera(path=Path("frames")), "image folder frames"),
    ],
)
def test_describe_source(config: DeviceCamera | FileCamera | ImageFolderCamera, text: str) -> None:
    """Each kind of source has a short name for messages."""
    assert describe_source(config) == text
