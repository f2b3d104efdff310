"""The 256-byte text block: field layout, both card kinds, consistency problems, every decode error."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peripherals.errors import ProtocolError
from peripherals.idcard.text import TEXT_BLOCK_LENGTH, decode_text, encode_text
from tests.unit.peripherals.idcard.samples import AYI_GULI, BAD_CHECK, CHAN_TAI_MAN, STANDARD_EXAMPLE, ZHANG_SAN
from tests.unit.peripherals.idcard.strategies import card_texts, relaxed


def put(block: bytes, first_char: int, text: str) -> bytes:
    """`block` with `text` written as UCS-2LE from character position `first_char`."""
    raw = text.encode("utf-16-le")
    return block[: first_char * 2] + raw + block[first_char * 2 + len(raw) :]


def reason(block: bytes) -> str:
    """The text of the ProtocolError decode_text raises."""
    with pytest.raises(ProtocolError) as caught:
        decode_text(block)
    return str(caught.value)


def test_layout_of_a_resident_card():
    """Fields sit at the documented byte offsets, UCS-2LE, padded with spaces."""
    block = encode_text(ZHANG_SAN)
    assert len(block) == TEXT_BLOCK_LENGTH
    assert block[0:30].decode("utf-16-le") == "张三" + " " * 13
    assert block[30:32].decode("utf-16-le") == "1"
    assert block[32:36].decode("utf-16-le") == "01"
    assert block[36:52].decode("utf-16-le") == "19900307"
    assert block[122:158].decode("utf-16-le") == ZHANG_SAN.id_number
    assert block[188:204].decode("utf-16-le") == "20150601"
    assert block[204:220].decode("utf-16-le") == "20350601"
    assert block[220:256] == " ".encode("utf-16-le") * 18


@pytest.mark.parametrize("card", [ZHANG_SAN, AYI_GULI, CHAN_TAI_MAN], ids=["resident", "long-term", "permit"])
def test_sample_cards_round_trip(card):
    """Each sample card survives encode → decode unchanged."""
    assert decode_text(encode_text(card)) == card


def test_long_term_validity():
    """The valid-until field "长期" decodes as no expiry."""
    block = encode_text(AYI_GULI)
    assert block[204:208].decode("utf-16-le") == "长期"
    decoded = decode_text(block)
    assert decoded.valid_until is None
    assert decoded.problems == ()


def test_printed_names_of_codes():
    """Sex and nation codes come out as printed on the card."""
    assert (ZHANG_SAN.sex, ZHANG_SAN.nation) == ("男", "汉")
    assert (AYI_GULI.sex, AYI_GULI.nation) == ("女", "维吾尔")


def test_residence_permit_fields():
    """A type-J card has no nation and carries its pass number and issue count."""
    block = encode_text(CHAN_TAI_MAN)
    assert block[248:250].decode("utf-16-le") == "J"
    decoded = decode_text(block)
    assert (decoded.kind, decoded.nation, decoded.pass_number, decoded.issue_count) == (
        "residence_permit",
        None,
        "H12345678",
        1,
    )


def test_zero_padding_is_trimmed_like_spaces():
    """Some cards pad with NUL characters instead of spaces; both are trimmed."""
    block = encode_text(ZHANG_SAN)
    block = put(block, 2, "\x00" * 13)
    assert decode_text(block).name == "张三"


def test_valid_card_has_no_problems():
    """A consistent card reports nothing."""
    assert ZHANG_SAN.problems == ()
    assert ZHANG_SAN.id_number_problem is None


def test_bad_check_character_is_reported_not_refused():
    """A card whose ID number fails MOD 11-2 still decodes, and says so."""
    decoded = decode_text(encode_text(BAD_CHECK))
    assert decoded.id_number == BAD_CHECK.id_number
    given, computed = BAD_CHECK.id_number[17], ZHANG_SAN.id_number[17]
    expected = f"ID number: check character is {given}, the first 17 digits give {computed}"
    assert decoded.id_number_problem == expected
    assert decoded.problems == (expected,)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"birth_date": date(1990, 3, 8)},
            "ID number: birth date part 19900307 differs from the birth date field 19900308",
        ),
        ({"sex_code": "2"}, "ID number: sequence digit 1 says 男, the sex field 女"),
        ({"valid_until": date(2015, 6, 1)}, "validity ends 2015-06-01 on or before it starts 2015-06-01"),
        ({"id_number": "3502051990030700"}, "ID number '3502051990030700': expected 17 digits and a check character"),
    ],
)
def test_inconsistencies_are_reported(change, expected):
    """Fields that contradict each other are listed in problems, with both values."""
    problems = replace(ZHANG_SAN, **change).problems
    assert any(problem.startswith(expected) for problem in problems), problems


def test_birth_after_issue_is_reported():
    """A birth date after the validity start is listed."""
    card = replace(STANDARD_CARD, valid_from=date(1949, 1, 1), valid_until=None)
    assert card.problems == ("birth date 1949-12-31 is after the validity start 1949-01-01",)


STANDARD_CARD = replace(ZHANG_SAN, id_number=STANDARD_EXAMPLE, sex_code="2", birth_date=date(1949, 12, 31))


def test_the_standards_own_example_is_consistent():
    """GB 11643's example number 11010519491231002X on a matching card has no problems."""
    assert STANDARD_CARD.problems == ()


