"""The fence rule: evidence, episodes, order, duplicates, state as JSON; properties against a plain reference model."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from central.rules.base import AlertKind, CloseAlert, Decision, FixObservation, OpenAlert, UpdateEvidence
from central.rules.fence import (
    CLEAR,
    FENCE_LEVELS,
    MAX_EVIDENCE,
    UNSURE,
    VIOLATING,
    ExclusionCircle,
    ExclusionPolygon,
    FenceLevel,
    FenceParams,
    FenceSet,
    FenceState,
    LeaveWindow,
    evaluate,
    evaluate_batch,
    exclusion_zone,
)
from tests.unit.central.rules.strategies import (
    FUZHOU_GULOU,
    HAICANG_GEOJSON,
    HOME,
    NOW,
    SCHOOL,
    SUBJECT,
    WEST,
    Trip,
    at,
    fix,
    haicang,
    haicang_fences,
    offset,
    params,
    trips,
)

NORMAL = FENCE_LEVELS["normal"]
COUNT3 = FenceLevel(confirm_fixes=3, confirm_dwell_s=None, close_fixes=2)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run(
    fixes: list[FixObservation], p: FenceParams | None = None, state: FenceState | None = None
) -> tuple[FenceState, list[Decision]]:
    """Feed fixes in the order given (received at NOW); the final state and every decision."""
    s = FenceState(SUBJECT) if state is None else state
    out: list[Decision] = []
    for f in fixes:
        s, decisions = evaluate(s, f, NOW, params() if p is None else p)
        out += decisions
    return s, out


def of(kind: str, decisions: list[Decision]) -> list[Decision]:
    """The decisions about one kind."""
    return [d for d in decisions if d.kind == kind]


def kinds(decisions: list[Decision]) -> list[tuple[str, str, str]]:
    """(decision type, kind, episode key) of each decision: what a test usually asserts on."""
    return [(type(d).__name__, d.kind, d.episode_key) for d in decisions]


def excursion(n_out: int, n_back: int = 0, step: float = 30.0, start: int = 0) -> list[FixObservation]:
    """Two fixes at home, `n_out` fixes 5 km outside, `n_back` fixes home again; ids e<index>."""
    places = [HOME] * 2 + [WEST] * n_out + [HOME] * n_back
    return [fix(f"e{start + i:02d}", (start + i) * step, where) for i, where in enumerate(places)]


# --- reference model: the sorted-order semantics written out plainly ------------------------------


def verdicts(f: FixObservation, p: FenceParams) -> tuple[int, int]:
    """The fix's (fence, exclusion) verdicts, straight from the fence set."""
    if not (math.isfinite(f.lon) and math.isfinite(f.lat)):
        return UNSURE, UNSURE
    t = (f.device_time - EPOCH) // timedelta(microseconds=1)
    h = p.level.hysteresis_m
    return (
        p.fences.fence_verdict(f.lon, f.lat, f.accuracy_m, h, t),
        p.fences.exclusion_verdict(f.lon, f.lat, f.accuracy_m, h),
    )


def cited(ids: list[str]) -> tuple[str, ...]:
    """At most MAX_EVIDENCE ids: the first ones and the latest."""
    return tuple(ids) if len(ids) <= MAX_EVIDENCE else (*ids[: MAX_EVIDENCE - 1], ids[-1])


