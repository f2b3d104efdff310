"""The officer web UI in headless Chromium against the real system (broker, central, ingest, device uplinks).

Each test also writes the screenshot of the page it is about to docs/screenshots/web-<page>.png.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from playwright.sync_api import Page, expect
from sqlalchemy import update

from central.db.models import AuthToken
from contracts import Checkin, DeviceAlarm
from tests.e2e.web.conftest import PASSWORD, SUBJECT, System, screenshot
from tests.unit.central.rules.strategies import HOME, WEST


def login(page: Page, username: str, password: str = PASSWORD) -> None:
    """Log in through the form and land on the dashboard."""
    page.goto("/ui/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(re.compile(r"/ui/dashboard$"))


def nav(page: Page, name: str) -> None:
    """Follow an entry of the main navigation."""
    page.get_by_role("navigation", name="主导航").get_by_role("link", name=re.compile(f"^{name}")).click()


def test_login_dashboard_and_language_switch(page: Page, system: System) -> None:
    """The login page is Chinese; the dashboard shows the jurisdiction's figures; English is one click away."""
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/ui/login"))
    expect(page.get_by_role("heading", name="工作人员登录")).to_be_visible()
    screenshot(page, "login")
    login(page, "prov.admin")
    expect(page.get_by_role("heading", name=re.compile("工作台"))).to_be_visible()
    expect(page.locator("#fig-subjects")).to_have_text("5")
    expect(page.get_by_role("navigation", name="主导航").get_by_text("外出请假")).to_have_attribute(
        "aria-disabled", "true"
    )
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name=re.compile("Dashboard"))).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("link", name="Subjects")).to_be_visible()
    page.get_by_role("link", name="中文").click()
    expect(page.get_by_role("heading", name=re.compile("工作台"))).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")


def test_open_subject_show_track_and_find_the_audit_row(page: Page, system: System) -> None:
    """Search, open the profile, state a reason to see the track, then find that view in the audit trail."""
    now = datetime.now(UTC)
    walk = [(HOME[0] + 0.002 * i, HOME[1] + 0.001 * i) for i in range(6)]
    ids = system.publish_fixes(walk, now - timedelta(hours=2))
    system.wait_for("the fixes stored", lambda: all(system.events(event_id=i) for i in ids))

    login(page, "prov.admin")
    nav(page, "矫正对象")
    expect(page.locator("#subject-table tbody tr")).to_have_count(5)
    screenshot(page, "subjects")
    page.locator("#f-node").select_option("350206")  # a filter applies as soon as it is chosen
    expect(page.locator("#subject-table tbody tr")).not_to_have_count(5)
    expect(page).to_have_url(re.compile(r"node=350206"))
    page.locator("#f-node").select_option("")
    expect(page.locator("#subject-table tbody tr")).to_have_count(5)
    page.get_by_label("姓名或编号").fill("张伟")
    expect(page.locator("#subject-table tbody tr")).to_have_count(1)
    page.get_by_role("link", name=SUBJECT).click()
    expect(page.get_by_role("heading", name=re.compile("张伟"))).to_be_visible()
    expect(page.locator("#id-number")).to_have_text(re.compile(r"^350205\d{11}[\dX]"))  # prov.admin may see it
    expect(page.get_by_text("允许活动区域 1 个，禁止区域 1 个")).to_be_visible()
    assert "24.49" not in page.content() and "118.01" not in page.content()  # no position on the profile
    screenshot(page, "subject")

    page.get_by_role("link", name="地图与轨迹").click()
    expect(page.locator(".leaflet-overlay-pane path")).to_have_count(2)  # the allowed area and the school
    expect(page.locator("#playback")).to_be_hidden()  # no track before the audited step
    page.get_by_label("查看理由").fill("核查越界告警，确认对象活动范围")
    page.get_by_role("button", name="显示轨迹").click()
    expect(page.locator("#track-status")).to_contain_text("显示 6 个点")
    expect(page.locator("#playback")).to_be_visible()
    slider = page.get_by_label("时间轴")
    expect(slider).to_have_attribute("max", "5")
    slider.focus()
    page.keyboard.press("Home")
    expect(page.locator("#slider-time")).not_to_be_empty()
    page.get_by_role("button", name="播放").click()
    expect(page.get_by_role("button", name="暂停")).to_be_visible()
    expect(slider).to_have_value("5", timeout=10_000)
    screenshot(page, "map")

    nav(page, "审计")
    page.get_by_label("操作", exact=True).fill("location.view")
    page.get_by_label("对象", exact=True).fill(SUBJECT)
    page.get_by_role("button", name="查询").click()
    row = page.locator("#audit-table tr.audit-row").first
    expect(row).to_contain_text("prov.admin")
    expect(row).to_contain_text("核查越界告警，确认对象活动范围")
    page.get_by_role("button", name="校验哈希链").click()
    expect(page.locator("#verify-ok")).to_contain_text("哈希链完整")
    screenshot(page, "audit")


