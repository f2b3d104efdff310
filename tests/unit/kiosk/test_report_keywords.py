"""Key elements of spoken reports: the date rules, jieba's places, people and activities, on real sentences."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.report_keywords import KEYS, dates, extract

TRANSCRIPTS = Path(__file__).resolve().parents[4] / "shared" / "testdata" / "audio" / "transcripts.tsv"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我今天来报到", ("今天",)),
        ("上周三和上星期五都去了", ("上周三", "上星期五")),
        ("3月5日到3月7日", ("3月5日", "3月7日")),
        ("2026年11月23日上午9点半", ("2026年11月23日上午9点半",)),
        ("十二月二十号王芳来了", ("十二月二十号",)),
        ("三天前和两个月以前", ("三天前", "两个月以前")),
        ("昨天下午两点在家", ("昨天下午两点",)),
        ("本月和下个月，去年和今年", ("本月", "下个月", "去年", "今年")),
        ("周末在家，星期天休息", ("周末", "星期天")),
        ("晚上八点", ("晚上八点",)),
        ("14:30开会", ("14:30",)),
        ("我多吃一点饭", ()),  # 一点 is "a little", not one o'clock
        ("换一首歌", ()),
    ],
)
def test_date_rules(text: str, expected: tuple[str, ...]) -> None:
    """Each date expression is found whole, in order, once."""
    assert dates(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "我上周三在海沧区参加了公益劳动，和李明一起打扫了社区卫生",
            {
                "dates": ("上周三",),
                "places": ("海沧区",),
                "people": ("李明",),
                "activities": ("参加公益劳动", "打扫社区卫生"),
            },
        ),
        (
            "3月5日我去厦门市湖里区司法所参加集中教育学习",
            {
                "dates": ("3月5日",),
                "places": ("厦门市", "湖里区", "司法所"),
                "people": (),
                "activities": ("参加集中教育学习",),
            },
        ),
        (
            "本月我按时报到，没有离开厦门，下周一准备去福州出差",
            {
                "dates": ("本月", "下周一"),
                "places": ("厦门", "福州"),
                "people": (),
                "activities": ("报到", "没有离开厦门", "出差"),
            },
        ),
        (
            "昨天下午两点我在家里看书，今天上午去医院看病了",
            {
                "dates": ("昨天下午两点", "今天上午"),
                "places": ("家里", "医院"),
                "people": (),
                "activities": ("看书", "看病"),
            },
        ),
        (
            "三天前我和妈妈去鼓浪屿探亲",
            {"dates": ("三天前",), "places": ("鼓浪屿",), "people": ("妈妈",), "activities": ("探亲",)},
        ),
        (
            "十二月二十号王芳带我去同安找工作",
            {"dates": ("十二月二十号",), "places": ("同安",), "people": ("王芳",), "activities": ("找工作",)},
        ),
        ("", {"dates": (), "places": (), "people": (), "activities": ()}),
    ],
)
def test_reports(text: str, expected: dict[str, tuple[str, ...]]) -> None:
    """Typical report sentences give the elements an officer would underline (上周三 is a date, not a name)."""
    assert extract(text) == expected


def _references() -> list[tuple[str, str]]:
    with TRANSCRIPTS.open(encoding="utf-8") as fh:
        return [(row["file"], row["reference"]) for row in csv.DictReader(fh, delimiter="\t")]


def test_real_transcripts() -> None:
    """The reference transcripts of the real Mandarin recordings: what they name, and nothing made up."""
    found = {name: extract(text) for name, text in _references()}
    assert found["aishell-BAC009S0724W0121.wav"]["places"] == ("广州市",)
    assert found["TEST_MEETING_T0000000001_S00000.wav"]["dates"] == ("上半年",)
    assert found["IT0011W0001.wav"] == {"dates": (), "places": (), "people": (), "activities": ()}
    for name, elements in found.items():
        assert not elements["people"], f"{name}: no person is named in it"


REPORT_CHARS = list("我今天上周三在海沧区参加了公益劳动和李明一起去医院看病没有离开厦门，。3月5日点半a ")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(REPORT_CHARS), max_size=40))
def test_any_text_gives_elements_drawn_from_it(text: str) -> None:
    """Never raises; every element is made of the text's own characters, in order; the same text, the same result."""
    elements = extract(text)
    assert tuple(elements) == KEYS and extract(text) == elements
    for values in elements.values():
        for value in values:
            rest = iter(text)
            assert all(ch in rest for ch in value), f"{value!r} is not drawn from {text!r}"
