"""A decoded card: its text, its photo when a decoder could make one, and the raw blocks."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from peripherals.idcard.photo import PassThroughPhotoDecoder, Photo, PhotoDecoder, decode_photo
from peripherals.idcard.protocol import CardRecord
from peripherals.idcard.text import CardText, decode_text


@dataclass(frozen=True, slots=True)
class CardData:
    """One card read: text fields, photo (or why it is unavailable), fingerprint block if it was read."""

    text: CardText
    photo_block: bytes
    photo: Photo | None
    photo_unavailable: str | None
    fingerprint: bytes | None = None

    @property
    def id_number(self) -> str:
        """The citizen ID number as the chip holds it (check `text.id_number_problem`)."""
        return self.text.id_number

    def as_dict(self, *, include_images: bool = False) -> dict[str, Any]:
        """Plain JSON-ready fields; images only as sizes unless `include_images` (then base64)."""
        text = self.text
        fields: dict[str, Any] = {
            "kind": text.kind,
            "name": text.name,
            "sex": text.sex,
            "sex_code": text.sex_code,
            "nation": text.nation,
            "nation_code": text.nation_code or None,
            "birth_date": text.birth_date.isoformat(),
            "address": text.address,
            "id_number": text.id_number,
            "id_number_valid": text.id_number_problem is None,
            "id_number_problem": text.id_number_problem,
            "issuing_authority": text.issuing_authority,
            "valid_from": text.valid_from.isoformat(),
            "valid_until": None if text.valid_until is None else text.valid_until.isoformat(),
            "long_term": text.valid_until is None,
            "problems": list(text.problems),
            "photo_available": self.photo is not None,
            "photo_unavailable": self.photo_unavailable,
            "photo_media_type": None if self.photo is None else self.photo.media_type,
            "photo_block_length": len(self.photo_block),
            "fingerprint_length": None if self.fingerprint is None else len(self.fingerprint),
        }
        if text.kind == "residence_permit":
            fields["pass_number"] = text.pass_number
            fields["issue_count"] = text.issue_count
        if include_images:
            fields["photo"] = None if self.photo is None else base64.b64encode(self.photo.data).decode("ascii")
        return fields


def card_from_record(record: CardRecord, decoders: Sequence[PhotoDecoder] | None = None) -> CardData:
    """Decode a read reply's record; the photo goes through `decoders` in order (default: pass-through)."""
    text = decode_text(record.text)
    chosen = [PassThroughPhotoDecoder()] if decoders is None else list(decoders)
    photo, unavailable = decode_photo(record.photo, chosen)
    return CardData(text, record.photo, photo, unavailable, record.fingerprint)
