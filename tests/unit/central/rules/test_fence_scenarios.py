"""Fence scenarios on real geometry: Haicang district, a school's exclusion circle, a leave trip to Fuzhou."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from central.rules.base import CloseAlert, Decision, FixObservation, OpenAlert
from central.rules.fence import (
    CLEAR,
    FENCE_LEVELS,
    VIOLATING,
    FenceParams,
    FenceSet,
    FenceState,
    LeaveWindow,
    evaluate,
    evaluate_batch,
)
from tests.unit.central.rules.strategies import (
    FUZHOU_GULOU,
    FUZHOU_HOTEL,
    G15,
    G15_GEOJSON,
    HAICANG,
    HOME,
    NOW,
    SCHOOL,
    SUBJECT,
    WEST,
    across,
    along,
    at,
    fix,
    haicang,
    offset,
    params,
)

STRICT, NORMAL, LENIENT = (FENCE_LEVELS[k] for k in ("strict", "normal", "lenient"))


def run(
    fixes: list[FixObservation], p: FenceParams, state: FenceState | None = None
) -> tuple[FenceState, list[Decision]]:
    """Feed fixes one by one in the order given; the final state and every decision."""
    s = FenceState(SUBJECT) if state is None else state
    out: list[Decision] = []
    for f in fixes:
        s, decisions = evaluate(s, f, NOW, p)
        out += decisions
    return s, out


def drive(
    start: tuple[float, float], end: tuple[float, float], n: int, t0: float, step: float, tag: str
) -> list[FixObservation]:
    """n fixes evenly from start to end (end included), one every `step` seconds from t0."""
    return [
        fix(
            f"{tag}{i:03d}",
            t0 + i * step,
            (start[0] + (end[0] - start[0]) * (i + 1) / n, start[1] + (end[1] - start[1]) * (i + 1) / n),
        )
        for i in range(n)
    ]


def outside_by_more_than_accuracy(f: FixObservation) -> bool:
    """What the rule must call a violating fix, worked out from the geometry directly."""
    return -haicang().signed_distance(f.lon, f.lat) > f.accuracy_m


# --- jitter --------------------------------------------------------------------------------------


def test_gps_jitter_straddling_the_border_does_not_alarm() -> None:
    """Living on the western border: an hour of fixes scattered ±25 m across it, 30 m accuracy, no alert."""
    rng = random.Random(7)
    fixes = []
    for i in range(120):
        edge = rng.choice([18, 19, 20, 21])
        where = across(HAICANG, edge, rng.uniform(0.3, 0.7), rng.uniform(-25.0, 25.0))
        fixes.append(fix(f"j{i:03d}", i * 30, where, 30.0))
    depths = [haicang().signed_distance(f.lon, f.lat) for f in fixes]
    assert min(depths) < -15 and max(depths) > 15  # really on both sides
    for level in (STRICT, NORMAL, LENIENT):
        assert run(fixes, params(level))[1] == []


def test_jitter_beyond_the_reported_accuracy_does_alarm() -> None:
    """The rule trusts the accuracy radius: the same positions reported with 5 m accuracy are evidence."""
    fixes = [fix(f"k{i}", i * 30, across(HAICANG, 20, 0.5, 25.0), 5.0) for i in range(3)]
    assert [type(d).__name__ for d in run(fixes, params(NORMAL))[1]] == ["OpenAlert"]


# --- excursions ----------------------------------------------------------------------------------


def excursion() -> list[FixObservation]:
    """By car from home west into Longhai (300 m a fix, every 30 s), 2 km past the border, and back."""
    out = drive(HOME, WEST, 37, 0.0, 30.0, "out")
    back = drive(WEST, HOME, 37, 37 * 30.0, 30.0, "back")
    return out + back


def test_excursion_alarms_exactly_at_the_nth_consecutive_outside_fix() -> None:
    """Strict (N = 2) and normal (N = 3): the alert opens on the N-th fix outside by more than its accuracy."""
    fixes = excursion()
    outside = [f for f in fixes if outside_by_more_than_accuracy(f)]
    for level in (STRICT, NORMAL):
        n = level.confirm_fixes
        assert n is not None
        _, decisions = run(fixes, params(level))
        opened = decisions[0]
        assert isinstance(opened, OpenAlert)
        assert opened.kind == "fence_breach"
        assert opened.evidence == tuple(f.event_id for f in outside[:n])
        assert opened.at == outside[n - 1].device_time
        assert opened.episode_key == outside[0].event_id


def test_sparse_tracker_alarms_after_the_dwell_time() -> None:
    """Lenient (N = 5 or 10 min): a tracker reporting every 5 min confirms by dwell on its third outside fix."""
    fixes = [fix(f"s{i}", i * 300, HOME) for i in range(3)] + [fix(f"s{i}", i * 300, WEST) for i in range(3, 10)]
    _, decisions = run(fixes, params(LENIENT))
    opened = decisions[0]
    assert isinstance(opened, OpenAlert)
    assert (opened.evidence, opened.at) == (("s3", "s4", "s5"), at(5 * 300))
    assert opened.summary == "outside the allowed area for 600 s (3 fixes, each by more than its accuracy)"


def test_coming_back_closes_once_inside_by_more_than_accuracy_and_hysteresis() -> None:
    """The episode closes on the second fix deep enough inside, not on fixes in the border band."""
    fixes = excursion()
    _, decisions = run(fixes, params(NORMAL))
    close = decisions[-1]
    assert isinstance(close, CloseAlert)
    assert [type(d).__name__ for d in decisions].count("CloseAlert") == 1
    deep = [
        f
        for f in fixes
        if f.event_id.startswith("back")
        and haicang().signed_distance(f.lon, f.lat) > f.accuracy_m + NORMAL.hysteresis_m
    ]
    assert close.evidence == (deep[0].event_id, deep[1].event_id)
    assert close.at == deep[1].device_time


# --- leave ---------------------------------------------------------------------------------------

LEAVE_STARTS = at(3600)
TRIP_DAYS = 3


def leave(route: bool = True) -> LeaveWindow:
    """An approved leave to Fuzhou's Gulou district for three days, by the G15 expressway."""
    return LeaveWindow(
        "L-2026-0118",
        FUZHOU_GULOU,
        LEAVE_STARTS,
        LEAVE_STARTS + timedelta(days=TRIP_DAYS),
        G15_GEOJSON if route else None,
    )


