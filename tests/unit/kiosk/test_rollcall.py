"""Roll-call flow: who is called and missing, answers by face (or card), the deadline, queued commands."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from contracts.messages import RollcallAnswer
from kiosk.flows.types import (
    CancelDevices,
    CaptureFace,
    FaceCaptured,
    LookupSubject,
    RollcallCommand,
    Screen,
    SubjectFound,
    Touch,
)
from tests.unit.kiosk.driver import (
    CARD,
    GOOD,
    MISMATCH,
    SUBJECT,
    T0,
    Driver,
    context,
    rollcall_command,
    roundtrip,
)

SECOND = dataclasses.replace(SUBJECT, subject_id="S-350205-0002", name="李四")


def started(d: Driver | None = None, **kw) -> Driver:
    """A driver showing roll call RC-1 for S-350205-0001 and -0002."""
    d = d or Driver()
    d.send(RollcallCommand, command=rollcall_command(at=d.now, **kw))
    return d


def answer(d: Driver, subject=SUBJECT, face=None) -> None:
    """Touch one's entry and show one's face."""
    effects = d.touch(f"answer:{subject.subject_id}")
    (lookup,) = [e for e in effects if isinstance(e, LookupSubject)]
    assert lookup.subject_id == subject.subject_id and lookup.id_number is None
    d.send(SubjectFound, subject=subject)
    d.send(FaceCaptured, **(face or GOOD))


def test_list_shows_called_and_missing_with_the_deadline() -> None:
    """The roll-call screen names who is called, who is missing and when it closes."""
    d = started()
    assert d.screen() == Screen.ROLLCALL
    assert d.view.data["missing"] == ("S-350205-0001", "S-350205-0002")
    assert d.view.deadline == T0 + timedelta(minutes=10)
    assert d.view.button_ids() == ("answer:S-350205-0001", "answer:S-350205-0002")
    assert dict(d.view.title.params) == {"missing": 2, "called": 2}


def test_answers_are_published_and_the_missing_list_shrinks() -> None:
    """Each verified subject answers once; when all answered the summary shows, then idle."""
    d = started()
    answer(d)
    (message,) = d.published
    assert isinstance(message, RollcallAnswer)
    assert (message.rollcall_id, message.subject_id, message.face_score) == ("RC-1", SUBJECT.subject_id, 0.8)
    assert message.answered_at == d.now and roundtrip(message) == message
    d.ack()
    assert d.view.title.id == "rollcall.answered"
    d.touch("ok")
    assert d.screen() == Screen.ROLLCALL and d.view.data["missing"] == ("S-350205-0002",)
    assert d.view.button_ids() == ("answer:S-350205-0002",)
    answer(d, SECOND)
    d.ack()
    assert d.screen() == Screen.ROLLCALL_SUMMARY
    assert dict(d.view.lines[0].params) == {"answered": 2, "called": 2}
    d.later(9)
    assert d.state.idle and len(d.published) == 2


def test_face_mismatch_is_not_an_answer() -> None:
    """Someone else's face does not answer; the list comes back."""
    d = started(Driver(context(face_tries=1)))
    answer(d, face=MISMATCH)
    assert not d.published and d.view.lines[0].id == "refusal.face_mismatch"
    d.touch("ok")
    assert d.view.data["missing"] == ("S-350205-0001", "S-350205-0002")


def test_rollcall_verifies_face_only_even_for_strict_subjects() -> None:
    """Roll-call answers are by face (no fingerprint step)."""
    d = started()
    d.touch("answer:S-350205-0001")
    d.send(SubjectFound, subject=dataclasses.replace(SUBJECT, supervision_level="strict"))
    d.send(FaceCaptured, **GOOD)
    assert len(d.published) == 1


def test_deadline_closes_the_roll_call_with_who_is_missing() -> None:
    """At the deadline the summary shows who answered; then idle."""
    d = started()
    answer(d)
    d.ack()
    d.touch("ok")
    d.later(600)
    assert d.screen() == Screen.ROLLCALL_SUMMARY and d.view.data["missing"] == ("S-350205-0002",)
    d.later(9)
    assert d.state.idle


def test_deadline_during_verification_cancels_it() -> None:
    """An answer still being verified at the deadline is not taken."""
    d = started(minutes=1)
    d.touch("answer:S-350205-0001")
    d.send(SubjectFound, subject=SUBJECT)
    effects = d.later(61)
    assert any(isinstance(e, CancelDevices) for e in effects) and d.screen() == Screen.ROLLCALL_SUMMARY
    d.send(FaceCaptured, req=d.req(CaptureFace), **GOOD)
    assert not d.published


def test_card_answers_when_configured_and_only_called_subjects() -> None:
    """With rollcall_card the card starts the answer; a card of someone not called is told so."""
    d = started(Driver(context(rollcall_card=True)))
    assert d.view.button_ids() == () and d.view.lines[0].id == "rollcall.prompt_card"
    d.card()
    d.send(SubjectFound, subject=SUBJECT)
    d.send(FaceCaptured, **GOOD)
    d.ack()
    d.touch("ok")
    d.card()
    d.send(SubjectFound, subject=SUBJECT)  # answered already
    assert d.view.lines[0].id == "rollcall.already_answered"
    d.touch("ok")
    d.card(dataclasses.replace(CARD, id_number="350206199001010022"))
    d.send(SubjectFound, subject=dataclasses.replace(SUBJECT, subject_id="S-350206-0001", name="王五"))
    assert d.view.lines[0].id == "refusal.not_called"
    assert len(d.published) == 1


def test_a_command_while_busy_waits_until_the_kiosk_is_idle() -> None:
    """A roll call arriving during a check-in starts right after it."""
    d = Driver()
    d.verify_to_face()
    d.send(RollcallCommand, command=rollcall_command(at=d.now))
    assert d.screen() == Screen.FACE
    d.send(FaceCaptured, **GOOD)
    d.ack()
    d.touch("ok")
    assert d.screen() == Screen.ROLLCALL


def test_a_queued_command_whose_deadline_passed_is_dropped() -> None:
    """If the person at the kiosk took longer than the roll call lasted, it is not shown afterwards."""
    d = Driver()
    d.touch("voice_report")
    d.send(RollcallCommand, command=rollcall_command(at=d.now, minutes=0.5))
    d.later(46)  # card prompt times out after 45 s, the roll call closed at 30 s
    assert d.state.idle and not d.state.pending_rollcalls


def test_duplicate_foreign_and_late_commands_are_ignored() -> None:
    """A redelivered command, one for another kiosk, or one already closed shows nothing."""
    d = started()
    d.send(RollcallCommand, command=rollcall_command(at=d.now))
    assert d.last == []
    d2 = Driver()
    d2.send(RollcallCommand, command=rollcall_command(at=d2.now, device_id="kiosk-huli"))
    assert d2.state.idle
    d2.send(RollcallCommand, command=rollcall_command(at=d2.now - timedelta(hours=1), minutes=5, rollcall_id="old"))
    assert d2.state.idle


def test_touching_an_entry_not_missing_does_nothing() -> None:
    """Only missing subjects can be answered for."""
    d = started()
    assert d.send(Touch, button="answer:S-999") == []