def reference(fixes: list[FixObservation], p: FenceParams) -> list[Decision]:
    """Decisions of the rule on fixes in device-time order, by a separate, unoptimised model."""
    level = p.level
    ordered = sorted(fixes, key=lambda f: (f.device_time, f.event_id))
    out: list[Decision] = []
    rules: list[tuple[int, AlertKind, str, str]] = [
        (0, "fence_breach", "outside the allowed area", "back inside the allowed area"),
        (1, "exclusion_zone", "inside an exclusion zone (禁止令)", "out of the exclusion zones"),
    ]
    for slot, kind, what, back in rules:
        episode: str | None = None
        run: list[FixObservation] = []
        for f in ordered:
            v = verdicts(f, p)[slot]
            if v == UNSURE:
                continue
            if episode is None:
                if v == CLEAR:
                    run = []
                    continue
                run.append(f)
                span = (f.device_time - run[0].device_time).total_seconds()
                by_count = level.confirm_fixes is not None and len(run) >= level.confirm_fixes
                by_dwell = level.confirm_dwell_s is not None and len(run) >= 2 and span >= level.confirm_dwell_s
                if by_count or by_dwell:
                    episode = run[0].event_id
                    summary = (
                        f"{what} for {len(run)} fixes in a row, each by more than its accuracy"
                        if by_count
                        else f"{what} for {int(span)} s ({len(run)} fixes, each by more than its accuracy)"
                    )
                    ids = cited([r.event_id for r in run])
                    out.append(OpenAlert(SUBJECT, kind, episode, f.device_time, summary, ids))
                    run = []
            elif v == VIOLATING:
                run = []
                out.append(UpdateEvidence(SUBJECT, kind, episode, f.device_time, (f.event_id,)))
            else:
                run.append(f)
                if len(run) >= level.close_fixes:
                    ids = cited([r.event_id for r in run])
                    reason = f"{back} for {len(run)} fixes in a row"
                    out.append(CloseAlert(SUBJECT, kind, episode, f.device_time, reason, ids))
                    episode, run = None, []
    return out


# --- evidence ------------------------------------------------------------------------------------


def test_breach_opens_at_the_nth_outside_fix_and_cites_the_run() -> None:
    """With N = 3 the alert opens on the third fix outside, keyed by the first, citing all three."""
    _, decisions = run(excursion(3), params(COUNT3))
    assert decisions == [
        OpenAlert(
            SUBJECT,
            "fence_breach",
            "e02",
            at(4 * 30),
            "outside the allowed area for 3 fixes in a row, each by more than its accuracy",
            ("e02", "e03", "e04"),
        )
    ]
    _, fewer = run(excursion(2), params(COUNT3))
    assert fewer == []


def test_dwell_opens_once_the_run_lasts_long_enough() -> None:
    """Dwell only: the alert opens on the first fix at least T after the run's first one."""
    level = FenceLevel(confirm_fixes=None, confirm_dwell_s=300.0)
    _, decisions = run(excursion(11, step=30.0), params(level))
    assert kinds(decisions) == [("OpenAlert", "fence_breach", "e02")]
    opened = decisions[0]
    assert isinstance(opened, OpenAlert)
    assert opened.at == at(12 * 30)  # e02 at 60 s, e12 at 360 s: 300 s later
    assert opened.summary == "outside the allowed area for 300 s (11 fixes, each by more than its accuracy)"
    assert opened.evidence == tuple(f"e{i:02d}" for i in range(2, 13))


def test_whichever_of_count_and_dwell_comes_first_confirms() -> None:
    """With N = 5 and T = 60 s, two fixes a minute apart already confirm."""
    level = FenceLevel(confirm_fixes=5, confirm_dwell_s=60.0)
    _, decisions = run(excursion(2, step=60.0), params(level))
    assert kinds(decisions) == [("OpenAlert", "fence_breach", "e02")]


def test_unsure_fixes_neither_count_nor_break_a_run() -> None:
    """A border fix within its accuracy between outside fixes is skipped, not a reset."""
    from tests.unit.central.rules.strategies import HAICANG, across

    border = across(HAICANG, 20, 0.5, 10.0)
    fixes = [
        fix("a", 0, WEST),
        fix("b", 30, border, 30.0),
        fix("c", 60, WEST),
        fix("d", 90, HOME, 5000.0),  # a cell fix at home: 5 km accuracy, no evidence
        fix("e", 120, WEST),
    ]
    _, decisions = run(fixes, params(COUNT3))
    assert decisions[0].evidence == ("a", "c", "e")


