"""Check-in flow: the accepted path with every score, each refusal published once, timeouts, stale answers."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date

import pytest

from kiosk.flows.types import (
    CancelDevices,
    CaptureFace,
    CardRemoved,
    DeviceFailed,
    FaceCaptured,
    FingerResult,
    LookupFailed,
    LookupSubject,
    PublishFailed,
    Screen,
    StartTimer,
    SubjectFound,
    SubjectNotFound,
    Tick,
    VerifyFinger,
)
from tests.unit.kiosk.driver import (
    BLURRED,
    CARD,
    CARD_NO_PHOTO,
    GOOD,
    MISMATCH,
    STRICT,
    SUBJECT,
    T0,
    Driver,
    context,
    roundtrip,
)


def test_accepted_checkin_publishes_every_score_then_shows_the_receipt() -> None:
    """Card → lookup by card number → face against template and card photo → checkin accepted → receipt."""
    d = Driver()
    effects = d.card()
    (lookup,) = [e for e in effects if isinstance(e, LookupSubject)]
    assert lookup.id_number == CARD.id_number and lookup.subject_id is None
    assert d.screen() == Screen.BUSY
    effects = d.send(SubjectFound, subject=SUBJECT)
    (capture,) = [e for e in effects if isinstance(e, CaptureFace)]
    assert capture.subject_id == SUBJECT.subject_id and capture.card_photo == CARD.photo
    assert d.screen() == Screen.FACE and any(isinstance(e, StartTimer) for e in effects)
    d.send(FaceCaptured, **GOOD)
    assert d.screen() == Screen.BUSY  # the receipt waits for the outbox
    (message,) = d.checkins
    assert message.result == "accepted" and message.reason is None
    assert message.subject_id == SUBJECT.subject_id and message.methods == ["id_card", "face"]
    assert message.face_score == 0.8 and message.fingerprint_match is None
    assert message.model_extra == {"card_face_score": 0.7, "face_captures": 1}
    assert message.device_id == "kiosk-haicang" and message.device_time == T0
    assert roundtrip(message) == message  # a valid contract message, extra fields kept
    d.ack()
    assert d.screen() == Screen.RECEIPT and d.view.data["subject_id"] == SUBJECT.subject_id
    assert d.view.deadline is not None
    d.touch("ok")
    assert d.state.idle and d.screen() == Screen.IDLE


def test_no_card_photo_verifies_against_the_template_only() -> None:
    """Without a card photo the template decides; the capture asks for no photo comparison."""
    d = Driver()
    d.verify_to_face(card=CARD_NO_PHOTO)
    assert d.requested(CaptureFace)[0].card_photo is None
    d.send(FaceCaptured, quality_ok=True, template_score=0.5, card_score=None)
    d.ack()
    (message,) = d.checkins
    assert message.result == "accepted" and "card_face_score" not in (message.model_extra or {})


def test_card_photo_mismatch_is_a_face_mismatch_even_when_the_template_matches() -> None:
    """Both comparisons must pass when the card photo was scored."""
    d = Driver(context(face_tries=1))
    d.verify_to_face()
    d.send(FaceCaptured, quality_ok=True, template_score=0.9, card_score=0.1)
    assert d.checkins[-1].result == "refused" and d.checkins[-1].reason == "face_mismatch"


@pytest.mark.parametrize(
    ("subject", "policy", "finger"),
    [
        (STRICT, {}, True),  # the supervision level asks for it
        (SUBJECT, {"fingerprint_always": True}, True),  # the centre's policy asks for it
        (SUBJECT, {}, False),
        (dataclasses.replace(SUBJECT, supervision_level="lenient"), {"fingerprint_levels": frozenset()}, False),
    ],
)
def test_fingerprint_when_level_or_policy_requires_it(subject, policy, finger) -> None:
    """A finger is verified after the face exactly when the level or the centre requires it."""
    d = Driver(context(**policy))
    d.verify_to_face(subject)
    effects = d.send(FaceCaptured, **GOOD)
    assert bool([e for e in effects if isinstance(e, VerifyFinger)]) is finger
    if finger:
        assert d.screen() == Screen.FINGER
        d.send(FingerResult, matched=False, score=12)
        assert d.screen() == Screen.FINGER and not d.checkins
        d.send(FingerResult, matched=True, score=160)
    message = d.checkins[-1]
    assert message.result == "accepted"
    assert message.fingerprint_match is (True if finger else None)
    assert ("fingerprint" in message.methods) is finger


def test_quality_refusals_show_the_gate_hint_and_retry() -> None:
    """A refused picture is retried with the gate's hint; it does not count as a mismatch."""
    d = Driver(context(face_tries=1))
    d.verify_to_face()
    d.send(FaceCaptured, **BLURRED)
    assert d.view.lines[0].id == "face.hint.blurred" and d.requested(CaptureFace)
    d.send(FaceCaptured, quality_ok=False, refusals=("something_new",))
    assert d.view.lines[0].id == "face.hint.retry"
    d.send(FaceCaptured, **GOOD)
    assert d.checkins[-1].result == "accepted" and (d.checkins[-1].model_extra or {})["face_captures"] == 3


