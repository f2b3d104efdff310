"""Roll-call answer (点验): central calls subjects to this kiosk until a deadline; each answers by face.

The list screen shows who is called and who is still missing. Without `rollcall_card` the person
touches their own entry and verifies by face against their template; with it, they place their ID
card first. Each verified answer is one `rollcall_answer`. At the deadline (or when everybody
answered) a summary is shown and the kiosk returns to idle.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from contracts.messages import RollcallAnswer, RollcallStart
from kiosk.flows import verify
from kiosk.flows.policy import Context
from kiosk.flows.types import (
    Button,
    CancelDevices,
    CardRead,
    Effect,
    Input,
    Msg,
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
ANSWER_PREFIX = "answer:"


class Phase(StrEnum):
    """Where the roll call stands."""

    LIST = "list"
    VERIFYING = "verifying"
    SAVING = "saving"
    NOTICE = "notice"
    SUMMARY = "summary"
    DONE = "done"


@dataclass(frozen=True)
class RollcallState:
    """One roll call on this kiosk."""

    session: int
    rollcall_id: str
    called: tuple[str, ...]
    closes: datetime
    """The roll call's deadline (from the command)."""
    phase: Phase
    deadline: datetime
    """When the current screen moves on (the list: at `closes`)."""
    answered: tuple[str, ...] = ()
    check: verify.VerifyState | None = None
    attempts: int = 0
    event_id: UUID | None = None
    answering: str | None = None

    @property
    def missing(self) -> tuple[str, ...]:
        """Called subjects who have not answered, in the command's order."""
        return tuple(s for s in self.called if s not in self.answered)


Result = tuple[RollcallState, list[Effect]]


def start(ctx: Context, session: int, command: RollcallStart, at: datetime) -> Result:
    """A rollcall_start command is shown (the kiosk checked that its deadline has not passed)."""
    state = RollcallState(
        session=session,
        rollcall_id=command.rollcall_id,
        called=tuple(command.subject_ids),
        closes=command.deadline,
        phase=Phase.LIST,
        deadline=command.deadline,
    )
    return _list(ctx, state, at)


def _list(ctx: Context, state: RollcallState, at: datetime) -> Result:
    if not state.missing or at >= state.closes:
        return _summary(ctx, state, at)
    state = replace(state, phase=Phase.LIST, deadline=state.closes, check=None, answering=None)
    buttons: tuple[Button, ...] = ()
    if not ctx.policy.rollcall_card:
        buttons = tuple(Button(f"{ANSWER_PREFIX}{s}", msg("rollcall.answer_as", subject=s)) for s in state.missing)
    prompt = msg("rollcall.prompt_card") if ctx.policy.rollcall_card else msg("rollcall.prompt_touch")
    view = View(
        Screen.ROLLCALL,
        msg("rollcall.title", missing=len(state.missing), called=len(state.called)),
        (prompt,),
        buttons,
        data={
            "rollcall_id": state.rollcall_id,
            "called": state.called,
            "answered": state.answered,
            "missing": state.missing,
            "closes": state.closes,
        },
        deadline=state.closes,
    )
    return state, [Show(view), StartTimer(state.closes)]


def _summary(ctx: Context, state: RollcallState, at: datetime) -> Result:
    deadline = at + timedelta(seconds=ctx.policy.result_timeout_s)
    state = replace(state, phase=Phase.SUMMARY, deadline=deadline, check=None)
    view = View(
        Screen.ROLLCALL_SUMMARY,
        msg("rollcall.closed"),
        (msg("rollcall.summary", answered=len(state.answered), called=len(state.called)),),
        (OK,),
        data={"rollcall_id": state.rollcall_id, "answered": state.answered, "missing": state.missing},
        deadline=deadline,
    )
    return state, [Show(view), StartTimer(deadline)]


def _notice(ctx: Context, state: RollcallState, at: datetime, title: Msg, line: Msg) -> Result:
    deadline = at + timedelta(seconds=ctx.policy.result_timeout_s)
    state = replace(state, phase=Phase.NOTICE, deadline=min(deadline, state.closes), check=None)
    view = View(Screen.MESSAGE, title, (line,), (OK,), deadline=state.deadline)
    return state, [Show(view), StartTimer(state.deadline)]


