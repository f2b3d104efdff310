"""The encrypted gallery file: round trip, and every way a file must refuse to open."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vision.gallery_file import MAGIC, GalleryFileError, gallery_key, open_gallery, seal_gallery
from vision.template import Template

SHA = hashlib.sha256(b"model").hexdigest()
KEY = gallery_key("device-secret-1")


def template(seed: int) -> Template:
    values = [float((seed * 7 + i) % 11) + 1.0 for i in range(8)]
    norm = sum(v * v for v in values) ** 0.5
    return Template.from_values("sface", SHA, [v / norm for v in values])


def test_round_trip_keeps_subjects_and_vectors() -> None:
    entries = [("S-1", template(1)), ("S-2", template(2)), ("S-1", template(3))]
    blob = seal_gallery(entries, version=3, device_id="edge-1", key=KEY)
    assert blob.startswith(MAGIC)
    opened = open_gallery(blob, version=3, device_id="edge-1", key=KEY)
    assert [s for s, _ in opened] == ["S-1", "S-2", "S-1"]
    assert [t.to_bytes() for _, t in opened] == [t.to_bytes() for _, t in entries]


def test_empty_gallery_is_valid() -> None:
    assert open_gallery(seal_gallery([], version=1, device_id="k", key=KEY), version=1, device_id="k", key=KEY) == []


def test_key_is_derived_per_secret() -> None:
    assert gallery_key("a") != gallery_key("b")
    assert gallery_key("a") == gallery_key("a")
    assert len(gallery_key("a")) == 32
    with pytest.raises(GalleryFileError, match="empty"):
        gallery_key("")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"version": 4, "device_id": "edge-1", "key": KEY}, "does not open"),
        ({"version": 3, "device_id": "edge-2", "key": KEY}, "does not open"),
        ({"version": 3, "device_id": "edge-1", "key": gallery_key("other")}, "does not open"),
        ({"version": 3, "device_id": "edge-1", "key": b"short"}, "32 bytes"),
    ],
)
def test_wrong_version_device_or_key_refused(kwargs: dict[str, object], message: str) -> None:
    blob = seal_gallery([("S-1", template(1))], version=3, device_id="edge-1", key=KEY)
    with pytest.raises(GalleryFileError, match=message):
        open_gallery(blob, **kwargs)  # type: ignore[arg-type]


def test_not_a_gallery_and_truncated() -> None:
    with pytest.raises(GalleryFileError, match="not a gallery file"):
        open_gallery(b"PK\x03\x04zip", version=1, device_id="k", key=KEY)
    with pytest.raises(GalleryFileError, match="truncated"):
        open_gallery(MAGIC + b"\x00" * 5, version=1, device_id="k", key=KEY)


def test_version_must_be_positive() -> None:
    with pytest.raises(GalleryFileError, match=">= 1"):
        seal_gallery([], version=0, device_id="k", key=KEY)


@given(st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_any_flipped_byte_is_refused(position: int, flip: int) -> None:
    blob = bytearray(seal_gallery([("S-1", template(1))], version=2, device_id="k", key=KEY))
    i = position % len(blob)
    blob[i] ^= flip or 1
    with pytest.raises(GalleryFileError):
        open_gallery(bytes(blob), version=2, device_id="k", key=KEY)
