"""Who gives a finger: the level or centre policy, or central's record (`requires_fingerprint`); no sensor, no check.

The runtime's `_subject_info` carries the record's flag from a lookup (online or from the encrypted cache)
into the pure flows' SubjectInfo.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kiosk.face_gallery import FaceGallery
from kiosk.flows.policy import Context
from kiosk.flows.types import (
    CaptureFace,
    FaceCaptured,
    FingerResult,
    RollcallCommand,
    Screen,
    SubjectFound,
    SubjectInfo,
    VerifyFinger,
)
from kiosk.runtime import LinkState, Runtime, RuntimeOptions
from kiosk.subject_cache import CachedSubject, SubjectCache
from tests.unit.kiosk.driver import GOOD, STRICT, SUBJECT, Driver, context, rollcall_command, roundtrip
from vision.gallery_sync import Expected, FetchSettings

RECORD = dataclasses.replace(SUBJECT, requires_fingerprint=True)
"""A normal-level subject (the default policy asks no finger of them) whose record asks for one."""


def no_sensor(**policy: Any) -> Context:
    """A kiosk without a fingerprint sensor ([devices.fingerprint] not configured)."""
    return dataclasses.replace(context(**policy), fingerprint_sensor=False)


def test_the_record_asks_for_a_finger_although_the_level_does_not() -> None:
    """requires_fingerprint on the record: face, then finger, and the check-in says both."""
    d = Driver()
    d.verify_to_face(RECORD)
    effects = d.send(FaceCaptured, **GOOD)
    (finger,) = [e for e in effects if isinstance(e, VerifyFinger)]
    assert finger.subject_id == RECORD.subject_id and d.screen() == Screen.FINGER
    d.send(FingerResult, matched=True, score=170)
    d.ack()
    (message,) = d.checkins
    assert message.result == "accepted" and message.fingerprint_match is True
    assert message.methods == ["id_card", "face", "fingerprint"]
    assert (message.model_extra or {})["fingerprint_score"] == 170
    assert roundtrip(message) == message


def test_the_record_overrides_a_policy_that_asks_no_level_for_a_finger() -> None:
    """Even with fingerprint_levels empty (and fingerprint_always off) the record's flag wins."""
    d = Driver(context(fingerprint_levels=frozenset()))
    d.verify_to_face(dataclasses.replace(STRICT, requires_fingerprint=True))
    assert [e for e in d.send(FaceCaptured, **GOOD) if isinstance(e, VerifyFinger)]


@pytest.mark.parametrize(
    ("subject", "policy"),
    [
        (SUBJECT, {}),  # normal level, default policy, record silent
        (dataclasses.replace(STRICT, requires_fingerprint=False), {"fingerprint_levels": frozenset()}),
    ],
)
def test_no_finger_when_neither_record_nor_policy_asks(subject: SubjectInfo, policy: dict[str, Any]) -> None:
    """A record that does not ask leaves the decision to the policy: here face only."""
    d = Driver(context(**policy))
    d.verify_to_face(subject)
    assert not [e for e in d.send(FaceCaptured, **GOOD) if isinstance(e, VerifyFinger)]
    d.ack()
    (message,) = d.checkins
    assert message.result == "accepted" and message.fingerprint_match is None
    assert message.methods == ["id_card", "face"]


def test_a_record_that_asks_without_an_enrolled_finger_is_refused_like_the_level() -> None:
    """The same refusal as a strict subject without a template: before any face capture."""
    d = Driver()
    d.card()
    effects = d.send(SubjectFound, subject=dataclasses.replace(RECORD, has_fingerprint=False))
    assert not [e for e in effects if isinstance(e, CaptureFace)]
    (message,) = d.checkins
    assert (message.result, message.reason, message.methods) == ("refused", "no_fingerprint_template", ["id_card"])


