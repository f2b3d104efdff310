"""Fence rule (越界 / 禁止令): outside the allowed area, or inside an exclusion zone, confirmed by evidence.

`evaluate(state, fix, now, params) -> (new_state, decisions)` is pure; `FenceSet.compile` turns a
subject's GeoJSON into the compiled form once (share the allowed `Area` between subjects of one
county), and `FenceState` is a small frozen value with `to_json` / `from_json`.

Semantics, for each of the two kinds (`fence_breach`, `exclusion_zone`) independently:

- Each fix gets a verdict. For the allowed area (home area plus the areas of leave windows open
  at the fix's device time): VIOLATING when it is outside every area by more than its accuracy
  radius; CLEAR when it is inside one area by more than accuracy + `hysteresis_m`; otherwise
  UNSURE. For exclusion zones: VIOLATING when inside one zone by more than the accuracy radius;
  CLEAR when outside all by more than accuracy + `hysteresis_m`; otherwise UNSURE. UNSURE fixes
  (jitter at a border, a 2 km cell fix near it, a fix with no finite position) are no evidence
  either way: they neither count towards nor break a run.
- A fix's time is its device time, but never later than `now` (when central received it), so a
  device clock running ahead cannot hold back the fixes after it. Fixes are taken in that time's
  order (ties by event id). A run of VIOLATING fixes not broken by a CLEAR one confirms a breach
  when it reaches `confirm_fixes` fixes, or when its first and last fixes are `confirm_dwell_s`
  apart (whichever comes first; dwell needs two fixes): OpenAlert, keyed by the event id of the
  run's first fix (unique per subject and kind), citing the run's fixes (at most MAX_EVIDENCE:
  the first ones and the confirming one). While open, each VIOLATING fix is cited by an
  UpdateEvidence; `close_fixes` CLEAR fixes in a row close it (CloseAlert citing them).
- Out of order: the state keeps the last `window_fixes` fixes sorted by device time. A fix that
  arrives late is inserted where it belongs and everything after the kind's last *committed*
  point is replayed, so a late fix can complete or break a run that has not yet led to a
  decision. The committed point is the latest fix whose processing emitted a decision (or that
  left the window); decisions are never taken back, so a fix at or before it is ignored for that
  kind. Hence a late fix never re-opens a closed episode (it is older than the close) and never
  closes an open one behind newer outside evidence.
- Exact guarantee: the decisions equal those of evaluating the same fixes in device-time order
  whenever no fix arrives after a decision about a later fix of the same kind was emitted, nor
  after `window_fixes` later fixes. Otherwise the late fix is ignored for that kind: a burst
  delivered newest first still opens and closes the episode, but keyed and timed by the fixes
  that had arrived when the run confirmed. `evaluate_batch` sorts what it is given first, so a
  burst handed over in one batch decides exactly as in device-time order, whatever its order.
- Duplicates (an event id already in the window, or a fix at or before both committed points)
  change nothing.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from central.rules.base import AlertKind, CloseAlert, Decision, FixObservation, OpenAlert, UpdateEvidence
from central.rules.geometry import (
    INSIDE,
    NEAR,
    OUTSIDE,
    Area,
    Circle,
    validate_geojson,
    validate_route,
)

UNSURE: Final = 0
VIOLATING: Final = 1
CLEAR: Final = 2
"""Verdicts of one fix for one kind."""

MAX_EVIDENCE: Final = 16
"""Event ids an alert decision cites at most: the run's first ones and its latest."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)

Level = Literal["strict", "normal", "lenient"]


