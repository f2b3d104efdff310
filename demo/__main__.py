"""Run the whole system on one machine until Ctrl-C.

Mosquitto on a free port (its password file and ACL written by central), central on
SQLite with a seeded jurisdiction tree, officers and subjects, `corr-central serve`,
`corr-central ingest`, `corr-central gt06-gateway` and `corr-central monitor` as their own
processes, and three devices:

- the kiosk (demo/kiosk.py): the device daemon with the ID-card reader and fingerprint sensor
  simulators on pseudo-terminals, a camera fed from photos and a WAV microphone, and the Kivy UI
  (a window on $DISPLAY, otherwise headless under xvfb-run) where a scripted subject, S-350205-0001,
  checks in and records a voice report, each step logged to .demo/kiosk-ui.log;
- the edge agent (demo/edge.py) replaying a camera clip; its sightings name enrolled subjects;
- a simulated GT06 wristband worn by S-350205-0001 reporting to the gateway over TCP. The wearer's
  allowed area is the Haicang district; the wristband walks from the township office west out of
  the district into Longhai and back, so a fence-breach alert opens and then closes (the demo
  prints both), and then stays around the office.

It uses the same real servers the tests start (tests/support).

    python -m demo            # run until Ctrl-C
    python -m demo --check    # start, prove that what every device does reaches the API and the officer UI, stop
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import select

from central.context import Central
from central.db.migrate import upgrade
from central.db.models import User
from central.devices import add_device, sync_broker
from central.fences import create_fence
from central.monitoring import set_device_place
from central.seed import seed
from demo import edge as demo_edge
from demo import kiosk as demo_kiosk
from peripherals.tracker.sim import SimTracker, imei_for, run_tracker
from tests.support.central import make_config
from tests.support.mosquitto import Mosquitto
from tests.support.ports import free_port, wait_for_port
from tests.support.processes import CentralProcess, write_config

WORKDIR = Path(os.environ.get("CORR_DEMO_DIR", ".demo"))
OFFICER = "prov.admin"
KIOSK = "kiosk-haicang-01"
EDGE = "edge-haicang"
WEARER = "S-350205-0001"  # wears the wristband, checks in at the kiosk (demo/kiosk.py SUBJECT) and is on camera
TRACKER_IMEI = imei_for(1)
# (lon, lat), an outline of Haicang district (海沧区) traced from a map; the wearer's allowed area.
HAICANG = [
    (117.945, 24.535), (117.960, 24.552), (117.985, 24.560), (118.010, 24.556), (118.020, 24.552),
    (118.028, 24.530), (118.040, 24.524), (118.050, 24.536), (118.062, 24.535), (118.080, 24.528),
    (118.088, 24.512), (118.078, 24.495), (118.085, 24.478), (118.080, 24.458), (118.065, 24.445),
    (118.040, 24.438), (118.015, 24.432), (117.990, 24.436), (117.972, 24.445), (117.958, 24.460),
    (117.950, 24.480), (117.955, 24.500), (117.965, 24.510), (117.950, 24.520), (117.945, 24.535),
]  # fmt: skip
OFFICE = (24.4900, 118.0100)  # (lat, lon): the township office, where the kiosk stands
LONGHAI = (24.4900, 117.9000)  # 5 km west of the district's border
NEAR_OFFICE = [OFFICE, (24.4906, 118.0100), (24.4906, 118.0108), (24.4900, 118.0108)]
WALK_STEPS = 6  # positions from the office to Longhai, and as many back
STEP = timedelta(seconds=2)


def _tracker_loop(port: int, stop: threading.Event) -> None:
    """A wristband reporting every 2 s: from the office out of the district and back, then around the office."""
    start = datetime.now(UTC)
    walked = 2 * WALK_STEPS + 2  # out, back, and two more inside: enough inside fixes to close the alert
    walk = SimTracker(TRACKER_IMEI, route=[OFFICE, LONGHAI], start=start, interval=STEP, steps_per_leg=WALK_STEPS)
    home = SimTracker(TRACKER_IMEI, route=NEAR_OFFICE, start=start + walked * STEP, interval=STEP, steps_per_leg=3)
    sent = 0
    while not stop.is_set():
        tracker = walk if sent < walked else home
        try:
            asyncio.run(run_tracker("127.0.0.1", port, tracker, 1))
            sent += 1
        except OSError as exc:
            print(f"demo: tracker could not reach the gateway: {exc}", file=sys.stderr)
        if tracker is walk and sent >= walked:
            home.serial = walk.serial  # one device: its frame serial numbers go on
        stop.wait(STEP.total_seconds())


def _alert_watch(base: str, password: str, stop: threading.Event, seen: dict[int, dict[str, object]]) -> None:
    """Print the wearer's fence alerts as they open and close (what an officer's alert list shows)."""
    try:
        with httpx.Client(base_url=base, timeout=10) as http:
            token = http.post("/api/v1/auth/login", json={"username": OFFICER, "password": password}).json()["token"]
            headers = {"Authorization": f"Bearer {token}"}
            while not stop.wait(1):
                params = {"subject_id": WEARER, "kind": "fence_breach"}
                for alert in http.get("/api/v1/alerts", headers=headers, params=params).json():
                    before = seen.get(alert["id"])
                    if before is None:
                        print(f"demo: ALERT {alert['id']} opened: {WEARER} {alert['summary']} ({alert['opened_at']})")
                    if alert["closed_at"] and (before is None or not before["closed_at"]):
                        print(f"demo: ALERT {alert['id']} closed: {alert['close_reason']} ({alert['closed_at']})")
                    seen[alert["id"]] = alert
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        if not stop.is_set():
            print(f"demo: watching alerts failed: {exc}", file=sys.stderr)


def _setup_monitoring(central: Central) -> None:
    """The wearer's allowed area is Haicang district; the kiosk stands at the township office."""
    with central.sessions.begin() as s:
        admin = s.execute(select(User).where(User.username == OFFICER)).scalar_one()
        geometry = {"type": "Polygon", "coordinates": [[list(p) for p in HAICANG]]}
        create_fence(s, central.audit_key, admin, WEARER, kind="allowed", name="海沧区 Haicang", geometry=geometry)
        set_device_place(s, central.audit_key, KIOSK, lat=OFFICE[0], lon=OFFICE[1], radius_m=50, actor=OFFICER)


