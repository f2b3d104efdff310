"""The whole kiosk as one pure machine: the idle screen, which flow runs, the offline banner, the language.

```python
ctx = Context(device_id="kiosk-haicang", boot_id=uuid4(), policy=Policy(...), speech=SpeechAvailability(...))
state, effects = boot(ctx, now)
while True:
    state, effects = step(ctx, state, next_input())   # carry out `effects` in order
```

One flow runs at a time. The idle screen starts a check-in when a card is read, a voice report or
the staff PIN pad when touched; a roll-call command starts the roll call at once when the kiosk is
idle, otherwise it waits until the person at the kiosk is done (unless its deadline passes first).
Every flow ends in DONE, after which the kiosk is idle again; every screen of every flow has a
deadline, so the kiosk always comes back to idle by itself. `Touch("lang")` switches between
Chinese and English on any screen; the idle screen resets it to Chinese for the next person.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from contracts.messages import RollcallStart
from kiosk.flows import checkin, rollcall, staff, voice
from kiosk.flows.policy import Context
from kiosk.flows.types import (
    Button,
    CardRead,
    CentralOffline,
    CentralOnline,
    Effect,
    Input,
    Lang,
    Msg,
    PinEntered,
    RollcallCommand,
    Screen,
    Show,
    StartTimer,
    Tick,
    Touch,
    View,
    msg,
)

Mode = Literal["idle", "checkin", "voice", "rollcall", "staff", "pin", "notice"]
Flow = checkin.CheckinState | voice.VoiceState | rollcall.RollcallState | staff.StaffState
OK = Button("ok", msg("button.ok"))
CANCEL = Button("cancel", msg("button.cancel"), "secondary")
_SEEN_ROLLCALLS = 64  # commands are retained and redelivered: remember enough ids to show each once


def idle_view() -> View:
    """The idle screen: place your card to check in, or touch voice report; a small staff button."""
    return View(
        Screen.IDLE,
        msg("idle.title"),
        (msg("idle.prompt"),),
        (
            Button("voice_report", msg("button.voice_report")),
            Button("staff", msg("button.staff"), "secondary"),
        ),
    )


@dataclass(frozen=True)
class KioskState:
    """The kiosk between two inputs."""

    mode: Mode = "idle"
    flow: Flow | None = None
    session: int = 0
    online: bool = True
    lang: Lang = "zh"
    view: View = field(default_factory=idle_view)
    """The view last shown (re-shown with a new banner or language)."""
    deadline: datetime | None = None
    """When the PIN pad or a notice times out (flows keep their own)."""
    guard: staff.PinGuard = field(default_factory=staff.PinGuard)
    pending_rollcalls: tuple[RollcallStart, ...] = ()
    seen_rollcalls: tuple[str, ...] = ()

    @property
    def idle(self) -> bool:
        """Whether the idle screen is up."""
        return self.mode == "idle"


Result = tuple[KioskState, list[Effect]]


def boot(ctx: Context, at: datetime) -> Result:
    """The state at start-up, showing the idle screen."""
    return _decorate(KioskState(), [Show(idle_view())])


def _decorate(state: KioskState, effects: list[Effect]) -> Result:
    """Give every view the offline banner and the language, and remember the last one."""
    out: list[Effect] = []
    for effect in effects:
        if isinstance(effect, Show):
            view = replace(effect.view, banner=None if state.online else msg("banner.offline"), lang=state.lang)
            state = replace(state, view=view)
            effect = Show(view)
        out.append(effect)
    return state, out


def _go_idle(ctx: Context, state: KioskState, at: datetime, effects: list[Effect]) -> Result:
    state = replace(state, mode="idle", flow=None, deadline=None, lang="zh")
    waiting = tuple(c for c in state.pending_rollcalls if c.deadline > at)
    state = replace(state, pending_rollcalls=waiting)
    if waiting:
        first, rest = waiting[0], waiting[1:]
        new, more = _start_rollcall(ctx, replace(state, pending_rollcalls=rest), first, at)
        return new, [*effects, *more]
    return _decorate(state, [*effects, Show(idle_view())])


def _notice(ctx: Context, state: KioskState, at: datetime, title: Msg, lines: tuple[Msg, ...]) -> Result:
    deadline = at + timedelta(seconds=ctx.policy.result_timeout_s)
    state = replace(state, mode="notice", flow=None, deadline=deadline)
    return _decorate(state, [Show(View(Screen.MESSAGE, title, lines, (OK,), deadline=deadline)), StartTimer(deadline)])


def _start_rollcall(ctx: Context, state: KioskState, command: RollcallStart, at: datetime) -> Result:
    session = state.session + 1
    flow, effects = rollcall.start(ctx, session, command, at)
    state = replace(state, mode="rollcall", flow=flow, session=session, deadline=None)
    if flow.phase == rollcall.Phase.DONE:
        return _go_idle(ctx, state, at, effects)
    return _decorate(state, effects)


def _rollcall_command(ctx: Context, state: KioskState, event: RollcallCommand) -> Result:
    command = event.command
    if command.device_id != ctx.device_id or command.rollcall_id in state.seen_rollcalls:
        return state, []
    if command.deadline <= event.at:
        return state, []  # arrived too late to answer (the kiosk was off, or central's clock is ahead)
    seen = (*state.seen_rollcalls, command.rollcall_id)[-_SEEN_ROLLCALLS:]
    state = replace(state, seen_rollcalls=seen)
    if state.idle:
        return _start_rollcall(ctx, state, command, event.at)
    return replace(state, pending_rollcalls=(*state.pending_rollcalls, command)), []


def _idle(ctx: Context, state: KioskState, event: Input) -> Result:
    at = event.at
    if isinstance(event, Tick) and state.deadline is not None and at >= state.deadline:
        return _go_idle(ctx, state, at, [])  # back to Chinese for the next person
    if isinstance(event, CardRead):
        session = state.session + 1
        flow, effects = checkin.start(ctx, session, event.card, at)
        return _after_flow(ctx, replace(state, mode="checkin", flow=flow, session=session), at, effects)
    if isinstance(event, Touch) and event.button == "voice_report":
        if not ctx.speech.available:
            return _notice(
                ctx,
                state,
                at,
                msg("voice.unavailable"),
                (msg("voice.unavailable_detail", detail=ctx.speech.reason or "-"), msg("checkin.see_staff")),
            )
        session = state.session + 1
        vflow, effects = voice.start(ctx, session, at)
        return _after_flow(ctx, replace(state, mode="voice", flow=vflow, session=session), at, effects)
    if isinstance(event, Touch) and event.button == "staff":
        if ctx.policy.pin_hash is None:
            return _notice(ctx, state, at, msg("staff.title"), (msg("staff.no_pin"),))
        if state.guard.locked(at):
            assert state.guard.locked_until is not None
            until = state.guard.locked_until.astimezone(ctx.policy.timezone).strftime("%H:%M")
            return _notice(ctx, state, at, msg("pin.title"), (msg("pin.locked", until=until),))
        deadline = at + timedelta(seconds=ctx.policy.step_timeout_s)
        state = replace(state, mode="pin", deadline=deadline, session=state.session + 1)
        return _decorate(state, [Show(staff.pin_view(ctx, state.guard, deadline)), StartTimer(deadline)])
    return state, []


def _pin(ctx: Context, state: KioskState, event: Input) -> Result:
    at = event.at
    pin_deadline = state.deadline
    assert pin_deadline is not None
    if isinstance(event, PinEntered):
        guard, right, effects = staff.check_pin(ctx, state.guard, event.pin, at, state.session)
        state = replace(state, guard=guard)
        if right:
            flow, more = staff.start(ctx, state.session, at)
            return _decorate(replace(state, mode="staff", flow=flow, deadline=None), [*effects, *more])
        if guard.locked(at):
            assert guard.locked_until is not None
            until = guard.locked_until.astimezone(ctx.policy.timezone).strftime("%H:%M")
            new, shown = _notice(ctx, state, at, msg("pin.title"), (msg("pin.locked", until=until),))
            return new, [*effects, *shown]
        deadline = at + timedelta(seconds=ctx.policy.step_timeout_s)
        state = replace(state, deadline=deadline)
        view = staff.pin_view(ctx, guard, deadline, msg("pin.wrong"))
        return _decorate(state, [*effects, Show(view), StartTimer(deadline)])
    if (isinstance(event, Touch) and event.button == "cancel") or (isinstance(event, Tick) and at >= pin_deadline):
        return _go_idle(ctx, state, at, [])
    return state, []


def _after_flow(ctx: Context, state: KioskState, at: datetime, effects: list[Effect]) -> Result:
    flow = state.flow
    if flow is not None and flow.phase == "done":
        return _go_idle(ctx, state, at, effects)
    return _decorate(state, effects)


def _in_flow(ctx: Context, state: KioskState, event: Input) -> Result:
    flow = state.flow
    effects: list[Effect]
    if isinstance(flow, checkin.CheckinState):
        new_flow: Flow
        new_flow, effects = checkin.step(ctx, flow, event)
    elif isinstance(flow, voice.VoiceState):
        new_flow, effects = voice.step(ctx, flow, event)
    elif isinstance(flow, rollcall.RollcallState):
        new_flow, effects = rollcall.step(ctx, flow, event)
    elif isinstance(flow, staff.StaffState):
        new_flow, effects = staff.step(ctx, flow, event)
    else:  # pragma: no cover - a mode without a flow is a bug; recover to idle rather than freeze
        return _go_idle(ctx, state, event.at, [])
    return _after_flow(ctx, replace(state, flow=new_flow), event.at, effects)


def step(ctx: Context, state: KioskState, event: Input) -> Result:
    """Advance the kiosk by one input; returns the new state and the effects to carry out, in order."""
    at = event.at
    if isinstance(event, CentralOffline | CentralOnline):
        online = isinstance(event, CentralOnline)
        if online == state.online:
            return state, []
        return _decorate(replace(state, online=online), [Show(state.view)])
    if isinstance(event, Touch) and event.button == "lang":
        lang: Lang = "en" if state.lang == "zh" else "zh"
        state = replace(state, lang=lang)
        if state.idle:  # nobody started anything: the choice lapses like any other screen
            deadline = at + timedelta(seconds=ctx.policy.step_timeout_s)
            return _decorate(replace(state, deadline=deadline), [Show(state.view), StartTimer(deadline)])
        return _decorate(state, [Show(state.view)])
    if isinstance(event, RollcallCommand):
        return _rollcall_command(ctx, state, event)
    if isinstance(event, Tick) and state.pending_rollcalls:
        state = replace(state, pending_rollcalls=tuple(c for c in state.pending_rollcalls if c.deadline > at))
    if state.mode == "idle":
        return _idle(ctx, state, event)
    if state.mode == "pin":
        return _pin(ctx, state, event)
    if state.mode == "notice":
        notice_deadline = state.deadline
        assert notice_deadline is not None
        ok = isinstance(event, Touch) and event.button == "ok"
        if ok or (isinstance(event, Tick) and at >= notice_deadline):
            return _go_idle(ctx, state, at, [])
        return state, []
    return _in_flow(ctx, state, event)
