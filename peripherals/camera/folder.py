"""The image-folder twin of a camera: still images replayed in name order (tests and the demo)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from peripherals.camera.config import IMAGE_SUFFIXES, ImageFolderCamera, describe_source
from peripherals.camera.errors import CameraError
from peripherals.camera.source import Image


def list_images(folder: Path) -> list[Path]:
    """The image files directly in `folder` (PNG, JPEG, BMP), sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


class ImageFolderSource:
    """Each image of a folder is one frame; the folder is listed again on every open."""

    def __init__(self, config: ImageFolderCamera) -> None:
        self.config = config
        self._files: list[Path] = []
        self._next = 0

    @property
    def description(self) -> str:
        """A short name for messages."""
        return describe_source(self.config)

    @property
    def finite(self) -> bool:
        """A folder ends after its last image."""
        return True

    def open(self) -> float | None:
        """List the images; raises CameraError when the folder is missing or holds none."""
        folder = self.config.path
        if not folder.is_dir():
            what = "is a file, not a folder" if folder.exists() else "does not exist"
            raise CameraError(f"{self.description}: {what}")
        self._files = list_images(folder)
        if not self._files:
            wanted = ", ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES))
            raise CameraError(f"{self.description}: holds no images (expected {wanted})")
        self._next = 0
        return None

    def read(self) -> Image | None:
        """The next image, None after the last; raises CameraError for a file that does not decode."""
        if self._next >= len(self._files):
            return None
        path = self._files[self._next]
        self._next += 1
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise CameraError(f"{self.description}: image {path.name} cannot be decoded")
        return np.asarray(image, dtype=np.uint8)

    def close(self) -> None:
        """Forget the listing."""
        self._files = []
        self._next = 0