def test_an_inside_fix_breaks_the_run() -> None:
    """Outside, outside, inside, outside, outside: never three in a row, no alert."""
    places = [WEST, WEST, HOME, WEST, WEST]
    _, decisions = run([fix(f"e{i}", i * 30, w) for i, w in enumerate(places)], params(COUNT3))
    assert decisions == []


def test_open_episode_collects_evidence_and_closes_after_k_inside_fixes() -> None:
    """Each further outside fix is cited; two inside fixes close, citing them."""
    _, decisions = run(excursion(4, n_back=3), params(COUNT3))
    assert kinds(decisions) == [
        ("OpenAlert", "fence_breach", "e02"),
        ("UpdateEvidence", "fence_breach", "e02"),
        ("CloseAlert", "fence_breach", "e02"),
    ]
    close = decisions[-1]
    assert isinstance(close, CloseAlert)
    assert close.evidence == ("e06", "e07")
    assert close.at == at(7 * 30)
    assert close.reason == "back inside the allowed area for 2 fixes in a row"


def test_long_runs_cite_their_first_fixes_and_the_latest() -> None:
    """An alert never cites more than MAX_EVIDENCE ids: the first ones and the confirming fix."""
    level = FenceLevel(confirm_fixes=None, confirm_dwell_s=3600.0)
    _, decisions = run(excursion(125, step=30.0), params(level))
    opened = decisions[0]
    assert len(opened.evidence) == MAX_EVIDENCE
    assert opened.evidence[0] == "e02"
    assert opened.evidence[-1] == "e122"


def test_no_exclusion_zones_never_alarm_that_kind() -> None:
    """A subject with no 禁止令 places only ever gets fence decisions."""
    fences = FenceSet.compile(haicang())
    _, decisions = run(excursion(5, n_back=2), params(COUNT3, fences))
    assert {d.kind for d in decisions} == {"fence_breach"}


# --- order, lateness, duplicates -------------------------------------------------------------------


def test_late_outside_fix_never_reopens_a_closed_episode() -> None:
    """After an episode closed, outside fixes from before the close are ignored, however many."""
    state, decisions = run(excursion(3, n_back=2), params(COUNT3))
    assert kinds(decisions)[-1] == ("CloseAlert", "fence_breach", "e02")
    late = [fix(f"late{i}", 61 + i, WEST) for i in range(5)]  # during the excursion, reported now
    after, more = run(late, params(COUNT3), state)
    assert more == []
    assert after.fence == state.fence  # kept in the window only for the exclusion zones' sake


def test_late_inside_fix_does_not_close_behind_newer_outside_evidence() -> None:
    """With the episode open and updated, an inside fix from before the update changes nothing."""
    state, decisions = run(excursion(4), params(COUNT3))
    assert kinds(decisions)[-1] == ("UpdateEvidence", "fence_breach", "e02")
    after, more = run([fix("late", 100, HOME)], params(COUNT3), state)
    assert more == []
    assert after.fence == state.fence


def test_late_fix_completes_a_run_that_decided_nothing_yet() -> None:
    """Two outside fixes, then the one between them arrives: the run is three, the alert opens on time."""
    fixes = [fix("a", 0, WEST), fix("c", 60, WEST), fix("b", 30, WEST)]
    _, decisions = run(fixes, params(COUNT3))
    assert decisions == reference(fixes, params(COUNT3))
    assert decisions[0].at == at(60)
    assert decisions[0].evidence == ("a", "b", "c")


def test_late_inside_fix_breaks_a_run_that_decided_nothing_yet() -> None:
    """Outside at 0 and 60 s, inside at 30 s arriving last: the run is broken before it confirmed."""
    fixes = [fix("a", 0, WEST), fix("c", 60, WEST), fix("b", 30, HOME), fix("d", 90, WEST)]
    _, decisions = run(fixes, params(COUNT3))
    assert decisions == []


