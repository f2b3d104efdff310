"""Staff side of the kiosk: PIN check with lockout, the maintenance screen, and enrolment (信息采集).

The PIN is compared with a PBKDF2 hash from the configuration. Wrong PINs are counted across
visits; after `max_pin_failures` the staff button is locked for `lockout_s` and a `tamper` device
alarm goes to central, so guessing is slow and seen.

Enrolment is staff-present: the subject's ID card identifies them (they must already be
registered in central), then several face captures through the quality gate with pose variety
(frontal, turned one way, turned the other: `Policy.enrol_poses`), then fingerprints on the
sensor (skippable), then the templates are encrypted and uploaded by the runtime.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from contracts.messages import DeviceAlarm
from kiosk.flows.policy import Context
from kiosk.flows.types import (
    Button,
    CancelDevices,
    CaptureFace,
    CardRead,
    DeviceFailed,
    Effect,
    EnrolFinger,
    FaceCaptured,
    FingerEnrolled,
    Input,
    LookupFailed,
    LookupSubject,
    Msg,
    Publish,
    ReadCard,
    Screen,
    Show,
    StartTimer,
    SubjectFound,
    SubjectInfo,
    SubjectNotFound,
    Tick,
    Touch,
    UploadDone,
    UploadFailed,
    UploadTemplates,
    View,
    msg,
)
from kiosk.flows.verify import QUALITY_HINTS

ENROL = Button("enrol", msg("button.enrol"))
EXIT = Button("exit", msg("button.exit"), "secondary")
CANCEL = Button("cancel", msg("button.cancel"), "secondary")
SKIP = Button("skip", msg("button.skip_finger"), "secondary")
UPLOAD = Button("upload", msg("button.upload"))
REDO = Button("redo", msg("button.redo"), "secondary")
OK = Button("ok", msg("button.ok"))


# -- PIN -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PinGuard:
    """Wrong PINs so far and the lockout; kept by the kiosk across visits to the PIN screen."""

    failures: int = 0
    locked_until: datetime | None = None

    def locked(self, at: datetime) -> bool:
        """Whether the staff button is locked at `at`."""
        return self.locked_until is not None and at < self.locked_until


def check_pin(
    ctx: Context, guard: PinGuard, pin: str, at: datetime, session: int
) -> tuple[PinGuard, bool, list[Effect]]:
    """Compare a PIN; returns the new guard, whether it was right, and the alarm to publish on lockout."""
    policy = ctx.policy
    if guard.locked(at) or policy.pin_hash is None:
        return guard, False, []
    if guard.locked_until is not None:  # an expired lockout starts a fresh count
        guard = PinGuard()
    if policy.pin_hash.matches(pin):
        return PinGuard(), True, []
    failures = guard.failures + 1
    if failures < policy.max_pin_failures:
        return PinGuard(failures), False, []
    until = at + timedelta(seconds=policy.lockout_s)
    alarm = DeviceAlarm(
        event_id=ctx.event_id(session, "pin_lockout"),
        device_id=ctx.device_id,
        device_time=at,
        kind="tamper",
        detail=f"staff PIN: {failures} wrong entries in a row; maintenance locked for {int(policy.lockout_s)} s",
    )
    return PinGuard(failures, until), False, [Publish(alarm)]


def pin_view(ctx: Context, guard: PinGuard, deadline: datetime, notice: Msg | None = None) -> View:
    """The PIN pad screen."""
    lines: tuple[Msg, ...] = (msg("pin.prompt"),)
    if notice is not None:
        lines = (notice, *lines)
    left = ctx.policy.max_pin_failures - guard.failures
    return View(Screen.PIN, msg("pin.title"), lines, (CANCEL,), data={"attempts_left": left}, deadline=deadline)


# -- maintenance and enrolment ---------------------------------------------------------------------------------------


class Phase(StrEnum):
    """Where the staff session stands."""

    MENU = "menu"
    CARD = "card"
    LOOKUP = "lookup"
    FACE = "face"
    FINGER = "finger"
    REVIEW = "review"
    UPLOADING = "uploading"
    NOTICE = "notice"
    DONE = "done"


@dataclass(frozen=True)
class StaffState:
    """A staff session after the PIN."""

    session: int
    phase: Phase
    deadline: datetime
    n: int = 0
    pending: str | None = None
    subject: SubjectInfo | None = None
    pose: int = 0
    captures: int = 0
    face_refs: tuple[str, ...] = ()
    finger_refs: tuple[str, ...] = ()
    enrolments: int = 0


Result = tuple[StaffState, list[Effect]]


def _later(at: datetime, seconds: float) -> datetime:
    return at + timedelta(seconds=seconds)


def _request(state: StaffState) -> tuple[StaffState, str]:
    req = f"m{state.session}.{state.n + 1}"
    return replace(state, n=state.n + 1, pending=req), req


def _show(state: StaffState, view: View) -> Result:
    return state, [Show(view), StartTimer(state.deadline)]


def start(ctx: Context, session: int, at: datetime) -> Result:
    """The right PIN was entered: show the maintenance screen."""
    return menu(ctx, StaffState(session, Phase.MENU, at), at)


def menu(ctx: Context, state: StaffState, at: datetime) -> Result:
    """The maintenance screen: status, enrolment, exit."""
    state = replace(
        state, phase=Phase.MENU, deadline=_later(at, ctx.policy.step_timeout_s * 2), pending=None, subject=None
    )
    speech = ctx.speech.model if ctx.speech.available else ctx.speech.reason
    view = View(
        Screen.MAINTENANCE,
        msg("staff.title"),
        (msg("staff.device", device=ctx.device_id),),
        (ENROL, EXIT),
        data={"device_id": ctx.device_id, "speech": speech or "", "enrolments": state.enrolments},
        deadline=state.deadline,
    )
    return _show(state, view)


def _notice(ctx: Context, state: StaffState, at: datetime, title: Msg, line: Msg) -> Result:
    state = replace(state, phase=Phase.NOTICE, deadline=_later(at, ctx.policy.result_timeout_s), pending=None)
    return _show(state, View(Screen.MESSAGE, title, (line,), (OK,), deadline=state.deadline))


def _pose_hint(pose: str) -> Msg:
    return msg(f"enrol.pose.{pose}")


def _capture(ctx: Context, state: StaffState, at: datetime, notice: Msg | None = None) -> Result:
    subject = state.subject
    assert subject is not None
    pose = ctx.policy.enrol_poses[state.pose]
    state = replace(state, phase=Phase.FACE, deadline=_later(at, ctx.policy.step_timeout_s))
    state, req = _request(state)
    lines: tuple[Msg, ...] = (_pose_hint(pose),) if notice is None else (notice, _pose_hint(pose))
    view = View(
        Screen.ENROL_FACE,
        msg("enrol.face_title", name=subject.name),
        lines,
        (CANCEL,),
        data={"pose": pose, "done": len(state.face_refs), "total": len(ctx.policy.enrol_poses)},
        deadline=state.deadline,
    )
    return state, [
        CaptureFace(req, subject.subject_id, purpose="enrol", pose=pose),
        Show(view),
        StartTimer(state.deadline),
    ]


def _finger(ctx: Context, state: StaffState, at: datetime, notice: Msg | None = None) -> Result:
    subject = state.subject
    assert subject is not None
    state = replace(state, phase=Phase.FINGER, deadline=_later(at, ctx.policy.step_timeout_s))
    state, req = _request(state)
    finger = len(state.finger_refs) + 1
    lines: tuple[Msg, ...] = (msg("enrol.finger_prompt", finger=finger),)
    if notice is not None:
        lines = (notice, *lines)
    view = View(
        Screen.ENROL_FINGER,
        msg("enrol.finger_title"),
        lines,
        (SKIP, CANCEL),
        data={"done": len(state.finger_refs), "total": ctx.policy.enrol_fingers},
        deadline=state.deadline,
    )
    return state, [EnrolFinger(req, subject.subject_id, finger), Show(view), StartTimer(state.deadline)]


def _review(ctx: Context, state: StaffState, at: datetime, notice: Msg | None = None) -> Result:
    subject = state.subject
    assert subject is not None
    state = replace(state, phase=Phase.REVIEW, deadline=_later(at, ctx.policy.step_timeout_s * 2), pending=None)
    lines: tuple[Msg, ...] = (msg("enrol.summary", faces=len(state.face_refs), fingers=len(state.finger_refs)),)
    if notice is not None:
        lines = (notice, *lines)
    view = View(
        Screen.ENROL_REVIEW,
        msg("enrol.review_title", name=subject.name),
        lines,
        (UPLOAD, REDO, CANCEL),
        data={"subject_id": subject.subject_id, "faces": len(state.face_refs), "fingers": len(state.finger_refs)},
        deadline=state.deadline,
    )
    return _show(state, view)


def _pose_ok(ctx: Context, pose: str, yaw: float | None) -> bool:
    if yaw is None or yaw != yaw:  # NaN
        return False
    turn = ctx.policy.enrol_turn
    if pose == "front":
        return abs(yaw) <= turn
    return yaw <= -turn if pose == "left" else yaw >= turn


def _face(ctx: Context, state: StaffState, got: FaceCaptured, at: datetime) -> Result:
    state = replace(state, captures=state.captures + 1)
    pose = ctx.policy.enrol_poses[state.pose]
    good = got.quality_ok and got.capture_ref is not None and _pose_ok(ctx, pose, got.yaw)
    if not good:
        if state.captures >= ctx.policy.max_captures * len(ctx.policy.enrol_poses):
            return _notice(ctx, state, at, msg("enrol.failed"), msg("enrol.face_failed"))
        code = next(iter(got.refusals), None)
        if not got.quality_ok and code is not None:
            notice = msg(f"face.hint.{code}") if code in QUALITY_HINTS else msg("face.hint.retry")
        else:
            notice = msg("enrol.pose_wrong")
        return _capture(ctx, state, at, notice)
    assert got.capture_ref is not None
    state = replace(state, face_refs=(*state.face_refs, got.capture_ref), pose=state.pose + 1)
    if state.pose < len(ctx.policy.enrol_poses):
        return _capture(ctx, state, at)
    if ctx.policy.enrol_fingers > 0:
        return _finger(ctx, state, at)
    return _review(ctx, state, at)


def step(ctx: Context, state: StaffState, event: Input) -> Result:
    """Advance the staff session; when `phase` is DONE the kiosk returns to idle."""
    at = event.at
    timed_out = isinstance(event, Tick) and at >= state.deadline
    touched = event.button if isinstance(event, Touch) else None
    req = getattr(event, "req", None)
    mine = req is not None and req == state.pending
    busy = state.phase in (Phase.CARD, Phase.LOOKUP, Phase.FACE, Phase.FINGER, Phase.UPLOADING)

    if state.phase == Phase.MENU:
        if touched == "enrol":
            state = replace(
                state,
                phase=Phase.CARD,
                deadline=_later(at, ctx.policy.card_prompt_timeout_s),
                subject=None,
                pose=0,
                captures=0,
                face_refs=(),
                finger_refs=(),
            )
            state, rreq = _request(state)
            view = View(Screen.CARD, msg("enrol.card_title"), (msg("enrol.card_prompt"),), (CANCEL,))
            return state, [ReadCard(rreq), Show(replace(view, deadline=state.deadline)), StartTimer(state.deadline)]
        if touched == "exit" or timed_out:
            return replace(state, phase=Phase.DONE), []
        return state, []

    if busy and (touched == "cancel" or (timed_out and state.phase != Phase.UPLOADING)):
        new, effects = menu(ctx, state, at)
        return new, [CancelDevices(), *effects]
    if busy and mine and isinstance(event, DeviceFailed):
        device = event.device if event.device in ("camera", "fingerprint", "card_reader") else "device"
        return _notice(
            ctx, state, at, msg("enrol.failed"), msg("refusal.device_failure", device=msg(f"device.{device}"))
        )

    if state.phase == Phase.CARD:
        if isinstance(event, CardRead):
            if not event.card.id_number_ok:
                return _notice(ctx, state, at, msg("enrol.failed"), msg("refusal.card_unreadable"))
            state = replace(state, phase=Phase.LOOKUP, deadline=_later(at, ctx.policy.device_timeout_s))
            state, lreq = _request(state)
            view = View(Screen.BUSY, msg("lookup.title"), (msg("lookup.wait"),), deadline=state.deadline)
            return state, [LookupSubject(lreq, id_number=event.card.id_number), Show(view), StartTimer(state.deadline)]
        return state, []

    if state.phase == Phase.LOOKUP and mine:
        if isinstance(event, SubjectFound):
            subject = event.subject
            if subject.status != "active":
                return _notice(ctx, state, at, msg("enrol.failed"), msg("refusal.not_active", name=subject.name))
            return _capture(ctx, replace(state, subject=subject), at)
        if isinstance(event, SubjectNotFound):
            return _notice(ctx, state, at, msg("enrol.failed"), msg("enrol.not_registered"))
        if isinstance(event, LookupFailed):
            return _notice(ctx, state, at, msg("enrol.failed"), msg("refusal.lookup_failed"))
        return state, []

    if state.phase == Phase.FACE and mine and isinstance(event, FaceCaptured):
        return _face(ctx, state, event, at)

    if state.phase == Phase.FINGER:
        if mine and isinstance(event, FingerEnrolled):
            state = replace(state, finger_refs=(*state.finger_refs, event.template_ref))
            if len(state.finger_refs) >= ctx.policy.enrol_fingers:
                return _review(ctx, state, at)
            return _finger(ctx, state, at)
        if touched == "skip":
            new, effects = _review(ctx, state, at, msg("enrol.finger_skipped"))
            return new, [CancelDevices(), *effects]
        return state, []

    if state.phase == Phase.REVIEW:
        enrolled = state.subject
        assert enrolled is not None
        if touched == "upload":
            state = replace(state, phase=Phase.UPLOADING, deadline=_later(at, ctx.policy.device_timeout_s * 3))
            state, ureq = _request(state)
            view = View(Screen.BUSY, msg("enrol.uploading"), (msg("lookup.wait"),), deadline=state.deadline)
            upload = UploadTemplates(ureq, enrolled.subject_id, state.face_refs, state.finger_refs)
            return state, [upload, Show(view), StartTimer(state.deadline)]
        if touched == "redo":
            return _capture(ctx, replace(state, pose=0, captures=0, face_refs=(), finger_refs=()), at)
        if touched == "cancel" or timed_out:
            return menu(ctx, state, at)
        return state, []

    if state.phase == Phase.UPLOADING:
        if mine and isinstance(event, UploadDone):
            name = state.subject.name if state.subject is not None else ""
            state = replace(state, enrolments=state.enrolments + 1)
            return _notice(ctx, state, at, msg("enrol.done"), msg("enrol.done_line", name=name))
        if (mine and isinstance(event, UploadFailed)) or timed_out:
            return _review(ctx, state, at, msg("enrol.upload_failed"))
        return state, []

    if state.phase == Phase.NOTICE and (timed_out or touched == "ok"):
        return menu(ctx, state, at)
    return state, []