def trip(start: float, path: list[tuple[float, float]] = G15, tag: str = "t") -> list[FixObservation]:
    """Home → Fuzhou along a path (a fix a minute for 4 h), two nights at a hotel (every 10 min), and back."""
    t = start
    out = []
    for i in range(240):
        out.append(fix(f"{tag}go{i:03d}", t, along(path, (i + 1) / 240)))
        t += 60
    for i in range(2 * 144):
        out.append(fix(f"{tag}stay{i:03d}", t, offset(FUZHOU_HOTEL, (i % 7) * 20.0, (i % 5) * 20.0)))
        t += 600
    for i in range(240):
        out.append(fix(f"{tag}ret{i:03d}", t, along(path, 1 - (i + 1) / 240)))
        t += 60
    return out


def test_leave_trip_inside_its_window_does_not_alarm() -> None:
    """Driving to Fuzhou on the expressway, staying two nights and driving back within the window: nothing."""
    fences = FenceSet.compile(haicang(), leaves=[leave()])
    fixes = trip(start=2 * 3600)
    assert fixes[-1].device_time < LEAVE_STARTS + timedelta(days=TRIP_DAYS)
    assert run(fixes, FenceParams(fences, NORMAL))[1] == []


def test_the_same_trip_outside_the_window_alarms_and_closes_on_return() -> None:
    """A week later the same trip is a breach: one episode, opened on the way, closed at home."""
    fences = FenceSet.compile(haicang(), leaves=[leave()])
    _, decisions = run(trip(start=7 * 86400), FenceParams(fences, NORMAL))
    assert [type(d).__name__ for d in decisions if type(d).__name__ != "UpdateEvidence"] == ["OpenAlert", "CloseAlert"]
    assert decisions[0].at < at(7 * 86400 + 3600)


def test_leaving_before_the_window_opens_alarms() -> None:
    """Setting off two hours early: the fixes before the window starts are a breach."""
    fences = FenceSet.compile(haicang(), leaves=[leave()])
    _, decisions = run(trip(start=-3600), FenceParams(fences, NORMAL))
    opened = decisions[0]
    assert isinstance(opened, OpenAlert)
    assert opened.at < LEAVE_STARTS


def test_without_a_route_the_straight_corridor_covers_the_straight_line_only() -> None:
    """No route given: driving the straight line is allowed, the coast road 20 km off it is not."""
    fences = FenceSet.compile(haicang(), leaves=[leave(route=False)])
    straight = [HOME, (119.290, 26.090)]
    assert run(trip(start=2 * 3600, path=straight), FenceParams(fences, NORMAL))[1] == []
    _, decisions = run(trip(start=2 * 3600, path=G15), FenceParams(fences, NORMAL))
    assert isinstance(decisions[0], OpenAlert)