def test_burst_in_one_batch_decides_as_in_device_time_order() -> None:
    """An offline phone's backlog handed over as one batch, in any order, decides as if sorted."""
    fixes = excursion(4, n_back=2)
    _, decisions = evaluate_batch(FenceState(SUBJECT), fixes[::-1], NOW, params(COUNT3))
    assert decisions == reference(fixes, params(COUNT3))
    assert kinds(decisions) == [
        ("OpenAlert", "fence_breach", "e02"),
        ("UpdateEvidence", "fence_breach", "e02"),
        ("CloseAlert", "fence_breach", "e02"),
    ]


def test_burst_newest_first_one_by_one_still_opens_and_closes() -> None:
    """Fed newest first, the run confirms on the fixes that have arrived; older ones then come too late."""
    fixes = excursion(4, n_back=2)
    _, decisions = run(fixes[::-1], params(COUNT3))
    assert kinds(decisions) == [("OpenAlert", "fence_breach", "e03"), ("CloseAlert", "fence_breach", "e03")]
    assert decisions[0].evidence == ("e03", "e04", "e05")
    assert decisions[1].at == at(7 * 30)


def test_duplicates_change_nothing() -> None:
    """The same event id again, now or after it left the window, leaves state and decisions as they were."""
    fixes = excursion(4, n_back=2)
    level = replace(COUNT3, window_fixes=3)
    state, _ = run(fixes, params(level))
    for f in fixes:
        again, more = evaluate(state, f, NOW, params(level))
        assert (again, more) == (state, [])


def test_device_clock_running_ahead_is_taken_as_received() -> None:
    """A fix dated after it was received counts at its receive time, so it cannot hold back later fixes."""
    state = FenceState(SUBJECT)
    decisions: list[Decision] = []
    for f, received in [(fix("a", 5 * 3600, WEST), at(0)), (fix("b", 30, WEST), at(31)), (fix("c", 60, WEST), at(61))]:
        state, more = evaluate(state, f, received, params(COUNT3))
        decisions += more
    assert [(d.at, d.evidence) for d in decisions] == [(at(60), ("a", "b", "c"))]


def test_ties_in_device_time_are_ordered_by_event_id() -> None:
    """Fixes with the same device time are taken in event-id order, whatever order they arrive in."""
    fixes = [fix("b", 0, WEST), fix("a", 0, WEST), fix("c", 0, WEST)]
    _, decisions = run(fixes, params(COUNT3))
    assert decisions[0].evidence == ("a", "b", "c")


# --- exclusion zones -----------------------------------------------------------------------------


def test_exclusion_zone_entry_alarms_independently_of_the_fence() -> None:
    """Inside the school circle three times: an exclusion_zone alert while the fence stays quiet."""
    fixes = [fix(f"z{i}", i * 30, (SCHOOL.lon, SCHOOL.lat)) for i in range(3)]
    state, decisions = run(fixes, params(COUNT3))
    assert kinds(decisions) == [("OpenAlert", "exclusion_zone", "z0")]
    assert isinstance(decisions[0], OpenAlert)
    assert decisions[0].summary.startswith("inside an exclusion zone (禁止令) for 3 fixes")
    assert state.open_episodes() == {"exclusion_zone": "z0"}


def test_summaries_never_say_where() -> None:
    """Alert texts name the rule broken, not the zone, the place or coordinates."""
    fixes = [fix(f"z{i}", i * 30, (SCHOOL.lon, SCHOOL.lat)) for i in range(3)] + excursion(3, start=10)
    _, decisions = run(fixes, params(COUNT3))
    for d in decisions:
        text = d.summary if isinstance(d, OpenAlert) else d.reason if isinstance(d, CloseAlert) else ""
        assert "school" not in text
        assert "24." not in text
        assert "118." not in text


# --- state and parameters ------------------------------------------------------------------------


