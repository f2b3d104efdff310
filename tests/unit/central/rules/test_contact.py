"""Lost contact (脱管): silence longer than the interval opens, the next contact closes, late contacts."""

import re
from collections.abc import Sequence
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from central.rules.base import CloseAlert, Decision, OpenAlert, UpdateEvidence
from central.rules.contact import ContactParams, ContactState, evaluate, is_contact, tick
from tests.unit.central.rules.strategies_events import (
    CONTACT_KINDS,
    HOME,
    SUBJECT,
    Feed,
    Ledger,
    Tick,
    at,
    contact_event,
    contact_scripts,
    fix,
    intervals,
    kiosk_checkin,
)

HOUR = ContactParams(timedelta(hours=1))


def run(
    steps: Sequence[Tick | Feed], params: ContactParams = HOUR, state: ContactState | None = None
) -> tuple[ContactState, list[list[Decision]]]:
    """Play ticks and events through the rule; the final state and every step's decisions."""
    state = state or ContactState(SUBJECT)
    out: list[list[Decision]] = []
    for step in steps:
        if isinstance(step, Tick):
            state, decisions = tick(state, step.now, params)
        else:
            state, decisions = evaluate(state, step.observation, step.now, params)
        out.append(decisions)
    return state, out


def test_silence_longer_than_the_interval_opens_lost_contact():
    """One second past the interval, a tick opens lost_contact citing the last contact."""
    state, out = run([Feed(fix("f1", 0, *HOME), at(0)), Tick(at(3600)), Tick(at(3601))])
    assert out[1] == []
    (opened,) = out[2]
    assert opened == OpenAlert(
        SUBJECT,
        "lost_contact",
        "lost_contact:f1",
        at(3601),
        "no fix or check-in for longer than the reporting interval (1 h)",
        ("f1",),
    )
    assert state.episode_key == "lost_contact:f1"


def test_summary_never_says_where():
    """The alert text names the broken rule, not a place or coordinates."""
    _, out = run([Feed(fix("f1", 0, *HOME), at(0)), Tick(at(7200))])
    (opened,) = out[1]
    assert isinstance(opened, OpenAlert)
    assert str(HOME[0]) not in opened.summary
    assert "24." not in opened.summary


def test_ticks_while_open_decide_nothing():
    """One episode per silence: later ticks do not open another."""
    _, out = run([Feed(fix("f1", 0, *HOME), at(0)), Tick(at(4000)), Tick(at(8000)), Tick(at(90000))])
    assert [len(d) for d in out] == [0, 1, 0, 0]


def test_next_contact_closes():
    """The next contact after the silence closes the episode and is cited."""
    _, out = run([Feed(fix("f1", 0, *HOME), at(0)), Tick(at(4000)), Feed(fix("f2", 5000, *HOME), at(5000))])
    assert out[2] == [CloseAlert(SUBJECT, "lost_contact", "lost_contact:f1", at(5000), "contact again", ("f2",))]


@pytest.mark.parametrize("kind", ["checkin", "sighting", "rollcall"])
def test_every_contact_kind_closes(kind):
    """An accepted check-in, a camera sighting and a roll-call answer are contact as much as a fix."""
    _, out = run([Feed(fix("f1", 0, *HOME), at(0)), Tick(at(4000)), Feed(contact_event(kind, "c", 5000), at(5000))])
    assert [type(d) for d in out[2]] == [CloseAlert]


def test_refused_checkin_is_not_contact():
    """A refused check-in neither resets the silence nor closes the episode."""
    refused = kiosk_checkin("k1", 3000, accepted=False)
    assert not is_contact(refused)
    _, out = run([Feed(fix("f1", 0, *HOME), at(0)), Feed(refused, at(3000)), Tick(at(3601))])
    assert [type(d) for d in out[2]] == [OpenAlert]