@pytest.mark.parametrize(
    ("subject", "policy"),
    [
        (RECORD, {}),  # the record asks
        (STRICT, {}),  # the level asks
        (SUBJECT, {"fingerprint_always": True}),  # the centre asks everyone
    ],
    ids=["record", "level", "centre"],
)
def test_without_a_sensor_a_required_finger_is_a_clear_refusal(subject: SubjectInfo, policy: dict[str, Any]) -> None:
    """No sensor at this kiosk: refused at once as no_fingerprint_sensor, with its own message, no face asked."""
    d = Driver(no_sensor(**policy))
    d.card()
    effects = d.send(SubjectFound, subject=subject)
    assert not [e for e in effects if isinstance(e, CaptureFace | VerifyFinger)]
    (message,) = d.checkins
    assert (message.result, message.reason, message.subject_id) == (
        "refused",
        "no_fingerprint_sensor",
        subject.subject_id,
    )
    assert message.methods == ["id_card"] and roundtrip(message) == message
    d.ack()
    assert d.screen() == Screen.REFUSED and d.view.data["reason"] == "no_fingerprint_sensor"
    assert [line.id for line in d.view.lines] == ["refusal.no_fingerprint_sensor", "checkin.see_staff"]


def test_without_a_sensor_a_subject_who_needs_no_finger_checks_in_by_face() -> None:
    """The missing sensor only matters to those who must give a finger."""
    d = Driver(no_sensor())
    d.checkin(SUBJECT)
    assert d.checkins[-1].result == "accepted" and d.screen() == Screen.RECEIPT


def test_a_voice_report_also_asks_the_record_s_finger() -> None:
    """Verification is shared: the voice report's identity check asks for the finger too."""
    d = Driver()
    d.touch("voice_report")
    d.verify_to_face(RECORD)
    assert [e for e in d.send(FaceCaptured, **GOOD) if isinstance(e, VerifyFinger)]
    assert d.screen() == Screen.FINGER


def test_a_roll_call_answer_stays_face_only() -> None:
    """Roll call verifies by face alone (use_finger off), whatever the record says."""
    d = Driver()
    d.send(RollcallCommand, command=rollcall_command(at=d.now))
    d.touch(f"answer:{RECORD.subject_id}")
    d.send(SubjectFound, subject=RECORD)
    effects = d.send(FaceCaptured, **GOOD)
    assert not [e for e in effects if isinstance(e, VerifyFinger)]
    assert [m.subject_id for m in d.published] == [RECORD.subject_id]


# -- the runtime fills the flag from central's answer or the cache -----------------------------------------------


def _runtime(tmp_path: Path) -> SimpleNamespace:
    """The parts of a Runtime `_subject_info` reads: a real (empty, not started) gallery, the link, the options."""
    gallery = FaceGallery(
        device_id="kiosk-haicang",
        secret="s" * 32,
        cache_dir=tmp_path / "gallery",
        expected=Expected("sface", "0" * 64, 128),
        central_url="http://127.0.0.1:9",
        settings=FetchSettings(allow_http=True),
    )
    return SimpleNamespace(gallery=gallery, link=LinkState(central_ok=False), options=RuntimeOptions())


@pytest.mark.parametrize("requires", [True, False])
def test_runtime_subject_info_carries_the_record_s_flag_through_the_cache(tmp_path: Path, requires: bool) -> None:
    """Stored in the sealed cache and read back (the offline path), the flag reaches SubjectInfo unchanged."""
    cache = SubjectCache(tmp_path / "subjects.db", "s" * 32, max_age_s=86400)
    cache.put(
        "350205198001010011",
        CachedSubject(
            subject_id="S-350205-0001",
            name="张三",
            status="active",
            supervision_level="normal",
            enrolled=("face", "fingerprint"),
            requires_fingerprint=requires,
            fingerprints=(b"tpl",),
        ),
    )
    cached = cache.by_card("350205198001010011")
    assert cached is not None and cached.requires_fingerprint is requires
    runtime = _runtime(tmp_path)
    try:
        info = Runtime._subject_info(runtime, cached)  # type: ignore[arg-type]
    finally:
        runtime.gallery.stop()
    assert info.requires_fingerprint is requires
    assert (info.supervision_level, info.has_fingerprint, info.has_face_template) == ("normal", True, False)
