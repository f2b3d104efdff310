"""What every camera source offers the capture thread: open, read a frame, close."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
"""One BGR frame, height x width x 3, as OpenCV returns it."""


class FrameSource(Protocol):
    """What the capture thread needs from a source; one implementation per kind of source."""

    @property
    def description(self) -> str:
        """A short name for messages, password hidden."""
        ...

    @property
    def finite(self) -> bool:
        """True for a file or folder, which ends; False for a device or stream, which is reopened."""
        ...

    def open(self) -> float | None:
        """Open the source; returns its own frame rate when it states one. Raises CameraError."""
        ...

    def read(self) -> Image | None:
        """The next frame; None at the end of a file or when a stream is lost. Raises CameraError."""
        ...

    def close(self) -> None:
        """Release the source; harmless when it is not open."""
        ...