def test_never_heard_from_raises_nothing():
    """Without any contact there is no reference point (and no event to cite)."""
    _, out = run([Tick(at(0)), Tick(at(10**6))])
    assert out == [[], []]


def test_late_contact_older_than_the_last_contact_changes_nothing():
    """A contact from before the silence arriving late does not close the newer episode."""
    state, out = run([Feed(fix("f2", 1000, *HOME), at(1000)), Tick(at(5000)), Feed(fix("f1", 500, *HOME), at(5100))])
    assert out[2] == []
    assert state.episode_key == "lost_contact:f2"
    assert state.last_contact_id == "f2"


def test_late_contact_inside_the_interval_closes_a_premature_episode():
    """A delayed contact showing the silence never exceeded the interval closes the episode as premature."""
    _, out = run([Feed(fix("f1", 0, *HOME), at(0)), Tick(at(3700)), Feed(fix("f2", 3000, *HOME), at(3800))])
    (closed,) = out[2]
    assert isinstance(closed, CloseAlert)
    assert closed.reason == "late contact: the silence was not longer than the reporting interval"
    assert closed.evidence == ("f2",)


def test_late_contact_with_silence_since_keeps_the_episode_and_cites_it():
    """A delayed contact inside the interval, but followed by a silence still too long, updates the evidence."""
    state, out = run([Feed(fix("f1", 0, *HOME), at(0)), Tick(at(9000)), Feed(fix("f2", 3000, *HOME), at(9100))])
    assert out[2] == [UpdateEvidence(SUBJECT, "lost_contact", "lost_contact:f1", at(3000), ("f2",))]
    assert state.episode_key == "lost_contact:f1"


def test_backlog_closes_once_and_the_next_tick_decides():
    """A device replaying its outbox after an outage closes once; the next tick judges the newest contact."""
    steps: list[Tick | Feed] = [Feed(fix("f0", 0, *HOME), at(0)), Tick(at(4000))]
    steps += [Feed(fix(f"b{i}", 10000 + 60 * i, *HOME), at(20000)) for i in range(10)]
    steps += [Tick(at(20001))]
    _, out = run(steps)
    flat = [d for decisions in out for d in decisions]
    assert [type(d) for d in flat] == [OpenAlert, CloseAlert, OpenAlert]
    assert flat[2].episode_key == "lost_contact:b9"


def test_fast_device_clock_cannot_hide_a_silence():
    """A contact dated in the future counts as received, so the silence is measured from receipt."""
    state, out = run([Feed(fix("f1", 100000, *HOME), at(0)), Tick(at(3601))])
    assert state.last_contact_at == at(0)
    assert [type(d) for d in out[1]] == [OpenAlert]


def test_redelivery_is_ignored():
    """The same event id twice: the second changes nothing."""
    first = fix("f1", 0, *HOME)
    state, _ = run([Feed(first, at(0)), Tick(at(4000))])
    again, decisions = evaluate(state, first, at(4001), HOUR)
    assert (again, decisions) == (state, [])


def test_other_subject_is_refused():
    """An event of another subject is a caller bug, named in the error."""
    other = contact_event("fix", "x1", 0)
    state = ContactState("subject-2")
    with pytest.raises(ValueError, match="event x1 is for subject 'subject-1', expected 'subject-2'"):
        evaluate(state, other, at(0), HOUR)


def test_interval_must_be_positive():
    """A zero interval is refused with the value."""
    with pytest.raises(ValueError, match="reporting_interval must be positive, got 0:00:00"):
        ContactParams(timedelta(0))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", "contact state: expected a JSON object, got list"),
        ('{"subject_id": ""}', "contact state: subject_id must be a non-empty string, got ''"),
        (
            '{"subject_id": "s", "last_contact_at": "2026-11-23T08:00:00", "last_contact_id": "f"}',
            "contact state: last_contact_at must be an ISO 8601 time with a zone, got '2026-11-23T08:00:00'",
        ),
        (
            '{"subject_id": "s", "last_contact_at": null, "last_contact_id": "f", "recent_ids": []}',
            "contact state: last_contact_at and last_contact_id must be both set or both null",
        ),
    ],
)
def test_malformed_state_is_refused(text, message):
    """A state that is not what to_json writes is refused, naming the field."""
    with pytest.raises(ValueError, match=re.escape(message)):
        ContactState.from_json(text)


