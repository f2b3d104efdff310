"""The alert API: lifecycle with its refusals, scoping, roles, the audit trail, and no positions in ordinary answers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from central.alerts import apply_decisions
from central.ingest.store import Incoming, store_batch
from central.rules.base import AlertKind, CloseAlert, OpenAlert
from contracts import Fix, encode, topic_for
from tests.integration.central.conftest import Env

SUBJECT = "S-350205-0001"
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
LAT, LON = 24.61357, 118.24681  # distinctive digits, to search for in responses


def _breach(env: Env, kind: AlertKind = "fence_breach") -> tuple[int, str]:
    """A stored fix outside the area and the alert a rule opened for it: (alert id, event id)."""
    fix = Fix(
        event_id=uuid.uuid4(),
        device_id="phone-0001",
        device_time=T0,
        subject_id=SUBJECT,
        lat=LAT,
        lon=LON,
        accuracy_m=8,
        source="gnss",
    )
    event_id = str(fix.event_id)
    with env.central.sessions.begin() as s:
        store_batch(s, [Incoming(topic_for(fix), encode(fix))], now=T0, audit_key=env.central.audit_key)
        result = apply_decisions(
            s,
            [OpenAlert(SUBJECT, kind, event_id, T0, "outside the allowed area for 3 fixes", (event_id,))],
            audit_key=env.central.audit_key,
        )
    return result.opened[0], event_id


def _no_position(text: str) -> None:
    assert "24.61" not in text and "118.24" not in text, "a position leaked into an ordinary response"
    assert '"lat"' not in text and '"lon"' not in text


def test_alert_lifecycle(env: Env) -> None:
    """ack → escalate → handle, each refused out of order with the reason, audited with the actor; siblings get 404."""
    alert_id, event_id = _breach(env)
    c, h = env.client, env.login("haicang.officer")
    base = f"/api/v1/alerts/{alert_id}"

    listed = c.get("/api/v1/alerts", headers=h, params={"subject_id": SUBJECT, "active": True})
    assert [a["id"] for a in listed.json()] == [alert_id]
    _no_position(listed.text)
    detail = c.get(base, headers=h)
    assert detail.json()["state"] == "open" and detail.json()["evidence"] == [event_id]
    _no_position(detail.text)

    assert c.get(base, headers=env.login("huli.officer")).status_code == 404
    assert c.post(f"{base}/ack", headers=env.login("huli.officer")).status_code == 404
    viewer = c.post(f"{base}/ack", headers=env.login("huli.viewer"))
    assert viewer.status_code == 403 and "admin or officer" in viewer.json()["error"]

    early = c.post(f"{base}/handle", headers=h, json={"resolution": "called him"})
    assert early.status_code == 409
    assert early.json()["error"] == f"alert {alert_id} is open: handle needs an alert that is acknowledged or escalated"
    assert c.post(f"{base}/escalate", headers=h, json={"reason": "no answer"}).status_code == 409

    acked = c.post(f"{base}/ack", headers=h)
    assert acked.status_code == 200, acked.text
    assert (acked.json()["state"], acked.json()["acknowledged_by"]) == ("acknowledged", "haicang.officer")
    assert c.post(f"{base}/ack", headers=h).status_code == 409

    blank = c.post(f"{base}/escalate", headers=h, json={"reason": "   "})
    assert blank.status_code == 400 and blank.json()["error"].startswith("reason: required")
    assert c.post(f"{base}/handle", headers=h, json={}).status_code == 422

    up = c.post(f"{base}/escalate", headers=h, json={"reason": "phone off, family does not know where he is"})
    assert up.json()["state"] == "escalated"
    _no_position(up.text)
    city = env.login("city.officer")
    done = c.post(f"{base}/handle", headers=city, json={"resolution": "found at a relative's, warned"})
    assert done.status_code == 200
    body = done.json()
    assert (body["state"], body["handled_by"], body["resolution"]) == (
        "handled",
        "city.officer",
        "found at a relative's, warned",
    )
    assert c.post(f"{base}/ack", headers=city).json()["error"].startswith(f"alert {alert_id} is handled")

    assert [a["id"] for a in c.get("/api/v1/alerts", headers=h, params={"state": "handled"}).json()] == [alert_id]
    assert c.get("/api/v1/alerts", headers=env.login("huli.officer")).json() == []
    trail = c.get("/api/v1/audit", headers=env.login("prov.admin"), params={"subject_id": SUBJECT}).json()
    steps = [
        (r["action"], r["actor"], r["detail"].get("text")) for r in reversed(trail) if r["action"].startswith("alert.")
    ]
    assert steps == [
        ("alert.open", "rules", None),
        ("alert.acknowledge", "haicang.officer", None),
        ("alert.escalate", "haicang.officer", "phone off, family does not know where he is"),
        ("alert.handle", "city.officer", "found at a relative's, warned"),
    ]


def test_fence_status_says_whether_not_where(env: Env) -> None:
    """An open fence alert shows as a breach, a closed one does not; the answer never holds a position."""
    c, h = env.client, env.login("haicang.town")
    url = f"/api/v1/subjects/{SUBJECT}/fence-status"
    calm = c.get(url, headers=h).json()
    assert (calm["breach"], calm["alerts"], calm["last_fix_at"]) == (False, [], None)

    alert_id, event_id = _breach(env, kind="exclusion_zone")
    status = c.get(url, headers=h)
    assert status.json()["breach"] is True
    assert status.json()["alerts"] == [
        {"id": alert_id, "kind": "exclusion_zone", "state": "open", "opened_at": "2026-11-23T08:00:00Z"}
    ]
    assert status.json()["last_fix_at"] == "2026-11-23T08:00:00Z"
    _no_position(status.text)
    assert c.get(url, headers=env.login("huli.officer")).status_code == 404

    with env.central.sessions.begin() as s:
        close = CloseAlert(SUBJECT, "exclusion_zone", event_id, T0 + timedelta(minutes=5), "left the zone", ())
        apply_decisions(s, [close], audit_key=env.central.audit_key)
    assert c.get(url, headers=h).json()["breach"] is False
    inactive = c.get("/api/v1/alerts", headers=h, params={"active": False}).json()
    assert [(a["id"], a["active"], a["close_reason"]) for a in inactive] == [(alert_id, False, "left the zone")]