def main() -> int:
    """Start everything, print how to log in, wait for Ctrl-C (or run the check), stop everything."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="prove events reach the API, then stop")
    ap.add_argument("--port", type=int, default=0, help="API port (default: a free one)")
    args = ap.parse_args()

    shutil.rmtree(WORKDIR, ignore_errors=True)
    WORKDIR.mkdir()
    password = "demo-" + secrets.token_hex(6)
    broker = Mosquitto(WORKDIR / "broker")
    api_port = args.port or free_port()
    cfg = make_config(
        f"sqlite:///{(WORKDIR / 'central.db').resolve()}",
        host=broker.host,
        port=broker.port,
        username="central-ingest",
        password_file=str(broker.password_file.resolve()),
        acl_file=str(broker.acl_file.resolve()),
        pid_file=str(broker.pid_file.resolve()),
    )
    cfg = cfg.model_copy(
        update={
            "api": cfg.api.model_copy(update={"port": api_port}),
            "device_api": cfg.device_api.model_copy(update={"public_url": f"http://127.0.0.1:{api_port}"}),
        }
    )

    print("demo: migrating SQLite and seeding the jurisdiction tree, officers, subjects and devices")
    upgrade(cfg.db_url)
    central = Central.from_config(cfg)
    seeded = seed(
        central,
        password,
        [(KIOSK, "kiosk", "350205001"), (EDGE, "edge", "350205001"), ("central-ingest", "central", "35")],
    )
    _setup_monitoring(central)
    with central.sessions.begin() as s:
        add_device(
            s,
            central.audit_key,
            device_id=TRACKER_IMEI,
            kind="tracker",
            node_code="350205001",
            subject_id=WEARER,
            description="GT06 wristband (simulated)",
        )
        sync_broker(s, broker.password_file, broker.acl_file)
    central.close()
    cfg = cfg.model_copy(
        update={"mqtt": cfg.mqtt.model_copy(update={"password": seeded.device_secrets["central-ingest"]})}
    )
    cfg = cfg.model_copy(update={"monitor": cfg.monitor.model_copy(update={"interval_s": 10.0})})
    conf = write_config(cfg, WORKDIR / "central.toml")

    procs: list[CentralProcess] = []
    stop = threading.Event()
    kiosk_procs: list[subprocess.Popen[bytes]] = []
    edge_proc: subprocess.Popen[bytes] | None = None
    rc = 0
    try:
        broker.start()
        print(f"demo: Mosquitto on {broker.host}:{broker.port} (log {broker.log_file})")
        gt06_port = free_port()
        gateway_argv = ["gt06-gateway", "--host", "127.0.0.1", "--port", str(gt06_port)]
        roles = (("serve", ["serve"]), ("ingest", ["ingest"]), ("gt06", gateway_argv), ("monitor", ["monitor"]))
        for name, argv in roles:
            p = CentralProcess(conf, *argv, log=WORKDIR / f"{name}.log")
            p.start()
            procs.append(p)
        wait_for_port(api_port, timeout=30)
        wait_for_port(gt06_port, timeout=30)
        threading.Thread(target=_tracker_loop, args=(gt06_port, stop), daemon=True).start()
        base = f"http://127.0.0.1:{api_port}"
        print("demo: enrolling demo faces through the kiosk API; central publishes the edge gallery")
        demo_edge.enrol_demo_faces(base, KIOSK, seeded.device_secrets[KIOSK], per_subject=3)
        edge_proc = demo_edge.start_edge(
            WORKDIR / "edge",
            broker_host=broker.host,
            broker_port=broker.port,
            password=seeded.device_secrets[EDGE],
            central_url=base,
        )
        print("demo: starting the kiosk (device daemon + Kivy UI); a scripted subject checks in and reports")
        kiosk_procs = demo_kiosk.start_kiosk(
            broker.host, broker.port, KIOSK, seeded.device_secrets[KIOSK], base, WORKDIR
        )
        alerts: dict[int, dict[str, object]] = {}
        threading.Thread(target=_alert_watch, args=(base, password, stop, alerts), daemon=True).start()
        print()
        print(f"  API          {base}   (OpenAPI: {base}/docs)")
        print(f"  officer UI   {base}/ui/")
        print(f"  officer      {OFFICER} / {password}   (also city.officer, haicang.officer, huli.officer, ...)")
        print(
            f"  try          curl -s -X POST {base}/api/v1/auth/login -H 'content-type: application/json' "
            f'-d \'{{"username":"{OFFICER}","password":"{password}"}}\''
        )
        print(f"  tracker      GT06 gateway on 127.0.0.1:{gt06_port}, wristband {TRACKER_IMEI} worn by {WEARER}")
        print(f"  monitoring   {WEARER} may not leave Haicang; the wristband walks out west and back (about 30 s)")
        print(f"  edge agent   {EDGE} replays a camera clip; sightings of enrolled subjects reach central")
        where = f"a window on {os.environ['DISPLAY']}" if os.environ.get("DISPLAY") else "headless under xvfb-run"
        print(f"  kiosk        {KIOSK}, {where}; staff PIN {demo_kiosk.DEFAULT_PIN}; steps in {WORKDIR}/kiosk-ui.log")
        print(f"  logs         {WORKDIR}/serve.log {WORKDIR}/ingest.log {WORKDIR}/gt06.log {WORKDIR}/monitor.log")
        print()
        if args.check:
            rc = (
                _check(base, password)
                or _check_alert(alerts)
                or _check_sighting(base, password)
                or _check_walkthrough()
                or _check_kiosk(base, password)
                or _check_ui(base, password)
            )
        else:
            print("demo: running; Ctrl-C stops everything")
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            try:
                while not stop.wait(1):
                    for p in procs:
                        if p.proc is not None and p.proc.poll() is not None:
                            print(f"demo: corr-central {p.argv[-1]} exited unexpectedly; see its log", file=sys.stderr)
                            stop.set()
                            rc = 1
                    if any(p.poll() is not None for p in kiosk_procs):
                        print(
                            "demo: the kiosk exited unexpectedly; see kiosk-ui.log and kiosk-devices.log",
                            file=sys.stderr,
                        )
                        stop.set()
                        rc = 1
            except KeyboardInterrupt:
                pass
    finally:
        print("demo: stopping")
        stop.set()
        if edge_proc is not None and edge_proc.poll() is None:
            edge_proc.terminate()
            try:
                edge_proc.wait(20)
            except subprocess.TimeoutExpired:
                edge_proc.kill()
        demo_kiosk.stop_kiosk(kiosk_procs)
        for p in reversed(procs):
            p.stop()
        broker.stop()
    return rc


def _officer(http: httpx.Client, password: str) -> dict[str, str]:
    """An officer's bearer header for the JSON API."""
    token = http.post("/api/v1/auth/login", json={"username": OFFICER, "password": password}).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def _check(base: str, password: str) -> int:
    """Log in as an officer and wait until the wristband's positions and the devices' status are visible."""
    with httpx.Client(base_url=base, timeout=10) as http:
        headers = _officer(http, password)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            events = http.get("/api/v1/events", headers=headers, params={"limit": 1000}).json()
            types = {e["type"] for e in events}
            from_tracker = any(e["device_id"] == TRACKER_IMEI and e["subject_id"] == WEARER for e in events)
            if {"fix", "status"} <= types and from_tracker:
                print(f"demo check: events {sorted(types)} reached the API, the wristband's positions too")
                return 0
            time.sleep(0.5)
    print("demo check: events did not reach the API within 60 s", file=sys.stderr)
    return 1


