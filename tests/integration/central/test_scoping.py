"""Jurisdiction scoping: every listing endpoint, officers at every level, on both databases."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from central.db.models import Alert
from central.ingest.store import Incoming, store_batch
from central.seed import id_number_for
from contracts import Checkin, Fix, Status, encode, topic_for
from tests.integration.central.conftest import Env

ALL = {"S-350205-0001", "S-350205-0002", "S-350205-0003", "S-350206-0001", "S-350206-0002"}
HAICANG = {"S-350205-0001", "S-350205-0002", "S-350205-0003"}
HULI = {"S-350206-0001", "S-350206-0002"}
HAICANG_TOWN = {"S-350205-0001", "S-350205-0002"}

# officer → subjects they must see (exactly)
EXPECTED = {
    "prov.admin": ALL,
    "city.officer": ALL,
    "haicang.officer": HAICANG,
    "huli.officer": HULI,
    "haicang.town": HAICANG_TOWN,
}
DEVICE_OF = {
    "S-350205-0001": "kiosk-haicang",
    "S-350205-0002": "kiosk-haicang",
    "S-350205-0003": "edge-haicang",
    "S-350206-0001": "kiosk-huli",
    "S-350206-0002": "kiosk-huli",
}
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def _fill(env: Env) -> None:
    """One check-in, one fix and one alert per subject, plus device statuses."""
    items = []
    for i, (sid, dev) in enumerate(sorted(DEVICE_OF.items())):
        t = NOW - timedelta(minutes=i)
        for msg in (
            Checkin(
                event_id=uuid.uuid4(),
                device_id=dev,
                device_time=t,
                subject_id=sid,
                methods=["id_card", "face"],
                face_score=0.8,
                result="accepted",
            ),
            Fix(
                event_id=uuid.uuid4(),
                device_id=dev,
                device_time=t,
                subject_id=sid,
                lat=24.5 + i / 100,
                lon=118.0,
                accuracy_m=10,
                source="gnss",
            ),
        ):
            items.append(Incoming(topic_for(msg), encode(msg)))
    for dev in ("kiosk-haicang", "kiosk-huli", "edge-haicang"):
        st = Status(event_id=uuid.uuid4(), device_id=dev, device_time=NOW, online=True, queue_depth=3)
        items.append(Incoming(topic_for(st), encode(st)))
    with env.central.sessions.begin() as s:
        result = store_batch(s, items, now=NOW, audit_key=env.central.audit_key)
        assert result.dead == []
        for sid in DEVICE_OF:
            path = "/35/3502/350205/" if sid.startswith("S-350205") else "/35/3502/350206/"
            if sid in HAICANG_TOWN:
                path += "350205001/"
            elif sid == "S-350206-0001":
                path += "350206001/"
            s.add(
                Alert(
                    subject_id=sid,
                    node_path=path,
                    kind="lost_contact",
                    episode_key="1",
                    state="open",
                    evidence=[],
                    summary="no contact",
                    opened_at=NOW,
                    updated_at=NOW,
                )
            )


@pytest.mark.parametrize("officer", sorted(EXPECTED))
def test_every_listing_is_scoped(env: Env, officer: str) -> None:
    """Each officer sees exactly their node's and descendants' subjects, events, check-ins, alerts, devices."""
    _fill(env)
    h = env.login(officer)
    want = EXPECTED[officer]
    c = env.client
    assert {s["id"] for s in c.get("/api/v1/subjects", headers=h).json()} == want
    events = c.get("/api/v1/events", headers=h, params={"limit": 1000}).json()
    assert {e["subject_id"] for e in events if e["subject_id"]} == want
    assert {e["type"] for e in events} >= {"checkin", "fix"}
    assert {x["subject_id"] for x in c.get("/api/v1/checkins", headers=h).json()} == want
    assert {a["subject_id"] for a in c.get("/api/v1/alerts", headers=h).json()} == want
    devices = {d["id"] for d in c.get("/api/v1/devices", headers=h).json()}
    assert devices == {DEVICE_OF[s] for s in want}
    for sid in ALL:
        r = c.get(f"/api/v1/subjects/{sid}", headers=h)
        assert r.status_code == (200 if sid in want else 404), (officer, sid, r.text)
    for e in events:
        if e["type"] == "fix":
            assert "lat" not in e["payload"] and "lon" not in e["payload"], "positions leak into the event list"


def test_sibling_county_filter_cannot_widen_scope(env: Env) -> None:
    """Asking for a sibling's node through a filter still returns nothing of the sibling."""
    h = env.login("haicang.officer")
    r = env.client.get("/api/v1/subjects", headers=h, params={"node": "350206"})
    assert r.status_code == 200
    assert r.json() == []


