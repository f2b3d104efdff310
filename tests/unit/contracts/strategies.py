"""Every hypothesis strategy of the contracts suite: valid messages of each type, and junk for the decoder."""

import json
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from hypothesis import strategies as st

from contracts import (
    Checkin,
    DeviceAlarm,
    Fix,
    Gallery,
    Message,
    RollcallAnswer,
    RollcallStart,
    Sighting,
    Status,
    VoiceReport,
    topic_for,
)
from contracts.messages import MODEL_FOR_TYPE
from contracts.topics import TYPE_FOR_KIND

device_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", fullmatch=True)
idents = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1, max_size=40).filter(
    lambda s: s == s.strip()
)
zones = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
timestamps = st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2100, 1, 1), timezones=zones)
sha256s = st.text("0123456789abcdef", min_size=64, max_size=64)
texts = st.text(st.characters(codec="utf-8"), max_size=60)


def reals(lo: float, hi: float, **kwargs: Any) -> st.SearchStrategy[float]:
    """Finite floats in [lo, hi]."""
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, **kwargs)


json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | reals(-1e300, 1e300) | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)


def _envelope(draw: st.DrawFn) -> dict[str, Any]:
    return {"event_id": draw(st.uuids()), "device_id": draw(device_ids), "device_time": draw(timestamps)}


@st.composite
def sightings(draw: st.DrawFn) -> Sighting:
    """Valid sightings: first_seen <= last_seen, a proper bbox."""
    first = draw(timestamps)
    x1, y1 = draw(st.integers(0, 5000)), draw(st.integers(0, 5000))
    return Sighting(
        **_envelope(draw),
        camera_id=draw(idents),
        subject_id=draw(st.none() | idents),
        score=draw(reals(-1, 1)),
        track_id=draw(st.integers(0, 2**63 - 1)),
        first_seen=first,
        last_seen=first + draw(st.timedeltas(timedelta(0), timedelta(hours=2))),
        quality=draw(reals(0, 1)),
        bbox=[x1, y1, x1 + draw(st.integers(1, 4000)), y1 + draw(st.integers(1, 4000))],
    )


@st.composite
def checkins(draw: st.DrawFn) -> Checkin:
    """Valid check-ins, accepted or refused with a reason."""
    result: Literal["accepted", "refused"] = draw(st.sampled_from(["accepted", "refused"]))
    return Checkin(
        **_envelope(draw),
        subject_id=draw(st.none() | idents),
        methods=draw(st.lists(st.sampled_from(["id_card", "face", "fingerprint"]), min_size=1, unique=True)),
        face_score=draw(st.none() | reals(-1, 1)),
        fingerprint_match=draw(st.none() | st.booleans()),
        result=result,
        reason=draw(idents if result == "refused" else st.none() | texts),
    )


@st.composite
def voice_reports(draw: st.DrawFn) -> VoiceReport:
    """Valid voice reports."""
    return VoiceReport(
        **_envelope(draw),
        subject_id=draw(idents),
        transcript=draw(texts),
        audio_sha256=draw(sha256s),
        duration_s=draw(reals(0, 3600, exclude_min=True)),
        model=draw(idents),
        key_elements=draw(st.none() | st.dictionaries(texts, st.lists(texts, max_size=3), max_size=3)),
    )


@st.composite
def rollcall_answers(draw: st.DrawFn) -> RollcallAnswer:
    """Valid roll-call answers."""
    return RollcallAnswer(
        **_envelope(draw),
        rollcall_id=draw(idents),
        subject_id=draw(idents),
        face_score=draw(st.none() | reals(-1, 1)),
        answered_at=draw(timestamps),
    )


@st.composite
def fixes(draw: st.DrawFn) -> Fix:
    """Valid fixes: a subject or a tracker, never the (0, 0) placeholder."""
    subject_id, tracker_serial = draw(
        st.sampled_from([(idents, st.none()), (st.none(), idents), (idents, idents)]).flatmap(
            lambda pair: st.tuples(*pair)
        )
    )
    lat, lon = draw(st.tuples(reals(-90, 90), reals(-180, 180)).filter(lambda p: p != (0, 0)))
    return Fix(
        **_envelope(draw),
        subject_id=subject_id,
        tracker_serial=tracker_serial,
        lat=lat,
        lon=lon,
        accuracy_m=draw(reals(0, 100_000)),
        source=draw(st.sampled_from(["gnss", "wifi", "cell", "camera"])),
        speed_kmh=draw(st.none() | reals(0, 1000)),
        battery_pct=draw(st.none() | reals(0, 100)),
        heading_deg=draw(st.none() | reals(0, 360, exclude_max=True)),
    )


