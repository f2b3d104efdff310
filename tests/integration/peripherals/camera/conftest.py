"""Real media for the camera tests, written by the tests themselves: an MJPG .avi and PNG/JPEG folders.

Every frame carries its own number as its grey level (20 + 4 x (number modulo 50)), so a test can
tell which frame of the file it got even after lossy JPEG compression (OpenCV's MJPG round trip
shifts flat grey by about 1.2 levels).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from peripherals.camera.source import Image

WIDTH, HEIGHT = 160, 120
PERIOD = 50
_BASE, _STEP = 20, 4


def numbered_frame(number: int, width: int = WIDTH, height: int = HEIGHT) -> Image:
    """A flat frame whose grey level encodes `number` modulo PERIOD."""
    return np.full((height, width, 3), _BASE + _STEP * (number % PERIOD), dtype=np.uint8)


def frame_number(image: Image) -> int:
    """The number (modulo PERIOD) `numbered_frame` put in an image, after compression."""
    return round((float(image.mean()) - _BASE) / _STEP) % PERIOD


def write_clip(path: Path, frames: int, fps: float = 25.0) -> Path:
    """An MJPG AVI of `frames` numbered frames."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (WIDTH, HEIGHT))
    assert writer.isOpened(), "OpenCV cannot write MJPG AVI files here"
    for number in range(frames):
        writer.write(numbered_frame(number))
    writer.release()
    return path


def write_folder(folder: Path, frames: int, suffix: str) -> Path:
    """A folder of numbered images frame-000.png, frame-001.png, …"""
    folder.mkdir()
    for number in range(frames):
        assert cv2.imwrite(str(folder / f"frame-{number:03d}{suffix}"), numbered_frame(number))
    return folder


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """Poll until `predicate()` holds; fail naming `what` if it does not within `timeout` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """A 60-frame, 25 fps, 160x120 MJPG AVI."""
    return write_clip(tmp_path / "clip.avi", 60)


@pytest.fixture
def png_folder(tmp_path: Path) -> Path:
    """A folder of 8 numbered PNG images."""
    return write_folder(tmp_path / "png", 8, ".png")


@pytest.fixture
def jpeg_folder(tmp_path: Path) -> Path:
    """A folder of 8 numbered JPEG images."""
    return write_folder(tmp_path / "jpeg", 8, ".jpg")
