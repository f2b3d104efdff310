"""The card's 256-byte text block: fixed-width UCS-2LE fields padded with spaces, decoded and encoded.

Resident ID card layout (characters): name 15, sex 1, nation 2, birth date 8 (YYYYMMDD), address 35,
ID number 18, issuing authority 15, valid from 8, valid until 8 (a date or "长期" for no expiry),
reserved 18. The residence permit for Hong Kong, Macao and Taiwan residents (card type "J") uses the
same fields with the nation left blank, and puts its pass number and issue count in the reserved part;
the card type character sits at byte 248 on every kind of card.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from peripherals.errors import ProtocolError
from peripherals.idcard.codes import NATIONS, SEXES
from peripherals.idcard.id_number import id_number_problem

TEXT_BLOCK_LENGTH = 256
LONG_TERM = "长期"

# field -> (first character, number of characters)
_FIELDS: dict[str, tuple[int, int]] = {
    "name": (0, 15),
    "sex": (15, 1),
    "nation": (16, 2),
    "birth date": (18, 8),
    "address": (26, 35),
    "ID number": (61, 18),
    "issuing authority": (79, 15),
    "valid from": (94, 8),
    "valid until": (102, 8),
    "pass number": (110, 9),
    "issue count": (119, 2),
    "card type": (124, 1),
}
_PAD = " \x00"

CardKind = Literal["resident_id", "residence_permit"]
_KIND_FOR_MARK: dict[str, CardKind] = {"": "resident_id", "J": "residence_permit"}
_UNSUPPORTED_MARKS = {
    "I": "foreigner's permanent residence ID card (2017 layout)",
    "Y": "foreigner's permanent residence ID card (2023 layout)",
}


@dataclass(frozen=True, slots=True)
class CardText:
    """The printed information of one card, as the chip holds it."""

    name: str
    sex_code: str
    nation_code: str
    birth_date: date
    address: str
    id_number: str
    issuing_authority: str
    valid_from: date
    valid_until: date | None  # None: "长期", no expiry
    kind: CardKind = "resident_id"
    pass_number: str = ""  # residence permits only
    issue_count: int | None = None  # residence permits only

    @property
    def sex(self) -> str:
        """The sex as printed on the card, e.g. "男"."""
        return SEXES[self.sex_code]

    @property
    def nation(self) -> str | None:
        """The ethnic group as printed, e.g. "汉"; None on a residence permit, which has none."""
        return NATIONS.get(self.nation_code)

    @property
    def id_number_problem(self) -> str | None:
        """Why the ID number fails GB 11643-1999, or None when it is valid."""
        return id_number_problem(self.id_number)

    @property
    def problems(self) -> tuple[str, ...]:
        """Everything that does not add up on a card that decoded: check character, dates, sex digit."""
        found: list[str] = []
        id_problem = self.id_number_problem
        if id_problem:
            found.append(id_problem)
        else:
            if self.id_number[6:14] != _ymd(self.birth_date):
                found.append(
                    f"ID number: birth date part {self.id_number[6:14]} differs from the birth date field "
                    f"{_ymd(self.birth_date)}"
                )
            # The 17th digit is odd for men and even for women (GB 11643-1999, sequence code).
            id_sex = "1" if int(self.id_number[16]) % 2 else "2"
            if self.sex_code in ("1", "2") and id_sex != self.sex_code:
                found.append(
                    f"ID number: sequence digit {self.id_number[16]} says {SEXES[id_sex]}, the sex field {self.sex}"
                )
        if self.birth_date > self.valid_from:
            found.append(f"birth date {self.birth_date} is after the validity start {self.valid_from}")
        if self.valid_until is not None and self.valid_until <= self.valid_from:
            found.append(f"validity ends {self.valid_until} on or before it starts {self.valid_from}")
        return tuple(found)


def _ymd(day: date) -> str:
    # strftime("%Y") does not zero-pad years before 1000 on every platform; the card always has 4 digits.
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def _field(block: bytes, name: str) -> str:
    first, count = _FIELDS[name]
    raw = block[first * 2 : (first + count) * 2]
    try:
        text = raw.decode("utf-16-le")
    except UnicodeDecodeError as exc:
        raise ProtocolError(
            f"text block: {name} bytes {raw.hex(' ').upper()} are not UCS-2 text ({exc.reason})"
        ) from None
    return text.rstrip(_PAD)


def _date(name: str, value: str) -> date:
    if len(value) != 8 or not value.isascii() or not value.isdigit():
        raise ProtocolError(f"text block: {name} {value!r}: expected YYYYMMDD")
    try:
        return date(int(value[0:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        raise ProtocolError(f"text block: {name} {value!r}: not a calendar date, expected YYYYMMDD") from None


def decode_text(block: bytes) -> CardText:
    """The 256-byte text block into a CardText; ProtocolError names the field that does not decode."""
    if len(block) != TEXT_BLOCK_LENGTH:
        raise ProtocolError(f"text block: {len(block)} bytes, expected {TEXT_BLOCK_LENGTH}")
    mark = _field(block, "card type")
    if mark in _UNSUPPORTED_MARKS:
        raise ProtocolError(
            f"text block: card type {mark!r} is a {_UNSUPPORTED_MARKS[mark]}, not supported; expected a resident "
            "ID card or a residence permit (type 'J')"
        )
    kind = _KIND_FOR_MARK.get(mark)
    if kind is None:
        raise ProtocolError(f"text block: card type {mark!r} unknown, expected blank (resident ID card) or 'J'")
    name = _field(block, "name")
    if not name:
        raise ProtocolError("text block: name is blank, expected the holder's name")
    sex_code = _field(block, "sex")
    if sex_code not in SEXES:
        raise ProtocolError(f"text block: sex code {sex_code!r}: expected one of 0, 1, 2, 9 (GB/T 2261.1)")
    nation_code = _field(block, "nation")
    if kind == "resident_id" and nation_code not in NATIONS:
        raise ProtocolError(f"text block: nation code {nation_code!r}: expected 01..56, 97 or 98 (GB 3304)")
    if kind == "residence_permit" and nation_code:
        raise ProtocolError(f"text block: nation code {nation_code!r} on a residence permit, expected blank")
    until = _field(block, "valid until")
    issue_count: int | None = None
    pass_number = ""
    if kind == "residence_permit":
        pass_number = _field(block, "pass number")
        count = _field(block, "issue count")
        if not (count.isascii() and count.isdigit()):
            raise ProtocolError(f"text block: issue count {count!r}: expected two digits")
        issue_count = int(count)
    return CardText(
        name=name,
        sex_code=sex_code,
        nation_code=nation_code,
        birth_date=_date("birth date", _field(block, "birth date")),
        address=_field(block, "address"),
        id_number=_field(block, "ID number"),
        issuing_authority=_field(block, "issuing authority"),
        valid_from=_date("valid from", _field(block, "valid from")),
        valid_until=None if until == LONG_TERM else _date("valid until", until),
        kind=kind,
        pass_number=pass_number,
        issue_count=issue_count,
    )


def _put(block: bytearray, name: str, value: str) -> None:
    first, count = _FIELDS[name]
    if len(value) > count:
        raise ProtocolError(f"text block: {name} {value!r} is {len(value)} characters, the field holds {count}")
    try:
        raw = value.ljust(count).encode("utf-16-le")
    except UnicodeEncodeError:
        raise ProtocolError(f"text block: {name} {value!r} has a character UCS-2 cannot hold") from None
    if len(raw) != count * 2:
        raise ProtocolError(f"text block: {name} {value!r} has a character outside UCS-2 (needs a surrogate pair)")
    block[first * 2 : (first + count) * 2] = raw


def encode_text(text: CardText) -> bytes:
    """A CardText as the 256-byte block a card holds (the simulator's cards and round-trip tests use it)."""
    block = bytearray(" ".encode("utf-16-le") * (TEXT_BLOCK_LENGTH // 2))
    _put(block, "name", text.name)
    _put(block, "sex", text.sex_code)
    _put(block, "nation", text.nation_code)
    _put(block, "birth date", _ymd(text.birth_date))
    _put(block, "address", text.address)
    _put(block, "ID number", text.id_number)
    _put(block, "issuing authority", text.issuing_authority)
    _put(block, "valid from", _ymd(text.valid_from))
    _put(block, "valid until", LONG_TERM if text.valid_until is None else _ymd(text.valid_until))
    if text.kind == "residence_permit":
        _put(block, "pass number", text.pass_number)
        _put(block, "issue count", f"{text.issue_count or 0:02d}")
        _put(block, "card type", "J")
    return bytes(block)
