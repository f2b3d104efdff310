"""The whole pipeline: enrol, seal to disk, verify, 1:N search, and refusal to mix backends."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from vision.config import parse_config
from vision.errors import TemplateError
from vision.gallery import Gallery
from vision.template import read_sealed, write_sealed
from vision.verify import verify

# photos the default gate accepts; the first of each person is enrolled, the others are probes
PEOPLE = {
    "obama": ["face_recognition/obama.jpg", "face_recognition/obama2.jpg", "face_recognition/obama3.jpg"],
    "biden": ["face_recognition/biden.jpg"],
    "ben_afflek": [f"celeb5/ben_afflek/ben_afflek_train_{n}.jpg" for n in ("13", "11", "08")],
    "jerry_seinfeld": [f"celeb5/jerry_seinfeld/jerry_seinfeld_train_{n}.jpg" for n in ("07", "03", "10")],
    "madonna": [f"celeb5/madonna/madonna_train_{n}.jpg" for n in ("05", "02", "08")],
    "elton_john": [f"celeb5/elton_john/elton_john_train_{n}.jpg" for n in ("03", "06")],
    "mindy_kaling": [f"celeb5/mindy_kaling/mindy_kaling_train_{n}.jpg" for n in ("01", "05", "06")],
}


def test_enrol_seal_reload_verify(pipeline, photo, tmp_path: Path) -> None:
    """A template enrolled, sealed to disk and read back verifies the same person and nobody else."""
    pipe = pipeline("yunet", "sface")
    cipher = parse_config({"template_key": base64.b64encode(os.urandom(32)).decode()}).template_cipher()
    path = tmp_path / "S-350205-0001.face"
    write_sealed(path, pipe.enrol(photo("face_recognition/obama.jpg")), cipher, "subject:S-350205-0001/face")
    reference = read_sealed(path, cipher, "subject:S-350205-0001/face")
    assert pipe.verify(photo("face_recognition/obama3.jpg"), reference).same_person
    assert not pipe.verify(photo("face_recognition/biden.jpg"), reference).same_person
    with pytest.raises(TemplateError, match="does not open"):
        read_sealed(path, cipher, "subject:S-350205-0002/face")


@pytest.mark.parametrize("embedder", ["sface", "fr_feature"])
def test_gallery_search_finds_the_right_person(pipeline, photo, embedder: str) -> None:
    """Enrol one photo per person; every other photo's best match above the threshold is its own person."""
    pipe = pipeline("yunet", embedder)
    gallery = Gallery.from_templates((who, pipe.enrol(photo(names[0]))) for who, names in PEOPLE.items())
    assert sorted(gallery.subjects) == sorted(PEOPLE)
    for who, names in PEOPLE.items():
        for name in names[1:]:
            matches = gallery.search(pipe.enrol(photo(name)), k=3, threshold=pipe.threshold)
            assert matches and matches[0].subject_id == who, (name, matches)


def test_templates_of_two_backends_are_never_compared(pipeline, photo) -> None:
    """An SFace template against an fr_feature probe, or in an fr_feature gallery, is refused by name."""
    sface = pipeline("yunet", "sface").enrol(photo("face_recognition/obama.jpg"))
    fr = pipeline("yunet", "fr_feature")
    with pytest.raises(TemplateError, match=r"cannot compare a 'fr_feature' template .* with a 'sface' template"):
        fr.verify(photo("face_recognition/obama2.jpg"), sface)
    with pytest.raises(TemplateError, match="cannot compare"):
        verify(sface, fr.enrol(photo("face_recognition/obama2.jpg")), 0.3)
    gallery = Gallery.from_templates([("obama", sface)])
    with pytest.raises(TemplateError, match="does not belong in a gallery of 'sface'"):
        gallery.search(fr.enrol(photo("face_recognition/obama2.jpg")))