@pytest.mark.parametrize(
    ("first_char", "text", "expected"),
    [
        (0, " " * 15, "text block: name is blank, expected the holder's name"),
        (15, "3", "text block: sex code '3': expected one of 0, 1, 2, 9 (GB/T 2261.1)"),
        (16, "77", "text block: nation code '77': expected 01..56, 97 or 98 (GB 3304)"),
        (18, "1990AB07", "text block: birth date '1990AB07': expected YYYYMMDD"),
        (18, "19900230", "text block: birth date '19900230': not a calendar date, expected YYYYMMDD"),
        (94, "2015    ", "text block: valid from '2015': expected YYYYMMDD"),
        (102, "永久有效    ", "text block: valid until '永久有效': expected YYYYMMDD"),
        (
            124,
            "I",
            "text block: card type 'I' is a foreigner's permanent residence ID card (2017 layout), not supported",
        ),
        (124, "Y", "text block: card type 'Y' is a foreigner's permanent residence ID card (2023 layout)"),
        (124, "Q", "text block: card type 'Q' unknown, expected blank (resident ID card) or 'J'"),
    ],
)
def test_decode_errors(first_char, text, expected):
    """A field that cannot be what the layout says is refused, naming the field and the value."""
    assert reason(put(encode_text(ZHANG_SAN), first_char, text)).startswith(expected)


def test_length_error():
    """A block that is not 256 bytes is refused with its length."""
    assert reason(bytes(255)) == "text block: 255 bytes, expected 256"


def test_non_ucs2_bytes_are_named():
    """A lone surrogate in a field is not UCS-2 text; the error shows the field's bytes."""
    block = encode_text(ZHANG_SAN)
    block = block[:0] + b"\x00\xd8" + block[2:]
    assert reason(block).startswith("text block: name bytes 00 D8 09 4E")


def test_permit_with_a_nation_is_refused():
    """A residence permit must leave the nation blank."""
    block = put(encode_text(CHAN_TAI_MAN), 16, "01")
    assert reason(block) == "text block: nation code '01' on a residence permit, expected blank"


def test_permit_issue_count_must_be_digits():
    """The issue count of a residence permit is two digits."""
    block = put(encode_text(CHAN_TAI_MAN), 119, "x1")
    assert reason(block) == "text block: issue count 'x1': expected two digits"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"name": "一" * 16}, "text block: name '" + "一" * 16 + "' is 16 characters, the field holds 15"),
        ({"address": "😀"}, "text block: address '😀' has a character outside UCS-2"),
        ({"id_number": "1" * 19}, "text block: ID number '1111111111111111111' is 19 characters, the field holds 18"),
    ],
)
def test_encode_errors(change, expected):
    """Values that do not fit the card are refused by encode_text with the field and its width."""
    with pytest.raises(ProtocolError) as caught:
        encode_text(replace(ZHANG_SAN, **change))
    assert str(caught.value).startswith(expected)


@relaxed
@given(card_texts())
def test_card_texts_round_trip(card):
    """Any card text that fits the fields survives encode → decode."""
    assert decode_text(encode_text(card)) == card


@relaxed
@given(st.binary(min_size=256, max_size=256))
def test_random_blocks_raise_only_protocol_errors(block):
    """Random 256-byte blocks either decode or raise ProtocolError."""
    try:
        decoded = decode_text(block)
    except ProtocolError:
        return
    assert isinstance(decoded.problems, tuple)


@relaxed
@given(card_texts(), st.integers(0, 255), st.integers(1, 255))
def test_mutated_blocks_raise_only_protocol_errors(card, position, flip):
    """A real block with one byte changed either decodes or raises ProtocolError."""
    block = bytearray(encode_text(card))
    block[position] ^= flip
    try:
        decoded = decode_text(bytes(block))
    except ProtocolError:
        return
    assert isinstance(decoded.problems, tuple)