def test_mismatches_are_retried_then_refused_after_face_tries() -> None:
    """N good pictures that do not match: refused face_mismatch with the last score."""
    d = Driver(context(face_tries=3))
    d.verify_to_face()
    for _ in range(2):
        d.send(FaceCaptured, **MISMATCH)
        assert d.screen() == Screen.FACE and d.view.lines[0].id == "face.hint.mismatch" and not d.checkins
    d.send(FaceCaptured, **MISMATCH)
    message = d.checkins[-1]
    assert (message.result, message.reason, message.face_score) == ("refused", "face_mismatch", 0.1)
    assert message.methods == ["id_card", "face"]


def test_never_a_clear_picture_is_refused_face_quality() -> None:
    """max_captures poor pictures end the attempt."""
    d = Driver(context(max_captures=3))
    d.verify_to_face()
    for _ in range(3):
        d.send(FaceCaptured, **BLURRED)
    assert d.checkins[-1].reason == "face_quality" and d.checkins[-1].face_score is None


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_score_is_never_a_match(bad: float) -> None:
    """A runtime bug giving NaN is a failed capture, and never reaches the contract."""
    d = Driver(context(max_captures=1))
    d.verify_to_face()
    d.send(FaceCaptured, quality_ok=True, template_score=bad)
    assert d.checkins[-1].result == "refused" and d.checkins[-1].face_score is None


def _expired(d: Driver) -> None:
    d.card(dataclasses.replace(CARD, valid_until=date(2026, 11, 22)))
    d.send(SubjectFound, subject=SUBJECT)


def _not_found(d: Driver) -> None:
    d.card()
    d.send(SubjectNotFound)


def _status(status: str) -> Callable[[Driver], None]:
    def run(d: Driver) -> None:
        d.card()
        d.send(SubjectFound, subject=dataclasses.replace(SUBJECT, status=status))

    return run


def _finger_fails(d: Driver) -> None:
    d.verify_to_face(STRICT)
    d.send(FaceCaptured, **GOOD)
    for _ in range(3):
        d.send(FingerResult, matched=False, score=3)


def _removed_during(step: str) -> Callable[[Driver], None]:
    def run(d: Driver) -> None:
        d.card()
        if step != "lookup":
            d.send(SubjectFound, subject=STRICT)
        if step == "finger":
            d.send(FaceCaptured, **GOOD)
        d.send(CardRemoved)

    return run


def _device(device: str) -> Callable[[Driver], None]:
    def run(d: Driver) -> None:
        d.verify_to_face(STRICT)
        if device == "fingerprint":
            d.send(FaceCaptured, **GOOD)
        d.send(DeviceFailed, device=device, detail="no reply in 2 s")

    return run


def _timeout_at_face(d: Driver) -> None:
    d.verify_to_face()
    d.later(31)


def _lookup_unanswered(d: Driver) -> None:
    d.card()
    d.later(21)


def _lookup_failed(d: Driver) -> None:
    d.card()
    d.send(LookupFailed, detail="central unreachable and the card is not in the cache")


def _cancelled(d: Driver) -> None:
    d.verify_to_face()
    d.touch("cancel")


REFUSALS = [
    ("not_enrolled", _not_found, None, ["id_card"]),
    ("card_expired", _expired, SUBJECT.subject_id, ["id_card"]),
    ("released", _status("released"), SUBJECT.subject_id, ["id_card"]),
    ("not_active", _status("terminated"), SUBJECT.subject_id, ["id_card"]),
    ("card_unreadable", lambda d: d.card(dataclasses.replace(CARD, id_number_ok=False)), None, ["id_card"]),
    ("no_face_template", lambda d: _status_tpl(d), SUBJECT.subject_id, ["id_card"]),
    ("no_fingerprint_template", lambda d: _no_finger(d), SUBJECT.subject_id, ["id_card"]),
    ("fingerprint_mismatch", _finger_fails, SUBJECT.subject_id, ["id_card", "face", "fingerprint"]),
    ("card_removed", _removed_during("lookup"), None, ["id_card"]),
    ("card_removed", _removed_during("face"), SUBJECT.subject_id, ["id_card"]),
    ("card_removed", _removed_during("finger"), SUBJECT.subject_id, ["id_card", "face"]),
    ("device_failure:camera", _device("camera"), SUBJECT.subject_id, ["id_card"]),
    ("device_failure:fingerprint", _device("fingerprint"), SUBJECT.subject_id, ["id_card", "face"]),
    ("timeout", _timeout_at_face, SUBJECT.subject_id, ["id_card"]),
    ("lookup_failed", _lookup_unanswered, None, ["id_card"]),
    ("lookup_failed", _lookup_failed, None, ["id_card"]),
    ("cancelled", _cancelled, SUBJECT.subject_id, ["id_card"]),
]


