"""central.presence: who was present in a window, on which evidence (pure; exhaustive with hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from central.presence import CheckinSeen, Presence, SightingSeen, presence, tally

T0 = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)  # 09:00 China time
SUBJECTS = ["S-1", "S-2", "S-3", "S-4"]
minutes = st.integers(-180, 360).map(lambda m: T0 + timedelta(minutes=m))


@st.composite
def checkins(draw: st.DrawFn) -> CheckinSeen:
    return CheckinSeen(
        subject_id=draw(st.sampled_from([*SUBJECTS, "S-other"])),
        at=draw(minutes),
        device_id=draw(st.sampled_from(["kiosk-a", "kiosk-b"])),
        event_id=str(draw(st.uuids())),
        accepted=draw(st.booleans()),
    )


@st.composite
def sightings(draw: st.DrawFn) -> SightingSeen:
    first = draw(minutes)
    return SightingSeen(
        subject_id=draw(st.sampled_from([*SUBJECTS, "S-other"])),
        first_seen=first,
        last_seen=first + timedelta(seconds=draw(st.integers(0, 3 * 3600))),
        device_id="edge-a",
        camera_id=draw(st.sampled_from(["cam-1", "cam-2"])),
        event_id=str(draw(st.uuids())),
        score=draw(st.floats(0.3, 1.0)),
    )


windows = st.tuples(st.integers(-60, 120), st.integers(1, 240), st.integers(0, 60)).map(
    lambda t: (T0 + timedelta(minutes=t[0]), T0 + timedelta(minutes=t[0] + t[1]), timedelta(minutes=t[2]))
)
expected_lists = st.lists(st.sampled_from(SUBJECTS), max_size=6)


def _oracle(subject: str, start: datetime, end: datetime, early: timedelta, cs, ss) -> str | None:
    """The rule restated in minutes-as-sets terms, independently of the implementation."""
    if any(c.subject_id == subject and c.accepted and not (c.at < start - early or c.at >= end) for c in cs):
        return "checkin"
    if any(s.subject_id == subject and not (s.last_seen < start or s.first_seen >= end) for s in ss):
        return "sighting"
    return None


@given(expected_lists, windows, st.lists(checkins(), max_size=12), st.lists(sightings(), max_size=12))
def test_matches_the_rule(expected, window, cs, ss) -> None:
    """Each expected subject once, in order, present exactly when the rule says, by the stronger evidence."""
    start, end, early = window
    out = presence(expected, start, end, cs, ss, early=early)
    assert [p.subject_id for p in out] == list(dict.fromkeys(expected))
    for p in out:
        assert p.by == _oracle(p.subject_id, start, end, early, cs, ss)
        assert p.present == (p.by is not None)
        # The evidence listed is exactly what counts, about this subject only, oldest first.
        assert all(c.subject_id == p.subject_id and c.accepted for c in p.checkins)
        assert all(s.subject_id == p.subject_id for s in p.sightings)
        assert [c.at for c in p.checkins] == sorted(c.at for c in p.checkins)
        assert [s.first_seen for s in p.sightings] == sorted(s.first_seen for s in p.sightings)
        counted = {
            c.event_id for c in cs if c.subject_id == p.subject_id and c.accepted and start - early <= c.at < end
        }
        assert {c.event_id for c in p.checkins} == counted
    t = tally(out)
    assert t.expected == len(out) == t.by_checkin + t.by_sighting_only + t.absent


@given(
    expected_lists,
    windows,
    st.lists(checkins(), max_size=8),
    st.lists(sightings(), max_size=8),
    checkins(),
    sightings(),
)
def test_more_evidence_never_makes_anyone_absent(expected, window, cs, ss, extra_c, extra_s) -> None:
    """Adding a check-in or a sighting can only add presence."""
    start, end, early = window
    before = {p.subject_id: p.present for p in presence(expected, start, end, cs, ss, early=early)}
    after = {
        p.subject_id: p.present for p in presence(expected, start, end, [*cs, extra_c], [*ss, extra_s], early=early)
    }
    assert all(after[s] or not was for s, was in before.items())


@given(windows, st.lists(checkins(), max_size=8), st.lists(sightings(), max_size=8))
def test_order_of_evidence_does_not_matter(window, cs, ss) -> None:
    """The same evidence in another order gives the same answer."""
    start, end, early = window
    a = presence(SUBJECTS, start, end, cs, ss, early=early)
    b = presence(SUBJECTS, start, end, list(reversed(cs)), list(reversed(ss)), early=early)
    assert a == b


def _c(at: datetime, accepted: bool = True, subject: str = "S-1") -> CheckinSeen:
    return CheckinSeen(subject, at, "kiosk-a", f"c-{at.isoformat()}", accepted)


def _s(first: datetime, last: datetime, subject: str = "S-1") -> SightingSeen:
    return SightingSeen(subject, first, last, "edge-a", "cam-1", f"s-{first.isoformat()}", 0.8)


START, END = T0, T0 + timedelta(hours=2)


def _one(cs=(), ss=(), early=timedelta(0)) -> Presence:
    return presence(["S-1"], START, END, cs, ss, early=early)[0]


def test_boundaries() -> None:
    """[start, end): a check-in at the start counts, at the end not; a track touching the start counts."""
    assert _one([_c(START)]).by == "checkin"
    assert _one([_c(END)]).by is None
    assert _one([_c(START - timedelta(seconds=1))]).by is None
    assert _one([_c(START - timedelta(minutes=30))], early=timedelta(minutes=30)).by == "checkin"
    assert _one(ss=[_s(START - timedelta(hours=1), START)]).by == "sighting"
    assert _one(ss=[_s(START - timedelta(hours=1), START - timedelta(seconds=1))]).by is None
    assert _one(ss=[_s(END, END + timedelta(minutes=5))]).by is None
    assert _one(ss=[_s(END - timedelta(seconds=1), END + timedelta(minutes=5))]).by == "sighting"


def test_refused_checkin_is_not_presence_but_a_sighting_is() -> None:
    """A refused check-in proves nothing; a camera sighting in the window does (group study at the centre)."""
    p = _one([_c(START + timedelta(minutes=5), accepted=False)], [_s(START + timedelta(minutes=10), END)])
    assert (p.present, p.by, p.checkins, len(p.sightings)) == (True, "sighting", (), 1)


def test_checkin_wins_and_sightings_are_still_listed() -> None:
    """Both kinds of evidence: present by check-in, with the sighting kept as evidence."""
    p = _one([_c(START + timedelta(minutes=1))], [_s(START, START + timedelta(minutes=3))])
    assert p.by == "checkin" and len(p.checkins) == 1 and len(p.sightings) == 1


def test_bad_windows_are_refused() -> None:
    """An empty or inverted window, or a negative arrival margin, is a clear error."""
    with pytest.raises(ValueError, match="at or before it starts"):
        presence(["S-1"], END, START, [], [])
    with pytest.raises(ValueError, match="at or before it starts"):
        presence(["S-1"], START, START, [], [])
    with pytest.raises(ValueError, match="must not be negative"):
        presence(["S-1"], START, END, [], [], early=timedelta(minutes=-1))