def test_hotel_just_outside_the_destination_is_within_the_leave_margin() -> None:
    """The destination is grown by the level's margin: a hotel 800 m outside Gulou is fine at normal (1 km)."""
    hotel = offset((119.255, 26.085), -800.0, 0.0)
    fences = FenceSet.compile(haicang(), leaves=[leave()])
    during = micros(at(4 * 3600))
    assert fences.fence_verdict(*hotel, 10.0, NORMAL.hysteresis_m, during) == CLEAR
    strict = FenceSet.compile(haicang(), leaves=[leave()], level=STRICT)  # 500 m
    assert strict.fence_verdict(*hotel, 10.0, STRICT.hysteresis_m, during) == VIOLATING


def micros(t: datetime) -> int:
    """µs since the epoch, as the rule keeps device times."""
    return (t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


# --- order and duplicates ------------------------------------------------------------------------


def test_out_of_order_burst_gives_the_same_decisions_as_the_sorted_burst() -> None:
    """The phone was offline for the whole excursion and uploads it shuffled: same decisions as in order."""
    fixes = excursion()
    shuffled = fixes[:]
    random.Random(3).shuffle(shuffled)
    _, in_order = run(fixes, params(NORMAL))
    _, burst = evaluate_batch(FenceState(SUBJECT), shuffled, NOW, params(NORMAL))
    assert burst == in_order
    assert isinstance(burst[0], OpenAlert)


def test_fixes_swapped_before_the_run_confirms_decide_the_same() -> None:
    """Delivered one by one with neighbours swapped where nothing was decided yet: identical decisions."""
    fixes = excursion()
    _, in_order = run(fixes, params(NORMAL))
    first_outside = next(i for i, f in enumerate(fixes) if outside_by_more_than_accuracy(f))
    swapped = fixes[:]
    for i in range(0, first_outside + 1, 2):  # pairwise swaps up to and including the first outside fix
        swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
    assert swapped != fixes
    assert run(swapped, params(NORMAL))[1] == in_order


def test_duplicated_deliveries_change_nothing() -> None:
    """Every fix delivered twice, the copy five fixes later (QoS 1 redelivery): same decisions, same state."""
    fixes = excursion()
    doubled: list[FixObservation] = []
    for i, f in enumerate(fixes):
        doubled.append(f)
        if i >= 5:
            doubled.append(fixes[i - 5])
    assert run(doubled, params(NORMAL)) == run(fixes, params(NORMAL))


def test_old_fixes_uploaded_after_the_return_do_not_reopen() -> None:
    """After the episode closed, a tracker's backlog from the excursion arrives: no new episode."""
    fixes = excursion()
    state, decisions = run(fixes, params(NORMAL))
    assert isinstance(decisions[-1], CloseAlert)
    backlog = [
        replace(f, event_id="tracker-" + f.event_id, device_time=f.device_time + timedelta(seconds=5))
        for f in fixes[25:45]
    ]
    _, more = evaluate_batch(state, backlog, NOW, params(NORMAL))
    assert more == []


# --- exclusion zones -----------------------------------------------------------------------------


def test_walking_into_the_school_circle_alarms_and_leaving_closes() -> None:
    """Walking through the school's 200 m circle: an exclusion_zone alert inside, closed once well out of it."""
    start = offset((SCHOOL.lon, SCHOOL.lat), -600.0, 0.0)
    end = offset((SCHOOL.lon, SCHOOL.lat), 600.0, 0.0)
    fixes = drive(start, end, 40, 0.0, 30.0, "w")  # 30 m a fix, 10 m accuracy
    _, decisions = run(fixes, params(NORMAL))
    assert {d.kind for d in decisions} == {"exclusion_zone"}
    opened, close = decisions[0], decisions[-1]
    assert isinstance(opened, OpenAlert)
    assert isinstance(close, CloseAlert)
    circle = FenceSet.compile(haicang(), [SCHOOL]).exclusions[0]
    inside = [f for f in fixes if circle.classify(f.lon, f.lat, f.accuracy_m, 1e9) == 1]
    assert opened.evidence == tuple(f.event_id for f in inside[:3])


def test_poor_accuracy_near_the_school_never_alarms() -> None:
    """Indoors with 250 m accuracy the phone cannot show it is inside a 200 m circle: no alert."""
    fixes = [fix(f"p{i}", i * 30, (SCHOOL.lon, SCHOOL.lat), 250.0) for i in range(20)]
    assert run(fixes, params(STRICT))[1] == []
