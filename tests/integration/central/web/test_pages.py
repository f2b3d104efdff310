"""The officer UI over HTTP on SQLite and PostgreSQL: sessions, CSRF, scoping, every page in both languages."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from central import locations, subjects
from central.db.models import Alert, Audit, AuthToken, User
from central.ingest.store import Incoming, store_batch
from central.seed import id_number_for
from central.web.pages import alerts as alert_pages
from contracts import Fix, encode, topic_for
from tests.integration.central.conftest import PASSWORD, Env

SUBJECT = "S-350205-0001"
HULI_SUBJECT = "S-350206-0001"
PAGES = [
    "/ui/dashboard",
    "/ui/dashboard/attendance",
    "/ui/subjects",
    f"/ui/subjects/{SUBJECT}",
    f"/ui/subjects/{SUBJECT}/map",
    "/ui/map",
]
PAGES += ["/ui/alerts", "/ui/alerts/queue", "/ui/devices"]
ADMIN_PAGES = ["/ui/audit", "/ui/users", "/ui/audit/verify"]


def browser(env: Env) -> TestClient:
    """A client with its own cookie jar, like a second browser."""
    return TestClient(env.client.app, base_url="http://testserver")


def csrf_in(html: str) -> str:
    """The CSRF token of the page's forms."""
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def ui_login(client: TestClient, username: str, password: str = PASSWORD) -> tuple[int, str]:
    """Submit the login form; (status, final page text); the client keeps the session cookie."""
    form = client.get("/ui/login")
    r = client.post(
        "/ui/login", data={"username": username, "password": password, "csrf": csrf_in(form.text), "next": ""}
    )
    return r.status_code, r.text


def logged_in(env: Env, username: str, password: str = PASSWORD) -> tuple[TestClient, str]:
    """A client logged in as `username`, and the CSRF token of its session."""
    client = browser(env)
    status, html = ui_login(client, username, password)
    assert status == 200, html
    return client, csrf_in(html)


def store(env: Env, *messages: Fix) -> None:
    """Store device messages as ingest would (rules included)."""
    with env.central.sessions.begin() as s:
        batch = [Incoming(topic_for(m), encode(m)) for m in messages]
        assert store_batch(s, batch, now=datetime.now(UTC), audit_key=env.central.audit_key).dead == []


def fix(at: datetime, lon: float = 118.01, lat: float = 24.49) -> Fix:
    """A phone fix of SUBJECT."""
    return Fix(
        event_id=uuid.uuid4(),
        device_id="kiosk-haicang",
        device_time=at,
        subject_id=SUBJECT,
        lon=lon,
        lat=lat,
        accuracy_m=8,
        source="gnss",
    )


def open_alert(env: Env) -> int:
    """An open lost-contact alert of SUBJECT (as the rules would have opened it)."""
    now = datetime.now(UTC)
    with env.central.sessions.begin() as s:
        alert = Alert(
            subject_id=SUBJECT,
            node_path="/35/3502/350205/350205001/",
            kind="lost_contact",
            episode_key=str(uuid.uuid4()),
            state="open",
            evidence=[],
            summary="no fix or check-in for longer than the reporting interval (24 h)",
            opened_at=now,
            updated_at=now,
        )
        s.add(alert)
        s.flush()
        return alert.id


@pytest.mark.parametrize("username", ["prov.admin", "haicang.town", "huli.viewer"])
def test_every_page_renders_for_every_role_in_both_languages(env: Env, username: str) -> None:
    """Each page answers 200 (admin pages 403 for others) with the layout, the security headers and no stray key."""
    open_alert(env)
    client, _ = logged_in(env, username)
    is_admin = username == "prov.admin"
    for lang in ("zh", "en"):
        client.cookies.set("corr_lang", lang, path="/ui")
        for path in PAGES + ADMIN_PAGES:
            if path.startswith(f"/ui/subjects/{SUBJECT}") and username == "huli.viewer":
                continue
            r = client.get(path)
            expected = 403 if path in ADMIN_PAGES and not is_admin else 200
            assert r.status_code == expected, (path, r.text[:500])
            assert "no-store" in r.headers["cache-control"]
            assert "script-src 'self'" in r.headers["content-security-policy"]
            assert r.headers["x-frame-options"] == "DENY"
        page = client.get("/ui/dashboard").text
        assert f'<html lang="{"zh-CN" if lang == "zh" else "en"}">' in page
        assert ("工作台" in page) == (lang == "zh") and ("Dashboard" in page) == (lang == "en")


