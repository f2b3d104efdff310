"""Images in: decode files and bytes, and check arrays, so a bad picture is a clear ImageError and never a crash.

Everything downstream takes an H×W×3 uint8 array in OpenCV's BGR order.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

from vision.errors import ImageError

DEFAULT_MAX_PIXELS = 40_000_000  # a 48 MP phone photo is refused; cameras and ID-photo scanners stay far below
MIN_SIDE = 16  # below this no detector finds anything; saying so beats "no face"
MAX_FILE_BYTES = 64 * 1024 * 1024

_JPEG = b"\xff\xd8\xff"
_PNG = b"\x89PNG\r\n\x1a\n"


def load_image(path: Path | str, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file as BGR uint8."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise ImageError(f"image {path}: no such file") from exc
    except OSError as exc:
        raise ImageError(f"image {path}: cannot be read ({exc.strerror})") from exc
    if not path.is_file():
        raise ImageError(f"image {path}: not a regular file")
    if size > MAX_FILE_BYTES:
        raise ImageError(f"image {path}: {size} bytes; at most {MAX_FILE_BYTES} bytes accepted")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"image {path}: cannot be read ({exc.strerror})") from exc
    return decode_image(data, source=f"image {path}", max_pixels=max_pixels)


def decode_image(data: bytes, *, source: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode JPEG/PNG/BMP/WebP bytes as BGR uint8; grey and alpha images are converted to BGR."""
    if len(data) == 0:
        raise ImageError(f"{source}: zero bytes; expected an encoded image (JPEG, PNG, BMP, WebP)")
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(f"{source}: {len(data)} bytes; at most {MAX_FILE_BYTES} bytes accepted")
    # Check the size the header announces before decoding, so a small file claiming a huge
    # picture is refused without allocating it.
    dims = _header_size(data)
    if dims is not None:
        _check_pixels(dims[0], dims[1], source, max_pixels)
    if data.startswith(_JPEG) and not _jpeg_complete(data):
        raise ImageError(f"{source}: JPEG is truncated (no end-of-image marker after the image data)")
    if data.startswith(_PNG) and b"IEND" not in data[-64:]:
        raise ImageError(f"{source}: PNG is truncated (no IEND chunk at the end)")
    buf = np.frombuffer(data, dtype=np.uint8)
    try:
        image = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise ImageError(f"{source}: cannot be decoded ({exc.err})") from exc
    if image is None:
        raise ImageError(f"{source}: not a readable image (expected JPEG, PNG, BMP or WebP; corrupt or other format)")
    return check_image(image, source=source, max_pixels=max_pixels)


def check_image(image: object, *, source: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Return `image` if it is an H×W×3 uint8 BGR array of sane size, else raise ImageError saying why."""
    if not isinstance(image, np.ndarray):
        raise ImageError(f"{source}: expected a numpy array (H×W×3 uint8 BGR), got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ImageError(f"{source}: pixel type {image.dtype}; expected uint8 (0..255), BGR order")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        raise ImageError(
            f"{source}: single-channel (grey) array of shape {image.shape}; expected H×W×3 BGR "
            "(convert with cv2.cvtColor(image, cv2.COLOR_GRAY2BGR))"
        )
    if image.ndim == 3 and image.shape[2] == 4:
        raise ImageError(
            f"{source}: four-channel array of shape {image.shape}; expected H×W×3 BGR "
            "(drop alpha with cv2.cvtColor(image, cv2.COLOR_BGRA2BGR))"
        )
    if image.ndim != 3 or image.shape[2] != 3:
        raise ImageError(f"{source}: array of shape {image.shape}; expected H×W×3 BGR")
    h, w = image.shape[:2]
    if h < MIN_SIDE or w < MIN_SIDE:
        raise ImageError(f"{source}: {w}x{h} pixels; at least {MIN_SIDE}x{MIN_SIDE} expected")
    _check_pixels(w, h, source, max_pixels)
    return image


def _check_pixels(w: int, h: int, source: str, max_pixels: int) -> None:
    if w * h > max_pixels:
        raise ImageError(f"{source}: {w}x{h} = {w * h} pixels; at most {max_pixels} accepted (scale it down)")


def _jpeg_complete(data: bytes) -> bool:
    # Entropy-coded data never holds FF D9 (an FF there is followed by a stuffed 00), so an
    # end-of-image marker after the last start-of-scan means the scan data is complete.
    # Thumbnails in EXIF carry their own markers, hence "after the last SOS".
    last_sos = data.rfind(b"\xff\xda")
    return last_sos != -1 and data.find(b"\xff\xd9", last_sos) != -1


def _header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG IHDR or a JPEG SOF header; None for other formats or when not found."""
    if data.startswith(_PNG) and len(data) >= 24 and data[12:16] == b"IHDR":
        w, h = struct.unpack(">II", data[16:24])
        return int(w), int(h)
    if data.startswith(_JPEG):
        i = 2
        n = len(data)
        while i + 4 <= n:
            if data[i] != 0xFF:
                return None
            marker = data[i + 1]
            if marker == 0xFF:  # fill byte
                i += 1
                continue
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            (length,) = struct.unpack(">H", data[i + 2 : i + 4])
            # SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                if i + 9 > n:
                    return None
                h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(w), int(h)
            if marker == 0xDA:
                return None
            i += 2 + length
    return None
