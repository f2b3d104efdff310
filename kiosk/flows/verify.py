"""Identity verification, shared by check-in, voice report and roll-call: card → lookup → face → finger.

`step` returns an outcome once the person is verified (`Verified`, with every score) or cannot be
(`Failed`, with a reason code for the event and a message for the screen); the calling flow
decides what to publish. A roll-call answer may start from a subject chosen on screen instead of
a card (`start_claim`); it then verifies by face only.

Face decision: the live face must pass the quality gate, then reach `face_threshold` against the
enrolled template (always) and `card_threshold` against the card photo (when the runtime could
score one). Poor pictures are retried with the gate's hint up to `max_captures`; good pictures that
do not match are retried up to `face_tries`, then the attempt fails as `face_mismatch`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from kiosk.flows.policy import Context
from kiosk.flows.types import (
    Button,
    CancelDevices,
    CaptureFace,
    CardInfo,
    CardRead,
    CardRemoved,
    DeviceFailed,
    Effect,
    FaceCaptured,
    FingerResult,
    Input,
    LookupFailed,
    LookupSubject,
    Msg,
    ReadCard,
    Screen,
    Show,
    StartTimer,
    SubjectFound,
    SubjectInfo,
    SubjectNotFound,
    Tick,
    Touch,
    VerifyFinger,
    View,
    msg,
)

# Quality-gate refusal codes (vision.quality.Refusal) with a hint of their own in the catalogue.
QUALITY_HINTS = frozenset(
    {"no_face", "several_faces", "too_small", "blurred", "too_dark", "too_bright", "not_frontal", "cut_off"}
)

CANCEL = Button("cancel", msg("button.cancel"), "secondary")


class Phase(StrEnum):
    """Where verification stands."""

    CARD = "card"
    LOOKUP = "lookup"
    FACE = "face"
    FINGER = "finger"


@dataclass(frozen=True)
class FaceEvidence:
    """Scores of one good-quality capture."""

    template_score: float
    card_score: float | None
    quality: float | None
    passed: bool


@dataclass(frozen=True)
class FingerEvidence:
    """The last fingerprint verification."""

    matched: bool
    score: int


@dataclass(frozen=True)
class VerifyState:
    """One verification in progress."""

    tag: str
    phase: Phase
    deadline: datetime
    use_card: bool = True
    use_finger: bool = True
    allowed: frozenset[str] | None = None
    """Only these subjects may verify here (roll-call: those still missing)."""
    n: int = 0
    pending: str | None = None
    card: CardInfo | None = None
    subject: SubjectInfo | None = None
    captures: int = 0
    mismatches: int = 0
    face: FaceEvidence | None = None
    finger_required: bool = False
    finger_tries: int = 0
    finger: FingerEvidence | None = None
    hint: Msg | None = None


@dataclass(frozen=True)
class Verified:
    """The person is the subject: every score that showed it."""

    subject: SubjectInfo
    card: CardInfo | None
    face: FaceEvidence
    finger: FingerEvidence | None
    captures: int


@dataclass(frozen=True)
class Failed:
    """Verification ended without a verified subject; `reason` is the code published in refusals."""

    reason: str
    message: Msg
    subject: SubjectInfo | None
    card: CardInfo | None
    face: FaceEvidence | None
    finger: FingerEvidence | None
    captures: int


Outcome = Verified | Failed
Result = tuple[VerifyState, list[Effect], Outcome | None]


def _later(at: datetime, seconds: float) -> datetime:
    return at + timedelta(seconds=seconds)


def _request(state: VerifyState) -> tuple[VerifyState, str]:
    req = f"{state.tag}.{state.n + 1}"
    return replace(state, n=state.n + 1, pending=req), req


def start_card(ctx: Context, tag: str, at: datetime, *, use_finger: bool = True) -> Result:
    """Ask for the ID card (voice report, roll-call with cards)."""
    state = VerifyState(tag=tag, phase=Phase.CARD, deadline=_later(at, ctx.policy.card_prompt_timeout_s))
    state = replace(state, use_finger=use_finger)
    state, req = _request(state)
    return state, [ReadCard(req), _card_view(state), StartTimer(state.deadline)], None


def start_with_card(
    ctx: Context,
    tag: str,
    card: CardInfo,
    at: datetime,
    *,
    use_finger: bool = True,
    allowed: frozenset[str] | None = None,
) -> Result:
    """Begin with a card that was just read (check-in starts this way)."""
    state = VerifyState(tag=tag, phase=Phase.CARD, deadline=at, use_finger=use_finger, allowed=allowed)
    return _card(ctx, state, card, at)


def start_claim(ctx: Context, tag: str, subject_id: str, at: datetime) -> Result:
    """Begin from a subject chosen on screen (roll-call without cards): look them up, then face only."""
    state = VerifyState(
        tag=tag,
        phase=Phase.LOOKUP,
        deadline=_later(at, ctx.policy.device_timeout_s),
        use_card=False,
        use_finger=False,
        allowed=frozenset({subject_id}),
    )
    state, req = _request(state)
    return state, [LookupSubject(req, subject_id=subject_id), _busy_view(state), StartTimer(state.deadline)], None


def _card_view(state: VerifyState) -> Show:
    return Show(
        View(Screen.CARD, msg("card.title"), (msg("card.prompt"),), (CANCEL,), deadline=state.deadline),
    )


def _busy_view(state: VerifyState) -> Show:
    return Show(View(Screen.BUSY, msg("lookup.title"), (msg("lookup.wait"),), deadline=state.deadline))


def _fail(state: VerifyState, reason: str, message: Msg, *, cancel: bool = False) -> Result:
    outcome = Failed(reason, message, state.subject, state.card, state.face, state.finger, state.captures)
    effects: list[Effect] = [CancelDevices()] if cancel else []
    return replace(state, pending=None), effects, outcome


def _card(ctx: Context, state: VerifyState, card: CardInfo, at: datetime) -> Result:
    state = replace(state, card=card)
    if not card.id_number_ok:
        return _fail(state, "card_unreadable", msg("refusal.card_unreadable"))
    state = replace(state, phase=Phase.LOOKUP, deadline=_later(at, ctx.policy.device_timeout_s))
    state, req = _request(state)
    return state, [LookupSubject(req, id_number=card.id_number), _busy_view(state), StartTimer(state.deadline)], None


def _found(ctx: Context, state: VerifyState, subject: SubjectInfo, at: datetime) -> Result:
    state = replace(state, subject=subject)
    if state.allowed is not None and subject.subject_id not in state.allowed:
        return _fail(state, "not_called", msg("refusal.not_called", name=subject.name))
    if subject.status == "released":
        return _fail(state, "released", msg("refusal.released", name=subject.name))
    if subject.status != "active":
        return _fail(state, "not_active", msg("refusal.not_active", name=subject.name))
    card = state.card
    if (
        card is not None
        and card.valid_until is not None
        and card.valid_until < at.astimezone(ctx.policy.timezone).date()
    ):
        return _fail(state, "card_expired", msg("refusal.card_expired", until=card.valid_until.isoformat()))
    if not subject.has_face_template:
        return _fail(state, "no_face_template", msg("refusal.no_face_template"))
    required = state.use_finger and (
        subject.requires_fingerprint or ctx.policy.fingerprint_required(subject.supervision_level)
    )
    if required and not ctx.fingerprint_sensor:
        return _fail(state, "no_fingerprint_sensor", msg("refusal.no_fingerprint_sensor"))
    if required and not subject.has_fingerprint:
        return _fail(state, "no_fingerprint_template", msg("refusal.no_fingerprint_template"))
    state = replace(state, finger_required=required)
    return _capture(ctx, state, at, msg("face.look"))


def _capture(ctx: Context, state: VerifyState, at: datetime, hint: Msg) -> Result:
    subject = state.subject
    assert subject is not None
    state = replace(state, phase=Phase.FACE, hint=hint, deadline=_later(at, ctx.policy.step_timeout_s))
    state, req = _request(state)
    photo = state.card.photo if state.card is not None else None
    tries_left = ctx.policy.face_tries - state.mismatches
    view = View(
        Screen.FACE,
        msg("face.title", name=subject.name),
        (hint,),
        (CANCEL,),
        data={"tries_left": tries_left},
        deadline=state.deadline,
    )
    return state, [CaptureFace(req, subject.subject_id, photo), Show(view), StartTimer(state.deadline)], None


def _finger(ctx: Context, state: VerifyState, at: datetime, hint: Msg) -> Result:
    subject = state.subject
    assert subject is not None
    state = replace(state, phase=Phase.FINGER, hint=hint, deadline=_later(at, ctx.policy.step_timeout_s))
    state, req = _request(state)
    view = View(
        Screen.FINGER,
        msg("finger.title"),
        (hint,),
        (CANCEL,),
        data={"tries_left": ctx.policy.finger_tries - state.finger_tries},
        deadline=state.deadline,
    )
    return state, [VerifyFinger(req, subject.subject_id), Show(view), StartTimer(state.deadline)], None


def _verified(state: VerifyState) -> Result:
    assert state.subject is not None and state.face is not None
    outcome = Verified(state.subject, state.card, state.face, state.finger, state.captures)
    return replace(state, pending=None), [], outcome


def _face(ctx: Context, state: VerifyState, got: FaceCaptured, at: datetime) -> Result:
    policy = ctx.policy
    state = replace(state, captures=state.captures + 1)
    scores = (got.template_score, got.card_score)
    unusable = any(s is not None and not math.isfinite(s) for s in scores)  # a runtime bug, never a match
    if not got.quality_ok or got.template_score is None or unusable:
        if state.captures >= policy.max_captures:
            return _fail(state, "face_quality", msg("refusal.face_quality"))
        code = next((r for r in got.refusals if r in QUALITY_HINTS), None)
        hint = msg(f"face.hint.{code}") if code else msg("face.hint.retry")
        return _capture(ctx, state, at, hint)
    card_ok = got.card_score is None or got.card_score >= policy.card_threshold
    passed = got.template_score >= policy.face_threshold and card_ok
    evidence = FaceEvidence(got.template_score, got.card_score, got.quality, passed)
    state = replace(state, face=evidence)
    if not passed:
        state = replace(state, mismatches=state.mismatches + 1)
        if state.mismatches >= policy.face_tries:
            return _fail(state, "face_mismatch", msg("refusal.face_mismatch"))
        if state.captures >= policy.max_captures:
            return _fail(state, "face_mismatch", msg("refusal.face_mismatch"))
        return _capture(ctx, state, at, msg("face.hint.mismatch"))
    if state.finger_required:
        return _finger(ctx, state, at, msg("finger.place"))
    return _verified(state)


def _finger_result(ctx: Context, state: VerifyState, got: FingerResult, at: datetime) -> Result:
    state = replace(state, finger=FingerEvidence(got.matched, got.score), finger_tries=state.finger_tries + 1)
    if got.matched:
        return _verified(state)
    if state.finger_tries >= ctx.policy.finger_tries:
        return _fail(state, "fingerprint_mismatch", msg("refusal.fingerprint_mismatch"))
    return _finger(ctx, state, at, msg("finger.retry"))


def _device_failed(state: VerifyState, got: DeviceFailed) -> Result:
    device = got.device if got.device in ("camera", "fingerprint", "card_reader", "microphone") else "device"
    return _fail(state, f"device_failure:{device}", msg("refusal.device_failure", device=msg(f"device.{device}")))


def step(ctx: Context, state: VerifyState, event: Input) -> Result:
    """Advance verification by one input; inputs that do not concern it leave it unchanged."""
    at = event.at
    if isinstance(event, Touch) and event.button == "cancel":
        return _fail(state, "cancelled", msg("refusal.cancelled"), cancel=state.phase != Phase.CARD)
    if isinstance(event, Tick):
        if at >= state.deadline:
            if state.phase == Phase.CARD:
                return _fail(state, "timeout", msg("refusal.timeout"))
            if state.phase == Phase.LOOKUP:
                return _fail(state, "lookup_failed", msg("refusal.lookup_failed"), cancel=True)
            return _fail(state, "timeout", msg("refusal.timeout"), cancel=True)
        return state, [], None
    if isinstance(event, CardRead):
        if state.phase == Phase.CARD and state.use_card:
            return _card(ctx, state, event.card, at)
        return state, [], None
    if isinstance(event, CardRemoved):
        if state.use_card and state.phase in (Phase.LOOKUP, Phase.FACE, Phase.FINGER):
            return _fail(state, "card_removed", msg("refusal.card_removed"), cancel=True)
        return state, [], None
    req = getattr(event, "req", None)
    if req is None or req != state.pending:
        return state, [], None  # a stale or foreign answer
    if isinstance(event, DeviceFailed):
        return _device_failed(state, event)
    if state.phase == Phase.LOOKUP:
        if isinstance(event, SubjectFound):
            return _found(ctx, state, event.subject, at)
        if isinstance(event, SubjectNotFound):
            return _fail(state, "not_enrolled", msg("refusal.not_enrolled"))
        if isinstance(event, LookupFailed):
            return _fail(state, "lookup_failed", msg("refusal.lookup_failed"))
    if state.phase == Phase.FACE and isinstance(event, FaceCaptured):
        return _face(ctx, state, event, at)
    if state.phase == Phase.FINGER and isinstance(event, FingerResult):
        return _finger_result(ctx, state, event, at)
    return state, [], None


Method = Literal["id_card", "face", "fingerprint"]


def methods(outcome: Outcome) -> list[Method]:
    """The identification methods an outcome used, in contract order."""
    used: list[Method] = []
    if outcome.card is not None:
        used.append("id_card")
    if outcome.face is not None or (isinstance(outcome, Failed) and outcome.captures > 0):
        used.append("face")
    if outcome.finger is not None:
        used.append("fingerprint")
    return used