def test_login_refusals_say_why_and_lockout_is_clear(env: Env) -> None:
    """Wrong password and unknown user read the same; the fifth failure locks; a locked account says until when."""
    client = browser(env)
    assert ui_login(client, "nobody.here", "whatever-pw")[1].count("用户名或密码错误") == 1
    for attempt in range(1, 6):
        status, html = ui_login(client, "huli.officer", "wrong-password")
        assert status == 401
        if attempt < 5:
            assert "用户名或密码错误" in html
    assert "该账户因连续 5 次登录失败已被锁定" in html and re.search(r"请于 \d{4}-\d\d-\d\d \d\d:\d\d 之后再试", html)
    assert "已被锁定" in ui_login(client, "huli.officer")[1]  # the right password waits too
    with env.central.sessions.begin() as s:
        s.execute(update(User).where(User.username == "huli.viewer").values(disabled=True))
    assert "该账户已停用" in ui_login(client, "huli.viewer")[1]


def test_login_form_needs_its_csrf_cookie_and_next_stays_inside_the_ui(env: Env) -> None:
    """A login posted from elsewhere (no double-submit cookie) is refused; 'next' never leaves /ui/."""
    client = browser(env)
    r = client.post("/ui/login", data={"username": "prov.admin", "password": PASSWORD, "csrf": "x", "next": ""})
    assert r.status_code == 403 and "登录页面已失效" in r.text
    form = client.get("/ui/login?next=https://evil.example/")
    r = client.post(
        "/ui/login",
        data={
            "username": "prov.admin",
            "password": PASSWORD,
            "csrf": csrf_in(form.text),
            "next": "https://evil.example/",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/ui/dashboard"
    cookie = r.headers["set-cookie"]
    assert "corr_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie


def test_posts_without_the_sessions_csrf_token_change_nothing(env: Env) -> None:
    """Acknowledging with no token, or another session's token, is refused and the alert stays open."""
    alert_id = open_alert(env)
    client, token = logged_in(env, "haicang.officer")
    _, other_token = logged_in(env, "prov.admin")
    for data in ({}, {"csrf": other_token}):
        r = client.post(f"/ui/alerts/{alert_id}/ack", data=data)
        assert r.status_code == 403 and "CSRF" in r.text
    with env.central.sessions() as s:
        assert s.get(Alert, alert_id).state == "open"  # type: ignore[union-attr]
    r = client.post(f"/ui/alerts/{alert_id}/ack", data={"csrf": token}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "已确认" in r.text
    r = client.post(
        f"/ui/alerts/{alert_id}/handle", data={"csrf": token, "resolution": " "}, headers={"HX-Request": "true"}
    )
    assert r.status_code == 400 and r.headers["hx-retarget"] == "#flash" and "resolution: required" in r.text
    r = client.post(f"/ui/alerts/{alert_id}/ack", data={"csrf": token}, headers={"HX-Request": "true"})
    assert r.status_code == 409 and "acknowledge needs an alert that is open" in r.text
    huli, huli_token = logged_in(env, "huli.officer")
    assert huli.post(f"/ui/alerts/{alert_id}/ack", data={"csrf": huli_token}).status_code == 404  # not theirs
    viewer, viewer_token = logged_in(env, "huli.viewer")
    assert viewer.post(f"/ui/alerts/{alert_id}/ack", data={"csrf": viewer_token}).status_code == 403  # read only


def test_a_township_officer_sees_nothing_of_a_sibling_township(env: Env) -> None:
    """haicang.town: Huli's subject is 404 by URL, absent from lists, and its track and alerts unreachable."""
    open_alert(env)
    client, token = logged_in(env, "haicang.town")
    for path in (f"/ui/subjects/{HULI_SUBJECT}", f"/ui/subjects/{HULI_SUBJECT}/map", f"/ui/map?subject={HULI_SUBJECT}"):
        r = client.get(path)
        assert r.status_code == 404 and "未找到，或不在您的管辖范围内" in r.text, path
    r = client.post(
        f"/ui/subjects/{HULI_SUBJECT}/track",
        json={"reason": "想看看他在哪里", "since": "2026-11-01T00:00", "until": "2026-11-02T00:00"},
        headers={"X-CSRF-Token": token, "Accept": "application/json"},
    )
    assert r.status_code == 404
    listing = client.get("/ui/subjects").text
    assert "S-350206" not in listing and "S-350205-0003" not in listing and SUBJECT in listing
    huli, _ = logged_in(env, "huli.officer")
    assert "lost_contact" not in huli.get("/ui/alerts/queue").text and "S-350205" not in huli.get("/ui/alerts").text
    badge = re.search(r'id="nav-alert-count"[^>]*>(\d+)<', huli.get("/ui/devices").text)
    assert badge is not None and badge.group(1) == "0"


def test_id_numbers_are_masked_without_the_right(env: Env) -> None:
    """haicang.town sees 350205********xxxx; haicang.officer (id_number) the whole number."""
    town, _ = logged_in(env, "haicang.town")
    assert re.search(r'id="id-number">350205\*{8}\d{3}[\dX]', town.get(f"/ui/subjects/{SUBJECT}").text)
    officer, _ = logged_in(env, "haicang.officer")
    assert re.search(r'id="id-number">350205\d{11}[\dX]<', officer.get(f"/ui/subjects/{SUBJECT}").text)


def test_track_needs_permission_and_reason_and_is_audited(env: Env) -> None:
    """No 'location' right: 403; a short reason: 400 naming it; then the track, and one audit row with the reason."""
    today = locations.china_date(datetime.now(UTC))
    with env.central.sessions.begin() as s:
        admin = s.execute(select(User).where(User.username == "prov.admin")).scalar_one()
        locations.set_positioning(
            s,
            env.central.audit_key,
            admin,
            SUBJECT,
            starts_on=today - timedelta(days=2),
            ends_on=today,
            reason="批准文书第12号",
        )
    now = datetime.now(UTC)
    store(env, *(fix(now - timedelta(minutes=50 - i), lon=118.01 + i * 0.001) for i in range(5)))
    url = f"/ui/subjects/{SUBJECT}/track"
    body = {"reason": "核查越界告警", "since": (now - timedelta(hours=2)).isoformat(), "until": now.isoformat()}

    officer, officer_token = logged_in(env, "haicang.officer")
    r = officer.post(url, json=body, headers={"X-CSRF-Token": officer_token, "Accept": "application/json"})
    assert r.status_code == 403 and "location" in r.json()["detail"]

    admin_client, token = logged_in(env, "prov.admin")
    headers = {"X-CSRF-Token": token, "Accept": "application/json"}
    assert admin_client.post(url, json=body, headers={"Accept": "application/json"}).status_code == 403  # no CSRF
    r = admin_client.post(url, json={**body, "reason": "看看"}, headers=headers)
    assert r.status_code == 400 and "at least 6 characters" in r.json()["detail"]
    r = admin_client.post(url, json=body, headers=headers)
    assert r.status_code == 200, r.text
    track = r.json()
    assert len(track["points"]) == 5 and track["hidden_fixes"] == 0
    assert track["points"][0]["local"].startswith(str(today.year))
    with env.central.sessions() as s:
        rows = s.execute(select(Audit).where(Audit.action == "location.view")).scalars().all()
        refused = s.execute(select(Audit).where(Audit.action == "location.refused").order_by(Audit.id)).scalars().all()
    assert [(a.actor, a.subject_id, a.detail["reason"]) for a in rows] == [("prov.admin", SUBJECT, "核查越界告警")]
    # the refusals were answered only after their audit rows were committed (the CSRF refusal is not a location one)
    assert [(a.actor, a.detail["reason"]) for a in refused] == [
        ("haicang.officer", "核查越界告警"),
        ("prov.admin", "看看"),
    ]
    assert "24.49" not in admin_client.get(f"/ui/subjects/{SUBJECT}").text  # the profile never shows a position
    assert "24.49" not in admin_client.get("/ui/alerts?state=all").text


def test_expired_session_goes_back_to_login_saying_so(env: Env) -> None:
    """A page redirects with reason=expired, htmx gets HX-Redirect, the event stream says 'expired'."""
    client, _ = logged_in(env, "city.officer")
    with env.central.sessions.begin() as s:
        s.execute(update(AuthToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    r = client.get("/ui/subjects?q=x", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login?reason=expired&next=%2Fui%2Fsubjects")
    assert "登录已过期，请重新登录" in client.get(r.headers["location"]).text
    r = client.get("/ui/alerts/queue", headers={"HX-Request": "true"})
    assert r.status_code == 401 and r.headers["hx-redirect"] == "/ui/login?reason=expired"
    with client.stream("GET", "/ui/alerts/stream", headers={"Accept": "text/event-stream"}) as stream:
        assert "event: expired" in stream.read().decode()


def test_alert_stream_reports_the_scoped_alert_state(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first event carries the version and the unresolved count of the officer's own alerts."""
    monkeypatch.setattr(alert_pages, "STREAM_SECONDS", 0.0)
    open_alert(env)
    for username, unresolved in (("haicang.town", 1), ("huli.officer", 0)):
        client, _ = logged_in(env, username)
        with client.stream("GET", "/ui/alerts/stream") as stream:
            text = stream.read().decode()
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert f'"unresolved": {unresolved}' in text and text.startswith("retry: 1000")


def test_names_are_escaped_and_search_finds_decrypted_names(env: Env) -> None:
    """A name holding markup is shown as text; the search matches names (encrypted at rest) and ids."""
    with env.central.sessions.begin() as s:
        subjects.register_subject(
            s,
            env.central.cipher,
            env.central.hmac_key,
            env.central.audit_key,
            subject_id="S-350205-0099",
            name="<script>alert(1)</script>",
            id_number=id_number_for(99),
            node_code="350205001",
            category="probation",
            supervision_level="normal",
            term_start=date(2026, 1, 1),
            term_end=date(2027, 1, 1),
        )
    client, _ = logged_in(env, "haicang.officer")
    html = client.get("/ui/subjects?q=script").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert "S-350205-0099" in html and SUBJECT not in html
    only = client.get("/ui/subjects?q=张伟", headers={"HX-Request": "true", "HX-Target": "results"}).text
    assert only.lstrip().startswith('<section id="results"') and SUBJECT in only
    assert "S-350205-0002" in client.get("/ui/subjects?level=strict").text


def test_admins_allocate_accounts_top_down(env: Env) -> None:
    """prov.admin creates a county admin; that admin cannot create an account in a sibling county, and is told why."""
    admin, token = logged_in(env, "prov.admin")
    form = {"csrf": token, "username": "haicang.admin", "display_name": "海沧管理员", "password": "county-admin-pw"}
    r = admin.post("/ui/users", data={**form, "role": "admin", "node": "350205"})
    assert r.status_code == 200 and "已创建账户 haicang.admin" in r.text
    county, county_token = logged_in(env, "haicang.admin", "county-admin-pw")
    bad = {"csrf": county_token, "username": "huli.clerk", "password": "some-password", "role": "officer"}
    r = county.post("/ui/users", data={**bad, "node": "350206001"})
    assert r.status_code == 403 and "outside your jurisdiction" in r.text and 'value="huli.clerk"' in r.text
    r = county.post("/ui/users/huli.officer/disable", data={"csrf": county_token})
    assert r.status_code == 404
    r = county.post("/ui/users/haicang.town/disable", data={"csrf": county_token})
    assert r.status_code == 200 and "已停用账户 haicang.town" in r.text
    officer, _ = logged_in(env, "haicang.officer")
    assert officer.get("/ui/users").status_code == 403
    with env.central.sessions() as s:
        assert (
            s.execute(select(func.count()).select_from(Audit).where(Audit.action == "user.disable")).scalar_one() == 1
        )


def test_logout_revokes_the_session(env: Env) -> None:
    """After logout the same cookie no longer opens a page."""
    client, token = logged_in(env, "huli.officer")
    cookie = client.cookies.get("corr_session")
    r = client.post("/ui/logout", data={"csrf": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/login?reason=logged_out"
    again = browser(env)
    again.cookies.set("corr_session", cookie or "", path="/ui")
    assert again.get("/ui/dashboard", follow_redirects=False).headers["location"].startswith("/ui/login")