def test_subject_mismatch_and_naive_times_are_refused() -> None:
    """A fix of another subject, or a time without a zone, is a caller's error, said as such."""
    other = FixObservation("x", "S-OTHER", at(0), HOME[1], HOME[0], 10.0, "gnss")
    with pytest.raises(ValueError, match="event x is for subject 'S-OTHER', expected 'S-350205-0001'"):
        evaluate(FenceState(SUBJECT), other, NOW, params())
    naive = replace(fix("y", 0, HOME), device_time=at(0).replace(tzinfo=None))
    with pytest.raises(ValueError, match="event y: device_time must have a zone"):
        evaluate(FenceState(SUBJECT), naive, NOW, params())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope", "fence state: not JSON"),
        ('{"v": 2}', 'fence state: expected an object with "v": 1'),
        ('{"v": 1, "subject_id": "s", "window": [[1, "a", 7, 0]]}', "fence state: window entry"),
        (
            '{"v": 1, "subject_id": "s", "window": [[2, "a", 0, 0], [1, "b", 0, 0]]}',
            "window is not in device-time order",
        ),
        ('{"v": 1, "subject_id": "s", "window": [], "fence_breach": {"anchor": "x"}}', "fence_breach anchor 'x'"),
    ],
)
def test_malformed_state_json_is_refused_with_what_is_wrong(text: str, message: str) -> None:
    """from_json names the part of the state that is malformed."""
    with pytest.raises(ValueError, match=re.escape(message)):
        FenceState.from_json(text)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"confirm_fixes": None, "confirm_dwell_s": None}, "confirm_fixes and confirm_dwell_s are both None"),
        ({"confirm_fixes": 0}, "confirm_fixes=0: expected 1..16"),
        ({"confirm_dwell_s": -1.0}, "confirm_dwell_s=-1.0: expected seconds ≥ 0"),
        ({"close_fixes": 17}, "close_fixes=17: expected 1..16"),
        ({"hysteresis_m": float("nan")}, "hysteresis_m=nan: expected metres ≥ 0"),
        ({"window_fixes": 0}, "window_fixes=0: expected 1..1024"),
    ],
)
def test_level_settings_are_checked(changes: dict[str, Any], message: str) -> None:
    """A level with impossible settings is refused, naming the setting and its value."""
    with pytest.raises(ValueError, match=message):
        replace(NORMAL, **changes)


def test_levels_order_from_strict_to_lenient() -> None:
    """Strict confirms sooner and lenient later; every preset is a valid level."""
    strict, normal, lenient = (FENCE_LEVELS[k] for k in ("strict", "normal", "lenient"))
    assert strict.confirm_fixes < normal.confirm_fixes < lenient.confirm_fixes  # type: ignore[operator]
    assert strict.confirm_dwell_s < normal.confirm_dwell_s < lenient.confirm_dwell_s  # type: ignore[operator]


def test_exclusion_zones_read_from_stored_geometry() -> None:
    """The fences API stores circles as {"type": "Circle", "center", "radius_m"} and polygons as GeoJSON."""
    circle = {"type": "Circle", "center": [SCHOOL.lon, SCHOOL.lat], "radius_m": SCHOOL.radius_m}
    assert exclusion_zone("school", circle) == SCHOOL
    assert exclusion_zone("p", HAICANG_GEOJSON) == ExclusionPolygon("p", HAICANG_GEOJSON)
    with pytest.raises(ValueError, match=r"exclusion zone c: a Circle needs center \[lon, lat\] and radius_m"):
        exclusion_zone("c", {"type": "Circle", "center": [118.0, 24.5]})
    fences = FenceSet.compile(haicang(), [exclusion_zone("school", circle)])
    assert fences.exclusion_verdict(SCHOOL.lon, SCHOOL.lat, 10.0, 30.0) == VIOLATING


def test_polygon_exclusion_zone_alarms_like_a_circle() -> None:
    """A 禁止令 place drawn as a polygon (a 400 m square round the school) is evidence inside by more than accuracy."""
    square = {"type": "Polygon", "coordinates": [[list(offset((SCHOOL.lon, SCHOOL.lat), e, n)) for e, n in CORNERS]]}
    fences = FenceSet.compile(haicang(), [ExclusionPolygon("square", square)])
    assert fences.exclusion_verdict(SCHOOL.lon, SCHOOL.lat, 10.0, 30.0) == VIOLATING
    assert fences.exclusion_verdict(SCHOOL.lon, SCHOOL.lat, 250.0, 30.0) == UNSURE
    assert fences.exclusion_verdict(*offset((SCHOOL.lon, SCHOOL.lat), 500.0, 0.0), 10.0, 30.0) == CLEAR
    with pytest.raises(ValueError, match=r"^exclusion zone p: empty polygon"):
        FenceSet.compile(haicang(), [ExclusionPolygon("p", {"type": "Polygon", "coordinates": []})])