@dataclass(frozen=True, slots=True)
class FenceLevel:
    """Evidence and leave settings of one supervision level."""

    confirm_fixes: int | None = 3  # this many outside fixes in a row confirm a breach (None: dwell only)
    confirm_dwell_s: float | None = 180.0  # or outside for this long, first to last fix (None: count only)
    close_fixes: int = 2  # this many inside fixes in a row close the episode
    hysteresis_m: float = 30.0  # beyond the accuracy radius, how deep a fix must be to count as back
    leave_margin_m: float = 1000.0  # a leave's destination area is grown by this much
    corridor_m: float = 5000.0  # half-width of the travel corridor to a leave destination (0: none)
    window_fixes: int = 32  # fixes kept for reordering late arrivals

    def __post_init__(self) -> None:
        if self.confirm_fixes is None and self.confirm_dwell_s is None:
            raise ValueError("confirm_fixes and confirm_dwell_s are both None: expected at least one")
        if self.confirm_fixes is not None and not 1 <= self.confirm_fixes <= MAX_EVIDENCE:
            raise ValueError(f"confirm_fixes={self.confirm_fixes!r}: expected 1..{MAX_EVIDENCE}")
        if self.confirm_dwell_s is not None and not self.confirm_dwell_s >= 0.0:
            raise ValueError(f"confirm_dwell_s={self.confirm_dwell_s!r}: expected seconds ≥ 0")
        if not 1 <= self.close_fixes <= MAX_EVIDENCE:
            raise ValueError(f"close_fixes={self.close_fixes!r}: expected 1..{MAX_EVIDENCE}")
        for name in ("hysteresis_m", "leave_margin_m", "corridor_m"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name}={value!r}: expected metres ≥ 0")
        if not 1 <= self.window_fixes <= 1024:
            raise ValueError(f"window_fixes={self.window_fixes!r}: expected 1..1024")


FENCE_LEVELS: Final[Mapping[Level, FenceLevel]] = {
    "strict": FenceLevel(
        confirm_fixes=2, confirm_dwell_s=60.0, close_fixes=2, hysteresis_m=20.0, leave_margin_m=500.0, corridor_m=2000.0
    ),
    "normal": FenceLevel(),
    "lenient": FenceLevel(
        confirm_fixes=5,
        confirm_dwell_s=600.0,
        close_fixes=1,
        hysteresis_m=50.0,
        leave_margin_m=2000.0,
        corridor_m=10000.0,
    ),
}
"""Settings per supervision level (严管 / 普管 / 宽管)."""


# --- fences and their compiled form ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExclusionCircle:
    """A prohibited place given as a centre and a radius in metres."""

    zone_id: str
    lon: float
    lat: float
    radius_m: float


@dataclass(frozen=True, slots=True)
class ExclusionPolygon:
    """A prohibited place given as a GeoJSON Polygon or MultiPolygon."""

    zone_id: str
    geojson: Mapping[str, Any]


ExclusionZone = ExclusionCircle | ExclusionPolygon


def exclusion_zone(zone_id: str, geometry: Mapping[str, Any]) -> ExclusionZone:
    """An exclusion zone from its stored geometry: Polygon, MultiPolygon or ``{"type": "Circle", ...}``."""
    if geometry.get("type") == "Circle":
        centre, radius = geometry.get("center"), geometry.get("radius_m")
        if not (isinstance(centre, Sequence) and len(centre) >= 2 and isinstance(radius, int | float)):
            raise ValueError(
                f"exclusion zone {zone_id}: a Circle needs center [lon, lat] and radius_m, got {dict(geometry)!r}"
            )
        return ExclusionCircle(zone_id, float(centre[0]), float(centre[1]), float(radius))
    return ExclusionPolygon(zone_id, geometry)


@dataclass(frozen=True, slots=True)
class LeaveWindow:
    """An approved leave: its destination area is allowed from `starts` (inclusive) to `ends` (exclusive)."""

    leave_id: str
    destination: Mapping[str, Any]  # GeoJSON Polygon or MultiPolygon
    starts: datetime
    ends: datetime
    route: Mapping[str, Any] | None = None  # GeoJSON LineString; None: a straight corridor from home


@dataclass(frozen=True, slots=True, eq=False)
class CompiledLeave:
    """A leave window ready for evaluation: its time bounds in µs and its areas (destination, corridor)."""

    leave_id: str
    starts: int
    ends: int
    areas: tuple[Area, ...]


