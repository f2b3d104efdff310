"""Every hypothesis strategy of the idcard suite: valid commands, replies, card texts, and junk for decoders."""

from __future__ import annotations

import itertools
from datetime import date

from hypothesis import settings
from hypothesis import strategies as st

from peripherals.idcard.codes import NATIONS, SEXES
from peripherals.idcard.id_number import check_character
from peripherals.idcard.protocol import COMMANDS, PREAMBLE, CardRecord, Command, Reply, Status, checksum, encode
from peripherals.idcard.text import CardText
from tests.unit.peripherals.idcard.samples import captured_frames

# Every property test of the package runs under these settings: no per-example deadline, because a
# deadline is a wall-clock assertion and fails on a loaded CI machine without saying anything about the code.
relaxed = settings(deadline=None)

commands = st.sampled_from(sorted(COMMANDS)).flatmap(
    lambda key: st.binary(min_size=COMMANDS[key][1], max_size=COMMANDS[key][1]).map(
        lambda data: Command(key[0], key[1], data)
    )
)
replies = st.builds(Reply, st.sampled_from(list(Status)), st.binary(max_size=300))
frames = st.one_of(commands, replies)

# Text the chip can hold: Basic Multilingual Plane only, no surrogates, no trailing padding.
_ucs2 = st.characters(min_codepoint=0x21, max_codepoint=0xFFFF, exclude_categories=["Cs"])


def ucs2_text(max_size: int, min_size: int = 0) -> st.SearchStrategy[str]:
    """Strings that fit a field of `max_size` characters and survive the trailing-space trim."""
    return (
        st.text(_ucs2 | st.just(" "), min_size=min_size, max_size=max_size)
        .map(lambda s: s.rstrip(" \x00"))
        .filter(lambda s: len(s) >= min_size)
    )


card_dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31))


@st.composite
def id_numbers(draw: st.DrawFn, birth: date) -> str:
    """Valid ID numbers for a birth date."""
    region = draw(st.from_regex(r"[1-8][0-9]{5}", fullmatch=True))
    sequence = draw(st.from_regex(r"[0-9]{3}", fullmatch=True))
    first17 = f"{region}{birth.year:04d}{birth.month:02d}{birth.day:02d}{sequence}"
    return first17 + check_character(first17)


@st.composite
def card_texts(draw: st.DrawFn) -> CardText:
    """Card texts of both kinds the decoder supports, within every field's width."""
    birth = draw(card_dates)
    valid_from = draw(card_dates)
    permit = draw(st.booleans())
    return CardText(
        name=draw(ucs2_text(15, min_size=1)),
        sex_code=draw(st.sampled_from(sorted(SEXES))),
        nation_code="" if permit else draw(st.sampled_from(sorted(NATIONS))),
        birth_date=birth,
        address=draw(ucs2_text(35)),
        id_number=draw(id_numbers(birth) | st.from_regex(r"[0-9]{17}[0-9X]", fullmatch=True)),
        issuing_authority=draw(ucs2_text(15)),
        valid_from=valid_from,
        valid_until=draw(st.none() | card_dates),
        kind="residence_permit" if permit else "resident_id",
        pass_number=draw(st.from_regex(r"[HMT][0-9]{8}", fullmatch=True)) if permit else "",
        issue_count=draw(st.integers(0, 99)) if permit else None,
    )


card_records = st.builds(
    CardRecord,
    st.binary(max_size=300),
    st.binary(max_size=1200),
    st.none() | st.binary(max_size=600),
)


def framed(body: bytes) -> bytes:
    """`body` wrapped in a preamble, a right length and a right checksum: junk that reaches the body decoders."""
    counted = (len(body) + 1).to_bytes(2, "big") + body
    return PREAMBLE + counted + bytes([checksum(counted)])


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    """Real and generated frames with bytes flipped, inserted, deleted, or the tail cut off."""
    real = [frame for _, frame in captured_frames()]
    frame = bytearray(draw(st.sampled_from(real) | frames.map(encode)))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(frame)))
        action = draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
        if action == "flip" and position < len(frame):
            frame[position] ^= draw(st.integers(1, 255))
        elif action == "insert":
            frame[position:position] = draw(st.binary(min_size=1, max_size=4))
        elif action == "delete" and position < len(frame):
            del frame[position]
        elif action == "cut":
            del frame[position:]
    return bytes(frame)


junk_frames = st.one_of(
    st.binary(max_size=64),
    st.binary(max_size=64).map(lambda tail: PREAMBLE + tail),
    st.binary(min_size=2, max_size=64).map(framed),
    mutated_frames(),
)

# Noise a reader line picks up, without a whole preamble in it (a whole one would be a frame start).
garbage = st.binary(max_size=40).filter(lambda noise: PREAMBLE not in noise)


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """`data` cut into pieces at random points, as a serial port delivers it."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    edges = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]
