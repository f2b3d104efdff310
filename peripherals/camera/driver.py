"""The OpenCV adapter: `cv2.VideoCapture` over a device index, a stream URL or a video file.

A source is opened, read frame by frame and closed by the capture thread only (OpenCV's
capture objects are not safe to share between threads). `read()` returning None means the file
ended or the stream was lost; the capture thread decides what follows.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from peripherals.camera.config import (
    DeviceCamera,
    FileCamera,
    ImageFolderCamera,
    UrlCamera,
    describe_source,
)
from peripherals.camera.errors import CameraError
from peripherals.camera.folder import ImageFolderSource
from peripherals.camera.source import FrameSource, Image


def video_devices(dev: Path = Path("/dev")) -> list[str]:
    """The V4L2 device nodes present, e.g. ['/dev/video0', '/dev/video1'], in index order."""
    found = [p for p in dev.glob("video*") if p.name[5:].isdigit()]
    return [str(p) for p in sorted(found, key=lambda p: int(p.name[5:]))]


class OpenCvSource:
    """A device, stream or video file through `cv2.VideoCapture`."""

    def __init__(self, config: DeviceCamera | UrlCamera | FileCamera) -> None:
        self.config = config
        self._cap: cv2.VideoCapture | None = None

    @property
    def description(self) -> str:
        """A short name for messages, password hidden."""
        return describe_source(self.config)

    @property
    def finite(self) -> bool:
        """Only a video file ends; a device or stream is reopened when it stops."""
        return isinstance(self.config, FileCamera)

    def open(self) -> float | None:
        """Open the source; returns its own frame rate when it states one. Raises CameraError."""
        self.close()
        try:
            cap = self._capture()
        except cv2.error as exc:
            raise CameraError(f"{self.description}: OpenCV failed to open it: {exc}") from exc
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"{self.description}: {self._why_not_opened()}")
        self._cap = cap
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        return fps if np.isfinite(fps) and 0 < fps < 1000 else None

    def read(self) -> Image | None:
        """The next frame; None at the end of a file or when a stream is lost."""
        if self._cap is None:
            raise CameraError(f"{self.description}: read before open")
        try:
            ok, frame = self._cap.read()
        except cv2.error as exc:
            raise CameraError(f"{self.description}: OpenCV failed to read a frame: {exc}") from exc
        if not ok or frame is None:
            return None
        return np.asarray(frame, dtype=np.uint8)

    def close(self) -> None:
        """Release the capture."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def _capture(self) -> cv2.VideoCapture:
        config = self.config
        if isinstance(config, DeviceCamera):
            node = Path(f"/dev/video{config.index}")
            if sys.platform.startswith("linux") and not node.exists():
                present = ", ".join(video_devices()) or "none"
                raise CameraError(f"{self.description}: {node} does not exist (video devices present: {present})")
            api = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
            cap = cv2.VideoCapture(config.index, api)
            if cap.isOpened():
                self._ask_for_format(cap, config)
            return cap
        if isinstance(config, UrlCamera):
            params = [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                round(config.open_timeout_s * 1000),
                cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                round(config.read_timeout_s * 1000),
            ]
            return cv2.VideoCapture(config.url, cv2.CAP_FFMPEG, params)
        if not config.path.exists():
            raise CameraError(f"{self.description}: does not exist")
        if config.path.is_dir():
            raise CameraError(f'{self.description}: is a folder; use type = "images" for a folder of images')
        return cv2.VideoCapture(str(config.path), cv2.CAP_FFMPEG)

    @staticmethod
    def _ask_for_format(cap: cv2.VideoCapture, config: DeviceCamera) -> None:
        # The fourcc goes first: many UVC cameras offer larger sizes only in MJPG.
        if config.fourcc:
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*config.fourcc))
        if config.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, config.width)
        if config.height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, config.height)
        if config.fps:
            cap.set(cv2.CAP_PROP_FPS, config.fps)

    def _why_not_opened(self) -> str:
        if isinstance(self.config, DeviceCamera):
            return (
                "OpenCV could not open it (V4L2); check that the user may read it (group 'video') "
                "and that no other process holds it"
            )
        if isinstance(self.config, UrlCamera):
            return (
                "could not connect to it or read a video stream from it (server down, wrong path or "
                f"credentials, or not a video stream; open timeout {self.config.open_timeout_s:g} s)"
            )
        return "OpenCV could not open it as a video (unknown container or codec, or the file is damaged)"


def open_source(config: DeviceCamera | UrlCamera | FileCamera | ImageFolderCamera) -> FrameSource:
    """The source adapter for one camera config (not yet opened)."""
    if isinstance(config, ImageFolderCamera):
        return ImageFolderSource(config)
    return OpenCvSource(config)
