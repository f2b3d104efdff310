"""人机分离: haversine, disagreeing sources at a place, a phone moving without face check-ins, order."""

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from central.rules.base import CloseAlert, Decision, OpenAlert, UpdateEvidence
from central.rules.separation import (
    EARTH_RADIUS_M,
    MAX_FIXES,
    MAX_PRESENCES,
    SeparationObservation,
    SeparationParams,
    SeparationState,
    evaluate,
    haversine_m,
)
from tests.unit.central.rules.strategies_events import (
    BAND,
    CENTRE,
    HOME,
    PHONE,
    SPAN_S,
    SUBJECT,
    Ledger,
    at,
    fix,
    kiosk_checkin,
    phone_checkin,
    rollcall,
    separation_histories,
    sighting,
)

PARAMS = SeparationParams()
PHONE_CHECKS = SeparationParams(phone_device_ids=frozenset({PHONE}), face_check_period=timedelta(minutes=30))
LATE = at(10**6)  # received long after every device time


def run(
    events: Sequence[SeparationObservation], params: SeparationParams = PARAMS, now: datetime = LATE
) -> tuple[SeparationState, list[list[Decision]]]:
    """Feed events in the order given; the final state and each event's decisions."""
    state = SeparationState(SUBJECT)
    out: list[list[Decision]] = []
    for event in events:
        state, decisions = evaluate(state, event, now, params)
        out.append(decisions)
    return state, out


def flat(out: list[list[Decision]]) -> list[Decision]:
    """All decisions of a run, in order."""
    return [d for decisions in out for d in decisions]


# --- haversine -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected_m", "tolerance_m"),
    [
        ((0.0, 0.0), (0.0, 0.0), 0.0, 1e-9),
        ((0.0, 0.0), (0.0, 1.0), EARTH_RADIUS_M * math.pi / 180, 1e-6),  # 111 195 m along the equator
        ((0.0, 0.0), (90.0, 0.0), EARTH_RADIUS_M * math.pi / 2, 1e-6),  # equator to pole
        ((0.0, 0.0), (0.0, 180.0), EARTH_RADIUS_M * math.pi, 1e-6),  # antipodes
        # a degree of longitude at 60°, by the spherical law of cosines: cos c = sin²φ + cos²φ cos Δλ
        ((60.0, 0.0), (60.0, 1.0), EARTH_RADIUS_M * math.acos(0.75 + 0.25 * math.cos(math.radians(1))), 1e-3),
        ((24.4798, 118.0894), (24.5798, 118.0894), 11_119.5, 0.1),  # 0.1° of latitude
    ],
)
def test_haversine_known_distances(a, b, expected_m, tolerance_m):
    """Distances on the sphere of mean radius match their closed forms."""
    assert haversine_m(*a, *b) == pytest.approx(expected_m, abs=tolerance_m)


def test_haversine_lax_to_jfk_from_the_aviation_formulary():
    """Ed Williams' Aviation Formulary worked example: LAX to JFK is 0.623585 rad (about 2144 nm)."""
    lax = (33 + 57 / 60, -(118 + 24 / 60))
    jfk = (40 + 38 / 60, -(73 + 47 / 60))
    assert haversine_m(*lax, *jfk) / EARTH_RADIUS_M == pytest.approx(0.623585, abs=1e-6)


@given(
    st.floats(-90, 90),
    st.floats(-180, 180),
    st.floats(-90, 90),
    st.floats(-180, 180),
)
def test_haversine_symmetric_and_bounded(lat1, lon1, lat2, lon2):
    """Distance is symmetric, non-negative and at most half the circumference."""
    d = haversine_m(lat1, lon1, lat2, lon2)
    assert d == pytest.approx(haversine_m(lat2, lon2, lat1, lon1), abs=1e-6)
    assert 0 <= d <= EARTH_RADIUS_M * math.pi + 1e-6


# --- disagreement at a place -----------------------------------------------------------------


def test_sighting_at_the_centre_with_the_phone_at_home_opens():
    """A camera sees the subject at the centre while the phone is 11 km away at the same minute."""
    _, out = run([sighting("v1", 0), fix("f1", 60, *HOME)])
    assert out[0] == []
    (opened,) = out[1]
    assert isinstance(opened, OpenAlert)
    assert (opened.kind, opened.episode_key, opened.at, opened.evidence) == (
        "separation",
        "separation:f1",
        at(60),
        ("v1", "f1"),
    )
    assert "24." not in opened.summary