def _check_walkthrough(timeout: float = 300) -> int:
    """Wait until the kiosk's scripted subject has finished (demo/kiosk.py logs the end, or the failure)."""
    log = WORKDIR / "kiosk-ui.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        done = re.search(r"scripted walk-through done: (.*)", text)
        if done:
            print(f"demo check: the kiosk's scripted subject finished: {done.group(1)}")
            return 0
        if "walk-through failed" in text:
            print(f"demo check: the kiosk's scripted subject failed; see {log}", file=sys.stderr)
            return 1
        time.sleep(1)
    print(f"demo check: the kiosk's scripted subject did not finish within {timeout:.0f} s; see {log}", file=sys.stderr)
    return 1


def _check_kiosk(base: str, password: str, timeout: float = 300) -> int:
    """Wait until the scripted subject's kiosk check-in and voice report are stored and the kiosk is online."""
    with httpx.Client(base_url=base, timeout=10) as http:
        headers = _officer(http, password)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            params: dict[str, str | int] = {"device_id": KIOSK, "limit": 1000}
            events = http.get("/api/v1/events", headers=headers, params=params).json()
            checkins = [e for e in events if e["type"] == "checkin" and e["subject_id"] == WEARER]
            reports = [e for e in events if e["type"] == "voice_report" and e["subject_id"] == WEARER]
            online = [d["id"] for d in http.get("/api/v1/devices", headers=headers).json() if d["online"]]
            if checkins and reports and KIOSK in online:
                print(
                    f"demo check: the kiosk's check-in ({checkins[0]['payload'].get('result')}) and voice report "
                    f"of {WEARER} reached the API; devices online: {sorted(online)}"
                )
                return 0
            time.sleep(1)
    print(f"demo check: no kiosk check-in and voice report within {timeout:.0f} s", file=sys.stderr)
    return 1


