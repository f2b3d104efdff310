"""The template format (vision/template.py): round trips, malformed input, sealing, tampering, cross-backend refusal."""

from __future__ import annotations

import base64
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.vision.strategies import shas, templates, unit_vectors
from vision.errors import TemplateError
from vision.template import (
    MAGIC,
    Template,
    TemplateCipher,
    check_comparable,
    read_sealed,
    write_sealed,
)

KEY = bytes(range(32))
SHA = "ab" * 32


def _template(dim: int = 4, backend: str = "sface") -> Template:
    return Template.from_values(backend, SHA, np.arange(1, dim + 1, dtype=np.float32))


@given(templates())
def test_plain_round_trip(t: Template) -> None:
    """to_bytes then from_bytes gives back the same template."""
    assert Template.from_bytes(t.to_bytes()) == t


@given(templates())
def test_layout_matches_the_documented_format(t: Template) -> None:
    """Magic, version, name length, name, raw sha256, little-endian dimension, then 4×dim bytes."""
    data = t.to_bytes()
    n = len(t.backend)
    assert data[:4] == MAGIC and data[4] == 1 and data[5] == n
    assert data[6 : 6 + n] == t.backend.encode()
    assert data[6 + n : 38 + n].hex() == t.model_sha256
    assert struct.unpack("<H", data[38 + n : 40 + n])[0] == t.dim
    assert len(data) == 40 + n + 4 * t.dim


@given(unit_vectors())
def test_from_values_keeps_the_vector(v: np.ndarray) -> None:
    """The stored floats are the given unit vector."""
    t = Template.from_values("sface", SHA, v)
    np.testing.assert_allclose(t.values(), v, rtol=1e-6, atol=1e-7)


def test_from_values_scales_to_unit_length() -> None:
    """A vector of any length is stored at unit length."""
    t = Template.from_values("sface", SHA, [3.0, 4.0])
    assert t.values() == pytest.approx([0.6, 0.8])


@given(templates(), st.data())
def test_every_truncation_is_refused(t: Template, data: st.DataObject) -> None:
    """Cutting the plain form anywhere is a TemplateError, never a wrong template."""
    raw = t.to_bytes()
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(TemplateError):
        Template.from_bytes(raw[:cut])


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda b: b"XXXX" + b[4:], "not a face template: expected magic"),
        (lambda b: b[:4] + b"\x02" + b[5:], "format version 2; this software reads version 1"),
        (lambda b: b + b"\x00", "trailing bytes"),
        (lambda b: b[:5] + b"\x00" + b[6:], "truncated"),
    ],
)
def test_malformed_plain_forms_say_what_is_wrong(mangle, message: str) -> None:
    """Bad magic, unknown version, trailing bytes and a zero-length name each name the fault."""
    with pytest.raises(TemplateError, match=message):
        Template.from_bytes(mangle(_template().to_bytes()))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"backend": "SFace!"}, "template backend 'SFace!'"),
        ({"model_sha256": "xyz"}, "expected 64 lower-case hex digits"),
        ({"vector": b"\x00\x00\x80"}, "whole number of float32"),
        ({"vector": struct.pack("<2f", float("nan"), 1.0)}, "NaN or infinite"),
        ({"vector": struct.pack("<2f", 1.0, 1.0)}, "expected unit length"),
    ],
)
def test_invalid_fields_are_refused(kwargs: dict[str, object], message: str) -> None:
    """Backend name, sha256, vector size, finiteness and unit length are checked on construction."""
    fields = {"backend": "sface", "model_sha256": SHA, "vector": struct.pack("<2f", 0.6, 0.8)} | kwargs
    with pytest.raises(TemplateError, match=message):
        Template(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("values", [[], [0.0, 0.0], [float("inf"), 1.0]])
def test_from_values_refuses_unusable_vectors(values: list[float]) -> None:
    """Empty, all-zero and infinite vectors cannot become templates."""
    with pytest.raises(TemplateError):
        Template.from_values("sface", SHA, values)


@given(templates(), st.text(max_size=30))
def test_sealed_round_trip(t: Template, context: str) -> None:
    """seal then open with the same key and context gives back the template."""
    cipher = TemplateCipher(KEY)
    assert cipher.open(cipher.seal(t, context), context) == t


@settings(max_examples=60)
@given(templates(dim=8), st.data())
def test_any_altered_byte_is_detected(t: Template, data: st.DataObject) -> None:
    """Changing any byte of a sealed template makes it refuse to open."""
    cipher = TemplateCipher(KEY)
    blob = bytearray(cipher.seal(t, "subject:S-1/face"))
    i = data.draw(st.integers(0, len(blob) - 1))
    blob[i] ^= data.draw(st.integers(1, 255))
    with pytest.raises(TemplateError):
        cipher.open(bytes(blob), "subject:S-1/face")


def test_wrong_context_does_not_open() -> None:
    """A template sealed for one subject does not open as another's."""
    cipher = TemplateCipher(KEY)
    blob = cipher.seal(_template(), "subject:S-1/face")
    with pytest.raises(TemplateError, match="does not open: wrong key, wrong context, or altered bytes"):
        cipher.open(blob, "subject:S-2/face")


def test_wrong_key_does_not_open() -> None:
    """Another key cannot open a sealed template."""
    blob = TemplateCipher(KEY).seal(_template(), "c")
    with pytest.raises(TemplateError, match="does not open"):
        TemplateCipher(os.urandom(32)).open(blob, "c")


def test_sealing_twice_gives_different_ciphertexts() -> None:
    """A fresh nonce per seal: equal templates do not give equal ciphertexts."""
    cipher = TemplateCipher(KEY)
    assert cipher.seal(_template(), "c") != cipher.seal(_template(), "c")


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "not a sealed face template"),
        (b"CTPL\x01", "not a sealed face template"),
        (b"CTPE\x07" + bytes(40), "sealed template version 7"),
        (b"CTPE\x01" + bytes(10), "truncated"),
    ],
)
def test_malformed_sealed_blobs(blob: bytes, message: str) -> None:
    """Blobs that are not sealed templates are refused by name."""
    with pytest.raises(TemplateError, match=message):
        TemplateCipher(KEY).open(blob, "c")