@pytest.mark.parametrize("presence", [kiosk_checkin("k1", 0), rollcall("r1", 0)], ids=["kiosk", "rollcall"])
def test_kiosk_checkin_and_rollcall_are_presences(presence):
    """An accepted kiosk check-in or a roll-call answer at the centre counts like a sighting."""
    _, out = run([fix("f1", 30, *HOME), presence])
    assert [type(d) for d in flat(out)] == [OpenAlert]
    assert flat(out)[0].evidence == (presence.event_id, "f1")


def test_refused_checkin_and_unplaced_sighting_are_no_presence():
    """A refused check-in, or a camera whose place is unknown, says nothing about where the subject is."""
    _, out = run([fix("f1", 30, *HOME), kiosk_checkin("k1", 0, accepted=False), sighting("v1", 0, place=None)])
    assert flat(out) == []


def test_fix_outside_the_window_is_not_compared():
    """Two minutes and one second apart is not "at the same time"."""
    _, out = run([sighting("v1", 0), fix("f1", 121, *HOME)])
    assert flat(out) == []


def test_accuracy_and_place_radius_widen_the_distance():
    """A fix 800 m away with 400 m accuracy is not evidence of separation at 500 m."""
    lat = CENTRE.lat + 800 / 111_195
    _, out = run([sighting("v1", 0), fix("f1", 10, lat, CENTRE.lon, accuracy=400)])
    assert flat(out) == []
    _, out = run([sighting("v1", 0), fix("f1", 10, lat, CENTRE.lon, accuracy=200)])
    assert [type(d) for d in flat(out)] == [OpenAlert]


def test_camera_source_fix_is_not_a_device_fix():
    """A fix made by the camera pipeline cannot disagree with a camera."""
    _, out = run([sighting("v1", 0), fix("f1", 10, *HOME, source="camera")])
    assert flat(out) == []


def test_closes_when_sources_agree_again():
    """A later presence with the phone beside it closes, citing both."""
    _, out = run([sighting("v1", 0), fix("f1", 10, *HOME), sighting("v2", 600), fix("f2", 620, CENTRE.lat, CENTRE.lon)])
    assert [type(d) for d in flat(out)] == [OpenAlert, CloseAlert]
    closed = flat(out)[1]
    assert isinstance(closed, CloseAlert)
    assert (closed.episode_key, closed.evidence) == ("separation:f1", ("v2", "f2"))
    assert closed.reason == "sources agree again: every device is with the subject"


def test_more_disagreement_updates_the_open_episode():
    """Further disagreeing pairs add evidence to the one open episode."""
    _, out = run([sighting("v1", 0), fix("f1", 10, *HOME), fix("f2", 40, *HOME)])
    assert [type(d) for d in flat(out)] == [OpenAlert, UpdateEvidence]
    assert flat(out)[1].evidence == ("v1", "f2")


def test_late_agreement_older_than_the_disagreement_does_not_close():
    """An agreeing pair from before the disagreement arriving late leaves the episode open."""
    _, out = run([sighting("v2", 600), fix("f2", 610, *HOME), sighting("v1", 0), fix("f1", 5, CENTRE.lat, CENTRE.lon)])
    assert [type(d) for d in flat(out)] == [OpenAlert]


def test_late_disagreement_older_than_the_agreement_does_not_open():
    """A disagreeing pair from before an agreement arriving late opens nothing."""
    _, out = run([sighting("v2", 600), fix("f2", 610, CENTRE.lat, CENTRE.lon), sighting("v1", 0), fix("f1", 5, *HOME)])
    assert flat(out) == []


def test_each_device_must_agree_again():
    """The wristband beside the subject does not close what the phone left at home opened."""
    events: list[SeparationObservation] = [sighting("v1", 0), fix("p1", 10, *HOME)]
    events += [fix("b1", 20, CENTRE.lat, CENTRE.lon, device=BAND)]
    events += [sighting("v2", 600), fix("b2", 610, CENTRE.lat, CENTRE.lon, device=BAND)]
    state, out = run(events)
    assert [type(d) for d in flat(out)] == [OpenAlert]
    _, decisions = evaluate(state, fix("p2", 615, CENTRE.lat, CENTRE.lon), LATE, PARAMS)
    assert [type(d) for d in decisions] == [CloseAlert]


def test_too_late_to_pair_decides_nothing():
    """An event older than the retention behind the newest event is dropped."""
    _, out = run([fix("f0", 3600, *HOME), sighting("v1", 0), fix("f1", 10, *HOME)])
    assert flat(out) == []


# --- a phone moving without face check-ins ------------------------------------------------------


