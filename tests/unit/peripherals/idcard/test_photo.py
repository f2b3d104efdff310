"""Photo decoders: JPEG/BMP pass-through, BMP wrapping of raw pixels, why a photo is unavailable."""

from __future__ import annotations

import ctypes.util

import cv2
import numpy as np
import pytest

from peripherals.idcard.photo import (
    BMP_LENGTH,
    RAW_PIXELS_LENGTH,
    PassThroughPhotoDecoder,
    Photo,
    PhotoUnavailable,
    VendorLibraryPhotoDecoder,
    bmp_from_pixels,
    decode_photo,
    image_type,
)
from tests.unit.peripherals.idcard.samples import tiny_jpeg

WLT_LIKE = bytes(range(256)) * 4


def test_pass_through_accepts_jpeg():
    """A JPEG block comes back as it is, typed image/jpeg."""
    jpeg = tiny_jpeg()
    assert PassThroughPhotoDecoder().decode(jpeg) == Photo(jpeg, "image/jpeg")


def test_pass_through_accepts_bmp():
    """A BMP whose size field matches comes back typed image/bmp."""
    bmp = bmp_from_pixels(bytes(RAW_PIXELS_LENGTH))
    assert PassThroughPhotoDecoder().decode(bmp).media_type == "image/bmp"


def test_pass_through_refuses_wlt():
    """A WLT block is neither JPEG nor BMP; the reason says a vendor decoder is needed."""
    with pytest.raises(PhotoUnavailable) as caught:
        PassThroughPhotoDecoder().decode(WLT_LIKE)
    assert str(caught.value) == (
        "the 1024-byte photo block is neither JPEG nor BMP; a chip photo is WLT-compressed and needs the reader "
        "vendor's decoder library (configure its path)"
    )


def test_image_type_checks_the_bmp_size_field():
    """'BM' at the start is not enough: the size field must match the data."""
    bmp = bmp_from_pixels(bytes(RAW_PIXELS_LENGTH))
    assert image_type(bmp) == "image/bmp"
    assert image_type(bmp[:-1]) is None
    assert image_type(b"\xff\xd8\xff") is None


def test_bmp_from_pixels_is_a_real_bitmap():
    """The wrapped pixels open in OpenCV as a 102 x 126 image with the same pixel values."""
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, RAW_PIXELS_LENGTH, dtype=np.uint8)
    bmp = bmp_from_pixels(pixels.tobytes())
    assert len(bmp) == BMP_LENGTH
    image = cv2.imdecode(np.frombuffer(bmp, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    assert image.shape == (126, 102, 3)
    # BMP rows run bottom-up: the first pixel row given is the bottom row of the image.
    assert image[-1].tobytes() == pixels[: 102 * 3].tobytes()


def test_bmp_from_pixels_checks_the_size():
    """Raw pixels of the wrong size are refused with the expected size."""
    with pytest.raises(ValueError, match=r"pixels: 10 bytes, expected 38556 \(102 x 126 x 3\)"):
        bmp_from_pixels(bytes(10))


def test_decode_photo_explains_unavailability():
    """Without a decoder that fits, the result is no photo and every decoder's reason."""
    assert decode_photo(WLT_LIKE, []) == (None, "photo unavailable: no photo decoder configured")
    assert decode_photo(b"", [PassThroughPhotoDecoder()]) == (
        None,
        "photo unavailable: the card returned no photo block",
    )
    photo, reason = decode_photo(WLT_LIKE, [PassThroughPhotoDecoder()])
    assert photo is None
    assert reason is not None
    assert reason.startswith("photo unavailable: the 1024-byte photo block is neither JPEG nor BMP")


def test_decode_photo_takes_the_first_that_works():
    """Decoders are tried in order; the first image wins."""
    jpeg = tiny_jpeg()
    assert decode_photo(jpeg, [PassThroughPhotoDecoder()]) == (Photo(jpeg, "image/jpeg"), None)


def test_vendor_library_that_is_missing(tmp_path):
    """A library path that does not load is refused when the decoder is configured, not at the first card."""
    with pytest.raises(ValueError, match=r"photo decoder library .*libwlt2bmp.so: cannot load it"):
        VendorLibraryPhotoDecoder(tmp_path / "libwlt2bmp.so")


def test_vendor_library_without_the_function():
    """A library without the configured function is refused, naming the function."""
    libc = ctypes.util.find_library("c")
    if libc is None:
        pytest.skip("no C library found to stand in for a library without the decoder function")
    with pytest.raises(ValueError, match=r"has no function 'unpack_wlt_photo'"):
        VendorLibraryPhotoDecoder(libc, "unpack_wlt_photo")
