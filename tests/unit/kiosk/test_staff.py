"""Staff PIN with lockout and alarm, the maintenance screen, and enrolment with pose variety."""

from __future__ import annotations

import dataclasses

import pytest

from contracts.messages import DeviceAlarm
from kiosk.flows.policy import PinHash, Policy
from kiosk.flows.types import (
    CancelDevices,
    CaptureFace,
    DeviceFailed,
    EnrolFinger,
    FaceCaptured,
    FingerEnrolled,
    PinEntered,
    ReadCard,
    Screen,
    SubjectFound,
    SubjectNotFound,
    UploadDone,
    UploadFailed,
    UploadTemplates,
)
from tests.unit.kiosk.driver import PIN, SUBJECT, Driver, context, roundtrip


def unlocked(d: Driver | None = None) -> Driver:
    """A driver on the maintenance screen."""
    d = d or Driver()
    d.touch("staff")
    assert d.screen() == Screen.PIN
    d.send(PinEntered, pin=PIN)
    assert d.screen() == Screen.MAINTENANCE
    return d


def test_right_pin_opens_maintenance_and_exit_returns_to_idle() -> None:
    """The maintenance screen shows the device and the speech model; exit and timeout go back to idle."""
    d = unlocked()
    assert d.view.data["device_id"] == "kiosk-haicang" and d.view.data["speech"] == "vosk-model-small-cn-0.22"
    d.touch("exit")
    assert d.state.idle
    unlocked(d)
    d.later(61)
    assert d.state.idle


def test_wrong_pins_lock_the_staff_button_and_raise_a_tamper_alarm() -> None:
    """After max_pin_failures wrong PINs: locked for lockout_s, one tamper alarm, even the right PIN refused."""
    d = Driver(context(max_pin_failures=3, lockout_s=300))
    d.touch("staff")
    for left in (2, 1):
        d.send(PinEntered, pin="000000")
        assert d.screen() == Screen.PIN and d.view.lines[0].id == "pin.wrong"
        assert d.view.data["attempts_left"] == left
    d.send(PinEntered, pin="000000")
    (alarm,) = d.published
    assert isinstance(alarm, DeviceAlarm) and alarm.kind == "tamper" and "3 wrong" in (alarm.detail or "")
    assert roundtrip(alarm) == alarm
    assert d.view.title.id == "pin.title" and d.view.lines[0].id == "pin.locked"
    d.later(9)
    assert d.state.idle
    d.touch("staff")
    assert d.view.lines[0].id == "pin.locked"  # still locked
    d.later(300)
    d.touch("staff")
    d.send(PinEntered, pin=PIN)
    assert d.screen() == Screen.MAINTENANCE and len(d.published) == 1


def test_failures_count_across_visits_and_reset_on_success() -> None:
    """Leaving the PIN pad does not reset the count; the right PIN does."""
    d = Driver(context(max_pin_failures=3))
    d.touch("staff")
    d.send(PinEntered, pin="1")
    d.touch("cancel")
    d.touch("staff")
    d.send(PinEntered, pin="2")
    assert d.state.guard.failures == 2
    d.send(PinEntered, pin=PIN)
    assert d.state.guard.failures == 0


def test_no_pin_configured_keeps_maintenance_closed() -> None:
    """Without a PIN hash nobody gets in."""
    d = Driver(context(pin_hash=None))
    d.touch("staff")
    assert d.view.lines[0].id == "staff.no_pin"


def test_pin_pad_times_out() -> None:
    """The PIN pad goes back to idle by itself."""
    d = Driver()
    d.touch("staff")
    d.later(31)
    assert d.state.idle


def test_pin_hash_is_salted_pbkdf2() -> None:
    """The PIN is never kept in clear, and a short salt is refused."""
    h = PinHash.make("4711", b"0123456789abcdef", iterations=1000)
    assert h.matches("4711") and not h.matches("4712") and b"4711" not in h.digest
    with pytest.raises(ValueError, match="salt"):
        PinHash.make("4711", b"short")


def enrol_to_face(d: Driver) -> None:
    d.touch("enrol")
    assert d.screen() == Screen.CARD and d.requested(ReadCard)
    d.card()
    d.send(SubjectFound, subject=SUBJECT)
    assert d.screen() == Screen.ENROL_FACE


