"""Device alarms: one episode per kind, evidence on repeats, recovery closes, officers handle the rest."""

import re
from collections.abc import Sequence
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from central.rules.base import CloseAlert, Decision, OpenAlert, UpdateEvidence
from central.rules.device_alarm import (
    ALARM_KINDS,
    SUMMARIES,
    AlarmKind,
    AlarmObservation,
    DeviceAlarmObservation,
    DeviceAlarmParams,
    DeviceAlarmState,
    DeviceReport,
    evaluate,
    handled,
)
from tests.unit.central.rules.strategies_events import (
    BAND,
    HOME,
    PHONE,
    SUBJECT,
    Ledger,
    at,
    device_histories,
    fix,
)

PARAMS = DeviceAlarmParams()
LATE = at(10**6)


def alarm(event_id: str, seconds: float, kind: AlarmKind, device: str = BAND) -> AlarmObservation:
    """A device alarm of the subject at T0 + seconds."""
    return AlarmObservation(event_id, SUBJECT, at(seconds), device, kind)


def report(event_id: str, seconds: float, battery: float | None = None, device: str = BAND) -> DeviceReport:
    """A status report of a running device at T0 + seconds."""
    return DeviceReport(event_id, SUBJECT, at(seconds), device, battery)


def run(
    events: Sequence[DeviceAlarmObservation], state: DeviceAlarmState | None = None, now: datetime = LATE
) -> tuple[DeviceAlarmState, list[list[Decision]]]:
    """Feed events in the order given; the final state and each event's decisions."""
    state = state or DeviceAlarmState(SUBJECT)
    out: list[list[Decision]] = []
    for event in events:
        state, decisions = evaluate(state, event, now, PARAMS)
        out.append(decisions)
    return state, out


def kinds(out: list[list[Decision]]) -> list[type]:
    """The decision types of a run, in order."""
    return [type(d) for decisions in out for d in decisions]


@pytest.mark.parametrize("kind", ALARM_KINDS)
def test_every_alarm_kind_opens_an_alert_of_that_kind(kind):
    """tamper, low_battery, power_off, sensor_fault and sos each raise their own alert."""
    state, out = run([alarm("a1", 0, kind)])
    assert out == [[OpenAlert(SUBJECT, kind, f"{kind}:a1", at(0), SUMMARIES[kind], ("a1",))]]
    assert state.episode(kind) == f"{kind}:a1"


def test_repeated_tamper_updates_the_open_episode():
    """A second strap-cut alarm while one is open adds evidence instead of a second alert."""
    _, out = run([alarm("a1", 0, "tamper"), alarm("a2", 60, "tamper", device=PHONE)])
    assert out[1] == [UpdateEvidence(SUBJECT, "tamper", "tamper:a1", at(60), ("a2",))]


def test_kinds_have_separate_episodes():
    """A low battery does not join a tamper episode."""
    state, out = run([alarm("a1", 0, "tamper"), alarm("a2", 10, "low_battery")])
    assert kinds(out) == [OpenAlert, OpenAlert]
    assert state.episodes == (("low_battery", "low_battery:a2"), ("tamper", "tamper:a1"))


def test_battery_recovery_closes_low_battery():
    """A later report at or above the recovery level closes; below it, or without a level, does not."""
    _, out = run(
        [
            alarm("a1", 0, "low_battery"),
            report("r1", 60, 20.0),
            fix("f1", 70, *HOME, device=BAND),
            report("r2", 80, 30.0),
        ]
    )
    assert out[1:3] == [[], []]
    assert out[3] == [CloseAlert(SUBJECT, "low_battery", "low_battery:a1", at(80), "battery recovered", ("r2",))]


@pytest.mark.parametrize("back", [report("r1", 60), fix("f1", 60, *HOME, device=BAND)], ids=["status", "fix"])
def test_device_on_again_closes_power_off(back):
    """Any later status or fix from the device closes power_off."""
    _, out = run([alarm("a1", 0, "power_off"), back])
    assert out[1] == [CloseAlert(SUBJECT, "power_off", "power_off:a1", at(60), "device on again", (back.event_id,))]


def test_another_device_does_not_close():
    """The phone reporting does not mean the wristband is back on."""
    _, out = run([alarm("a1", 0, "power_off"), report("r1", 60, 90.0, device=PHONE)])
    assert kinds(out) == [OpenAlert]


def test_closes_only_when_every_device_recovered():
    """Two devices low on battery: the episode closes when the second one recovers."""
    events: list[DeviceAlarmObservation] = [alarm("a1", 0, "low_battery"), alarm("a2", 5, "low_battery", device=PHONE)]
    events += [report("r1", 60, 90.0), report("r2", 70, 90.0, device=PHONE)]
    _, out = run(events)
    assert kinds(out) == [OpenAlert, UpdateEvidence, CloseAlert]
    assert out[3][0].evidence == ("r2",)


@pytest.mark.parametrize("kind", ["tamper", "sos", "sensor_fault"])
def test_tamper_sos_and_sensor_fault_stay_open_until_handled(kind):
    """No report closes them; after an officer handles it, the next alarm opens a new episode."""
    state, out = run([alarm("a1", 0, kind), report("r1", 60, 100.0), fix("f1", 70, *HOME, device=BAND)])
    assert kinds(out) == [OpenAlert]
    state = handled(state, kind, f"{kind}:a1", at(100))
    assert state.episode(kind) is None
    _, out = run([alarm("a2", 90, kind), alarm("a3", 120, kind)], state)
    assert out[0] == []  # before the officer's handling: covered by it
    assert [(type(d), d.episode_key) for d in out[1]] == [(OpenAlert, f"{kind}:a3")]


