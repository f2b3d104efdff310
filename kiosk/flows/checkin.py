"""Check-in (报到/签到): a card starts it, verification decides, one `checkin` event records it either way.

Every session that read a card publishes exactly one Checkin: `accepted` with every score, or
`refused` with the reason code (not_enrolled, card_expired, face_mismatch, released, card_removed,
device_failure:<device>, timeout …). The receipt (or the refusal) is shown only once the event is
safely in the uplink outbox, so a person never sees "checked in" for a check-in that could be lost.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from contracts.messages import Checkin
from kiosk.flows import verify
from kiosk.flows.policy import Context
from kiosk.flows.types import (
    Button,
    CardInfo,
    Effect,
    Input,
    Publish,
    Published,
    PublishFailed,
    Screen,
    Show,
    StartTimer,
    Tick,
    Touch,
    View,
    msg,
)

OK = Button("ok", msg("button.ok"))


class Phase(StrEnum):
    """Where the check-in stands."""

    VERIFYING = "verifying"
    SAVING = "saving"
    SHOWING = "showing"
    DONE = "done"


@dataclass(frozen=True)
class CheckinState:
    """One check-in session."""

    session: int
    phase: Phase
    check: verify.VerifyState | None
    deadline: datetime
    event_id: UUID | None = None
    outcome: verify.Outcome | None = None
    published: Checkin | None = None


Result = tuple[CheckinState, list[Effect]]


def start(ctx: Context, session: int, card: CardInfo, at: datetime) -> Result:
    """A card was read on the idle screen."""
    vstate, effects, outcome = verify.start_with_card(ctx, f"c{session}", card, at)
    state = CheckinState(session, Phase.VERIFYING, vstate, vstate.deadline)
    return _after_verify(ctx, state, vstate, effects, outcome, at)


def _after_verify(
    ctx: Context,
    state: CheckinState,
    vstate: verify.VerifyState,
    effects: list[Effect],
    outcome: verify.Outcome | None,
    at: datetime,
) -> Result:
    state = replace(state, check=vstate, deadline=vstate.deadline)
    if outcome is None:
        return state, effects
    message = event(ctx, state.session, outcome, at)
    deadline = at + timedelta(seconds=ctx.policy.device_timeout_s)
    saving = View(Screen.BUSY, msg("checkin.saving"), (msg("checkin.saving_wait"),), deadline=deadline)
    state = replace(
        state,
        phase=Phase.SAVING,
        outcome=outcome,
        event_id=message.event_id,
        published=message,
        deadline=deadline,
    )
    return state, [*effects, Publish(message), Show(saving), StartTimer(deadline)]


def event(ctx: Context, session: int, outcome: verify.Outcome, at: datetime) -> Checkin:
    """The Checkin message for an outcome: accepted with every score, or refused with the reason."""
    face = outcome.face
    fields: dict[str, Any] = {
        "event_id": ctx.event_id(session, "checkin"),
        "device_id": ctx.device_id,
        "device_time": at,
        "subject_id": outcome.subject.subject_id if outcome.subject is not None else None,
        "methods": verify.methods(outcome),
        "face_score": _score(face.template_score) if face is not None else None,
        "fingerprint_match": outcome.finger.matched if outcome.finger is not None else None,
        # optional fields beyond the contract's own, which it keeps (extra="allow")
        "face_captures": outcome.captures,
    }
    if face is not None and face.card_score is not None:
        fields["card_face_score"] = _score(face.card_score)
    if outcome.finger is not None:
        fields["fingerprint_score"] = outcome.finger.score
    if isinstance(outcome, verify.Verified):
        return Checkin(result="accepted", **fields)
    return Checkin(result="refused", reason=outcome.reason, **fields)


def _score(value: float) -> float:
    """A similarity as the contract takes it: inside -1..1 whatever the runtime's float said (never rounded:
    rounding could carry a passing score below the threshold)."""
    return min(1.0, max(-1.0, value))


def _show_result(ctx: Context, state: CheckinState, at: datetime, saved: bool) -> Result:
    deadline = at + timedelta(seconds=ctx.policy.result_timeout_s)
    outcome = state.outcome
    assert outcome is not None
    if not saved:
        view = View(Screen.MESSAGE, msg("checkin.not_saved"), (msg("checkin.tell_staff"),), (OK,), deadline=deadline)
    elif isinstance(outcome, verify.Verified):
        local = at.astimezone(ctx.policy.timezone)
        view = View(
            Screen.RECEIPT,
            msg("checkin.accepted", name=outcome.subject.name),
            (msg("checkin.receipt_time", time=local.strftime("%Y-%m-%d %H:%M")),),
            (OK,),
            data={
                "subject_id": outcome.subject.subject_id,
                "methods": tuple(verify.methods(outcome)),
                "face_score": outcome.face.template_score,
                "event_id": str(state.event_id),
            },
            deadline=deadline,
        )
    else:
        view = View(
            Screen.REFUSED,
            msg("checkin.refused"),
            (outcome.message, msg("checkin.see_staff")),
            (OK,),
            data={"reason": outcome.reason},
            deadline=deadline,
        )
    return replace(state, phase=Phase.SHOWING, deadline=deadline), [Show(view), StartTimer(deadline)]


def step(ctx: Context, state: CheckinState, event_in: Input) -> Result:
    """Advance the check-in; when `phase` is DONE the kiosk returns to idle."""
    at = event_in.at
    if state.phase == Phase.VERIFYING:
        assert state.check is not None
        vstate, effects, outcome = verify.step(ctx, state.check, event_in)
        return _after_verify(ctx, state, vstate, effects, outcome, at)
    if state.phase == Phase.SAVING:
        if isinstance(event_in, Published) and event_in.event_id == state.event_id:
            return _show_result(ctx, state, at, saved=True)
        if isinstance(event_in, PublishFailed) and event_in.event_id == state.event_id:
            return _show_result(ctx, state, at, saved=False)
        if isinstance(event_in, Tick) and at >= state.deadline:
            return _show_result(ctx, state, at, saved=False)
        return state, []
    if state.phase == Phase.SHOWING:
        if (isinstance(event_in, Tick) and at >= state.deadline) or (
            isinstance(event_in, Touch) and event_in.button == "ok"
        ):
            return replace(state, phase=Phase.DONE), []
        return state, []
    return state, []
