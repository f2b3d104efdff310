"""When scheduled location confirmations are asked: random moments within the daily windows, the same for everyone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from central.config import MonitorSection
from central.locations import CHINA
from central.scheduler import LATE_LIMIT, due_slots, parse_windows, per_day, schedule_key, slot_name, slot_times

KEY = schedule_key(b"k" * 32)
DAY = date(2026, 11, 23)
WINDOWS = parse_windows(["09:00-12:00", "14:00-17:30"])


def china_minutes(moment: datetime) -> float:
    """Minutes after midnight, China time."""
    local = moment.astimezone(CHINA)
    return local.hour * 60 + local.minute + local.second / 60


def test_windows_are_parsed_sorted_and_merged() -> None:
    """Overlapping and touching windows merge; order does not matter."""
    assert parse_windows(["14:00-15:00", "08:30-10:00", "09:30-11:00", "15:00-16:00"]) == [(510, 660), (840, 960)]


@pytest.mark.parametrize(
    ("text", "message"),
    [("9-12", "expected HH:MM-HH:MM"), ("12:00-09:00", "start before the end"), ("10:00", "expected HH:MM-HH:MM")],
)
def test_bad_windows_are_refused_with_the_reason(text: str, message: str) -> None:
    """A window that does not read is named in the error."""
    with pytest.raises(ValueError, match=message):
        parse_windows([text])


@settings(deadline=None)
@given(
    st.text(min_size=1, max_size=20),
    st.dates(date(2024, 1, 1), date(2030, 12, 31)),
    st.integers(0, 12),
    st.lists(st.tuples(st.integers(0, 23 * 60), st.integers(1, 60)), min_size=1, max_size=4),
)
def test_slots_lie_in_the_windows_one_per_share_in_order(
    subject: str, day: date, count: int, spans: list[tuple[int, int]]
) -> None:
    """Each moment is inside a window of that China day, in ascending order, one in each equal share of the time."""
    windows = parse_windows([f"{s // 60:02d}:{s % 60:02d}-{(s + n) // 60:02d}:{(s + n) % 60:02d}" for s, n in spans])
    moments = slot_times(KEY, subject, day, count, windows)
    assert len(moments) == count
    assert moments == sorted(moments)
    total = sum(end - start for start, end in windows)
    elapsed = []
    for moment in moments:
        assert moment.astimezone(CHINA).date() == day
        minute = china_minutes(moment)
        [start] = [a for a, b in windows if a <= minute < b]
        elapsed.append(sum(b - a for a, b in windows if b <= start) + minute - start)
    for index, spent in enumerate(elapsed):
        assert index * total / count - 1 / 60 <= spent < (index + 1) * total / count + 1 / 60


def test_slots_are_the_same_for_every_monitor_and_differ_between_subjects_days_and_keys() -> None:
    """Deterministic under one key (two monitors agree), unpredictable without it."""
    first = slot_times(KEY, "S-1", DAY, 3, WINDOWS)
    assert first == slot_times(KEY, "S-1", DAY, 3, WINDOWS)
    assert first != slot_times(KEY, "S-2", DAY, 3, WINDOWS)
    assert first != slot_times(KEY, "S-1", DAY + timedelta(days=1), 3, WINDOWS)
    assert first != slot_times(schedule_key(b"j" * 32), "S-1", DAY, 3, WINDOWS)
    assert slot_times(KEY, "S-1", DAY, 0, WINDOWS) == []


def test_due_slots_from_their_moment_for_an_hour() -> None:
    """A slot is due from its moment until LATE_LIMIT later, and carries its day and number."""
    cfg = MonitorSection(confirmations_strict=2)
    [first, second] = slot_times(KEY, "S-1", DAY, 2, WINDOWS)
    assert due_slots(KEY, "S-1", "strict", first - timedelta(seconds=1), cfg, WINDOWS) == []
    assert due_slots(KEY, "S-1", "strict", first, cfg, WINDOWS) == [(slot_name(DAY, 1), first)]
    assert due_slots(KEY, "S-1", "strict", first + LATE_LIMIT - timedelta(seconds=1), cfg, WINDOWS)
    assert due_slots(KEY, "S-1", "strict", first + LATE_LIMIT, cfg, WINDOWS) in ([], [(slot_name(DAY, 2), second)])
    assert due_slots(KEY, "S-1", "lenient", first, cfg, WINDOWS) == []  # lenient: none by default


def test_a_slot_just_before_midnight_is_due_after_it() -> None:
    """The previous China day's slots are looked at too."""
    cfg = MonitorSection(confirmations_normal=1)
    late = parse_windows(["23:30-23:59"])
    [moment] = slot_times(KEY, "S-1", DAY, 1, late)
    after_midnight = datetime(2026, 11, 24, 0, 0, tzinfo=CHINA).astimezone(UTC)
    due = due_slots(KEY, "S-1", "normal", after_midnight, cfg, late)
    assert due == ([(slot_name(DAY, 1), moment)] if after_midnight < moment + LATE_LIMIT else [])
    assert due_slots(KEY, "S-1", "normal", moment, cfg, late) == [(slot_name(DAY, 1), moment)]


def test_requests_a_day_per_level() -> None:
    """strict, normal and lenient counts come from the config; an unknown level is treated as normal."""
    cfg = MonitorSection(confirmations_strict=3, confirmations_normal=2, confirmations_lenient=1)
    assert [per_day(cfg, level) for level in ("strict", "normal", "lenient", "other")] == [3, 2, 1, 2]


def test_config_refuses_bad_windows_and_reads_comma_lists() -> None:
    """Windows are checked when the config loads; the environment gives lists as comma-separated text."""
    with pytest.raises(ValueError, match="window '17:00-09:00': expected HH:MM-HH:MM with the start before the end"):
        MonitorSection(confirmation_windows=["17:00-09:00"])
    cfg = MonitorSection.model_validate({"confirmation_windows": "08:00-09:00, 10:00-11:00", "confirmation_nodes": ""})
    assert (cfg.confirmation_windows, cfg.confirmation_nodes) == (["08:00-09:00", "10:00-11:00"], [])
