"""Random input sequences against the whole kiosk machine (hypothesis).

Whatever happens, in whatever order: the machine never raises; every view renders in both
languages; every published message is a valid contract message; no session publishes two
check-ins; no check-in is accepted without a face score at the threshold; and once time runs
on past every deadline the kiosk is back at the idle screen.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.messages import Checkin, VoiceReport
from kiosk.flows.types import (
    CardInfo,
    CardRead,
    CardRemoved,
    CentralOffline,
    CentralOnline,
    DeviceFailed,
    Effect,
    FaceCaptured,
    FingerEnrolled,
    FingerResult,
    Input,
    LookupFailed,
    PartialTranscript,
    PinEntered,
    Publish,
    Published,
    PublishFailed,
    RecordingLevel,
    RecordingStopped,
    RollcallCommand,
    Show,
    SubjectFound,
    SubjectInfo,
    SubjectNotFound,
    Tick,
    Touch,
    Transcribed,
    UploadDone,
    UploadFailed,
)
from kiosk.i18n import LANGS, render
from tests.unit.kiosk.driver import ANSWERS, CARD, PIN, SHA, SUBJECT, Driver, context, rollcall_command, roundtrip

SUBJECT_IDS = ("S-350205-0001", "S-350205-0002", "S-350206-0001")
scores = st.one_of(st.none(), st.floats(-1, 1), st.sampled_from([float("nan"), 0.3273, 0.3272]))
subjects = st.builds(
    SubjectInfo,
    subject_id=st.sampled_from(SUBJECT_IDS),
    name=st.sampled_from(["张三", "李四"]),
    status=st.sampled_from(["active", "active", "released", "terminated"]),
    supervision_level=st.sampled_from(["strict", "normal", "lenient"]),
    has_face_template=st.booleans(),
    has_fingerprint=st.booleans(),
)
cards = st.builds(
    CardInfo,
    id_number=st.just(CARD.id_number),
    name=st.just(CARD.name),
    valid_until=st.one_of(st.none(), st.dates(date(2026, 1, 1), date(2027, 1, 1))),
    id_number_ok=st.booleans(),
    photo=st.one_of(st.none(), st.just(b"jpeg")),
)


def _req(d: Driver, kind: type[Input], data: st.DataObject) -> str:
    """Mostly the pending request's token; sometimes a stale or made-up one."""
    if data.draw(st.integers(0, 9)) < 8:
        try:
            return d.req(*ANSWERS[kind])
        except AssertionError:
            pass
    return data.draw(st.sampled_from(["c1.1", "v2.3", "r3.1.2", "m4.1", "x"]))


def _event_id(d: Driver, data: st.DataObject) -> UUID:
    published = d.published
    last: bool = data.draw(st.booleans(), label="acknowledge the last publish")
    if published and last:
        return published[-1].event_id
    return UUID(int=data.draw(st.integers(0, 3)))


def draw_input(d: Driver, data: st.DataObject) -> Input:
    """One plausible (or implausible) input for the driver's current state."""
    kind = data.draw(
        st.sampled_from(
            [
                "tick",
                "card",
                "removed",
                "found",
                "not_found",
                "lookup_failed",
                "face",
                "finger",
                "finger_enrolled",
                "device",
                "touch",
                "touch",
                "touch",
                "pin",
                "published",
                "publish_failed",
                "offline",
                "online",
                "level",
                "partial",
                "stopped",
                "transcribed",
                "upload_done",
                "upload_failed",
                "rollcall",
            ]
        )
    )
    d.now += timedelta(seconds=data.draw(st.sampled_from([0, 0.5, 3, 10, 31, 46, 121, 400])))
    at = d.now
    fields: dict[str, Any] = {"at": at}
    simple: dict[str, type[Input]] = {
        "tick": Tick,
        "removed": CardRemoved,
        "offline": CentralOffline,
        "online": CentralOnline,
    }
    if kind in simple:
        return simple[kind](**fields)
    if kind == "card":
        return CardRead(card=data.draw(cards), **fields)
    if kind == "touch":
        buttons = [*d.view.button_ids(), "lang", "ok", "cancel", "answer:S-350205-0001", "nonsense"]
        return Touch(button=data.draw(st.sampled_from(buttons)), **fields)
    if kind == "pin":
        return PinEntered(pin=data.draw(st.sampled_from([PIN, "0000", ""])), **fields)
    if kind in ("published", "publish_failed"):
        event_id = _event_id(d, data)
        if kind == "published":
            return Published(event_id=event_id, **fields)
        return PublishFailed(event_id=event_id, detail="outbox full", **fields)
    if kind == "rollcall":
        chosen = data.draw(st.lists(st.sampled_from(SUBJECT_IDS), min_size=1, max_size=3, unique=True))
        command = rollcall_command(
            chosen,
            rollcall_id=data.draw(st.sampled_from(["RC-1", "RC-2", "RC-3"])),
            minutes=data.draw(st.sampled_from([0.5, 2, 20])),
            at=at,
        )
        return RollcallCommand(command=command, **fields)

    def face() -> dict[str, Any]:
        return {
            "quality_ok": data.draw(st.booleans()),
            "refusals": tuple(data.draw(st.lists(st.sampled_from(["blurred", "no_face", "weird"]), max_size=2))),
            "template_score": data.draw(scores),
            "card_score": data.draw(scores),
            "yaw": data.draw(st.one_of(st.none(), st.floats(-1, 1))),
            "capture_ref": data.draw(st.one_of(st.none(), st.just("ref"))),
        }

    devices = st.sampled_from(["camera", "fingerprint", "microphone", "toaster"])
    answers: dict[str, tuple[type[Input], Callable[[], dict[str, Any]]]] = {
        "found": (SubjectFound, lambda: {"subject": data.draw(st.one_of(st.just(SUBJECT), subjects))}),
        "not_found": (SubjectNotFound, dict),
        "lookup_failed": (LookupFailed, lambda: {"detail": "offline"}),
        "face": (FaceCaptured, face),
        "finger": (FingerResult, lambda: {"matched": data.draw(st.booleans()), "score": 100}),
        "finger_enrolled": (FingerEnrolled, lambda: {"template_ref": "fp"}),
        "device": (DeviceFailed, lambda: {"device": data.draw(devices), "detail": "x"}),
        "level": (RecordingLevel, lambda: {"meter": data.draw(st.sampled_from([0.0, 0.5, 2.0, float("nan")]))}),
        "partial": (PartialTranscript, lambda: {"text": data.draw(st.sampled_from(["", "我上周", "x"]))}),
        "stopped": (
            RecordingStopped,
            lambda: {"audio_sha256": SHA, "duration_s": data.draw(st.sampled_from([0.0, 0.5, 5.0, 299.0, 4000.0]))},
        ),
        "transcribed": (
            Transcribed,
            lambda: {
                "text": data.draw(st.sampled_from(["", "我在海沧", "  "])),
                "model": "vosk-model-small-cn-0.22",
                "key_elements": data.draw(st.sampled_from([{}, {"places": ("海沧",)}])),
            },
        ),
        "upload_done": (UploadDone, lambda: {"queued": data.draw(st.booleans())}),
        "upload_failed": (UploadFailed, lambda: {"detail": "503"}),
    }
    cls, make = answers[kind]
    return cls(req=_req(d, cls, data), **make(), **fields)  # type: ignore[call-arg]


