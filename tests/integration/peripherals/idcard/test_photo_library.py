"""The ctypes vendor-library photo decoder, against a stand-in library compiled here, and through a full read."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace

import cv2
import numpy as np
import pytest

from peripherals.idcard import (
    IdCardReader,
    PassThroughPhotoDecoder,
    PhotoDecoder,
    PhotoUnavailable,
    SimCard,
    VendorLibraryPhotoDecoder,
)
from peripherals.idcard.photo import RAW_PIXELS_LENGTH, bmp_from_pixels
from tests.unit.peripherals.idcard.samples import ZHANG_SAN

# Stands in for a vendor's libwlt2bmp: same calling convention, no real WLT decompression (that
# algorithm is the vendor's and licensed). `unpack` writes bare BGR pixels, `unpack_bmp` a whole BMP
# file; both derive every pixel from the input so the test can tell the block reached the library.
STAND_IN = r"""
#include <string.h>
#define W 102
#define H 126
#define ROW ((W * 3 + 3) / 4 * 4)

static void put32(unsigned char *p, unsigned v) { p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24; }

int unpack(const unsigned char *wlt, unsigned char *out, int flag) {
    (void)flag;
    if (wlt[0] == 0xEE) return -2;
    for (int i = 0; i < W * H * 3; i++) out[i] = wlt[i % 1024];
    return 1;
}

int unpack_bmp(const unsigned char *wlt, unsigned char *out, int flag) {
    (void)flag;
    memset(out, 0, 54 + ROW * H);
    out[0] = 'B'; out[1] = 'M';
    put32(out + 2, 54 + ROW * H); put32(out + 10, 54); put32(out + 14, 40);
    put32(out + 18, W); put32(out + 22, H); out[26] = 1; out[28] = 24; put32(out + 34, ROW * H);
    put32(out + 38, 3780); put32(out + 42, 3780);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W * 3; x++) out[54 + y * ROW + x] = wlt[(y * W * 3 + x) % 1024];
    return 1;
}
"""

WLT = bytes((i * 7) % 256 for i in range(1024))


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory) -> str:
    """The stand-in library, compiled with the system C compiler."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler (cc/gcc) to build the stand-in WLT library")
    directory = tmp_path_factory.mktemp("wlt")
    (directory / "wlt.c").write_text(STAND_IN)
    library = directory / "libwlt2bmp.so"
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-std=c99", "-o", str(library), str(directory / "wlt.c")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return str(library)


def expected_pixels() -> bytes:
    """The pixels the stand-in makes of WLT."""
    return bytes(WLT[i % 1024] for i in range(RAW_PIXELS_LENGTH))


def test_raw_pixels_become_a_bmp(stand_in):
    """A library that writes bare pixels gets them wrapped into a BMP that OpenCV opens."""
    photo = VendorLibraryPhotoDecoder(stand_in).decode(WLT)
    assert photo.media_type == "image/bmp"
    assert photo.data == bmp_from_pixels(expected_pixels())
    image = cv2.imdecode(np.frombuffer(photo.data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    assert image.shape == (126, 102, 3)


def test_a_whole_bmp_is_kept(stand_in):
    """A library that writes a whole BMP file has it returned as written."""
    photo = VendorLibraryPhotoDecoder(stand_in, "unpack_bmp").decode(WLT)
    assert photo.data == bmp_from_pixels(expected_pixels())


def test_library_failure_is_explained(stand_in):
    """A non-success return value makes the photo unavailable, quoting the value."""
    with pytest.raises(PhotoUnavailable, match=r"libwlt2bmp.so returned -2 for the WLT photo, expected 1"):
        VendorLibraryPhotoDecoder(stand_in).decode(b"\xee" + WLT[1:])


def test_block_of_the_wrong_size(stand_in):
    """Only a 1024-byte block is handed to the library."""
    with pytest.raises(PhotoUnavailable, match=r"a WLT photo is 1024 bytes, the block has 10"):
        VendorLibraryPhotoDecoder(stand_in).decode(bytes(10))


def test_full_read_with_the_vendor_library(simulator, settings, stand_in):
    """A card carrying a 1024-byte WLT block is read through the driver and its photo decoded by the library."""
    simulator.cards["chip"] = SimCard(ZHANG_SAN, WLT)
    simulator.put_card("chip")
    decoders: list[PhotoDecoder] = [VendorLibraryPhotoDecoder(stand_in), PassThroughPhotoDecoder()]
    with IdCardReader(replace(settings), decoders) as reader:
        card = reader.read_card()
    assert card is not None
    assert card.photo_block == WLT
    assert card.photo is not None
    assert card.photo.data == bmp_from_pixels(expected_pixels())


def test_full_read_without_a_decoder(simulator, settings):
    """Without a vendor library the same card reads, and says why there is no photo."""
    simulator.cards["chip"] = SimCard(ZHANG_SAN, WLT)
    simulator.put_card("chip")
    with IdCardReader(settings) as reader:
        card = reader.read_card()
    assert card is not None
    assert card.text == ZHANG_SAN
    assert card.photo is None
    assert card.photo_unavailable is not None
    assert "WLT-compressed" in card.photo_unavailable
