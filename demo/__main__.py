"""Run the whole system on one machine until Ctrl-C.

Mosquitto on a free port (its password file and ACL written by central), central on
SQLite with a seeded jurisdiction tree, officers and subjects, `corr-central serve`,
`corr-central ingest` and `corr-central gt06-gateway` as their own processes, a simulated
kiosk publishing through `uplink`, and a simulated GT06 wristband tracker worn by
S-350205-0001 reporting its walk to the gateway over TCP. It uses the same real servers the tests start (tests/support).

    python -m demo            # run until Ctrl-C
    python -m demo --check    # start, prove events flow to the API, stop (used by tests/e2e)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import signal
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from central.db.migrate import upgrade
from central.devices import add_device, sync_broker
from central.seed import seed
from contracts import Checkin, Fix
from peripherals.tracker.sim import SimTracker, imei_for, run_tracker
from tests.support.central import make_config
from tests.support.mosquitto import Mosquitto
from tests.support.ports import free_port, wait_for_port
from tests.support.processes import CentralProcess, write_config
from uplink import Uplink, UplinkConfig

WORKDIR = Path(os.environ.get("CORR_DEMO_DIR", ".demo"))
OFFICER = "prov.admin"
KIOSK = "kiosk-haicang-01"
WEARER = "S-350205-0001"
TRACKER_IMEI = imei_for(1)


def _kiosk_loop(uplink: Uplink, stop: threading.Event) -> None:
    """A kiosk: one check-in, then a position every few seconds (as if from the subject's phone)."""
    now = datetime.now(UTC)
    uplink.send(
        Checkin(
            event_id=uuid.uuid4(),
            device_id=KIOSK,
            device_time=now,
            subject_id="S-350205-0001",
            methods=["id_card", "face"],
            face_score=0.82,
            result="accepted",
        )
    )
    uplink.send(
        Checkin(
            event_id=uuid.uuid4(),
            device_id=KIOSK,
            device_time=now,
            subject_id=None,
            methods=["id_card"],
            result="refused",
            reason="card holder is not enrolled",
        )
    )
    i = 0
    while not stop.wait(0 if i == 0 else 3):
        uplink.send(
            Fix(
                event_id=uuid.uuid4(),
                device_id=KIOSK,
                device_time=datetime.now(UTC),
                subject_id="S-350205-0001",
                lat=24.4858 + i * 1e-4,
                lon=118.0330,
                accuracy_m=12,
                source="gnss",
                battery_pct=80,
            )
        )
        i += 1


def _tracker_loop(port: int, stop: threading.Event) -> None:
    """A wristband: a short GT06 session (login, three positions, heartbeat) every few seconds."""
    tracker = SimTracker(TRACKER_IMEI, start=datetime.now(UTC), interval=timedelta(seconds=3))
    while not stop.is_set():
        try:
            asyncio.run(run_tracker("127.0.0.1", port, tracker, 3))
        except OSError as exc:
            print(f"demo: tracker could not reach the gateway: {exc}", file=sys.stderr)
        stop.wait(9)


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
    cfg = cfg.model_copy(update={"api": cfg.api.model_copy(update={"port": api_port})})

    print("demo: migrating SQLite and seeding the jurisdiction tree, officers, subjects and devices")
    upgrade(cfg.db_url)
    from central.context import Central

    central = Central.from_config(cfg)
    seeded = seed(central, password, [(KIOSK, "kiosk", "350205001"), ("central-ingest", "central", "35")])
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
    conf = write_config(cfg, WORKDIR / "central.toml")

    procs: list[CentralProcess] = []
    stop = threading.Event()
    uplink: Uplink | None = None
    rc = 0
    try:
        broker.start()
        print(f"demo: Mosquitto on {broker.host}:{broker.port} (log {broker.log_file})")
        gt06_port = free_port()
        gateway_argv = ["gt06-gateway", "--host", "127.0.0.1", "--port", str(gt06_port)]
        for name, argv in (("serve", ["serve"]), ("ingest", ["ingest"]), ("gt06", gateway_argv)):
            p = CentralProcess(conf, *argv, log=WORKDIR / f"{name}.log")
            p.start()
            procs.append(p)
        wait_for_port(api_port, timeout=30)
        uplink = Uplink(
            UplinkConfig(
                device_id=KIOSK,
                host=broker.host,
                port=broker.port,
                password=seeded.device_secrets[KIOSK],
                outbox_path=WORKDIR / "kiosk.outbox",
                versions={"demo": "1"},
            )
        )
        uplink.start()
        threading.Thread(target=_kiosk_loop, args=(uplink, stop), daemon=True).start()
        wait_for_port(gt06_port, timeout=30)
        threading.Thread(target=_tracker_loop, args=(gt06_port, stop), daemon=True).start()
        base = f"http://127.0.0.1:{api_port}"
        print()
        print(f"  API          {base}   (OpenAPI: {base}/docs)")
        print(f"  officer      {OFFICER} / {password}   (also city.officer, haicang.officer, huli.officer, ...)")
        print(
            f"  try          curl -s -X POST {base}/api/v1/auth/login -H 'content-type: application/json' "
            f'-d \'{{"username":"{OFFICER}","password":"{password}"}}\''
        )
        print(f"  tracker      GT06 gateway on 127.0.0.1:{gt06_port}, wristband {TRACKER_IMEI} worn by {WEARER}")
        print(f"  logs         {WORKDIR}/serve.log {WORKDIR}/ingest.log {WORKDIR}/gt06.log")
        print()
        if args.check:
            rc = _check(base, password)
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
            except KeyboardInterrupt:
                pass
    finally:
        print("demo: stopping")
        stop.set()
        if uplink is not None:
            uplink.stop(drain_timeout=2)
        for p in reversed(procs):
            p.stop()
        broker.stop()
    return rc


def _check(base: str, password: str) -> int:
    """Log in as an officer and wait until the kiosk's check-in and a position are visible."""
    with httpx.Client(base_url=base, timeout=10) as http:
        token = http.post("/api/v1/auth/login", json={"username": OFFICER, "password": password}).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            events = http.get("/api/v1/events", headers=headers, params={"limit": 1000}).json()
            types = {e["type"] for e in events}
            from_tracker = any(e["device_id"] == TRACKER_IMEI and e["subject_id"] == WEARER for e in events)
            if {"checkin", "fix", "status"} <= types and from_tracker:
                devices = http.get("/api/v1/devices", headers=headers).json()
                online = [d["id"] for d in devices if d["online"]]
                print(
                    f"demo check: events {sorted(types)} reached the API, the wristband's positions too; "
                    f"devices online: {online}"
                )
                return 0 if KIOSK in online else 1
            time.sleep(0.5)
    print("demo check: events did not reach the API within 60 s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
