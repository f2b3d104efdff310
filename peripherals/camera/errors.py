"""The one error the camera adapters raise."""

from __future__ import annotations


class CameraError(RuntimeError):
    """A camera source cannot be opened or read; the message names the source and what was wrong.

    e.g. "camera device 3: /dev/video3 does not exist (video devices present: none)".
    """