@dataclass(frozen=True, slots=True, eq=False)
class FenceSet:
    """One subject's fences, compiled: allowed area, exclusion zones, leave windows."""

    allowed: Area
    exclusions: tuple[Area | Circle, ...] = ()
    leaves: tuple[CompiledLeave, ...] = ()

    @classmethod
    def compile(
        cls,
        allowed: Mapping[str, Any] | Area,
        exclusions: Sequence[ExclusionZone] = (),
        leaves: Sequence[LeaveWindow] = (),
        level: FenceLevel = FENCE_LEVELS["normal"],
    ) -> FenceSet:
        """Validate and compile; pass an already compiled `Area` to share one allowed area between subjects."""
        home = allowed if isinstance(allowed, Area) else Area.compile(validate_geojson(allowed))
        zones: list[Area | Circle] = []
        for zone in exclusions:
            try:
                if isinstance(zone, ExclusionCircle):
                    zones.append(Circle.compile(zone.lon, zone.lat, zone.radius_m))
                else:
                    zones.append(Area.compile(validate_geojson(zone.geojson), max_cells=4096))
            except ValueError as e:
                raise ValueError(f"exclusion zone {zone.zone_id}: {e}") from e
        return cls(home, tuple(zones), tuple(_compile_leave(home, leave, level) for leave in leaves))

    def fence_verdict(self, lon: float, lat: float, accuracy_m: float, hysteresis_m: float, t: int) -> int:
        """VIOLATING, CLEAR or UNSURE for the allowed area (with the leaves open at device time `t` µs)."""
        inner = accuracy_m + hysteresis_m
        side = self.allowed.classify(lon, lat, inner, accuracy_m)
        if side == INSIDE:
            return CLEAR
        for leave in self.leaves:
            if leave.starts <= t < leave.ends:
                for area in leave.areas:
                    other = area.classify(lon, lat, inner, accuracy_m)
                    if other == INSIDE:
                        return CLEAR
                    if other == NEAR:
                        side = NEAR
        return VIOLATING if side == OUTSIDE else UNSURE

    def exclusion_verdict(self, lon: float, lat: float, accuracy_m: float, hysteresis_m: float) -> int:
        """VIOLATING, CLEAR or UNSURE for the exclusion zones."""
        verdict = CLEAR
        for zone in self.exclusions:
            side = zone.classify(lon, lat, accuracy_m, accuracy_m + hysteresis_m)
            if side == INSIDE:
                return VIOLATING
            if side == NEAR:
                verdict = UNSURE
        return verdict


def _compile_leave(home: Area, leave: LeaveWindow, level: FenceLevel) -> CompiledLeave:
    try:
        starts, ends = _micros(leave.starts, "starts"), _micros(leave.ends, "ends")
        if not starts < ends:
            raise ValueError(f"window ends {leave.ends.isoformat()} not after it starts {leave.starts.isoformat()}")
        destination = validate_geojson(leave.destination)
        areas = [Area.compile(destination, margin_m=level.leave_margin_m, max_cells=4096)]
        if level.corridor_m > 0.0 and leave.route is not None:
            areas.append(Area.compile(validate_route(leave.route), margin_m=level.corridor_m, max_cells=4096))
        elif level.corridor_m > 0.0:
            a, b = home.representative_lonlat(), destination.representative_point()
            if (a[0], a[1]) != (float(b.x), float(b.y)):
                line = validate_route({"type": "LineString", "coordinates": [list(a), [float(b.x), float(b.y)]]})
                areas.append(Area.compile(line, margin_m=level.corridor_m, max_cells=4096))
    except ValueError as e:
        raise ValueError(f"leave {leave.leave_id}: {e}") from e
    return CompiledLeave(leave.leave_id, starts, ends, tuple(areas))


@dataclass(frozen=True, slots=True)
class FenceParams:
    """What `evaluate` needs besides the state and the fix: the subject's compiled fences and level.

    The leave margin and corridor are those of the level the `FenceSet` was compiled with.
    """

    fences: FenceSet
    level: FenceLevel = FENCE_LEVELS["normal"]


# --- state ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Streak:
    """Where one kind stands: the open episode (or ""), and the current run of evidence towards a change.

    Closed: the run of VIOLATING fixes so far (count, first fix's device time, cited ids). Open:
    the run of CLEAR fixes so far.
    """

    episode: str = ""
    count: int = 0
    start: int = 0  # device time of the run's first fix, µs since the epoch
    ids: tuple[str, ...] = ()


_NOTHING: Final = Streak()

Key = tuple[int, str]
"""Device time in µs and event id: the order fixes are evaluated in."""


@dataclass(frozen=True, slots=True)
class KindState:
    """One kind's state: the committed point, the streak there, and the streak after the whole window."""

    anchor: Key | None = None  # the latest fix decided on; fixes at or before it are ignored for this kind
    committed: Streak = _NOTHING
    tip: Streak = _NOTHING


_FRESH: Final = KindState()

Entry = tuple[int, str, int, int]
"""A fix in the window: device time µs, event id, fence verdict, exclusion verdict."""

Slot = Literal[2, 3]
"""Where a kind's verdict sits in an `Entry`: 2 for the fence, 3 for exclusion zones."""