def test_nodes_listing_is_the_subtree(env: Env) -> None:
    """A county officer sees their county and its townships, not the city or the sibling county."""
    h = env.login("haicang.officer")
    codes = {n["code"] for n in env.client.get("/api/v1/nodes", headers=h).json()}
    assert codes == {"350205", "350205001"}


def test_id_number_masked_without_the_right(env: Env) -> None:
    """Officers without the id_number permission see a masked number; with it, the whole number."""
    masked = env.client.get("/api/v1/subjects/S-350205-0001", headers=env.login("haicang.town")).json()["id_number"]
    full = env.client.get("/api/v1/subjects/S-350205-0001", headers=env.login("haicang.officer")).json()["id_number"]
    assert "*" in masked and "*" not in full
    assert masked[:6] == full[:6] and masked[-4:] == full[-4:]


def test_users_listing_admin_only_and_scoped(env: Env) -> None:
    """Officers may not list accounts; the province admin sees all accounts."""
    assert env.client.get("/api/v1/users", headers=env.login("huli.officer")).status_code == 403
    names = {u["username"] for u in env.client.get("/api/v1/users", headers=env.login("prov.admin")).json()}
    assert names == {
        "prov.admin",
        "city.officer",
        "haicang.officer",
        "huli.officer",
        "haicang.town",
        "huli.viewer",
    }


def test_viewer_cannot_register_subjects(env: Env) -> None:
    """The viewer role reads only."""
    body = {
        "id": "S-X",
        "name": "x",
        "id_number": "350206198805120011",
        "node": "350206",
        "category": "probation",
        "supervision_level": "normal",
        "term_start": "2026-01-01",
        "term_end": "2027-01-01",
    }
    r = env.client.post("/api/v1/subjects", json=body, headers=env.login("huli.viewer"))
    assert r.status_code == 403
    assert "admin or officer" in r.json()["error"]


def test_officer_cannot_register_in_sibling_county(env: Env) -> None:
    """Registration at a node outside the officer's subtree is refused."""
    body = {
        "id": "S-X",
        "name": "x",
        "id_number": id_number_for(77, "350206"),
        "node": "350206",
        "category": "probation",
        "supervision_level": "normal",
        "term_start": "2026-01-01",
        "term_end": "2027-01-01",
    }
    r = env.client.post("/api/v1/subjects", json=body, headers=env.login("haicang.officer"))
    assert r.status_code == 403
    assert "outside your jurisdiction" in r.json()["error"]
    r = env.client.post("/api/v1/subjects", json={**body, "node": "350205"}, headers=env.login("haicang.officer"))
    assert r.status_code == 201, r.text


def test_admin_listings_scoped_for_a_county_admin(env: Env) -> None:
    """A county admin's users, audit and dead-letter listings hold only their county's rows."""
    from central.ingest.store import Incoming

    prov = env.login("prov.admin")
    body = {"username": "haicang.admin", "password": "long-enough-pw", "role": "admin", "node": "350205"}
    assert env.client.post("/api/v1/users", json=body, headers=prov).status_code == 201
    with env.central.sessions.begin() as s:
        store_batch(
            s,
            [Incoming("corr/v1/dev/kiosk-huli/fix", b"{bad"), Incoming("corr/v1/dev/kiosk-haicang/fix", b"[]")],
            now=NOW,
            audit_key=env.central.audit_key,
        )
    h = env.login("haicang.admin", "long-enough-pw")
    users = {u["username"] for u in env.client.get("/api/v1/users", headers=h).json()}
    assert users == {"haicang.officer", "haicang.town", "haicang.admin"}
    audit_rows = env.client.get("/api/v1/audit", headers=h, params={"limit": 1000}).json()
    assert audit_rows and all(
        r["action"] != "user.create" or r["detail"]["node"].startswith("350205") for r in audit_rows
    )
    assert not any(r["actor"] == "huli.officer" for r in audit_rows)
    dead = env.client.get("/api/v1/dead-letters", headers=h).json()
    assert [d["device_id"] for d in dead] == ["kiosk-haicang"]
    assert len(env.client.get("/api/v1/dead-letters", headers=prov).json()) == 2
    assert env.client.get("/api/v1/audit/verify", headers=h).status_code == 403
    assert env.client.get("/api/v1/audit/verify", headers=prov).json()["ok"] is True
