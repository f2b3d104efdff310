"""Camera settings, one model per kind of source, picked by the `type` key.

A source can also be given as one string (`parse_source`), which is what a command line or a
short TOML entry holds: `0` or `/dev/video0` (device index), `rtsp://…` or `http://…` (stream), `clip.avi` (video
file), `frames/` (folder of images).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

URL_SCHEMES = ("rtsp", "rtsps", "http", "https")
VIDEO_SUFFIXES = frozenset(
    {".avi", ".mp4", ".mkv", ".mov", ".m4v", ".webm", ".mjpeg", ".mjpg", ".ts", ".mpg", ".mpeg", ".flv", ".wmv"}
)
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp"})


class _Reconnect(BaseModel):
    """Backoff of a live source (device or stream) that drops or does not open."""

    model_config = ConfigDict(extra="forbid")

    reconnect_min_s: float = Field(
        default=0.5, gt=0, title="Reconnect delay, first", description="first wait before reopening, seconds"
    )
    reconnect_max_s: float = Field(
        default=10.0, gt=0, title="Reconnect delay, longest", description="the wait doubles up to this, seconds"
    )

    @model_validator(mode="after")
    def _reconnect_range(self) -> Self:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError(
                f"reconnect_max_s ({self.reconnect_max_s}) must be at least reconnect_min_s ({self.reconnect_min_s})"
            )
        return self


class DeviceCamera(_Reconnect):
    """A local camera by index (`/dev/video<index>` on Linux, through V4L2)."""

    type: Literal["device"] = Field(default="device", title="Source type")
    index: int = Field(ge=0, title="Device index", description="0 for /dev/video0")
    width: int | None = Field(default=None, gt=0, title="Width", description="frame width to ask for, pixels")
    height: int | None = Field(default=None, gt=0, title="Height", description="frame height to ask for, pixels")
    fps: float | None = Field(default=None, gt=0, title="Frame rate", description="frame rate to ask for")
    fourcc: str | None = Field(
        default=None,
        title="Pixel format",
        description="four-character code to ask for, e.g. MJPG (many USB cameras need it above 640x480)",
    )

    @field_validator("fourcc")
    @classmethod
    def _four_characters(cls, value: str | None) -> str | None:
        if value is not None and (len(value) != 4 or not value.isascii()):
            raise ValueError(f"fourcc {value!r}: expected four ASCII characters, e.g. 'MJPG'")
        return value


class UrlCamera(_Reconnect):
    """A network stream (RTSP or HTTP, e.g. an IP camera) read through OpenCV's FFmpeg backend."""

    # The URL may carry the camera's password: keep it out of validation errors and reprs, which
    # end up in logs; messages quote it through redact_url.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    type: Literal["url"] = Field(default="url", title="Source type")
    url: str = Field(repr=False, title="Stream URL", description="rtsp://, rtsps://, http:// or https:// address")
    open_timeout_s: float = Field(
        default=10.0, gt=0, title="Open timeout", description="longest wait to connect, seconds"
    )
    read_timeout_s: float = Field(
        default=10.0,
        gt=0,
        title="Read timeout",
        description="longest wait for the next frame before the stream counts as lost, seconds",
    )

    @field_validator("url")
    @classmethod
    def _stream_url(cls, value: str) -> str:
        check_url(value)
        return value


class FileCamera(BaseModel):
    """A video file replayed as a camera (tests, demo, benchmarks)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["file"] = Field(default="file", title="Source type")
    path: Path = Field(title="Video file")
    loop: bool = Field(default=False, title="Loop", description="start again at the end instead of ending")
    realtime: bool = Field(
        default=True,
        title="Real time",
        description="deliver frames at the file's rate like a camera; false: as fast as they decode",
    )
    fps: float | None = Field(
        default=None, gt=0, title="Replay rate", description="frames per second in real time; None: the file's own"
    )


class ImageFolderCamera(BaseModel):
    """A folder of still images (PNG, JPEG, BMP) replayed in name order as a camera."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["images"] = Field(default="images", title="Source type")
    path: Path = Field(title="Image folder")
    loop: bool = Field(default=False, title="Loop", description="start again after the last image")
    realtime: bool = Field(
        default=True, title="Real time", description="deliver images at `fps`; false: as fast as they decode"
    )
    fps: float = Field(default=10.0, gt=0, title="Replay rate", description="images per second in real time")


CameraConfig = Annotated[DeviceCamera | UrlCamera | FileCamera | ImageFolderCamera, Field(discriminator="type")]
"""One camera's settings; the `type` key picks the source."""

_ADAPTER: TypeAdapter[DeviceCamera | UrlCamera | FileCamera | ImageFolderCamera] = TypeAdapter(CameraConfig)


def camera_config(data: Mapping[str, Any]) -> DeviceCamera | UrlCamera | FileCamera | ImageFolderCamera:
    """Validate one camera's settings (a TOML table); raises pydantic's ValidationError naming the key."""
    return _ADAPTER.validate_python(dict(data))


def check_url(url: str) -> None:
    """Raise ValueError unless `url` is an RTSP or HTTP(S) address with a host."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in URL_SCHEMES:
        shown = f"scheme {scheme!r}" if scheme else "no scheme"
        raise ValueError(f"url {redact_url(url)!r}: {shown} is not supported, expected {', '.join(URL_SCHEMES)}")
    if not parts.hostname:
        raise ValueError(f"url {redact_url(url)!r}: has no host")


def redact_url(url: str) -> str:
    """The URL with its password replaced by ***, fit for logs and status messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.netloc.rpartition("@")[0].partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def parse_source(text: str, **options: Any) -> DeviceCamera | UrlCamera | FileCamera | ImageFolderCamera:
    """Turn `0`, `/dev/video0`, `rtsp://…`, `clip.avi` or `frames/` into a camera config; `options` fill the rest.

    Decided from the text alone, without looking at the disk: a known video suffix means a file,
    any other path a folder of images.
    """
    source = text.strip()
    if not source:
        raise ValueError("camera source is empty; expected a device index, a URL, a video file or a folder of images")
    if re.fullmatch(r"-[0-9]+", source):
        raise ValueError(f"camera source {source!r}: a device index must be 0 or more")
    device = re.fullmatch(r"(?:/dev/video)?([0-9]+)", source)
    if device:
        return camera_config({"type": "device", "index": int(device.group(1)), **options})
    if "://" in source:
        check_url(source)
        return camera_config({"type": "url", "url": source, **options})
    suffix = PurePath(source).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        raise ValueError(f"camera source {source!r} is a single image; give the folder that holds the images")
    kind = "file" if suffix in VIDEO_SUFFIXES else "images"
    return camera_config({"type": kind, "path": source, **options})


def describe_source(config: DeviceCamera | UrlCamera | FileCamera | ImageFolderCamera) -> str:
    """A short name for messages and status, with any password hidden."""
    if isinstance(config, DeviceCamera):
        return f"camera device {config.index}"
    if isinstance(config, UrlCamera):
        return f"stream {redact_url(config.url)}"
    if isinstance(config, FileCamera):
        return f"video file {config.path}"
    return f"image folder {config.path}"
