"""The whole system for the browser tests: Mosquitto, `serve` and `ingest` as processes, devices on uplinks.

Central runs on SQLite with the seeded tree (tests/support/central.py), a Haicang allowed area and
a school exclusion zone for S-350205-0001 (whose positioning period covers today), and broker
logins for a kiosk, a camera host and a phone. The browser is Debian's /usr/bin/chromium driven
headless by Playwright; nothing is downloaded.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import ViewportSize
from sqlalchemy import func, select

from central import fences, locations
from central.context import Central
from central.db.migrate import upgrade
from central.db.models import Event, User
from central.devices import sync_broker
from central.seed import seed
from central.web import assets
from contracts import Fix
from tests.support.central import make_config
from tests.support.mosquitto import Mosquitto
from tests.support.ports import free_port, wait_for_port
from tests.support.processes import CentralProcess, write_config
from tests.unit.central.rules.strategies import HAICANG_GEOJSON, SCHOOL
from uplink import Uplink, UplinkConfig

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "correct-horse-battery"
SUBJECT = "S-350205-0001"
SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"
VIEWPORT: ViewportSize = {"width": 1366, "height": 768}
DEVICES = [
    ("kiosk-haicang", "kiosk", "350205001"),
    ("edge-haicang", "edge", "350205"),
    ("phone-0001", "phone", "350205001"),
    ("kiosk-huli", "kiosk", "350206001"),
    ("central-ingest", "central", "35"),
]


@dataclass
class System:
    """Everything running for one test module, and handles to drive the devices."""

    base: str
    central: Central
    secrets: dict[str, str]
    broker: Mosquitto
    workdir: Path
    uplinks: dict[str, Uplink] = field(default_factory=dict)

    def uplink(self, device_id: str) -> Uplink:
        """The device's uplink (started on first use): the real device side of MQTT."""
        if device_id not in self.uplinks:
            link = Uplink(
                UplinkConfig(
                    device_id=device_id,
                    host=self.broker.host,
                    port=self.broker.port,
                    password=self.secrets[device_id],
                    outbox_path=self.workdir / f"{device_id}.outbox",
                    versions={"e2e": "1"},
                    status_interval_s=2,
                )
            )
            link.start()
            self.uplinks[device_id] = link
        return self.uplinks[device_id]

    def events(self, **where: str) -> int:
        """How many stored events match (type=..., subject_id=..., device_id=...)."""
        with self.central.sessions() as s:
            q = select(func.count()).select_from(Event)
            for name, value in where.items():
                q = q.where(getattr(Event, name) == value)
            return int(s.execute(q).scalar_one())

    def publish_fixes(self, where: list[tuple[float, float]], start: datetime, step_s: int = 30) -> list[str]:
        """The phone reports the subject at each (lon, lat), `step_s` apart from `start`; returns the event ids."""
        link = self.uplink("phone-0001")
        ids = []
        for i, (lon, lat) in enumerate(where):
            event_id = uuid.uuid4()
            link.send(
                Fix(
                    event_id=event_id,
                    device_id="phone-0001",
                    device_time=start + timedelta(seconds=step_s * i),
                    subject_id=SUBJECT,
                    lon=lon,
                    lat=lat,
                    accuracy_m=10,
                    source="gnss",
                    battery_pct=76,
                )
            )
            ids.append(str(event_id))
        return ids

    def wait_for(self, what: str, predicate: Callable[[], bool], timeout: float = 30) -> None:
        """Poll until `predicate` holds, or fail naming `what`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        raise AssertionError(f"{what} did not happen within {timeout} s")


def _prepare(central: Central) -> None:
    """Fences and today's positioning period for SUBJECT, set by the province admin."""
    today = locations.china_date(datetime.now(UTC))
    with central.sessions.begin() as s:
        admin = s.execute(select(User).where(User.username == "prov.admin")).scalar_one()
        fences.create_fence(
            s, central.audit_key, admin, SUBJECT, kind="allowed", name="海沧区", geometry=HAICANG_GEOJSON
        )
        fences.create_fence(
            s,
            central.audit_key,
            admin,
            SUBJECT,
            kind="exclusion",
            name="海沧实验小学",
            geometry={"type": "Circle", "center": [SCHOOL.lon, SCHOOL.lat], "radius_m": SCHOOL.radius_m},
        )
        locations.set_positioning(
            s,
            central.audit_key,
            admin,
            SUBJECT,
            starts_on=today - timedelta(days=1),
            ends_on=today + timedelta(days=5),
            reason="批准文书 海司矫〔2026〕12 号",
        )


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """Broker, central API and ingest worker as real processes, on a seeded SQLite database."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (make setup installs it)")
    if assets.missing():
        assets.fetch()
    workdir = tmp_path_factory.mktemp("web")
    broker = Mosquitto(workdir / "broker")
    port = free_port()
    config = make_config(
        f"sqlite:///{workdir / 'central.db'}",
        host=broker.host,
        port=broker.port,
        username="central-ingest",
        password_file=str(broker.password_file),
        acl_file=str(broker.acl_file),
        pid_file=str(broker.pid_file),
    )
    config = config.model_copy(update={"api": config.api.model_copy(update={"port": port})})
    upgrade(config.db_url)
    central = Central.from_config(config)
    seeded = seed(central, PASSWORD, DEVICES)
    with central.sessions.begin() as s:
        sync_broker(s, broker.password_file, broker.acl_file)
    _prepare(central)
    mqtt = config.mqtt.model_copy(update={"password": seeded.device_secrets["central-ingest"]})
    conf = write_config(config.model_copy(update={"mqtt": mqtt}), workdir / "central.toml")
    broker.start()
    procs = [
        CentralProcess(conf, "serve", log=workdir / "serve.log"),
        CentralProcess(conf, "ingest", log=workdir / "ingest.log"),
    ]
    for p in procs:
        p.start()
    system = System(f"http://127.0.0.1:{port}", central, seeded.device_secrets, broker, workdir)
    try:
        wait_for_port(port, timeout=60)
        yield system
    finally:
        for link in system.uplinks.values():
            link.stop(drain_timeout=1)
        for p in reversed(procs):
            p.stop()
        broker.kill()
        central.close()
        for p in procs:
            if "Traceback" in p.output():
                print(p.output())


@pytest.fixture(scope="module")
def browser(system: System) -> Iterator[object]:
    """Headless Debian chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser: object, system: System) -> Iterator[object]:
    """A fresh browser context (no cookies) at 1366×768, with the UI's base URL."""
    from playwright.sync_api import Browser

    assert isinstance(browser, Browser)
    context = browser.new_context(viewport=VIEWPORT, base_url=system.base, locale="zh-CN")
    context.set_default_timeout(30_000)
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(f"{p.url}: {exc}"))
    p.on("console", lambda msg: errors.append(f"{p.url}: console {msg.text}") if msg.type == "error" else None)
    yield p
    context.close()
    # 401/404 pages the tests open on purpose show up as failed loads; anything else is a bug in the page.
    unexpected = [e for e in errors if "status of 40" not in e]
    assert not unexpected, "errors in the browser:\n" + "\n".join(unexpected)


def screenshot(page: object, name: str) -> None:
    """Save the visible page as docs/screenshots/web-<name>.png (1366×768)."""
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tmp = SCREENSHOTS / f".web-{name}.png"
    page.screenshot(path=str(tmp))
    shutil.move(tmp, SCREENSHOTS / f"web-{name}.png")