def test_enrolment_collects_three_poses_and_fingers_then_uploads() -> None:
    """Front, left, right (each through the gate and the pose check), two fingers, one upload."""
    d = unlocked()
    enrol_to_face(d)
    poses = []
    for i, yaw in enumerate((0.05, -0.4, 0.4)):
        (capture,) = d.requested(CaptureFace)
        poses.append(capture.pose)
        assert capture.purpose == "enrol" and capture.card_photo is None
        d.send(FaceCaptured, quality_ok=True, yaw=yaw, capture_ref=f"face-{i}")
    assert poses == ["front", "left", "right"]
    for i in (1, 2):
        (enrol,) = d.requested(EnrolFinger)
        assert enrol.finger == i
        d.send(FingerEnrolled, template_ref=f"finger-{i}")
    assert d.screen() == Screen.ENROL_REVIEW
    d.touch("upload")
    (upload,) = d.requested(UploadTemplates)
    assert upload.face_refs == ("face-0", "face-1", "face-2") and upload.finger_refs == ("finger-1", "finger-2")
    d.send(UploadDone)
    assert d.view.title.id == "enrol.done"
    d.touch("ok")
    assert d.screen() == Screen.MAINTENANCE and d.view.data["enrolments"] == 1


@pytest.mark.parametrize(
    ("face", "hint"),
    [
        ({"quality_ok": False, "refusals": ("too_dark",)}, "face.hint.too_dark"),
        ({"quality_ok": True, "yaw": 0.5, "capture_ref": "x"}, "enrol.pose_wrong"),  # turned, frontal asked
        ({"quality_ok": True, "yaw": 0.0, "capture_ref": None}, "enrol.pose_wrong"),  # no embedding to keep
        ({"quality_ok": True, "yaw": float("nan"), "capture_ref": "x"}, "enrol.pose_wrong"),
    ],
)
def test_enrolment_rejects_poor_or_wrong_pose_pictures(face, hint) -> None:
    """Each rejected picture says why and asks again for the same pose."""
    d = unlocked()
    enrol_to_face(d)
    d.send(FaceCaptured, **face)
    assert d.view.lines[0].id == hint and d.requested(CaptureFace)[0].pose == "front"


def test_enrolment_gives_up_after_too_many_pictures() -> None:
    """max_captures per pose: then a message and the maintenance screen."""
    d = unlocked(Driver(context(max_captures=1)))
    enrol_to_face(d)
    for _ in range(3):
        d.send(FaceCaptured, quality_ok=False, refusals=("blurred",))
    assert d.view.lines[0].id == "enrol.face_failed"
    d.later(9)
    assert d.screen() == Screen.MAINTENANCE


def test_fingers_can_be_skipped_and_upload_failure_is_retried() -> None:
    """Skipping fingers goes to review; a failed upload comes back to review."""
    d = unlocked(Driver(context(enrol_poses=("front",))))
    enrol_to_face(d)
    d.send(FaceCaptured, quality_ok=True, yaw=0.0, capture_ref="f")
    effects = d.touch("skip")
    assert any(isinstance(e, CancelDevices) for e in effects)
    assert d.screen() == Screen.ENROL_REVIEW and d.view.lines[0].id == "enrol.finger_skipped"
    d.touch("upload")
    d.send(UploadFailed, detail="offline")
    assert d.view.lines[0].id == "enrol.upload_failed"
    d.touch("upload")
    assert d.requested(UploadTemplates)[0].finger_refs == ()


@pytest.mark.parametrize(
    ("answer", "line"),
    [
        (lambda d: d.send(SubjectNotFound), "enrol.not_registered"),
        (lambda d: d.send(SubjectFound, subject=dataclasses.replace(SUBJECT, status="released")), "refusal.not_active"),
        (lambda d: d.send(DeviceFailed, device="card_reader", detail="gone"), "refusal.device_failure"),
    ],
)
def test_enrolment_refusals(answer, line) -> None:
    """Unknown or released subjects and device failures end the enrolment with a message."""
    d = unlocked()
    d.touch("enrol")
    if line != "refusal.device_failure":
        d.card()
    answer(d)
    assert d.screen() == Screen.MESSAGE and d.view.lines[0].id == line


def test_enrolment_cancel_and_timeout_return_to_maintenance_then_idle() -> None:
    """Every enrolment screen times out; the maintenance screen then times out to idle."""
    d = unlocked()
    enrol_to_face(d)
    d.touch("cancel")
    assert d.screen() == Screen.MAINTENANCE
    enrol_to_face(d)
    d.later(31)
    assert d.screen() == Screen.MAINTENANCE
    d.later(61)
    assert d.state.idle


def test_policy_validation_names_the_setting() -> None:
    """Nonsense policies are refused with the setting named."""
    with pytest.raises(ValueError, match="face_tries"):
        Policy(face_tries=0)
    with pytest.raises(ValueError, match="max_record_s"):
        Policy(max_record_s=4000)
    with pytest.raises(ValueError, match="enrol_poses"):
        Policy(enrol_poses=("up",))