@dataclass(frozen=True, slots=True)
class FenceState:
    """A subject's fence state: recent fixes in device-time order, and per kind where it stands."""

    subject_id: str
    window: tuple[Entry, ...] = ()
    fence: KindState = _FRESH
    exclusion: KindState = _FRESH

    def open_episodes(self) -> dict[AlertKind, str]:
        """The key of each kind's open episode (kinds without one are left out)."""
        out: dict[AlertKind, str] = {}
        if self.fence.tip.episode:
            out["fence_breach"] = self.fence.tip.episode
        if self.exclusion.tip.episode:
            out["exclusion_zone"] = self.exclusion.tip.episode
        return out

    def to_json(self) -> str:
        """Compact JSON; `FenceState.from_json` reads it back to an equal value.

        Written once per fix, so the window (most of the text) is put together directly when its
        event ids need no escaping; the text is the same as `json.dumps` would write.
        """
        ids = "".join([e[1] for e in self.window])
        if not (ids.isascii() and ids.isprintable() and '"' not in ids and "\\" not in ids):
            return _ENCODER.encode(
                {
                    "v": 1,
                    "subject_id": self.subject_id,
                    "window": [list(e) for e in self.window],
                    "fence_breach": _kind_to_json(self.fence),
                    "exclusion_zone": _kind_to_json(self.exclusion),
                }
            )
        window = "],[".join([f'{t},"{i}",{f},{x}' for t, i, f, x in self.window])
        window = f"[{window}]" if window else ""
        return (
            f'{{"v":1,"subject_id":{_ENCODER.encode(self.subject_id)},"window":[{window}],'
            f'"fence_breach":{_ENCODER.encode(_kind_to_json(self.fence))},'
            f'"exclusion_zone":{_ENCODER.encode(_kind_to_json(self.exclusion))}}}'
        )

    @classmethod
    def from_json(cls, text: str) -> FenceState:
        """The state `to_json` wrote, or ValueError naming what is malformed."""
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"fence state: not JSON: {e}") from e
        if not isinstance(raw, dict) or raw.get("v") != 1:
            raise ValueError('fence state: expected an object with "v": 1')
        subject_id = raw.get("subject_id")
        if not isinstance(subject_id, str):
            raise ValueError(f"fence state: subject_id must be a string, got {subject_id!r}")
        window = raw.get("window")
        if not isinstance(window, list):
            raise ValueError(f"fence state: window must be a list, got {window!r}")
        entries = _entries(window)
        for before, after in itertools.pairwise(entries):
            if before[0] > after[0] or (before[0] == after[0] and before[1] >= after[1]):
                raise ValueError("fence state: window is not in device-time order")
        return cls(
            subject_id,
            entries,
            _kind_from_json(raw.get("fence_breach"), "fence_breach"),
            _kind_from_json(raw.get("exclusion_zone"), "exclusion_zone"),
        )


def _kind_to_json(k: KindState) -> dict[str, Any]:
    return {
        "anchor": None if k.anchor is None else list(k.anchor),
        "committed": _streak_to_json(k.committed),
        "tip": _streak_to_json(k.tip),
    }


def _streak_to_json(s: Streak) -> list[Any]:
    return [s.episode, s.count, s.start, list(s.ids)]


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_VERDICTS: Final = frozenset((UNSURE, VIOLATING, CLEAR))


def _entries(window: list[Any]) -> tuple[Entry, ...]:
    """The window's entries, each checked as `_entry` does (this is the common case, made quick)."""
    out = []
    for e in window:
        if type(e) is list and len(e) == 4:
            t, i, f, x = e
            if type(t) is int and type(i) is str and type(f) is int and type(x) is int and {f, x} <= _VERDICTS:
                out.append((t, i, f, x))
                continue
        out.append(_entry(e))  # raises, naming the entry
    return tuple(out)


def _entry(e: object) -> Entry:
    if (
        isinstance(e, list)
        and len(e) == 4
        and _is_int(e[0])
        and isinstance(e[1], str)
        and _is_int(e[2])
        and _is_int(e[3])
        and e[2] in (UNSURE, VIOLATING, CLEAR)
        and e[3] in (UNSURE, VIOLATING, CLEAR)
    ):
        return (e[0], e[1], e[2], e[3])
    raise ValueError(f"fence state: window entry {e!r}: expected [device_time_us, event_id, verdict, verdict]")