CORNERS = [(-200, -200), (200, -200), (200, 200), (-200, 200), (-200, -200)]


def test_fence_set_errors_name_the_zone_or_leave() -> None:
    """Bad exclusion zones and leaves are refused with their id and the reason."""
    with pytest.raises(ValueError, match=r"exclusion zone bad: circle radius -5\.0 m must be a positive number"):
        FenceSet.compile(haicang(), [ExclusionCircle("bad", 118.0, 24.5, -5.0)])
    backwards = LeaveWindow("L1", FUZHOU_GULOU, at(3600), at(0))
    with pytest.raises(ValueError, match=r"leave L1: window ends .* not after it starts"):
        FenceSet.compile(haicang(), leaves=[backwards])
    with pytest.raises(ValueError, match=r"^empty polygon"):
        FenceSet.compile({"type": "Polygon", "coordinates": []})
    assert FenceSet.compile(HAICANG_GEOJSON).allowed.cols == haicang().cols


# --- properties ----------------------------------------------------------------------------------


def _late_kinds(trip: Trip, p: FenceParams) -> set[str]:
    """Kinds for which some fix arrived after a decision about a later fix, or after window_fixes later fixes."""
    late: set[str] = set()
    decided: dict[str, tuple[datetime, str]] = {}
    state = FenceState(SUBJECT)
    arrived: list[FixObservation] = []
    for f in trip.arrived():
        key = (f.device_time, f.event_id)
        if sum(1 for g in arrived if (g.device_time, g.event_id) > key) >= p.level.window_fixes:
            late |= {"fence_breach", "exclusion_zone"}
        for kind, last in decided.items():
            if key <= last:
                late.add(kind)
        arrived.append(f)
        state, decisions = evaluate(state, f, NOW, p)
        for d in decisions:
            decided[d.kind] = (d.at, d.evidence[-1])
    return late


@given(trips())
@PROPERTY
def test_decisions_equal_the_sorted_order_unless_a_fix_came_after_a_later_decision(trip: Trip) -> None:
    """The reordering guarantee: per kind, decisions equal the sorted reference unless a fix came too late."""
    p = params(trip.level)
    _, decisions = run(trip.arrived(), p)
    expected = reference(list(trip.fixes), p)
    late = _late_kinds(trip, p)
    for kind in ("fence_breach", "exclusion_zone"):
        if kind not in late:
            assert of(kind, decisions) == of(kind, expected)


@given(trips())
@PROPERTY
def test_sorted_order_matches_the_reference_model(trip: Trip) -> None:
    """Fed in device-time order, the engine's fast path decides exactly what the plain model decides."""
    p = params(trip.level)
    ordered = sorted(trip.fixes, key=lambda f: (f.device_time, f.event_id))
    _, decisions = run(ordered, p)
    assert sorted(decisions, key=lambda d: (d.at, d.kind)) == sorted(
        reference(ordered, p), key=lambda d: (d.at, d.kind)
    )


@given(trips())
@PROPERTY
def test_every_decision_cites_evidence_of_its_own_kind(trip: Trip) -> None:
    """Opens and updates cite violating fixes, closes cite clear ones, all fixes of this subject; never none."""
    p = params(trip.level)
    by_id = {f.event_id: f for f in trip.fixes}
    _, decisions = run(trip.arrived(), p)
    for d in decisions:
        assert 1 <= len(d.evidence) <= MAX_EVIDENCE
        slot = 0 if d.kind == "fence_breach" else 1
        wanted = CLEAR if isinstance(d, CloseAlert) else VIOLATING
        for event_id in d.evidence:
            assert verdicts(by_id[event_id], p)[slot] == wanted
        if isinstance(d, OpenAlert):
            assert d.episode_key == d.evidence[0]