def test_phone_moving_without_face_checkins_opens_and_cites_failures():
    """The phone travels 11 km over the period with a failed face check-in: open, citing fixes and check-ins."""
    events: list[SeparationObservation] = [
        phone_checkin("ok", 0),
        fix("a", 60, CENTRE.lat, CENTRE.lon),
        phone_checkin("bad", 600, accepted=False),
        fix("b", 1799, *HOME),
        fix("c", 1800, *HOME),
        fix("d", 1860, *HOME),
    ]
    _, out = run(events, PHONE_CHECKS)
    assert out[:4] == [[], [], [], []]
    (opened,) = out[4]
    assert (type(opened), opened.episode_key, opened.evidence) == (OpenAlert, "separation:c", ("a", "c", "ok", "bad"))
    (updated,) = out[5]
    assert (type(updated), updated.evidence) == (UpdateEvidence, ("a", "d", "ok", "bad"))


def test_phone_moving_within_the_period_is_fine():
    """Moving while the last accepted face check-in is recent raises nothing."""
    events: list[SeparationObservation] = [phone_checkin("ok", 0), fix("a", 60, CENTRE.lat, CENTRE.lon)]
    events += [fix("b", 1700, *HOME)]
    _, out = run(events, PHONE_CHECKS)
    assert flat(out) == []


def test_phone_still_without_checkins_is_fine():
    """A phone that stays put raises nothing however long check-ins are missing."""
    events = [fix("a", 0, *HOME), fix("b", 3000, HOME[0] + 0.0005, HOME[1])]
    _, out = run(events, PHONE_CHECKS)
    assert flat(out) == []


def test_accepted_face_checkin_closes_moving_episode():
    """An accepted face check-in on the phone shows the subject has it again."""
    events = [fix("a", 0, CENTRE.lat, CENTRE.lon), fix("b", 1900, *HOME)]
    state, out = run(events, PHONE_CHECKS)
    assert [type(d) for d in flat(out)] == [OpenAlert]
    _, decisions = evaluate(state, phone_checkin("ok", 2000), LATE, PHONE_CHECKS)
    assert [(type(d), d.evidence) for d in decisions] == [(CloseAlert, ("ok",))]


def test_late_accepted_checkin_within_the_period_withdraws_moving_evidence():
    """A delayed check-in shortly before the moving fix shows the period had not passed: close."""
    events: list[SeparationObservation] = [fix("a", 0, CENTRE.lat, CENTRE.lon), fix("b", 1900, *HOME)]
    events += [phone_checkin("ok", 1000)]
    _, out = run(events, PHONE_CHECKS)
    assert [type(d) for d in flat(out)] == [OpenAlert, CloseAlert]


def test_late_early_fix_becomes_the_anchor():
    """A delayed first fix is the start of the movement, measured against the fixes already seen."""
    params = SeparationParams(
        retention=timedelta(hours=1), phone_device_ids=frozenset({PHONE}), face_check_period=timedelta(minutes=30)
    )
    events = [fix("b", 1900, *HOME), fix("a", 0, CENTRE.lat, CENTRE.lon)]
    _, out = run(events, params)
    assert [(type(d), d.evidence) for d in flat(out)] == [(OpenAlert, ("a", "b"))]


def test_moving_wristband_needs_no_face_checkin():
    """Only the subject's phones are expected to be face-checked."""
    events = [fix("a", 0, CENTRE.lat, CENTRE.lon, device=BAND), fix("b", 1900, *HOME, device=BAND)]
    _, out = run(events, PHONE_CHECKS)
    assert flat(out) == []


def verified_fix(event_id: str, seconds: float, where: tuple[float, float], passed: bool, device: str = PHONE):
    """A phone fix that says how the app's face check with it went."""
    return replace(fix(event_id, seconds, *where), device_id=device, face_verified=passed)


def test_fix_with_a_passed_face_check_is_a_face_checkin():
    """The app's face check travels with the fix: passed, it restarts the period and closes the episode."""
    events = [fix("a", 0, CENTRE.lat, CENTRE.lon), verified_fix("v", 1700, HOME, True), fix("b", 1900, *HOME)]
    _, out = run(events, PHONE_CHECKS)
    assert flat(out) == []  # the check at 1700 s: the phone moved, but with its owner
    state, out = run([fix("a", 0, CENTRE.lat, CENTRE.lon), fix("b", 1900, *HOME)], PHONE_CHECKS)
    assert [type(d) for d in flat(out)] == [OpenAlert]
    _, decisions = evaluate(state, verified_fix("v", 2000, HOME, True), LATE, PHONE_CHECKS)
    assert [(type(d), d.evidence) for d in decisions] == [(CloseAlert, ("v",))]