@pytest.mark.parametrize("key", [b"", bytes(16), bytes(33)])
def test_key_must_be_32_bytes(key: bytes) -> None:
    """AES-256 only."""
    with pytest.raises(TemplateError, match=f"must be 32 bytes \\(AES-256\\), got {len(key)}"):
        TemplateCipher(key)


def test_key_from_base64() -> None:
    """The configuration's base64 text makes the same cipher; bad base64 is named."""
    blob = TemplateCipher(KEY).seal(_template(), "c")
    assert TemplateCipher.from_base64(base64.b64encode(KEY).decode()).open(blob, "c") == _template()
    with pytest.raises(TemplateError, match="not valid base64"):
        TemplateCipher.from_base64("not base64!")


def test_sealed_file_holds_no_clear_vector(tmp_path: Path) -> None:
    """write_sealed stores only ciphertext: neither the plain form nor the raw vector appears in the file."""
    t = _template(dim=64)
    path = tmp_path / "S-1.tpl"
    write_sealed(path, t, TemplateCipher(KEY), "subject:S-1/face")
    stored = path.read_bytes()
    assert t.to_bytes() not in stored and t.vector[:16] not in stored
    assert read_sealed(path, TemplateCipher(KEY), "subject:S-1/face") == t
    assert [p.name for p in tmp_path.iterdir()] == ["S-1.tpl"]


def test_read_sealed_missing_file(tmp_path: Path) -> None:
    """A missing template file is named."""
    with pytest.raises(TemplateError, match="does not exist"):
        read_sealed(tmp_path / "nope.tpl", TemplateCipher(KEY), "c")


@given(templates(), shas)
def test_templates_of_different_models_are_not_comparable(t: Template, other_sha: str) -> None:
    """Another backend or another model file is refused with a message naming both."""
    other_backend = Template(backend=t.backend + "x", model_sha256=t.model_sha256, vector=t.vector)
    with pytest.raises(TemplateError, match=f"cannot compare a '{t.backend}' template"):
        check_comparable(t, other_backend)
    if other_sha != t.model_sha256:
        with pytest.raises(TemplateError, match="scores of different models mean nothing"):
            check_comparable(t, Template(backend=t.backend, model_sha256=other_sha, vector=t.vector))


def test_templates_of_different_dimension_are_not_comparable() -> None:
    """Same backend name and model but another dimension (a corrupt store) is refused."""
    with pytest.raises(TemplateError, match="dimension 4 and 8"):
        check_comparable(_template(4), _template(8))