def test_handling_covers_alarms_with_a_fast_clock():
    """Alarms the episode holds are covered even when dated after the officer's handling."""
    state, _ = run([alarm("a1", 500, "tamper")])
    state = handled(state, "tamper", "tamper:a1", at(100))
    assert state.handled_at("tamper") == at(500)


def test_handling_another_episode_changes_nothing():
    """A stale or repeated handling of a key that is not open is ignored."""
    state, _ = run([alarm("a1", 0, "tamper")])
    assert handled(state, "tamper", "tamper:old", at(100)) == state
    assert handled(state, "sos", "tamper:a1", at(100)) == state


def test_late_alarm_older_than_the_recovery_is_superseded():
    """A low-battery alarm arriving after a newer recovery report of the device opens nothing."""
    _, out = run([report("r1", 60, 90.0), alarm("a1", 0, "low_battery")])
    assert kinds(out) == []


def test_recovery_older_than_the_alarm_does_not_close():
    """A delayed report from before the alarm leaves it open; a tie goes to the alarm."""
    _, out = run([alarm("a1", 60, "low_battery"), report("r1", 0, 90.0), report("r2", 60, 90.0)])
    assert kinds(out) == [OpenAlert]


def test_fast_device_clock_counts_as_received():
    """An alarm dated in the future is taken at its receipt, so a later recovery still closes it."""
    state, out = run([alarm("a1", 10**7, "power_off")], now=at(0))
    assert out[0][0].at == at(0)
    _, decisions = evaluate(state, report("r1", 60), at(60), PARAMS)
    assert [type(d) for d in decisions] == [CloseAlert]


def test_redelivery_is_ignored():
    """The same event id twice: the second changes nothing."""
    state, _ = run([alarm("a1", 0, "tamper")])
    assert evaluate(state, alarm("a1", 0, "tamper"), LATE, PARAMS) == (state, [])


def test_bad_inputs_are_refused_with_the_value():
    """Battery out of range, an unknown kind and a naive time are refused, naming the value."""
    with pytest.raises(ValueError, match="battery_pct must be between 0 and 100, got 120"):
        report("r1", 0, 120.0)
    with pytest.raises(ValueError, match="kind must be one of tamper, low_battery, power_off, sensor_fault, sos"):
        AlarmObservation("a1", SUBJECT, at(0), BAND, "fire")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="device_time must have a zone"):
        AlarmObservation("a1", SUBJECT, at(0).replace(tzinfo=None), BAND, "sos")
    with pytest.raises(ValueError, match="battery_recovered_pct must be between 0 and 100, got -1"):
        DeviceAlarmParams(-1)
    with pytest.raises(ValueError, match="event a1 is for subject 'subject-1', expected 'subject-2'"):
        evaluate(DeviceAlarmState("subject-2"), alarm("a1", 0, "sos"), LATE, PARAMS)


def test_malformed_state_is_refused():
    """A state that is not what to_json writes is refused, naming the field."""
    text = '{"subject_id": "s", "conditions": [], "episodes": [["fire", "k"]], "handled_through": [], "recent_ids": []}'
    with pytest.raises(ValueError, match=re.escape("device alarm state: episodes[].kind must be one of tamper")):
        DeviceAlarmState.from_json(text)


@settings(deadline=None)
@given(device_histories(), st.lists(st.booleans(), min_size=33, max_size=33), st.randoms(use_true_random=False))
def test_round_trip_evidence_and_one_episode_per_kind(events, handle, random):
    """Any order, redeliveries and handlings: JSON round trip, decisions cite events, one episode per kind."""
    events = events + random.sample(events, k=min(3, len(events)))
    random.shuffle(events)
    ledger = Ledger()
    state = DeviceAlarmState(SUBJECT)
    for index, event in enumerate(events):
        ledger.fed(event.event_id)
        state, decisions = evaluate(state, event, LATE, PARAMS)
        ledger.apply(decisions)
        if handle[index]:
            for kind, key in state.episodes:
                del ledger.open[kind]
                state = handled(state, kind, key, at(1800))
        assert DeviceAlarmState.from_json(state.to_json()) == state
        assert {k for k, _ in state.episodes} == set(ledger.open)
        for kind in ALARM_KINDS:
            active = any(c.active(state.handled_at(kind)) for c in state.conditions if c.kind == kind)
            assert active == (state.episode(kind) is not None)
        assert len(state.conditions) <= 2 * len(ALARM_KINDS)


@settings(deadline=None)
@given(device_histories(), st.randoms(use_true_random=False))
def test_open_kinds_do_not_depend_on_arrival_order(events, random):
    """The same alarms and reports in another order leave the same kinds open."""
    first, _ = run(events)
    shuffled = list(events)
    random.shuffle(shuffled)
    second, _ = run(shuffled)
    assert {k for k, _ in first.episodes} == {k for k, _ in second.episodes}


@given(st.sampled_from(ALARM_KINDS), st.integers(0, 3600), st.integers(1, 3600))
def test_recovery_after_the_alarm_closes_exactly_the_self_clearing_kinds(kind, alarm_s, later_s):
    """A full-battery report after the alarm closes low_battery and power_off, never the others."""
    _, out = run([alarm("a1", alarm_s, kind), report("r1", alarm_s + later_s, 100.0)])
    assert kinds(out) == [OpenAlert] + ([CloseAlert] if kind in ("low_battery", "power_off") else [])


def test_summary_never_says_where():
    """Alarm texts name the trouble, not a place."""
    assert all("24." not in text and "118." not in text for text in SUMMARIES.values())