@st.composite
def device_alarms(draw: st.DrawFn) -> DeviceAlarm:
    """Valid device alarms."""
    return DeviceAlarm(
        **_envelope(draw),
        kind=draw(st.sampled_from(["tamper", "low_battery", "power_off", "sensor_fault", "sos"])),
        detail=draw(st.none() | texts),
        subject_id=draw(st.none() | idents),
    )


@st.composite
def statuses(draw: st.DrawFn) -> Status:
    """Valid status reports."""
    return Status(
        **_envelope(draw),
        online=draw(st.booleans()),
        versions=draw(st.dictionaries(texts, texts, max_size=3)),
        queue_depth=draw(st.integers(0, 2**63 - 1)),
        camera_fps=draw(st.dictionaries(texts, reals(0, 240), max_size=3)),
    )


@st.composite
def rollcall_starts(draw: st.DrawFn) -> RollcallStart:
    """Valid roll-call commands: distinct subjects, deadline after device_time."""
    envelope = _envelope(draw)
    return RollcallStart(
        **envelope,
        rollcall_id=draw(idents),
        subject_ids=draw(st.lists(idents, min_size=1, max_size=5, unique=True)),
        deadline=envelope["device_time"] + draw(st.timedeltas(timedelta(microseconds=1), timedelta(days=2))),
    )


@st.composite
def galleries(draw: st.DrawFn) -> Gallery:
    """Valid gallery commands."""
    return Gallery(
        **_envelope(draw),
        version=draw(st.integers(1, 2**63 - 1)),
        url=draw(st.sampled_from(["http", "https"]))
        + "://"
        + draw(st.from_regex(r"[a-z0-9.-]{1,20}(:[0-9]{1,5})?(/[A-Za-z0-9._~-]{0,12}){0,3}", fullmatch=True)),
        sha256=draw(sha256s),
    )


MESSAGE_STRATEGIES: dict[str, st.SearchStrategy[Message]] = {
    "sighting": sightings(),
    "checkin": checkins(),
    "voice_report": voice_reports(),
    "rollcall_answer": rollcall_answers(),
    "fix": fixes(),
    "device_alarm": device_alarms(),
    "status": statuses(),
    "rollcall_start": rollcall_starts(),
    "gallery": galleries(),
}
messages: st.SearchStrategy[Message] = st.one_of(*MESSAGE_STRATEGIES.values())


@st.composite
def messages_with_extras(draw: st.DrawFn) -> tuple[Message, dict[str, Any]]:
    """A valid message carrying extra (optional, unknown) fields, and those fields."""
    message = draw(messages)
    known = set(type(message).model_fields)
    extras = draw(st.dictionaries(texts.filter(lambda k: k not in known), json_values, min_size=1, max_size=4))
    with_extras = type(message).model_validate({**message.model_dump(), **extras})
    return with_extras, extras


topics = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda where, device: f"corr/v1/{where[0]}/{device}/{where[1]}",
        st.sampled_from(sorted(TYPE_FOR_KIND)),
        device_ids,
    ),
    messages.map(topic_for),
)


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A topic and an object that looks like a message: a valid one with fields changed, dropped or
    added (often on its own topic, so the checks after validation are reached too), or random keys."""
    if draw(st.booleans()):
        message = draw(messages)
        obj: dict[str, Any] = json.loads(json.dumps(message.model_dump(mode="json")))
        for _ in range(draw(st.integers(0, 3))):
            key = draw(st.sampled_from(sorted(obj)) | texts)
            if draw(st.booleans()):
                obj.pop(key, None)
            else:
                obj[key] = draw(json_values)
        return draw(st.just(topic_for(message)) | topics), obj
    keys = st.sampled_from(["v", "type", "event_id", "device_id", "device_time", "lat", "bbox"]) | texts
    obj = draw(st.dictionaries(keys, json_values, max_size=8))
    if draw(st.booleans()):
        obj["v"] = 1
        obj["type"] = draw(st.sampled_from(sorted(MODEL_FOR_TYPE)))
    return draw(topics), obj


# Any JSON value, including text with unusual code points (for the codec's fast path).
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(blacklist_categories=()), max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4),
    max_leaves=60,
)
