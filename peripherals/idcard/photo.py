"""Turning the card's photo block into an image.

A real card holds a 1024-byte WLT-compressed photo (102 x 126 pixels) that only the reader vendor's
licensed library can decompress; that library is loaded through ctypes when an operator configures
its path. Simulated cards, and readers that decompress on board, carry a JPEG or BMP directly, which
the pass-through decoder accepts. With no decoder that fits, the card still reads and the result says
why the photo is unavailable.
"""

from __future__ import annotations

import ctypes
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

MediaType = Literal["image/jpeg", "image/bmp"]

WLT_LENGTH = 1024
PHOTO_WIDTH = 102
PHOTO_HEIGHT = 126
_BMP_HEADER_LENGTH = 54
_ROW_BYTES = (PHOTO_WIDTH * 3 + 3) // 4 * 4
BMP_LENGTH = _BMP_HEADER_LENGTH + _ROW_BYTES * PHOTO_HEIGHT
RAW_PIXELS_LENGTH = PHOTO_WIDTH * PHOTO_HEIGHT * 3


class PhotoUnavailable(Exception):
    """The photo block could not be turned into an image; the message says why."""


@dataclass(frozen=True, slots=True)
class Photo:
    """An image ready to show or to hand to face verification."""

    data: bytes
    media_type: MediaType


class PhotoDecoder(Protocol):
    """Turns a card's photo block into an image, or raises PhotoUnavailable saying why."""

    def decode(self, block: bytes) -> Photo:
        """The image in `block`."""
        ...


def image_type(data: bytes) -> MediaType | None:
    """JPEG or BMP by the file's own signature (and, for BMP, its size field), or None."""
    if data[:3] == b"\xff\xd8\xff" and len(data) > 3:
        return "image/jpeg"
    if data[:2] == b"BM" and len(data) >= _BMP_HEADER_LENGTH and struct.unpack_from("<I", data, 2)[0] == len(data):
        return "image/bmp"
    return None


class PassThroughPhotoDecoder:
    """Accepts a photo block that already is a JPEG or BMP file."""

    def decode(self, block: bytes) -> Photo:
        """The block itself, when it is a JPEG or BMP."""
        media_type = image_type(block)
        if media_type is None:
            raise PhotoUnavailable(
                f"the {len(block)}-byte photo block is neither JPEG nor BMP; a chip photo is "
                "WLT-compressed and needs the reader vendor's decoder library (configure its path)"
            )
        return Photo(block, media_type)


def bmp_from_pixels(pixels: bytes) -> bytes:
    """A 24-bit BMP file around 102 x 126 BGR pixels given bottom row first, rows not padded."""
    if len(pixels) != RAW_PIXELS_LENGTH:
        raise ValueError(f"pixels: {len(pixels)} bytes, expected {RAW_PIXELS_LENGTH} (102 x 126 x 3)")
    padding = b"\x00" * (_ROW_BYTES - PHOTO_WIDTH * 3)
    rows = b"".join(
        pixels[row * PHOTO_WIDTH * 3 : (row + 1) * PHOTO_WIDTH * 3] + padding for row in range(PHOTO_HEIGHT)
    )
    header = struct.pack(
        "<2sIHHIIiiHHIIiiII",
        b"BM",
        BMP_LENGTH,
        0,
        0,
        _BMP_HEADER_LENGTH,
        40,
        PHOTO_WIDTH,
        PHOTO_HEIGHT,
        1,
        24,
        0,
        len(rows),
        3780,  # 96 dpi in pixels per metre
        3780,
        0,
        0,
    )
    return header + rows


class VendorLibraryPhotoDecoder:
    """Decompresses WLT photos with the reader vendor's shared library, loaded through ctypes.

    The libraries in use (libwlt2bmp.so and its relatives) export a function taking the 1024 WLT
    bytes, an output buffer and an int, and returning `success` when it worked; the output is
    either a complete BMP file or bare 102 x 126 BGR pixels, which get a BMP header here. The
    function name, the int argument and the success value differ between vendors, so all three are
    settings (the defaults fit libwlt2bmp's ``int unpack(char *wlt, char *bmp, int flag)``).
    """

    def __init__(self, library: str | Path, symbol: str = "unpack", *, argument: int = 0, success: int = 1) -> None:
        try:
            handle = ctypes.CDLL(str(library))
        except OSError as exc:
            raise ValueError(
                f"photo decoder library {library}: cannot load it ({exc}), expected a shared library"
            ) from None
        try:
            function = getattr(handle, symbol)
        except AttributeError:
            raise ValueError(f"photo decoder library {library}: has no function {symbol!r}") from None
        function.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
        function.restype = ctypes.c_int
        self._function = function
        self._library = str(library)
        self._argument = argument
        self._success = success
        # Vendor decoders keep static state; one call at a time.
        self._lock = threading.Lock()

    def decode(self, block: bytes) -> Photo:
        """The BMP the vendor library makes of a WLT block."""
        if len(block) != WLT_LENGTH:
            raise PhotoUnavailable(f"a WLT photo is {WLT_LENGTH} bytes, the block has {len(block)}")
        output = ctypes.create_string_buffer(BMP_LENGTH)
        with self._lock:
            result = self._function(block, output, self._argument)
        if result != self._success:
            raise PhotoUnavailable(f"{self._library} returned {result} for the WLT photo, expected {self._success}")
        data = output.raw
        if data[:2] != b"BM":
            return Photo(bmp_from_pixels(data[:RAW_PIXELS_LENGTH]), "image/bmp")
        size = struct.unpack_from("<I", data, 2)[0]
        if not _BMP_HEADER_LENGTH < size <= BMP_LENGTH:
            raise PhotoUnavailable(
                f"{self._library} wrote a BMP whose size field says {size}, "
                f"expected {_BMP_HEADER_LENGTH + 1}..{BMP_LENGTH}"
            )
        return Photo(data[:size], "image/bmp")


def decode_photo(block: bytes, decoders: Sequence[PhotoDecoder]) -> tuple[Photo | None, str | None]:
    """The first decoder's image that works, or (None, why the photo is unavailable)."""
    if not block:
        return None, "photo unavailable: the card returned no photo block"
    reasons: list[str] = []
    for decoder in decoders:
        try:
            return decoder.decode(block), None
        except PhotoUnavailable as exc:
            reasons.append(str(exc))
    if not reasons:
        return None, "photo unavailable: no photo decoder configured"
    return None, "photo unavailable: " + "; ".join(reasons)