def check_effects(d: Driver, effects: list[Effect], seen_sessions: set[int], event_ids: set[UUID]) -> None:
    """The invariants every step's effects must keep."""
    for effect in effects:
        if isinstance(effect, Show):
            view = effect.view
            texts = [view.title, *view.lines, *(b.label for b in view.buttons)]
            if view.banner is not None:
                texts.append(view.banner)
            for message in texts:
                for lang in LANGS:
                    assert render(message, lang)
        if isinstance(effect, Publish):
            sent = effect.message
            assert roundtrip(sent) == sent
            if isinstance(sent, Checkin | VoiceReport):
                assert sent.event_id not in event_ids, "an event id was used twice"
                event_ids.add(sent.event_id)
            if isinstance(sent, Checkin):
                assert d.state.session not in seen_sessions, "two check-ins in one session"
                seen_sessions.add(d.state.session)
                if sent.result == "accepted":
                    assert sent.face_score is not None and sent.face_score >= d.ctx.policy.face_threshold
                    assert "face" in sent.methods and "id_card" in sent.methods
                    assert sent.fingerprint_match in (None, True)
                else:
                    assert sent.reason


POLICIES = [
    {},
    {"face_tries": 1, "max_captures": 2, "fingerprint_always": True},
    {"rollcall_card": True, "enrol_fingers": 0, "enrol_poses": ("front",)},
]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), policy=st.sampled_from(POLICIES), speech=st.booleans(), steps=st.integers(1, 60))
def test_random_sequences_keep_every_invariant_and_end_at_idle(data, policy, speech, steps) -> None:
    """Random inputs never crash the kiosk or break an invariant, and time alone brings it back to idle."""
    d = Driver(context(speech=speech, **policy))
    sessions: set[int] = set()
    event_ids: set[UUID] = set()
    for _ in range(steps):
        effects = d.feed(draw_input(d, data))
        check_effects(d, effects, sessions, event_ids)
    for _ in range(12):  # each timeout may lead to a message screen with its own timeout
        d.now += timedelta(hours=1)
        check_effects(d, d.feed(Tick(at=d.now)), sessions, event_ids)
        if d.state.idle:
            break
    assert d.state.idle, f"stuck in {d.state.mode} / {getattr(d.state.flow, 'phase', None)}"
    assert d.view.screen == "idle" and d.view.lang == "zh"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), subject=subjects, card=cards)
def test_checkin_sessions_driven_to_the_end_publish_exactly_one_checkin(data, subject, card) -> None:
    """A check-in answered with right tokens always ends in exactly one published checkin."""
    d = Driver(context(**data.draw(st.sampled_from(POLICIES))))
    d.feed(CardRead(at=d.now, card=card))
    for _ in range(40):
        if d.published or d.state.idle:
            break
        kind = data.draw(st.sampled_from(["found", "face", "finger", "tick", "removed"]))
        answers: dict[str, tuple[type[Input], dict[str, Any]]] = {
            "found": (SubjectFound, {"subject": dataclasses.replace(subject)}),
            "face": (
                FaceCaptured,
                {
                    "quality_ok": data.draw(st.booleans()),
                    "template_score": data.draw(scores),
                    "card_score": data.draw(scores),
                },
            ),
            "finger": (FingerResult, {"matched": data.draw(st.booleans())}),
        }
        if kind in answers:
            cls, fields = answers[kind]
            try:
                req = d.req(*ANSWERS[cls])
            except AssertionError:
                continue  # nothing of that kind was asked yet
            d.feed(cls(at=d.now, req=req, **fields))  # type: ignore[call-arg]
        elif kind == "tick":
            d.later(data.draw(st.sampled_from([1, 25, 50])))
        else:
            d.send(CardRemoved)
    d.later(3600)  # whatever was pending times out
    if not d.published:
        d.later(3600)
    assert len(d.checkins) == 1