def _begin(ctx: Context, state: RollcallState, result: verify.Result, at: datetime) -> Result:
    vstate, effects, outcome = result
    state = replace(state, phase=Phase.VERIFYING, check=vstate, attempts=state.attempts + 1)
    return _after_verify(ctx, state, vstate, effects, outcome, at)


def _after_verify(
    ctx: Context,
    state: RollcallState,
    vstate: verify.VerifyState,
    effects: list[Effect],
    outcome: verify.Outcome | None,
    at: datetime,
) -> Result:
    state = replace(state, check=vstate, deadline=vstate.deadline)
    if outcome is None:
        return state, effects
    if isinstance(outcome, verify.Failed):
        if outcome.reason == "not_called" and outcome.subject and outcome.subject.subject_id in state.answered:
            line = msg("rollcall.already_answered", name=outcome.subject.name)
        else:
            line = outcome.message
        new, shown = _notice(ctx, state, at, msg("rollcall.not_answered"), line)
        return new, [*effects, *shown]
    message = RollcallAnswer(
        event_id=ctx.event_id(state.session, f"rollcall/{state.rollcall_id}/{outcome.subject.subject_id}"),
        device_id=ctx.device_id,
        device_time=at,
        rollcall_id=state.rollcall_id,
        subject_id=outcome.subject.subject_id,
        face_score=min(1.0, max(-1.0, outcome.face.template_score)),
        answered_at=at,
    )
    deadline = at + timedelta(seconds=ctx.policy.device_timeout_s)
    state = replace(
        state,
        phase=Phase.SAVING,
        event_id=message.event_id,
        answering=outcome.subject.subject_id,
        deadline=deadline,
        check=None,
    )
    view = View(Screen.BUSY, msg("rollcall.saving"), (msg("checkin.saving_wait"),), deadline=deadline)
    return state, [*effects, Publish(message), Show(view), StartTimer(deadline)]


def step(ctx: Context, state: RollcallState, event: Input) -> Result:
    """Advance the roll call; when `phase` is DONE the kiosk returns to idle."""
    at = event.at
    timed_out = isinstance(event, Tick) and at >= state.deadline
    touched = event.button if isinstance(event, Touch) else None
    tag = f"r{state.session}.{state.attempts + 1}"

    if state.phase == Phase.LIST:
        if isinstance(event, Tick) and at >= state.closes:
            return _summary(ctx, state, at)
        if touched is not None and touched.startswith(ANSWER_PREFIX) and not ctx.policy.rollcall_card:
            subject_id = touched[len(ANSWER_PREFIX) :]
            if subject_id in state.missing:
                return _begin(ctx, state, verify.start_claim(ctx, tag, subject_id, at), at)
            return state, []
        if isinstance(event, CardRead):
            allowed = frozenset(state.missing)
            started = verify.start_with_card(ctx, tag, event.card, at, use_finger=False, allowed=allowed)
            return _begin(ctx, state, started, at)
        return state, []

    if state.phase == Phase.VERIFYING:
        assert state.check is not None
        if isinstance(event, Tick) and at >= state.closes:
            new, shown = _summary(ctx, state, at)
            return new, [CancelDevices(), *shown]
        vstate, effects, outcome = verify.step(ctx, state.check, event)
        return _after_verify(ctx, state, vstate, effects, outcome, at)

    if state.phase == Phase.SAVING:
        if isinstance(event, Published) and event.event_id == state.event_id and state.answering:
            state = replace(state, answered=(*state.answered, state.answering))
            if not state.missing:
                return _summary(ctx, state, at)
            return _notice(ctx, state, at, msg("rollcall.answered"), msg("rollcall.thanks"))
        if (isinstance(event, PublishFailed) and event.event_id == state.event_id) or timed_out:
            return _notice(ctx, state, at, msg("rollcall.not_answered"), msg("checkin.tell_staff"))
        return state, []

    if state.phase == Phase.NOTICE:
        if timed_out or touched == "ok":
            return _list(ctx, state, at)
        return state, []

    if state.phase == Phase.SUMMARY and (timed_out or touched == "ok"):
        return replace(state, phase=Phase.DONE), []
    return state, []
