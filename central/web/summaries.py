"""Alert summaries in the officer's language.

The rules write a summary in English when they open an alert (central/rules/*, confirmations.py,
scheduler.py): it is stored with the alert, goes out through the API and into logs unchanged. The UI
shows it in the officer's language: each summary shape the rules produce is a pattern here with its
Chinese text, filled from the pattern's groups. A summary no pattern knows (written by a newer rule
before its translation is added) is shown as written, marked as English, never dropped;
tests/unit/central/web/test_summaries.py runs the rules and checks each summary they can produce is
known here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_WHAT_ZH: Mapping[str, str] = {
    "outside the allowed area": "越出允许活动区域",
    "inside an exclusion zone (禁止令)": "进入禁止令区域",
}
_UNIT_ZH: Mapping[str, str] = {"h": "小时", "min": "分钟", "s": "秒"}
_WHAT = "|".join(re.escape(w) for w in _WHAT_ZH)


def _what(m: re.Match[str]) -> str:
    return _WHAT_ZH[m["what"]]


_FIXED: Mapping[str, str] = {
    "a phone or wristband is not with the subject: sources disagree on where the subject is": (
        "手机或手环不在对象身边：各来源报告的对象位置不一致"
    ),
    "tamper alarm: the wristband strap was cut or the device opened": "防拆报警：手环表带被剪断或设备被打开",
    "low battery on a supervision device": "监管设备电量低",
    "a supervision device was powered off": "监管设备已关机",
    "a supervision device reports a failed sensor": "监管设备报告传感器故障",
    "SOS: the subject pressed the emergency button": "紧急求助：对象按下了求助按钮",
}

_PATTERNS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (
        re.compile(rf"(?P<what>{_WHAT}) for (?P<n>\d+) fixes in a row, each by more than its accuracy"),
        lambda m: f"{_what(m)}：连续 {m['n']} 个定位点，均超出其精度半径",
    ),
    (
        re.compile(rf"(?P<what>{_WHAT}) for (?P<s>\d+) s \((?P<n>\d+) fixes, each by more than its accuracy\)"),
        lambda m: f"{_what(m)}：持续 {m['s']} 秒（{m['n']} 个定位点，均超出其精度半径）",
    ),
    (
        re.compile(r"no fix or check-in for longer than the reporting interval \((?P<n>\d+) (?P<unit>h|min|s)\)"),
        lambda m: f"超过报告间隔（{m['n']} {_UNIT_ZH[m['unit']]}）没有定位，也没有签到",
    ),
    (
        re.compile(r"location confirmation (?P<id>\d+) was not answered by its deadline"),
        lambda m: f"位置确认 {m['id']} 未在期限内答复",
    ),
    (
        re.compile(
            r"electronic positioning ends on (?P<day>\S+) \(in (?P<n>-?\d+) days\): "
            r"renew it \(approval needed\) or let it end"
        ),
        lambda m: f"电子定位期于 {m['day']} 届满（还有 {m['n']} 天）：请办理续期（需审批）或让其结束",
    ),
)


@dataclass(frozen=True)
class Shown:
    """A summary as the page shows it, with the language it is in (for the element's lang attribute)."""

    text: str
    lang: str


def translate(summary: str, lang: str) -> Shown:
    """`summary` in `lang` ('zh' or 'en'); as written, marked English, when no pattern knows it."""
    if lang == "en" or not summary:
        return Shown(summary, "en")
    if summary in _FIXED:
        return Shown(_FIXED[summary], "zh-CN")
    for pattern, render in _PATTERNS:
        m = pattern.fullmatch(summary)
        if m is not None:
            return Shown(render(m), "zh-CN")
    return Shown(summary, "en")