def test_fix_with_a_failed_face_check_is_cited_and_counts_as_a_fix():
    """Failed, it is cited as a failed check-in, and it is still a position of the phone."""
    events = [fix("a", 0, CENTRE.lat, CENTRE.lon), verified_fix("x", 1850, HOME, False)]
    state, out = run(events, PHONE_CHECKS)
    [[], [opened]] = out
    assert (type(opened), opened.evidence) == (OpenAlert, ("a", "x"))
    assert [d.face_failed for d in state.devices] == [("x",)]
    _, decisions = evaluate(state, fix("c", 1900, *HOME), LATE, PHONE_CHECKS)
    assert [(type(d), d.evidence) for d in decisions] == [(UpdateEvidence, ("a", "c", "x"))]


def test_face_check_on_a_device_that_is_not_the_phone_is_ignored():
    """Only the subject's registered phones are face-checked: a wristband's flag means nothing."""
    events = [fix("a", 0, CENTRE.lat, CENTRE.lon), verified_fix("v", 1700, HOME, True, device=BAND)]
    events += [fix("b", 1900, *HOME)]
    _, out = run(events, PHONE_CHECKS)
    assert [type(d) for d in flat(out)] == [OpenAlert]


# --- errors and state ----------------------------------------------------------------------------


def test_other_subject_is_refused():
    """An event of another subject is a caller bug, named in the error."""
    with pytest.raises(ValueError, match="event v1 is for subject 'subject-1', expected 'subject-2'"):
        evaluate(SeparationState("subject-2"), sighting("v1", 0), LATE, PARAMS)


def test_retention_shorter_than_window_is_refused():
    """Pairs could not form if events were dropped before their window ends."""
    with pytest.raises(ValueError, match="retention must be at least window"):
        SeparationParams(window=timedelta(minutes=5), retention=timedelta(minutes=1))


def test_malformed_state_is_refused():
    """A state that is not what to_json writes is refused, naming the field."""
    with pytest.raises(ValueError, match="separation state: fixes must be a list, got 3"):
        SeparationState.from_json('{"subject_id": "s", "fixes": 3}')


def test_redelivery_is_ignored():
    """The same event id twice: the second changes nothing."""
    state, _ = run([sighting("v1", 0), fix("f1", 10, *HOME)])
    assert evaluate(state, fix("f1", 10, *HOME), LATE, PARAMS) == (state, [])


@settings(deadline=None)
@given(separation_histories(), st.sampled_from([PARAMS, PHONE_CHECKS]))
def test_json_round_trip_and_bounded(events, params):
    """Every reachable state survives to_json / from_json and stays within its bounds."""
    state = SeparationState(SUBJECT)
    for event in events:
        state, _ = evaluate(state, event, LATE, params)
        assert SeparationState.from_json(state.to_json()) == state
        assert len(state.fixes) <= MAX_FIXES
        assert len(state.presences) <= MAX_PRESENCES
        assert len(state.devices) <= 2


@settings(deadline=None)
@given(separation_histories(), st.sampled_from([PARAMS, PHONE_CHECKS]), st.randoms(use_true_random=False))
def test_decisions_cite_fed_events_and_episodes_never_overlap(events, params, random):
    """Any order, with redeliveries: decisions cite events fed; one separation episode at a time."""
    events = events + random.sample(events, k=min(3, len(events)))
    random.shuffle(events)
    ledger = Ledger()
    state = SeparationState(SUBJECT)
    for event in events:
        ledger.fed(event.event_id)
        state, decisions = evaluate(state, event, LATE, params)
        ledger.apply(decisions)
        assert (state.episode_key is not None) == ("separation" in ledger.open)
        assert (state.episode_key is not None) == any(d.apart() for d in state.devices)


@settings(deadline=None)
@given(separation_histories(max_size=MAX_PRESENCES), st.permutations(range(MAX_PRESENCES)))
def test_verdict_does_not_depend_on_arrival_order(events, order):
    """Presence pairs and face check-ins: the same events in another order end in the same verdict."""
    params = SeparationParams(retention=timedelta(seconds=SPAN_S), phone_device_ids=frozenset({PHONE}))
    shuffled = [events[i] for i in order if i < len(events)]
    first, _ = run(events, params)
    second, _ = run(shuffled, params)
    assert {d.device_id for d in first.devices if d.apart()} == {d.device_id for d in second.devices if d.apart()}
    assert (first.episode_key is None) == (second.episode_key is None)


@settings(deadline=None)
@given(separation_histories(moving=False))
def test_no_disagreement_no_alert(events):
    """When every device fix is at the centre, nothing ever opens."""
    at_centre = [e for e in events if not hasattr(e, "lat") or e.lat == CENTRE.lat]
    _, out = run(at_centre, PHONE_CHECKS)
    assert flat(out) == []
