"""The device API (/device-api/v1): device authentication, kiosk lookup, templates, audio, on both databases."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from central.api.app import create_app
from central.config import DeviceApiSection
from central.db.models import AudioBlob, Audit, Device, Subject
from central.db.models import Template as TemplateRow
from central.devices import rotate_secret
from central.ingest.store import Incoming, store_batch
from central.seed import id_number_for
from contracts import VoiceReport, encode, topic_for
from tests.integration.central.conftest import Env
from tests.integration.central.device_support import basic, face_template, template_body

LOOKUP = "/device-api/v1/subjects/lookup"
HAICANG_1 = id_number_for(1, region="350205")  # S-350205-0001, township 350205001, normal level
HAICANG_2 = id_number_for(2, region="350205")  # S-350205-0002, township, strict level
HAICANG_3 = id_number_for(3, region="350205")  # S-350205-0003, registered at the county 350205
HULI_1 = id_number_for(4, region="350206")  # S-350206-0001


def _audit(env: Env, action: str) -> list[Audit]:
    with env.central.sessions() as s:
        return list(s.execute(select(Audit).where(Audit.action == action).order_by(Audit.id)).scalars())


def _client(env: Env, **device_api: object) -> TestClient:
    cfg = env.central.config.model_copy(update={"device_api": DeviceApiSection.model_validate(device_api)})
    return TestClient(create_app(dataclasses.replace(env.central, config=cfg)))


# -- authentication ------------------------------------------------------------------------------


def test_right_secret_is_accepted_and_cached(env: Env) -> None:
    """The printed secret works; later requests skip argon2 (one verification for many requests)."""
    for _ in range(4):
        r = env.client.post(LOOKUP, json={"id_number": HAICANG_1}, auth=basic(env, "kiosk-haicang"))
        assert r.status_code == 200, r.text
    assert env.client.app.state.device_authenticator.argon2_checks == 1  # type: ignore[attr-defined]


def test_refusals_say_why_and_are_audited(env: Env) -> None:
    """No credentials, wrong secret, unknown or disabled device, another device's secret: 401 with a reason."""
    body = {"id_number": HAICANG_1}
    r = env.client.post(LOOKUP, json=body)
    assert r.status_code == 401 and "HTTP Basic" in r.json()["detail"]
    assert r.headers["www-authenticate"].startswith("Basic")
    r = env.client.post(LOOKUP, json=body, auth=basic(env, "kiosk-haicang", "not-the-secret"))
    assert r.status_code == 401 and "wrong secret for device kiosk-haicang" in r.json()["detail"]
    r = env.client.post(LOOKUP, json=body, auth=("kiosk-nowhere", "whatever"))
    assert r.status_code == 401 and "unknown device 'kiosk-nowhere'" in r.json()["detail"]
    r = env.client.post(LOOKUP, json=body, auth=("kiosk-haicang", env.seeded.device_secrets["kiosk-huli"]))
    assert r.status_code == 401 and "wrong secret" in r.json()["detail"]
    # An officer's bearer token is not a device credential.
    r = env.client.post(LOOKUP, json=body, headers=env.login("haicang.town"))
    assert r.status_code == 401
    with env.central.sessions.begin() as s:
        s.execute(update(Device).where(Device.id == "kiosk-haicang").values(enabled=False))
    r = env.client.post(LOOKUP, json=body, auth=basic(env, "kiosk-haicang"))
    assert r.status_code == 401 and "disabled" in r.json()["detail"]
    whys = [a.detail["why"] for a in _audit(env, "device.auth_failed")]
    assert whys == ["wrong secret", "unknown device", "wrong secret", "disabled"]


