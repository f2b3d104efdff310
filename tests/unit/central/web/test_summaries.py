"""Alert summaries in the officer's language: every shape the rules write is translated, others kept as written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from central.rules import contact, device_alarm, fence
from central.rules.contact import ContactParams, ContactState
from central.web.summaries import Shown, translate

# The exact strings the rules and tasks write (tests/unit/central/rules pin them on the rule side).
WRITTEN = {
    "outside the allowed area for 3 fixes in a row, each by more than its accuracy": (
        "越出允许活动区域：连续 3 个定位点，均超出其精度半径"
    ),
    "inside an exclusion zone (禁止令) for 90 s (4 fixes, each by more than its accuracy)": (
        "进入禁止令区域：持续 90 秒（4 个定位点，均超出其精度半径）"
    ),
    "no fix or check-in for longer than the reporting interval (1 h)": "超过报告间隔（1 小时）没有定位，也没有签到",
    "no fix or check-in for longer than the reporting interval (90 min)": "超过报告间隔（90 分钟）没有定位，也没有签到",
    "a phone or wristband is not with the subject: sources disagree on where the subject is": (
        "手机或手环不在对象身边：各来源报告的对象位置不一致"
    ),
    "location confirmation 17 was not answered by its deadline": "位置确认 17 未在期限内答复",
    "electronic positioning ends on 2026-12-01 (in 8 days): renew it (approval needed) or let it end": (
        "电子定位期于 2026-12-01 届满（还有 8 天）：请办理续期（需审批）或让其结束"
    ),
}


@pytest.mark.parametrize("summary", sorted(WRITTEN))
def test_each_written_summary_is_translated(summary: str) -> None:
    """Chinese for the Chinese page (marked zh-CN), the stored English for the English page."""
    assert translate(summary, "zh") == Shown(WRITTEN[summary], "zh-CN")
    assert translate(summary, "en").text == summary and translate(summary, "en").lang == "en"


@pytest.mark.parametrize("summary", sorted(device_alarm.SUMMARIES.values()))
def test_every_device_alarm_summary_is_translated(summary: str) -> None:
    """The device-alarm rule's summaries come from one table; all of it is known."""
    assert translate(summary, "zh").lang == "zh-CN"


@given(n=st.integers(1, 10_000), kind=st.sampled_from(sorted(fence._WHAT)))
def test_fence_summaries_for_any_count(n: int, kind: str) -> None:
    """Whatever the count and fence kind, the fence rule's summary shape is translated with its figures."""
    what = fence._WHAT[kind][0]  # type: ignore[index]
    shown = translate(f"{what} for {n} fixes in a row, each by more than its accuracy", "zh")
    assert shown.lang == "zh-CN" and f" {n} " in shown.text


@given(seconds=st.integers(1, 30 * 24 * 3600))
def test_lost_contact_summary_for_any_interval(seconds: int) -> None:
    """The lost-contact rule's own summary, for any reporting interval, is translated."""
    params = ContactParams(reporting_interval=timedelta(seconds=seconds))
    start = datetime(2026, 11, 1, tzinfo=UTC)
    state = ContactState(subject_id="S-1", last_contact_at=start, last_contact_id="e1", clock=start)
    _, decisions = contact.tick(state, start + timedelta(seconds=seconds + 1), params)
    [opened] = decisions
    assert translate(opened.summary, "zh").lang == "zh-CN"  # type: ignore[union-attr]


@given(st.text(min_size=1, max_size=200))
def test_unknown_text_is_shown_as_written(text: str) -> None:
    """A summary no pattern knows is never dropped: shown as written, marked English."""
    shown = translate(text, "zh")
    assert shown.lang in ("en", "zh-CN") and shown.text
    if shown.lang == "en":
        assert shown.text == text