def test_alert_appears_live_then_is_acknowledged_and_handled(page: Page, system: System) -> None:
    """Fixes outside the allowed area, sent by the phone through the broker, open an alert the page shows unreloaded."""
    login(page, "haicang.officer")
    nav(page, "告警")
    expect(page.get_by_role("heading", level=1, name=re.compile("^告警"))).to_be_visible()
    page.evaluate("window.__notReloaded = true")

    start = datetime.now(UTC) - timedelta(minutes=30)
    system.publish_fixes([HOME, HOME, WEST, WEST, WEST, WEST], start)
    row = page.locator("#alert-table tr.alert-row[data-kind=fence_breach]")
    expect(row).to_be_visible(timeout=45_000)
    assert page.evaluate("window.__notReloaded") is True, "the queue must update without a reload"
    expect(row).to_contain_text("越界")
    expect(row).to_contain_text("待处理")
    row.get_by_text("规则说明").click()  # the rule's own summary, in Chinese
    expect(row.locator("p[lang=zh-CN]")).to_contain_text("越出允许活动区域：连续")
    expect(page.locator("#nav-alert-count")).not_to_have_text("0")
    assert "117.9" not in row.inner_text()  # an ordinary alert says which rule, not where
    screenshot(page, "alerts")

    row.get_by_role("button", name="确认").click()
    expect(row).to_contain_text("已确认")
    row.get_by_text("处理", exact=True).click()
    row.get_by_label("处理结果").fill("电话联系本人，已返回辖区，予以警示教育")
    row.get_by_role("button", name="提交处理结果").click()
    expect(page.locator("#alert-table tr.alert-row[data-kind=fence_breach]")).to_have_count(0)
    page.get_by_label("状态").select_option("handled")
    handled = page.locator("#alert-table tr.alert-row[data-kind=fence_breach]")
    expect(handled).to_contain_text("已处理")
    expect(handled).to_contain_text("予以警示教育")
    assert page.evaluate("window.__notReloaded") is True


def test_kiosk_checkin_and_device_status_appear(page: Page, system: System) -> None:
    """A kiosk's check-in shows on the dashboard and the profile, a phone's alarm by kind, device status on its page."""
    kiosk = system.uplink("kiosk-haicang")
    edge = system.uplink("edge-haicang")
    edge.publish_status(camera_fps={"hall-entrance": 12.5})
    event_id = uuid.uuid4()
    kiosk.send(
        Checkin(
            event_id=event_id,
            device_id="kiosk-haicang",
            device_time=datetime.now(UTC),
            subject_id="S-350205-0002",
            methods=["id_card", "face"],
            face_score=0.83,
            result="accepted",
        )
    )
    alarm_id = uuid.uuid4()
    system.uplink("phone-0001").send(
        DeviceAlarm(
            event_id=alarm_id,
            device_id="phone-0001",
            device_time=datetime.now(UTC),
            kind="low_battery",
            subject_id=SUBJECT,
            detail="battery 8 %",
        )
    )
    system.wait_for("the check-in stored", lambda: system.events(event_id=str(event_id)) == 1)
    system.wait_for("the alarm stored", lambda: system.events(event_id=str(alarm_id)) == 1)

    login(page, "prov.admin")
    expect(page.locator("#kiosk-checkins")).to_contain_text("kiosk-haicang")
    expect(page.locator("#attendance")).to_contain_text("海沧街道司法所")
    expect(page.locator("#alerts-by-kind")).to_contain_text("电量低")
    expect(page.locator("#offline-devices")).to_contain_text("kiosk-huli")  # never connected
    screenshot(page, "dashboard")
    page.goto("/ui/subjects/S-350205-0002")
    expect(page.locator("#checkins")).to_contain_text("kiosk-haicang")
    expect(page.locator("#checkins")).to_contain_text("成功")

    nav(page, "设备")
    expect(page.locator("#device-kiosk-haicang")).to_contain_text("在线")
    expect(page.locator("#device-kiosk-huli")).to_contain_text("离线")
    expect(page.locator("#device-edge-haicang")).to_contain_text("hall-entrance 12.5")
    screenshot(page, "devices")