@given(contact_scripts(), intervals)
def test_state_json_round_trip(steps, interval):
    """Every reachable state survives to_json / from_json unchanged."""
    state = ContactState(SUBJECT)
    params = ContactParams(interval)
    for step in steps:
        if isinstance(step, Tick):
            state, _ = tick(state, step.now, params)
        else:
            state, _ = evaluate(state, step.observation, step.now, params)
        assert ContactState.from_json(state.to_json()) == state
        assert len(state.recent_ids) <= 32


@given(contact_scripts(), intervals)
def test_decisions_cite_fed_events_and_episodes_never_overlap(steps, interval):
    """Any script: every decision cites events fed, and never two open lost_contact episodes."""
    ledger = Ledger()
    state = ContactState(SUBJECT)
    params = ContactParams(interval)
    for step in steps:
        if isinstance(step, Tick):
            state, decisions = tick(state, step.now, params)
        else:
            ledger.fed(step.observation.event_id)
            state, decisions = evaluate(state, step.observation, step.now, params)
        ledger.apply(decisions)
        assert (state.episode_key is not None) == ("lost_contact" in ledger.open)


@given(contact_scripts(in_order=True), intervals)
def test_in_order_fires_exactly_when_silence_exceeds_and_next_contact_closes(steps, interval):
    """In device-time order: a tick opens iff the silence is longer than the interval; the next contact closes."""
    params = ContactParams(interval)
    state = ContactState(SUBJECT)
    last = None
    is_open = False
    for step in steps:
        if isinstance(step, Tick):
            state, decisions = tick(state, step.now, params)
            should_open = not is_open and last is not None and step.now - last > interval
            assert [type(d) for d in decisions] == ([OpenAlert] if should_open else [])
            is_open = is_open or should_open
        else:
            state, decisions = evaluate(state, step.observation, step.now, params)
            if not is_contact(step.observation):
                assert decisions == []
                continue
            expected = [CloseAlert] if is_open and step.now > last else []
            assert [type(d) for d in decisions] == expected
            if decisions:
                assert decisions[0].evidence == (step.observation.event_id,)
                is_open = False
            last = step.now if last is None else max(last, step.now)


@given(contact_scripts(), intervals)
def test_contact_not_newer_than_the_latest_decides_nothing(steps, interval):
    """Out of order: a contact at or before the latest known contact never closes or updates anything."""
    params = ContactParams(interval)
    state = ContactState(SUBJECT)
    for step in steps:
        if isinstance(step, Tick):
            state, _ = tick(state, step.now, params)
            continue
        latest = state.last_contact_at
        state, decisions = evaluate(state, step.observation, step.now, params)
        if latest is not None and min(step.observation.device_time, step.now) <= latest:
            assert decisions == []
            assert state.last_contact_at == latest


@given(st.sampled_from(CONTACT_KINDS), intervals, st.integers(1, 10**6))
def test_any_contact_after_a_long_gap_closes(kind, interval, gap_s):
    """Whatever the kind, an accepted contact ending a gap longer than the interval closes the episode."""
    params = ContactParams(interval)
    start = interval.total_seconds()
    steps: list[Tick | Feed] = [Feed(fix("f0", 0, *HOME), at(0)), Tick(at(start + 1))]
    state, _ = run(steps, params)
    event = contact_event(kind, "c1", start + gap_s)
    _, decisions = evaluate(state, event, at(start + gap_s), params)
    assert [type(d) for d in decisions] == ([CloseAlert] if kind != "refused" else [])
