"""The audited location view and positioning periods, over the API, on both databases."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from central.db.models import Audit, Subject
from central.ingest.store import Incoming, store_batch
from central.locations import MAX_POINTS, china_date
from central.users import create_user
from contracts import Fix, encode, topic_for
from tests.integration.central.conftest import PASSWORD, Env

SUBJECT = "S-350205-0001"
VIEWS = f"/api/v1/subjects/{SUBJECT}/location-views"
# 1 November 00:00 China time, the first moment of the positioning period set below
PERIOD_START = datetime(2026, 10, 31, 16, 0, tzinfo=UTC)


def _officers(env: Env) -> None:
    """A Haicang officer and a Huli officer, both holding the location permission."""
    with env.central.sessions.begin() as s:
        for username, node in (("haicang.loc", "350205"), ("huli.loc", "350206")):
            create_user(
                s,
                username=username,
                password=PASSWORD,
                role="officer",
                node_code=node,
                permissions=["location"],
                audit_key=env.central.audit_key,
            )


def _store_fixes(env: Env, times: list[datetime], lon0: float = 118.0) -> None:
    messages = [
        Fix(
            event_id=uuid.uuid4(),
            device_id="phone-0001",
            device_time=t,
            subject_id=SUBJECT,
            lat=24.5 + (i % 2) * 0.0004,  # a 45 m zig-zag
            lon=lon0 + i * 0.0001,
            accuracy_m=5,
            source="gnss",
        )
        for i, t in enumerate(times)
    ]
    with env.central.sessions.begin() as s:
        result = store_batch(
            s,
            [Incoming(topic_for(m), encode(m)) for m in messages],
            now=datetime.now(UTC),
            audit_key=env.central.audit_key,
        )
        assert result.dead == []


def _body(
    since: datetime, until: datetime, reason: str = "核查越界告警，电话未接通", **extra: object
) -> dict[str, object]:
    return {"reason": reason, "since": since.isoformat(), "until": until.isoformat(), **extra}


def test_location_view_needs_the_right_a_reason_and_the_period(env: Env) -> None:
    """Only a permitted officer of the jurisdiction sees the track, with a reason, within the period; audited."""
    _officers(env)
    c = env.client
    period = {"starts_on": "2026-11-01", "ends_on": "2026-11-30", "reason": "审批 2026-017，定位三个月"}
    r = c.post(f"/api/v1/subjects/{SUBJECT}/positioning", headers=env.login("haicang.officer"), json=period)
    assert r.status_code == 200, r.text
    before = [PERIOD_START - timedelta(minutes=m) for m in (30, 20, 10)]  # 31 October, China time
    during = [PERIOD_START + timedelta(minutes=m) for m in (0, 10, 20, 30)]
    _store_fixes(env, before + during)
    since, until = PERIOD_START - timedelta(hours=1), PERIOD_START + timedelta(hours=1)

    no_right = c.post(VIEWS, headers=env.login("haicang.officer"), json=_body(since, until))
    assert no_right.status_code == 403 and "'location' permission" in no_right.json()["error"]
    assert c.post(VIEWS, headers=env.login("huli.loc"), json=_body(since, until)).status_code == 404
    h = env.login("haicang.loc")
    short = c.post(VIEWS, headers=h, json=_body(since, until, reason=" 看看 "))
    assert short.status_code == 400 and short.json()["error"].startswith("reason: state why you need the location")
    too_long = c.post(VIEWS, headers=h, json=_body(since, since + timedelta(days=40)))
    assert too_long.status_code == 400 and "at most 31 days per view" in too_long.json()["error"]

    r = c.post(VIEWS, headers=h, json=_body(since, until))
    assert r.status_code == 200, r.text
    track = r.json()
    assert [p["at"] for p in track["points"]] == [t.isoformat().replace("+00:00", "Z") for t in during]
    assert (track["visible_fixes"], track["hidden_fixes"], track["simplified"]) == (4, 3, False)
    assert track["last"] == track["points"][-1]
    assert track["positioning_start"] == "2026-10-31T16:00:00Z"
    assert track["positioning_end"] == "2026-11-30T16:00:00Z"
    # Before the period, nothing at all, not even a "last position".
    early = c.post(VIEWS, headers=h, json=_body(since, PERIOD_START)).json()
    assert (early["points"], early["last"], early["hidden_fixes"]) == ([], None, 3)

    with env.central.sessions() as s:
        views = s.execute(select(Audit).where(Audit.action == "location.view").order_by(Audit.id)).scalars().all()
    assert [(v.actor, v.subject_id, v.detail["reason"], v.detail["shown"]) for v in views] == [
        ("haicang.loc", SUBJECT, "核查越界告警，电话未接通", 4),
        ("haicang.loc", SUBJECT, "核查越界告警，电话未接通", 0),
    ]


def test_long_track_is_simplified(env: Env) -> None:
    """A day of fixes every 20 s is simplified below the point limit, keeping the first and last."""
    _officers(env)
    with env.central.sessions.begin() as s:
        subject = s.get(Subject, SUBJECT)
        assert subject is not None
        subject.positioning_from, subject.positioning_until = date(2026, 11, 1), date(2026, 11, 30)
    start = datetime(2026, 11, 10, tzinfo=UTC)
    times = [start + timedelta(seconds=20 * i) for i in range(MAX_POINTS + 500)]
    _store_fixes(env, times)
    h = env.login("haicang.loc")
    track = env.client.post(VIEWS, headers=h, json=_body(start, start + timedelta(days=1))).json()
    assert track["visible_fixes"] == MAX_POINTS + 500
    assert track["simplified"] is True and len(track["points"]) <= MAX_POINTS
    assert track["points"][0]["at"] == "2026-11-10T00:00:00Z"
    assert track["points"][-1]["at"] == track["last"]["at"]
    explicit = env.client.post(VIEWS, headers=h, json=_body(start, start + timedelta(hours=1), tolerance_m=100)).json()
    assert explicit["tolerance_m"] == 100 and len(explicit["points"]) < 180 / 2


def test_positioning_periods(env: Env) -> None:
    """At most three months at a time, within the term; a follow-on period renews; ending soon is listed."""
    c, h = env.client, env.login("haicang.officer")
    today = china_date(datetime.now(UTC))
    url = f"/api/v1/subjects/{SUBJECT}/positioning"

    def period(start: date, end: date) -> dict[str, object]:
        return {"starts_on": start.isoformat(), "ends_on": end.isoformat(), "reason": "审批 2026-017 号"}

    start = today - timedelta(days=80)
    too_long = c.post(url, headers=h, json=period(start, start + timedelta(days=95)))
    assert too_long.status_code == 400 and "at most 3 months at a time" in too_long.json()["error"]
    past_term = c.post(url, headers=h, json=period(date(2027, 6, 1), date(2027, 7, 15)))
    assert past_term.status_code == 400 and "after the term ends 2027-06-30" in past_term.json()["error"]
    assert c.post(url, headers=env.login("huli.officer"), json=period(start, today)).status_code == 404
    assert c.post(url, headers=env.login("huli.viewer"), json=period(start, today)).status_code == 403

    first = c.post(url, headers=h, json=period(start, today + timedelta(days=5))).json()
    assert first["positioning_from"] == start.isoformat()
    expiring = c.get("/api/v1/positioning/expiring", headers=h, params={"within_days": 7}).json()
    assert [(e["subject_id"], e["days_left"]) for e in expiring] == [(SUBJECT, 5)]
    assert c.get("/api/v1/positioning/expiring", headers=env.login("huli.officer")).json() == []

    renewed = c.post(url, headers=h, json=period(today + timedelta(days=6), today + timedelta(days=60))).json()
    assert renewed["positioning_from"] == start.isoformat()  # follows on: one continuous period
    assert c.get("/api/v1/positioning/expiring", headers=h, params={"within_days": 7}).json() == []
    later = c.post(url, headers=h, json=period(today + timedelta(days=70), today + timedelta(days=80))).json()
    assert later["positioning_from"] == (today + timedelta(days=70)).isoformat()  # after a gap: a new period


def test_refused_location_views_are_audited(env: Env) -> None:
    """No right, outside the jurisdiction, no reason: refused, and each refusal is in the audit trail."""
    _officers(env)
    c = env.client
    since, until = PERIOD_START, PERIOD_START + timedelta(hours=1)
    no_right = c.post(VIEWS, headers=env.login("haicang.officer"), json=_body(since, until))
    assert no_right.status_code == 403
    assert c.post(VIEWS, headers=env.login("huli.loc"), json=_body(since, until)).status_code == 404
    body = _body(since, until)
    del body["reason"]
    no_reason = c.post(VIEWS, headers=env.login("haicang.loc"), json=body)
    assert no_reason.status_code == 400 and no_reason.json()["error"].startswith("reason: state why")
    blank = c.post(VIEWS, headers=env.login("haicang.loc"), json=_body(since, until, reason="   "))
    assert blank.status_code == 400
    assert c.post(VIEWS, json=_body(since, until)).status_code == 401  # nobody to hold to account

    with env.central.sessions() as s:
        refused = s.execute(select(Audit).where(Audit.action == "location.refused").order_by(Audit.id)).scalars()
        rows = [(a.actor, a.subject_id, a.node_path, a.detail["status"], a.detail["reason"]) for a in refused]
        assert not s.execute(select(Audit).where(Audit.action == "location.view")).first()
    assert rows == [
        ("haicang.officer", SUBJECT, "/35/3502/350205/", 403, "核查越界告警，电话未接通"),
        ("huli.loc", SUBJECT, "/35/3502/350206/", 404, "核查越界告警，电话未接通"),
        ("haicang.loc", SUBJECT, "/35/3502/350205/", 400, ""),
        ("haicang.loc", SUBJECT, "/35/3502/350205/", 400, "   "),
    ]
    r = c.get("/api/v1/audit", headers=env.login("prov.admin"), params={"action": "location.refused"})
    assert r.status_code == 200 and len(r.json()) == 4, r.text  # the province's admin sees every attempt