def _status_tpl(d: Driver) -> None:
    d.card()
    d.send(SubjectFound, subject=dataclasses.replace(SUBJECT, has_face_template=False))


def _no_finger(d: Driver) -> None:
    d.card()
    d.send(SubjectFound, subject=dataclasses.replace(STRICT, has_fingerprint=False))


@pytest.mark.parametrize(
    ("reason", "run", "subject_id", "methods"), REFUSALS, ids=[r[0] + "-" + str(i) for i, r in enumerate(REFUSALS)]
)
def test_each_refusal_is_published_once_and_shown(reason, run, subject_id, methods) -> None:
    """Every way a check-in fails is one refused checkin event with its reason, then a refusal screen."""
    d = Driver()
    run(d)
    (message,) = d.checkins
    assert (message.result, message.reason, message.subject_id) == ("refused", reason, subject_id)
    assert message.methods == methods
    assert roundtrip(message) == message
    d.ack()
    assert d.screen() == Screen.REFUSED and d.view.data["reason"] == reason
    assert d.view.lines[-1].id == "checkin.see_staff"
    d.later(8)
    assert d.state.idle and len(d.checkins) == 1


def test_card_removed_mid_flow_cancels_the_devices() -> None:
    """Taking the card away during the face capture abandons it."""
    d = Driver()
    d.verify_to_face()
    effects = d.send(CardRemoved)
    assert any(isinstance(e, CancelDevices) for e in effects)


def test_stale_answers_are_ignored() -> None:
    """An answer for another request (a previous session's late capture) changes nothing."""
    d = Driver()
    d.verify_to_face()
    before = d.state
    assert d.send(FaceCaptured, req="c0.9", **GOOD) == [] and d.state == before
    assert d.send(SubjectFound, req=d.req(LookupSubject), subject=SUBJECT) == []  # answered already
    assert not d.checkins


def test_receipt_waits_for_the_outbox_and_failures_are_told() -> None:
    """If the outbox refuses the event the person is told to see staff, never shown a receipt."""
    d = Driver()
    d.verify_to_face()
    d.send(FaceCaptured, **GOOD)
    d.send(PublishFailed, detail="outbox full")
    assert d.screen() == Screen.MESSAGE and d.view.title.id == "checkin.not_saved"
    d.later(8)
    assert d.state.idle and len(d.checkins) == 1


def test_unacknowledged_publish_times_out_without_republishing() -> None:
    """No acknowledgement within device_timeout_s: a message, then idle, and the check-in is not sent twice."""
    d = Driver()
    d.verify_to_face()
    d.send(FaceCaptured, **GOOD)
    d.later(19)
    assert d.screen() == Screen.BUSY
    d.later(2)
    assert d.view.title.id == "checkin.not_saved"
    d.later(8)
    assert d.state.idle and len(d.checkins) == 1


def test_receipt_times_out_to_idle() -> None:
    """The receipt stays result_timeout_s, then the idle screen is back."""
    d = Driver()
    d.checkin()
    d.later(7.9)
    assert d.screen() == Screen.RECEIPT
    d.later(0.2)
    assert d.state.idle


def test_card_during_a_checkin_does_not_start_another() -> None:
    """A second card read while busy is ignored: one session, one check-in."""
    d = Driver()
    d.verify_to_face()
    assert d.card() == []
    d.send(FaceCaptured, **GOOD)
    assert len(d.checkins) == 1


def test_two_sessions_have_different_event_ids() -> None:
    """Event ids derive from the boot id and the session: distinct per check-in."""
    d = Driver()
    d.checkin()
    d.touch("ok")
    d.checkin()
    first, second = d.checkins
    assert first.event_id != second.event_id


def test_expiry_uses_the_china_date() -> None:
    """A card valid until 23 Nov is still valid at 23:30 on 23 Nov in China (15:30 UTC)."""
    d = Driver(at=T0.replace(hour=15, minute=30))
    d.card(dataclasses.replace(CARD, valid_until=date(2026, 11, 23)))
    d.send(SubjectFound, subject=SUBJECT)
    assert d.screen() == Screen.FACE
    d2 = Driver(at=T0.replace(hour=16, minute=30))  # 00:30 on 24 Nov in China
    d2.card(dataclasses.replace(CARD, valid_until=date(2026, 11, 23)))
    d2.send(SubjectFound, subject=SUBJECT)
    assert d2.checkins[-1].reason == "card_expired"


def test_ticks_before_a_deadline_change_nothing() -> None:
    """A tick that is not late yet leaves the flow alone."""
    d = Driver()
    d.verify_to_face()
    before = d.state
    d.later(5)
    assert d.state == before and d.last == []
    assert isinstance(Tick(at=T0), Tick)
