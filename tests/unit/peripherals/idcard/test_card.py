"""A decoded card: text, photo or why it is unavailable, fingerprint block, JSON-ready fields."""

from __future__ import annotations

import base64
import json

from peripherals.idcard.card import card_from_record
from peripherals.idcard.photo import PassThroughPhotoDecoder, Photo
from peripherals.idcard.protocol import CardRecord
from peripherals.idcard.text import encode_text
from tests.unit.peripherals.idcard.samples import AYI_GULI, BAD_CHECK, CHAN_TAI_MAN, ZHANG_SAN, tiny_jpeg

WLT_LIKE = bytes(range(256)) * 4


def test_card_with_a_jpeg_photo():
    """A simulated card's JPEG photo is passed through; text fields decode."""
    jpeg = tiny_jpeg()
    card = card_from_record(CardRecord(encode_text(ZHANG_SAN), jpeg))
    assert card.text == ZHANG_SAN
    assert card.photo == Photo(jpeg, "image/jpeg")
    assert card.photo_unavailable is None
    assert card.fingerprint is None
    assert card.id_number == ZHANG_SAN.id_number


def test_card_with_a_wlt_photo_and_no_vendor_decoder():
    """A chip's WLT photo without a vendor decoder: the card reads, the photo is unavailable with the reason."""
    card = card_from_record(CardRecord(encode_text(ZHANG_SAN), WLT_LIKE, b""), [PassThroughPhotoDecoder()])
    assert card.photo is None
    assert card.photo_block == WLT_LIKE
    assert card.photo_unavailable is not None
    assert card.photo_unavailable.startswith("photo unavailable: the 1024-byte photo block is neither JPEG nor BMP")
    assert card.fingerprint == b""


def test_as_dict_fields():
    """The JSON fields name every printed item, the validity, the ID check and the photo state."""
    fields = card_from_record(CardRecord(encode_text(AYI_GULI), WLT_LIKE)).as_dict()
    assert json.loads(json.dumps(fields, ensure_ascii=False)) == fields
    assert fields == {
        "kind": "resident_id",
        "name": "阿依古丽·买买提",
        "sex": "女",
        "sex_code": "2",
        "nation": "维吾尔",
        "nation_code": "05",
        "birth_date": "1960-11-30",
        "address": AYI_GULI.address,
        "id_number": AYI_GULI.id_number,
        "id_number_valid": True,
        "id_number_problem": None,
        "issuing_authority": "乌鲁木齐市公安局天山分局",
        "valid_from": "2012-01-15",
        "valid_until": None,
        "long_term": True,
        "problems": [],
        "photo_available": False,
        "photo_unavailable": fields["photo_unavailable"],
        "photo_media_type": None,
        "photo_block_length": 1024,
        "fingerprint_length": None,
    }


def test_as_dict_reports_a_bad_check_character():
    """A bad check character shows as id_number_valid false, with the problem text."""
    fields = card_from_record(CardRecord(encode_text(BAD_CHECK), b"")).as_dict()
    assert fields["id_number_valid"] is False
    assert fields["id_number_problem"].startswith("ID number: check character is")
    assert fields["problems"] == [fields["id_number_problem"]]


def test_as_dict_for_a_residence_permit_and_images():
    """A permit adds pass number and issue count; include_images adds the photo as base64."""
    jpeg = tiny_jpeg()
    fields = card_from_record(CardRecord(encode_text(CHAN_TAI_MAN), jpeg)).as_dict(include_images=True)
    assert (fields["kind"], fields["nation"], fields["pass_number"], fields["issue_count"]) == (
        "residence_permit",
        None,
        "H12345678",
        1,
    )
    assert base64.b64decode(fields["photo"]) == jpeg
