"""Camera adapter: one interface over a device, an RTSP/HTTP stream, a video file or a folder of images.

```python
from peripherals.camera import Camera, parse_source

with Camera(parse_source("rtsp://cam.local/stream1")) as camera:
    frame = camera.wait_newer(0, timeout=5.0)   # None if nothing came
    camera.stats().fps
```
"""

from peripherals.camera.capture import FINAL_STATES, Camera, CameraState, CameraStats, Frame
from peripherals.camera.config import (
    CameraConfig,
    DeviceCamera,
    FileCamera,
    ImageFolderCamera,
    UrlCamera,
    camera_config,
    describe_source,
    parse_source,
    redact_url,
)
from peripherals.camera.errors import CameraError
from peripherals.camera.source import FrameSource, Image

__all__ = [
    "FINAL_STATES",
    "Camera",
    "CameraConfig",
    "CameraError",
    "CameraState",
    "CameraStats",
    "DeviceCamera",
    "FileCamera",
    "Frame",
    "FrameSource",
    "Image",
    "ImageFolderCamera",
    "UrlCamera",
    "camera_config",
    "describe_source",
    "parse_source",
    "redact_url",
]