def test_disabling_takes_effect_despite_the_cache(env: Env) -> None:
    """A cached verification does not outlive the device being disabled or its secret rotated."""
    auth = basic(env, "kiosk-haicang")
    assert env.client.post(LOOKUP, json={"id_number": HAICANG_1}, auth=auth).status_code == 200
    with env.central.sessions.begin() as s:
        new = rotate_secret(s, env.central.cipher, env.central.audit_key, "kiosk-haicang")
    r = env.client.post(LOOKUP, json={"id_number": HAICANG_1}, auth=auth)
    assert r.status_code == 401, "the old secret still worked from the cache"
    assert env.client.post(LOOKUP, json={"id_number": HAICANG_1}, auth=("kiosk-haicang", new.secret)).status_code == 200
    with env.central.sessions.begin() as s:
        s.execute(update(Device).where(Device.id == "kiosk-haicang").values(enabled=False))
    assert env.client.post(LOOKUP, json={"id_number": HAICANG_1}, auth=("kiosk-haicang", new.secret)).status_code == 401


def test_repeated_failures_lock_the_device(env: Env) -> None:
    """After max_failed_logins wrong secrets even the right one is refused (429, Retry-After) until the lock ends."""
    limit = env.central.config.security.max_failed_logins
    for _ in range(limit):
        r = env.client.post(LOOKUP, json={"id_number": HAICANG_1}, auth=basic(env, "kiosk-haicang", "guess"))
        assert r.status_code == 401
    r = env.client.post(LOOKUP, json={"id_number": HAICANG_1}, auth=basic(env, "kiosk-haicang"))
    assert r.status_code == 429 and "locked" in r.json()["detail"]
    assert int(r.headers["retry-after"]) > 0
    assert "locked_until" in _audit(env, "device.auth_failed")[limit - 1].detail
    with env.central.sessions.begin() as s:  # the lock ends
        s.execute(
            update(Device)
            .where(Device.id == "kiosk-haicang")
            .values(auth_locked_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert env.client.post(LOOKUP, json={"id_number": HAICANG_1}, auth=basic(env, "kiosk-haicang")).status_code == 200
    # Other devices were never affected.
    assert env.client.post(LOOKUP, json={"id_number": HULI_1}, auth=basic(env, "kiosk-huli")).status_code == 200


def test_kiosk_endpoints_refuse_other_kinds(env: Env) -> None:
    """An edge agent authenticates but may not look people up."""
    r = env.client.post(LOOKUP, json={"id_number": HAICANG_1}, auth=basic(env, "edge-haicang"))
    assert r.status_code == 403 and "kiosk" in r.json()["detail"]


# -- lookup -------------------------------------------------------------------------------------


def test_lookup_in_scope(env: Env) -> None:
    """The card's holder at this centre: name to show, level, fingerprint need, term end, what is enrolled."""
    r = env.client.post(LOOKUP, json={"id_number": HAICANG_1.lower()}, auth=basic(env, "kiosk-haicang"))
    assert r.status_code == 200, r.text
    assert r.json() == {
        "subject_id": "S-350205-0001",
        "name": "张伟",
        "status": "active",
        "supervision_level": "normal",
        "category": "probation",
        "requires_fingerprint": False,
        "term_ends": "2027-06-30",
        "enrolled": [],
    }
    strict = env.client.post(LOOKUP, json={"id_number": HAICANG_2}, auth=basic(env, "kiosk-haicang")).json()
    assert strict["requires_fingerprint"] is True
    audited = _audit(env, "device.subject_lookup")
    assert [(a.actor, a.subject_id) for a in audited] == [
        ("device:kiosk-haicang", "S-350205-0001"),
        ("device:kiosk-haicang", "S-350205-0002"),
    ]


def test_lookup_out_of_scope_and_malformed(env: Env) -> None:
    """Another county's subject, a subject above the kiosk's node, or an unknown number: 404 the kiosk can show."""
    for number in (HULI_1, HAICANG_3, id_number_for(99, region="350205")):
        r = env.client.post(LOOKUP, json={"id_number": number}, auth=basic(env, "kiosk-haicang"))
        assert r.status_code == 404 and "not enrolled at this centre" in r.json()["detail"], r.text
        assert number not in r.text, "the full ID number was echoed"
    bad_check = HAICANG_1[:17] + ("0" if HAICANG_1[17] != "0" else "1")
    r = env.client.post(LOOKUP, json={"id_number": bad_check}, auth=basic(env, "kiosk-haicang"))
    assert r.status_code == 422 and "check character" in r.json()["detail"]
    r = env.client.post(LOOKUP, json={"id_number": "12345"}, auth=basic(env, "kiosk-haicang"))
    assert r.status_code == 422 and "17 ASCII digits" in r.json()["detail"]
    r = env.client.post(LOOKUP, json={"idnumber": HAICANG_1}, auth=basic(env, "kiosk-haicang"))
    assert r.status_code == 422 and "id_number" in r.json()["detail"]


def test_centre_policy_asks_for_fingerprints(env: Env) -> None:
    """A centre listed in [device_api] fingerprint_nodes asks everyone for a fingerprint."""
    with _client(env, fingerprint_nodes=["350205001"]) as client:
        r = client.post(LOOKUP, json={"id_number": HAICANG_1}, auth=basic(env, "kiosk-haicang"))
        assert r.json()["requires_fingerprint"] is True
        r = client.post(LOOKUP, json={"id_number": HULI_1}, auth=basic(env, "kiosk-huli"))
        assert r.json()["requires_fingerprint"] is False


# -- templates ----------------------------------------------------------------------------------


def test_templates_stored_encrypted_and_fingerprints_served(env: Env) -> None:
    """Face and fingerprint uploads are stored encrypted, audited; fingerprints come back for 1:1 on the sensor."""
    kiosk = basic(env, "kiosk-haicang")
    face = face_template(1)
    finger = bytes(range(256)) * 2
    r = env.client.post("/device-api/v1/subjects/S-350205-0001/templates", json=template_body(face), auth=kiosk)
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "face"
    r = env.client.post(
        "/device-api/v1/subjects/S-350205-0001/templates", json=template_body(finger, "fingerprint"), auth=kiosk
    )
    assert r.status_code == 201, r.text
    with env.central.sessions() as s:
        rows = list(s.execute(select(TemplateRow).order_by(TemplateRow.id)).scalars())
    assert [r.kind for r in rows] == ["face", "fingerprint"]
    assert face.vector not in rows[0].vector_enc and finger not in rows[1].vector_enc
    got = env.client.get("/device-api/v1/subjects/S-350205-0001/fingerprints", auth=kiosk)
    assert got.status_code == 200
    templates = got.json()["templates"]
    assert [base64.b64decode(t["template"]) for t in templates] == [finger]
    assert templates[0]["model"] == "zk-v10"
    lookup = env.client.post(LOOKUP, json={"id_number": HAICANG_1}, auth=kiosk).json()
    assert lookup["enrolled"] == ["face", "fingerprint"]
    assert [(a.actor, a.detail["kind"]) for a in _audit(env, "template.enrol")] == [
        ("haicang.town", "face"),
        ("haicang.town", "fingerprint"),
    ]
    assert [a.actor for a in _audit(env, "device.fingerprints_read")] == ["device:kiosk-haicang"]


def test_template_uploads_refused_with_reasons(env: Env) -> None:
    """Not a face template, not base64, unknown staff, staff or kiosk outside the subject's jurisdiction."""
    kiosk = basic(env, "kiosk-haicang")
    url = "/device-api/v1/subjects/S-350205-0001/templates"
    r = env.client.post(url, json=template_body(b"JPEG not a template"), auth=kiosk)
    assert r.status_code == 422 and "not a face template" in r.json()["detail"]
    r = env.client.post(url, json={**template_body(face_template(1)), "template": "%%%"}, auth=kiosk)
    assert r.status_code == 422 and "not base64" in r.json()["detail"]
    r = env.client.post(url, json={**template_body(face_template(1)), "kind": "iris"}, auth=kiosk)
    assert r.status_code == 422 and "kind" in r.json()["detail"]
    r = env.client.post(url, json=template_body(face_template(1), enrolled_by="nobody"), auth=kiosk)
    assert r.status_code == 422 and "no active officer" in r.json()["detail"]
    r = env.client.post(url, json=template_body(face_template(1), enrolled_by="huli.officer"), auth=kiosk)
    assert r.status_code == 403 and "outside that officer's jurisdiction" in r.json()["detail"]
    r = env.client.post(
        "/device-api/v1/subjects/S-350206-0001/templates", json=template_body(face_template(1)), auth=kiosk
    )
    assert r.status_code == 404 and "not enrolled at this centre" in r.json()["detail"]
    r = env.client.get("/device-api/v1/subjects/S-350206-0001/fingerprints", auth=kiosk)
    assert r.status_code == 404
    with env.central.sessions() as s:
        assert s.execute(select(TemplateRow)).first() is None


# -- audio --------------------------------------------------------------------------------------

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(200)) * 10


def _put(client: TestClient, env: Env, sha: str, data: bytes, content_type: str = "audio/wav") -> httpx.Response:
    response: httpx.Response = client.put(
        f"/device-api/v1/audio/{sha}",
        content=data,
        headers={"Content-Type": content_type},
        auth=basic(env, "kiosk-haicang"),
    )
    return response


def test_audio_upload_checked_idempotent_and_playable(env: Env) -> None:
    """Hash mismatch refused; stored encrypted once; an officer of the subject's county plays it, audited."""
    sha = hashlib.sha256(WAV).hexdigest()
    r = _put(env.client, env, sha, WAV + b"x")
    assert r.status_code == 422 and "sha256" in r.json()["detail"]
    r = _put(env.client, env, "abc", WAV)
    assert r.status_code == 422
    r = _put(env.client, env, sha, WAV, content_type="image/png")
    assert r.status_code == 415
    first = _put(env.client, env, sha, WAV)
    again = _put(env.client, env, sha, WAV)
    assert (first.status_code, again.status_code) == (201, 200), (first.text, again.text)
    assert first.json() == {"sha256": sha, "size": len(WAV), "created": True}
    with env.central.sessions() as s:
        blobs = list(s.execute(select(AudioBlob)).scalars())
    assert len(blobs) == 1 and WAV[20:200] not in blobs[0].data_enc
    assert len(_audit(env, "audio.upload")) == 1

    report = VoiceReport(
        event_id=uuid.uuid4(),
        device_id="kiosk-haicang",
        device_time=datetime.now(UTC),
        subject_id="S-350205-0001",
        transcript="本周按时参加学习",
        audio_sha256=sha,
        duration_s=12.5,
        model="vosk-model-small-cn-0.22",
    )
    with env.central.sessions.begin() as s:
        assert store_batch(s, [Incoming(topic_for(report), encode(report))], audit_key=env.central.audit_key).stored
    with env.central.sessions() as s:
        from central.db.models import VoiceReport as VoiceReportRow

        report_id = s.execute(select(VoiceReportRow.id)).scalar_one()
    url = f"/api/v1/voice-reports/{report_id}/audio"
    r = env.client.get(url, headers=env.login("haicang.officer"))
    assert r.status_code == 200 and r.content == WAV and r.headers["content-type"] == "audio/wav"
    assert env.client.get(url, headers=env.login("huli.officer")).status_code == 404
    assert env.client.get(url).status_code == 401
    listened = _audit(env, "voice_report.listen")
    assert [(a.actor, a.subject_id) for a in listened] == [("haicang.officer", "S-350205-0001")]


def test_audio_size_is_capped(env: Env) -> None:
    """A recording over [device_api] audio_max_bytes is refused with 413 and nothing is stored."""
    with _client(env, audio_max_bytes=1000) as client:
        r = _put(client, env, hashlib.sha256(WAV).hexdigest(), WAV)
        assert r.status_code == 413 and "at most 1000" in r.json()["detail"]
    with env.central.sessions() as s:
        assert s.execute(select(AudioBlob)).first() is None


def test_released_subject_is_still_found_with_its_status(env: Env) -> None:
    """A released subject's card is recognised, with status, so the kiosk can refuse with the right message."""
    with env.central.sessions.begin() as s:
        s.execute(update(Subject).where(Subject.id == "S-350205-0001").values(status="released"))
    r = env.client.post(LOOKUP, json={"id_number": HAICANG_1}, auth=basic(env, "kiosk-haicang"))
    assert r.status_code == 200 and r.json()["status"] == "released"
