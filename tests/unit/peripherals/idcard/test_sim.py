"""Simulator card files (TOML and JSON): what they may say, and the errors naming the key and value."""

from __future__ import annotations

import json
from datetime import date

import pytest

from peripherals.idcard.sim import IdCardSimulator, load_cards
from tests.unit.peripherals.idcard.samples import ZHANG_SAN, tiny_jpeg

TOML_CARD = f"""
[cards.zhang]
name = "张三"
sex = "男"
nation = "汉"
birth_date = 1990-03-07
address = "福建省厦门市海沧区沧林东路123号"
id_number = "{ZHANG_SAN.id_number}"
issuing_authority = "厦门市公安局海沧分局"
valid_from = "2015-06-01"
valid_until = "20350601"
photo = "zhang.jpg"

[cards.li]
name = "李四"
sex = "2"
nation = "03"
birth_date = "1970-01-01"
address = ""
id_number = "110105197001010025"
issuing_authority = "北京市公安局朝阳分局"
valid_from = "2010-01-01"
valid_until = "长期"
fingerprint = "43 01 02"
"""


def card_fields(**changes: object) -> dict[str, object]:
    """The fields of a valid JSON card, with `changes` applied (None removes a key)."""
    fields: dict[str, object] = {
        "name": "张三",
        "sex": "1",
        "nation": "01",
        "birth_date": "1990-03-07",
        "address": "厦门",
        "id_number": ZHANG_SAN.id_number,
        "issuing_authority": "厦门市公安局",
        "valid_from": "2015-06-01",
        "valid_until": "2035-06-01",
    }
    fields.update(changes)
    return {key: value for key, value in fields.items() if value is not None}


def test_toml_cards(tmp_path):
    """A TOML file gives named cards; names or codes are accepted, the photo is read relative to the file."""
    jpeg = tiny_jpeg()
    (tmp_path / "zhang.jpg").write_bytes(jpeg)
    path = tmp_path / "cards.toml"
    path.write_text(TOML_CARD, encoding="utf-8")
    cards = load_cards(path)
    assert cards["zhang"].text == ZHANG_SAN
    assert cards["zhang"].photo == jpeg
    assert cards["li"].text.valid_until is None
    assert (cards["li"].text.sex_code, cards["li"].text.nation) == ("2", "回")
    assert cards["li"].fingerprint == b"\x43\x01\x02"


def test_json_cards(tmp_path):
    """A JSON file with the same layout loads the same way."""
    path = tmp_path / "cards.json"
    path.write_text(json.dumps({"cards": {"zhang": card_fields()}}), encoding="utf-8")
    assert load_cards(path)["zhang"].text.birth_date == date(1990, 3, 7)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"sex": "X"}, "cards.a.sex: 'X' is not a sex, expected 0, 1, 2, 9 or 男, 女"),
        ({"nation": "火星"}, "cards.a.nation: '火星' is not a GB 3304 code or name"),
        ({"birth_date": "1990-02-30"}, "cards.a.birth_date: '1990-02-30' is not a date, expected YYYY-MM-DD"),
        ({"valid_until": "forever"}, "cards.a.valid_until: 'forever' is not a date"),
        ({"name": 5}, "cards.a.name: 5 is not text, expected a string"),
        ({"colour": "red"}, "cards.a: unknown key 'colour', expected some of"),
        ({"address": None}, "cards.a: missing key 'address'"),
        ({"name": "一" * 16}, "cards.a: text block: name '" + "一" * 16 + "' is 16 characters, the field holds 15"),
        ({"photo": "absent.jpg"}, "cards.a.photo: cannot read"),
        ({"fingerprint": "zz"}, "cards.a.fingerprint: expected hex bytes"),
    ],
)
def test_card_errors(tmp_path, changes, expected):
    """Each mistake in a card file is refused, naming the card, the key and the value."""
    path = tmp_path / "cards.json"
    path.write_text(json.dumps({"cards": {"a": card_fields(**changes)}}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"^cards\.a") as caught:
        load_cards(path)
    assert str(caught.value).startswith(expected)


def test_file_errors(tmp_path):
    """A file that does not parse, or has no cards table, is refused with the file name."""
    broken = tmp_path / "broken.toml"
    broken.write_text("[cards\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken.toml: not valid TOML"):
        load_cards(broken)
    empty = tmp_path / "empty.json"
    empty.write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match=r"empty.json: expected a 'cards' table with at least one named card"):
        load_cards(empty)


def test_put_card_names_the_known_cards(tmp_path):
    """Putting an unknown card on the reader says which cards there are."""
    simulator = IdCardSimulator(tmp_path / "ttyIDCARD")
    with pytest.raises(KeyError, match="card 'nobody': not loaded, expected one of none"):
        simulator.put_card("nobody")