@given(trips())
@PROPERTY
def test_episodes_are_well_formed_in_any_order(trip: Trip) -> None:
    """Per kind: never two open episodes, updates and closes only of the open one, keys unique, time moves on."""
    p = params(trip.level)
    state = FenceState(SUBJECT)
    open_: dict[str, str] = {}
    keys: set[tuple[str, str]] = set()
    last_at: dict[str, datetime] = {}
    closed_at: dict[str, tuple[datetime, str]] = {}
    by_id = {g.event_id: g for g in trip.fixes}
    for f in trip.arrived():
        state, decisions = evaluate(state, f, NOW, p)
        for d in decisions:
            assert last_at.get(d.kind, d.at) <= d.at
            last_at[d.kind] = d.at
            if isinstance(d, OpenAlert):
                assert d.kind not in open_
                assert (d.kind, d.episode_key) not in keys
                if d.kind in closed_at:  # a new episode only from fixes after the last close
                    assert all((by_id[i].device_time, i) > closed_at[d.kind] for i in d.evidence)
                open_[d.kind] = d.episode_key
                keys.add((d.kind, d.episode_key))
            else:
                assert open_.get(d.kind) == d.episode_key
                if isinstance(d, CloseAlert):
                    del open_[d.kind]
                    closed_at[d.kind] = (d.at, d.evidence[-1])
        assert state.open_episodes() == open_


@given(trips())
@PROPERTY
def test_state_round_trips_through_json_and_stays_small(trip: Trip) -> None:
    """Every intermediate state reads back equal from its JSON and holds at most window_fixes fixes."""
    p = params(trip.level)
    state = FenceState(SUBJECT)
    for f in trip.arrived():
        state, _ = evaluate(state, f, NOW, p)
        assert FenceState.from_json(state.to_json()) == state
        assert len(state.window) <= trip.level.window_fixes
        assert len(state.to_json()) < 200 + trip.level.window_fixes * 64 + 4 * MAX_EVIDENCE * 16


@given(trips(max_size=15), st.data())
@PROPERTY
def test_redelivered_fixes_change_nothing(trip: Trip, data: st.DataObject) -> None:
    """Delivering some fixes again, at any later point, gives the same decisions and final state."""
    p = params(trip.level)
    arrived = trip.arrived()
    stream = list(arrived)
    for i in data.draw(st.lists(st.integers(0, max(len(arrived) - 1, 0)), max_size=10)):
        first = stream.index(arrived[i])
        stream.insert(data.draw(st.integers(first + 1, len(stream))), arrived[i])
    assert run(stream, p) == run(arrived, p)


@given(trips())
@PROPERTY
def test_any_order_in_one_batch_equals_the_sorted_order(trip: Trip) -> None:
    """evaluate_batch decides exactly what the reference decides on sorted fixes, whatever order it is given."""
    p = params(trip.level)
    _, decisions = evaluate_batch(FenceState(SUBJECT), trip.arrived(), NOW, p)
    for kind in ("fence_breach", "exclusion_zone"):
        assert of(kind, decisions) == of(kind, reference(list(trip.fixes), p))


@given(trips(max_size=20))
@PROPERTY
def test_a_state_restored_from_json_continues_identically(trip: Trip) -> None:
    """Stopping after any fix, saving the state as JSON and resuming decides the same as never stopping."""
    p = params(trip.level)
    arrived = trip.arrived()
    half = len(arrived) // 2
    first, first_decisions = run(arrived[:half], p)
    _, rest = run(arrived[half:], p, FenceState.from_json(first.to_json()))
    assert first_decisions + rest == run(arrived, p)[1]


def test_fixtures_compile_once() -> None:
    """The shared compiled area is cached (as central caches it between subjects of one county)."""
    assert haicang() is haicang()
    assert haicang_fences().allowed is haicang()