def _kind_from_json(raw: object, kind: str) -> KindState:
    if not isinstance(raw, dict):
        raise ValueError(f"fence state: {kind} must be an object, got {raw!r}")
    anchor = raw.get("anchor")
    if anchor is not None and not (
        isinstance(anchor, list) and len(anchor) == 2 and _is_int(anchor[0]) and isinstance(anchor[1], str)
    ):
        raise ValueError(f"fence state: {kind} anchor {anchor!r}: expected null or [device_time_us, event_id]")
    return KindState(
        None if anchor is None else (anchor[0], anchor[1]),
        _streak_from_json(raw.get("committed"), kind),
        _streak_from_json(raw.get("tip"), kind),
    )


def _streak_from_json(raw: object, kind: str) -> Streak:
    if (
        isinstance(raw, list)
        and len(raw) == 4
        and isinstance(raw[0], str)
        and _is_int(raw[1])
        and raw[1] >= 0
        and _is_int(raw[2])
        and isinstance(raw[3], list)
        and len(raw[3]) <= MAX_EVIDENCE
        and all(isinstance(i, str) for i in raw[3])
    ):
        return _NOTHING if raw == ["", 0, 0, []] else Streak(raw[0], raw[1], raw[2], tuple(raw[3]))
    raise ValueError(f"fence state: {kind} streak {raw!r}: expected [episode, count, start_us, [event ids]]")


# --- evaluation -----------------------------------------------------------------------------------------


def _micros(t: datetime, what: str) -> int:
    """µs since the epoch, exactly."""
    if t.utcoffset() is None:
        raise ValueError(f"{what} must have a zone (UTC), got naive {t.isoformat()}")
    return (t - _EPOCH) // _MICROSECOND


