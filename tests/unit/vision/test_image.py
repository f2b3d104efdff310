"""Images in (vision/image.py): every bad file or array is an ImageError that says what was wrong."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from vision.errors import ImageError
from vision.image import check_image, decode_image, load_image


def _encode(ext: str, image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(ext, image)
    assert ok
    return buf.tobytes()


def _photo(h: int = 64, w: int = 80) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 255, (h, w, 3), dtype=np.uint8)


def _png_claiming(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


@pytest.mark.parametrize("ext", [".jpg", ".png", ".bmp", ".webp"])
def test_common_formats_decode_to_bgr(ext: str) -> None:
    """JPEG, PNG, BMP and WebP decode to H×W×3 uint8."""
    image = decode_image(_encode(ext, _photo()))
    assert image.shape == (64, 80, 3) and image.dtype == np.uint8


def test_grey_and_alpha_files_become_bgr() -> None:
    """A grey or BGRA file is converted to three channels (arrays are refused instead, see below)."""
    grey = cv2.cvtColor(_photo(), cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(_photo(), cv2.COLOR_BGR2BGRA)
    assert decode_image(_encode(".png", grey)).shape == (64, 80, 3)
    assert decode_image(_encode(".png", bgra)).shape == (64, 80, 3)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "zero bytes; expected an encoded image"),
        (b"hello, I am not a picture", "not a readable image"),
        (b"\xff\xd8\xff\xe0" + bytes(100), "JPEG is truncated"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "PNG is truncated"),
    ],
)
def test_unreadable_bytes(data: bytes, message: str) -> None:
    """Empty, garbage and broken headers are refused with the reason."""
    with pytest.raises(ImageError, match=message):
        decode_image(data)


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95])
def test_truncated_jpeg_is_refused(keep: float) -> None:
    """A JPEG cut short (an interrupted upload) is refused, not decoded with a grey bottom."""
    data = _encode(".jpg", _photo(200, 200))
    with pytest.raises(ImageError, match="JPEG is truncated"):
        decode_image(data[: int(len(data) * keep)])


def test_truncated_png_is_refused() -> None:
    """A PNG without its IEND chunk is refused."""
    data = _encode(".png", _photo(200, 200))
    with pytest.raises(ImageError, match="PNG is truncated"):
        decode_image(data[: len(data) // 2])


def test_huge_picture_refused_from_its_header() -> None:
    """A small file announcing 100000×100000 pixels is refused before anything is allocated."""
    with pytest.raises(ImageError, match="100000x100000 = 10000000000 pixels; at most 40000000"):
        decode_image(_png_claiming(100_000, 100_000))


def test_huge_jpeg_header_is_read() -> None:
    """The JPEG frame header's size is checked against the limit too."""
    data = _encode(".jpg", _photo(300, 400))
    with pytest.raises(ImageError, match="400x300 = 120000 pixels; at most 100000"):
        decode_image(data, max_pixels=100_000)


def test_load_image_errors_name_the_file(tmp_path: Path) -> None:
    """Missing file, a directory, an empty file: each message names the path."""
    with pytest.raises(ImageError, match=f"image {tmp_path / 'nope.jpg'}: no such file"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match="not a regular file"):
        load_image(tmp_path)
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty\.jpg: zero bytes"):
        load_image(tmp_path / "empty.jpg")


def test_load_image_reads_a_file(tmp_path: Path) -> None:
    """A good file loads."""
    (tmp_path / "ok.png").write_bytes(_encode(".png", _photo()))
    assert load_image(tmp_path / "ok.png").shape == (64, 80, 3)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        ("a string", "expected a numpy array"),
        (np.zeros((64, 64, 3), dtype=np.float32), "pixel type float32; expected uint8"),
        (np.zeros((64, 64), dtype=np.uint8), "single-channel \\(grey\\) array .*COLOR_GRAY2BGR"),
        (np.zeros((64, 64, 1), dtype=np.uint8), "single-channel"),
        (np.zeros((64, 64, 4), dtype=np.uint8), "four-channel array .*COLOR_BGRA2BGR"),
        (np.zeros((64, 64, 2), dtype=np.uint8), "array of shape \\(64, 64, 2\\); expected H×W×3 BGR"),
        (np.zeros((4, 64, 64, 3), dtype=np.uint8), "expected H×W×3 BGR"),
        (np.zeros((8, 64, 3), dtype=np.uint8), "64x8 pixels; at least 16x16"),
        (np.zeros((0, 0, 3), dtype=np.uint8), "0x0 pixels"),
    ],
)
def test_wrong_arrays_say_what_was_expected(array: object, message: str) -> None:
    """Arrays in another type, channel count or size are refused with the expected form."""
    with pytest.raises(ImageError, match=message):
        check_image(array)


def test_array_pixel_limit() -> None:
    """Arrays larger than the limit are refused."""
    with pytest.raises(ImageError, match="at most 1000 accepted"):
        check_image(np.zeros((40, 40, 3), dtype=np.uint8), max_pixels=1000)