def test_township_officer_cannot_open_a_sibling_townships_subject(page: Page, system: System) -> None:
    """haicang.town (township 350205001) gets 'not found' for Huli's subject, by URL and by API; IDs masked."""
    login(page, "haicang.town")
    response = page.goto("/ui/subjects/S-350206-0001")
    assert response is not None and response.status == 404
    expect(page.get_by_role("alert")).to_contain_text("未找到，或不在您的管辖范围内")
    response = page.goto("/ui/subjects/S-350206-0001/map")
    assert response is not None and response.status == 404
    page.goto("/ui/subjects")
    expect(page.locator("#subject-table")).not_to_contain_text("S-350206")
    page.goto(f"/ui/subjects/{SUBJECT}")
    expect(page.locator("#id-number")).to_contain_text("*")  # no id_number permission: masked
    page.goto(f"/ui/subjects/{SUBJECT}/map")
    expect(page.get_by_text("查看位置需要“查看位置”权限")).to_be_visible()

    with httpx.Client(base_url=system.base) as http:
        token = http.post("/api/v1/auth/login", json={"username": "haicang.town", "password": PASSWORD}).json()
        r = http.get("/api/v1/subjects/S-350206-0001", headers={"Authorization": f"Bearer {token['token']}"})
        assert r.status_code == 404, r.text


def test_accounts_lockout_and_disabled_messages(page: Page, system: System) -> None:
    """An admin creates an account; five wrong passwords lock it with a clear message; a disabled one says so."""
    login(page, "prov.admin")
    nav(page, "账户")
    form = page.locator("#new-user")
    form.get_by_label("用户名").fill("haicang.clerk")
    form.get_by_label("姓名").fill("林书记员")
    form.get_by_label("初始密码").fill("clerk-password-1")
    form.get_by_label("所属单位").select_option("350205001")
    form.get_by_role("button", name="新建账户").click()
    expect(page.get_by_role("status").filter(has_text="已创建账户 haicang.clerk")).to_be_visible()
    expect(page.locator("#user-haicang\\.clerk")).to_contain_text("海沧街道司法所")
    screenshot(page, "users")

    other = page.context.browser.new_context(base_url=system.base, viewport=page.viewport_size)  # type: ignore[union-attr]
    try:
        them = other.new_page()
        for _ in range(5):
            them.goto("/ui/login")
            them.get_by_label("用户名").fill("haicang.clerk")
            them.get_by_label("密码").fill("not-the-password")
            them.get_by_role("button", name="登录").click()
        expect(them.locator("#login-problem")).to_contain_text("连续 5 次登录失败已被锁定")
        them.get_by_label("密码").fill("clerk-password-1")
        them.get_by_role("button", name="登录").click()
        expect(them.locator("#login-problem")).to_contain_text("已被锁定")  # even the right password waits
    finally:
        other.close()

    page.locator("#user-haicang\\.clerk").get_by_role("button", name=re.compile("停用")).click()
    expect(page.locator("#user-haicang\\.clerk")).to_contain_text("已停用")
    page.get_by_role("button", name="退出登录").click()
    expect(page.get_by_text("您已退出登录")).to_be_visible()
    page.get_by_label("用户名").fill("haicang.clerk")
    page.get_by_label("密码").fill("clerk-password-1")
    page.get_by_role("button", name="登录").click()
    expect(page.locator("#login-problem")).to_contain_text("该账户已停用")


def test_idle_session_ends_but_activity_keeps_it(page: Page, system: System) -> None:
    """Requests within session_idle_s keep the login past it; 31 idle minutes send the next click to the login page."""
    login(page, "city.officer")
    with system.central.sessions.begin() as s:  # logged in 40 minutes ago, last request 20 minutes ago
        s.execute(
            update(AuthToken).values(
                created_at=datetime.now(UTC) - timedelta(minutes=40),
                last_used_at=datetime.now(UTC) - timedelta(minutes=20),
            )
        )
    nav(page, "设备")
    expect(page).to_have_url(re.compile(r"/ui/devices"))
    with system.central.sessions.begin() as s:
        s.execute(update(AuthToken).values(last_used_at=datetime.now(UTC) - timedelta(minutes=31)))
    nav(page, "告警")
    expect(page).to_have_url(re.compile(r"/ui/login\?reason=expired"))
    expect(page.get_by_text("登录已过期，请重新登录")).to_be_visible()


def test_expired_session_returns_to_login_with_a_message(page: Page, system: System) -> None:
    """When the token expires, the live alert page and the next click both go back to the login page and say why."""
    login(page, "city.officer")
    nav(page, "告警")
    with system.central.sessions.begin() as s:
        s.execute(update(AuthToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    expect(page).to_have_url(re.compile(r"/ui/login\?reason=expired"), timeout=30_000)  # told by the event stream
    expect(page.get_by_text("登录已过期，请重新登录")).to_be_visible()
    page.goto("/ui/devices")
    expect(page).to_have_url(re.compile(r"/ui/login\?reason=expired"))