def _check_ui(base: str, password: str) -> int:
    """Log in to the officer UI as a browser does and find what every device did on its pages."""
    expected = {
        "/ui/dashboard": [f'<th scope="row">{KIOSK}</th>'],  # the kiosk's check-ins today
        f"/ui/subjects/{WEARER}": [
            f"<td>{KIOSK}</td>",  # the check-in
            f"<td>{EDGE}</td>",  # the camera sightings
            "/voice-reports/",  # the voice report's audio player
        ],
        f"/ui/alerts?subject={WEARER}&state=all": ['data-kind="fence_breach"'],
        "/ui/devices": [KIOSK, EDGE, TRACKER_IMEI],
    }
    missing: list[str] = []
    with httpx.Client(base_url=base, timeout=10, follow_redirects=True) as http:
        csrf = re.search(r'name="csrf" value="([^"]+)"', http.get("/ui/login").text)
        if csrf is None:
            print("demo check: the UI login form has no CSRF field", file=sys.stderr)
            return 1
        page = http.post("/ui/login", data={"username": OFFICER, "password": password, "csrf": csrf.group(1)})
        if page.status_code != 200 or "/ui/login" in str(page.url):
            print(f"demo check: the UI login failed ({page.status_code})", file=sys.stderr)
            return 1
        for path, texts in expected.items():
            html = http.get(path).text
            missing += [f"{path}: {text!r}" for text in texts if text not in html]
    if missing:
        print(f"demo check: the officer UI does not show {missing}", file=sys.stderr)
        return 1
    print(
        f"demo check: the officer UI shows the check-in, voice report, sightings, alert and devices "
        f"({len(expected)} pages)"
    )
    return 0


def _check_sighting(base: str, password: str, timeout: float = 240) -> int:
    """Wait until the edge agent's sighting naming an enrolled subject is visible through the API."""
    with httpx.Client(base_url=base, timeout=10) as http:
        token = http.post("/api/v1/auth/login", json={"username": OFFICER, "password": password}).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = http.get("/api/v1/events", headers=headers, params={"type": "sighting", "limit": 1000}).json()
            named = sorted({e["subject_id"] for e in events if e["device_id"] == EDGE and e["subject_id"]})
            if named:
                print(f"demo check: the edge agent's sightings reached the API, naming {named}")
                return 0
            time.sleep(1)
    print(f"demo check: no sighting naming an enrolled subject within {timeout:.0f} s", file=sys.stderr)
    return 1


def _check_alert(alerts: dict[int, dict[str, object]], timeout: float = 90) -> int:
    """Wait until the wearer's fence-breach alert has opened and closed again (the walk out and back)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [a for a in list(alerts.values()) if a["closed_at"]]
        if done:
            alert = done[0]
            print(
                f"demo check: fence_breach alert {alert['id']} opened at {alert['opened_at']} and closed at "
                f"{alert['closed_at']} ({alert['close_reason']})"
            )
            return 0
        time.sleep(0.5)
    print(f"demo check: no fence alert opened and closed within {timeout:.0f} s: {alerts}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
