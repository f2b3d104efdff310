"""kiosk.speech's pure parts: transcript text clean-up and the real-time factor (no model needed)."""

from __future__ import annotations

import pytest

from kiosk.speech import Transcript, Utterance, Word, clean_text


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("甚至 出现 交易 几乎 停滞 的 情况", "甚至出现交易几乎停滞的情况"),
        ("安녕 [unk] 하세요", "安녕 하세요"),
        ("안녕하세요 감사합니다", "안녕하세요 감사합니다"),  # Korean keeps its spaces
        ("我 在 GPS 定位 里", "我在 GPS 定位里"),
        ("[unk]", ""),
        ("  ", ""),
    ],
)
def test_clean_text(raw: str, clean: str) -> None:
    """Spaces between Chinese characters and [unk] go; other spaces stay."""
    assert clean_text(raw) == clean


def test_real_time_factor_and_words() -> None:
    """RTF is decoding time over audio time; words run across utterances in order."""
    first = Utterance("你好", (Word("你好", 0.1, 0.5, 1.0),))
    second = Utterance("再见", (Word("再见", 2.0, 2.4, 0.9),))
    t = Transcript("你好再见", (first, second), audio_s=4.0, decode_s=1.0, model="m")
    assert t.rtf == 0.25 and [w.word for w in t.words] == ["你好", "再见"]
    assert Transcript("", (), audio_s=0.0, decode_s=0.0, model="m").rtf == 0.0