def _time(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _cite(ids: tuple[str, ...], event_id: str) -> tuple[str, ...]:
    return (*ids, event_id) if len(ids) < MAX_EVIDENCE else (*ids[:-1], event_id)


_WHAT: Final[Mapping[AlertKind, tuple[str, str]]] = {
    "fence_breach": ("outside the allowed area", "back inside the allowed area"),
    "exclusion_zone": ("inside an exclusion zone (禁止令)", "out of the exclusion zones"),
}


@dataclass(frozen=True, slots=True)
class _Context:
    subject_id: str
    kind: AlertKind
    level: FenceLevel
    dwell_us: int | None = field(default=None)


def _step(s: Streak, verdict: int, t: int, event_id: str, c: _Context) -> tuple[Streak, Decision | None]:
    """The sorted-order state machine of one kind: one fix in, maybe one decision out."""
    if verdict == UNSURE:
        return s, None
    if not s.episode:
        if verdict == CLEAR:
            return _NOTHING, None
        ids: tuple[str, ...]
        if s.count == 0:
            count, start, ids = 1, t, (event_id,)
        else:
            count, start, ids = s.count + 1, s.start, _cite(s.ids, event_id)
        level = c.level
        by_count = level.confirm_fixes is not None and count >= level.confirm_fixes
        by_dwell = c.dwell_us is not None and count >= 2 and t - start >= c.dwell_us
        if not (by_count or by_dwell):
            return Streak("", count, start, ids), None
        what = _WHAT[c.kind][0]
        if by_count:
            summary = f"{what} for {count} fixes in a row, each by more than its accuracy"
        else:
            summary = f"{what} for {(t - start) // 1_000_000} s ({count} fixes, each by more than its accuracy)"
        return Streak(ids[0]), OpenAlert(c.subject_id, c.kind, ids[0], _time(t), summary, ids)
    if verdict == VIOLATING:
        after = s if s.count == 0 else Streak(s.episode)
        return after, UpdateEvidence(c.subject_id, c.kind, s.episode, _time(t), (event_id,))
    count, ids = s.count + 1, _cite(s.ids, event_id)
    if count >= c.level.close_fixes:
        reason = f"{_WHAT[c.kind][1]} for {count} fixes in a row"
        return _NOTHING, CloseAlert(c.subject_id, c.kind, s.episode, _time(t), reason, ids)
    return Streak(s.episode, count, t if s.count == 0 else s.start, ids), None


def _advance(
    k: KindState, window: tuple[Entry, ...], entry: Entry, at_end: bool, slot: Slot, c: _Context, out: list[Decision]
) -> KindState:
    """The kind's state after `entry` joined `window`: one step at the end, else a replay after the anchor."""
    if at_end:
        tip, decision = _step(k.tip, entry[slot], entry[0], entry[1], c)
        if decision is not None:
            out.append(decision)
            return KindState((entry[0], entry[1]), tip, tip)
        return k if tip is k.tip else KindState(k.anchor, k.committed, tip)
    anchor, committed = k.anchor, k.committed
    s = committed
    for e in window:
        if k.anchor is not None and (e[0], e[1]) <= k.anchor:
            continue
        s, decision = _step(s, e[slot], e[0], e[1], c)
        if decision is not None:
            out.append(decision)
            anchor, committed = (e[0], e[1]), s
    return KindState(anchor, committed, s)


def _fold(k: KindState, e: Entry, slot: Slot, c: _Context) -> KindState:
    """Commit the window's oldest fix as it leaves the window (it can no longer be replayed)."""
    if k.anchor is not None and (e[0], e[1]) <= k.anchor:
        return k
    committed, _ = _step(k.committed, e[slot], e[0], e[1], c)  # no decision: the replay that placed it made none
    return KindState((e[0], e[1]), committed, k.tip)


def evaluate_batch(
    state: FenceState, fixes: Iterable[FixObservation], now: datetime, params: FenceParams
) -> tuple[FenceState, list[Decision]]:
    """Take in several fixes of the subject received together (an uploaded backlog): sorted, then one by one."""
    limit = _micros(now, "now")
    ordered = sorted(
        fixes, key=lambda f: (min(_micros(f.device_time, f"event {f.event_id}: device_time"), limit), f.event_id)
    )
    out: list[Decision] = []
    for f in ordered:
        state, decisions = evaluate(state, f, now, params)
        out += decisions
    return state, out


def evaluate(
    state: FenceState, fix: FixObservation, now: datetime, params: FenceParams
) -> tuple[FenceState, list[Decision]]:
    """Take in one fix of the subject (received at `now`); open, update or close fence and exclusion episodes."""
    if fix.subject_id != state.subject_id:
        raise ValueError(f"event {fix.event_id} is for subject {fix.subject_id!r}, expected {state.subject_id!r}")
    t = min(_micros(fix.device_time, f"event {fix.event_id}: device_time"), _micros(now, "now"))
    event_id = fix.event_id
    key = (t, event_id)
    window = state.window
    for e in window:
        if e[1] == event_id:
            return state, []
    fence_late = state.fence.anchor is not None and key <= state.fence.anchor
    zone_late = state.exclusion.anchor is not None and key <= state.exclusion.anchor
    if fence_late and zone_late:
        return state, []
    level = params.level
    fences = params.fences
    lon, lat, accuracy = fix.lon, fix.lat, fix.accuracy_m
    if math.isfinite(lon) and math.isfinite(lat) and math.isfinite(accuracy) and accuracy >= 0.0:
        fence_v = UNSURE if fence_late else fences.fence_verdict(lon, lat, accuracy, level.hysteresis_m, t)
        zone_v = UNSURE if zone_late else fences.exclusion_verdict(lon, lat, accuracy, level.hysteresis_m)
    else:
        fence_v = zone_v = UNSURE
    entry = (t, event_id, fence_v, zone_v)
    at_end = not window or key > (window[-1][0], window[-1][1])
    if at_end:
        window = (*window, entry)
    else:
        i = bisect.bisect_left(window, key, key=lambda e: (e[0], e[1]))
        window = (*window[:i], entry, *window[i:])
    dwell = None if level.confirm_dwell_s is None else round(level.confirm_dwell_s * 1_000_000)
    out: list[Decision] = []
    fence_c = _Context(state.subject_id, "fence_breach", level, dwell)
    zone_c = _Context(state.subject_id, "exclusion_zone", level, dwell)
    fence = state.fence if fence_late else _advance(state.fence, window, entry, at_end, 2, fence_c, out)
    zone = state.exclusion if zone_late else _advance(state.exclusion, window, entry, at_end, 3, zone_c, out)
    while len(window) > level.window_fixes:
        oldest, window = window[0], window[1:]
        fence, zone = _fold(fence, oldest, 2, fence_c), _fold(zone, oldest, 3, zone_c)
    if fence.anchor is not None and zone.anchor is not None:
        floor = min(fence.anchor, zone.anchor)
        drop = 0
        while drop < len(window) and (window[drop][0], window[drop][1]) <= floor:
            drop += 1
        window = window[drop:]
    if len(out) > 1:
        out.sort(key=lambda d: d.at)
    return FenceState(state.subject_id, window, fence, zone), out
