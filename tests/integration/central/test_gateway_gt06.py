"""GT06 gateway: simulated trackers over real TCP, events through the ingest path into SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, get_args

import pytest
from sqlalchemy import func, insert, select, update

from central.context import Central
from central.db.models import DeadLetter, Device, Event, Fix
from central.devices import add_device
from central.gateways.gt06 import DEVICE_ALARMS, Gt06Gateway, Tracker, event_id, events_for
from central.nodes import add_node, get_node
from central.seed import NODES, SUBJECTS, id_number_for
from central.subjects import register_subject
from contracts.messages import AlarmKind
from peripherals.tracker import gt06
from peripherals.tracker.gt06 import Alarm, CellTowers, GpsFix, Location, Terminal
from peripherals.tracker.sim import (
    SimTracker,
    TrackerLink,
    ask_time,
    fleet,
    garbage,
    imei_for,
    run_tracker,
)
from tests.support.central import migrated_central

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SUBJECT = "S-350205-0001"
SUBJECT_PATH = "/35/3502/350205/350205001/"
TRACKER = imei_for(1)
LOOSE = imei_for(2)  # registered, worn by nobody


@pytest.fixture
def central(db_url: str) -> Iterator[Central]:
    """A migrated, seeded central with one tracker worn by SUBJECT and one worn by nobody."""
    central = migrated_central(db_url)
    with central.sessions.begin() as s:
        # The seed's tree and first subject; its officers are left out (hashing their passwords is slow).
        for code, name, level, parent in NODES:
            add_node(s, code, name, level, parent)
        sid, name, node, category, level = SUBJECTS[0]
        register_subject(
            s,
            central.cipher,
            central.hmac_key,
            central.audit_key,
            subject_id=sid,
            name=name,
            id_number=id_number_for(1),
            node_code=node,
            category=category,
            supervision_level=level,
            term_start=date(2026, 1, 1),
            term_end=date(2027, 6, 30),
        )
        add_device(s, central.audit_key, device_id=TRACKER, kind="tracker", node_code="350205001")
        s.execute(update(Device).where(Device.id == TRACKER).values(subject_id=SUBJECT))
    register(central, [LOOSE], node_code="350206")
    yield central
    central.close()


def register(central: Central, imeis: list[str], node_code: str = "350205001", enabled: bool = True) -> None:
    """Trackers straight into the device table (add_device hashes a secret per device: too slow for 1 000)."""
    with central.sessions.begin() as s:
        node = get_node(s, node_code)
        rows = [
            {
                "id": imei,
                "kind": "tracker",
                "node_id": node.id,
                "node_path": node.path,
                "description": "",
                "mqtt_password_hash": "-",
                "token_hash": "-",
                "enabled": enabled,
                "online": False,
                "status": {},
                "created_at": NOW,
            }
            for imei in imeis
        ]
        s.execute(insert(Device), rows)


def with_gateway(central: Central, scenario: Callable[[Gt06Gateway], Awaitable[Any]]) -> Any:
    """Run `scenario` against a gateway on a free loopback port, then close the gateway."""

    async def main() -> Any:
        gateway = Gt06Gateway(
            central.sessions, host="127.0.0.1", port=0, clock=lambda: NOW, audit_key=central.audit_key
        )
        await gateway.start()
        try:
            return await scenario(gateway)
        finally:
            await gateway.close()

    return asyncio.run(main())


def rows(central: Central, model: Any, **where: Any) -> list[Any]:
    """Every row of a table matching the keyword filters."""
    with central.sessions() as s:
        return list(s.execute(select(model).filter_by(**where)).scalars())


def count(central: Central, model: Any) -> int:
    """Rows in a table."""
    with central.sessions() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def sim(imei: str = TRACKER, **kwargs: Any) -> SimTracker:
    """A simulated tracker whose clock is an hour before the gateway's."""
    return SimTracker(imei, start=NOW - timedelta(hours=1), **kwargs)


def test_positions_become_fixes_of_the_subject(central: Central) -> None:
    """Each position is one fix of the tracker's subject, in the subject's jurisdiction, with the device time."""
    tracker = sim()
    run = with_gateway(central, lambda g: run_tracker("127.0.0.1", g.port, tracker, 5))
    assert (run.refused, run.positions, run.acks) == (False, 5, 2)
    fixes = sorted(rows(central, Fix), key=lambda f: f.device_time)
    assert len(fixes) == 5
    assert {(f.subject_id, f.tracker_serial, f.node_path, f.source) for f in fixes} == {
        (SUBJECT, TRACKER, SUBJECT_PATH, "gnss")
    }
    assert [f.device_time for f in fixes] == [tracker.start + i * tracker.interval for i in range(5)]
    assert (fixes[0].lat, fixes[0].lon) == tracker.point(0)
    events = rows(central, Event, type="fix")
    assert {(e.device_id, e.received_at) for e in events} == {(TRACKER, NOW)}


def test_tracker_worn_by_nobody_reports_with_its_serial(central: Central) -> None:
    """A tracker without a subject still reports: fixes carry its IMEI and its own node."""
    with_gateway(central, lambda g: run_tracker("127.0.0.1", g.port, sim(LOOSE), 2))
    fixes = rows(central, Fix)
    assert {(f.subject_id, f.tracker_serial, f.node_path) for f in fixes} == {(None, LOOSE, "/35/3502/350206/")}


def test_alarms_become_device_alarms(central: Central) -> None:
    """Strap removed, SOS and low battery become device_alarm events (SOS as tamper, said so in the detail)."""

    tracker = sim()

    async def scenario(gateway: Gt06Gateway) -> None:
        for alarm in ("removed", "sos", "low_battery", "overspeed"):
            await run_tracker("127.0.0.1", gateway.port, tracker, 1, alarm=alarm)

    with_gateway(central, scenario)
    alarms = [e.payload for e in rows(central, Event, type="device_alarm")]
    by_source = {a["gt06_alarm"]: a for a in alarms}
    assert set(by_source) == {"removed", "sos", "low_battery"}  # overspeed is for the rules, not a device alarm
    assert by_source["removed"]["kind"] == "tamper" and "strap removed" in by_source["removed"]["detail"]
    assert by_source["sos"]["kind"] == "sos" and "SOS button pressed" in by_source["sos"]["detail"]
    assert by_source["low_battery"]["kind"] == "low_battery"
    assert {(a["subject_id"], a["device_id"]) for a in alarms} == {(SUBJECT, TRACKER)}
    assert count(central, Fix) == 4 + 4  # a position per session, and every alarm frame carried a GNSS fix too


def test_unknown_or_disabled_imei_is_refused(central: Central, caplog: pytest.LogCaptureFixture) -> None:
    """A login from an IMEI that is not an enabled tracker gets no ack: the connection is closed and logged."""
    register(central, [imei_for(3)], enabled=False)
    caplog.set_level(logging.WARNING, logger="central.gateways.gt06")

    async def scenario(gateway: Gt06Gateway) -> tuple[bool, bool, int]:
        unknown = await run_tracker("127.0.0.1", gateway.port, sim(imei_for(99)), 3)
        disabled = await run_tracker("127.0.0.1", gateway.port, sim(imei_for(3)), 3)
        return unknown.refused, disabled.refused, gateway.stats.refused

    assert with_gateway(central, scenario) == (True, True, 2)
    assert f"login refused: IMEI {imei_for(99)} is not a registered, enabled tracker" in caplog.text
    assert count(central, Event) == 0


def test_frames_before_login_close_the_connection(central: Central) -> None:
    """A position sent without logging in first is not stored; the gateway hangs up."""

    async def scenario(gateway: Gt06Gateway) -> bool:
        link = await TrackerLink.open("127.0.0.1", gateway.port, timeout=10)
        await link.send(sim().position())
        closed = await link.closed_by_peer()
        await link.close()
        return closed

    assert with_gateway(central, scenario) is True
    assert count(central, Fix) == 0


def test_garbage_and_half_frames_do_not_stop_the_gateway(central: Central) -> None:
    """Noise before the login, a hang-up mid-frame and a client sending only garbage leave the gateway serving."""

    async def scenario(gateway: Gt06Gateway) -> None:
        noisy = await run_tracker("127.0.0.1", gateway.port, sim(), 3, noise=garbage(300, seed=1), cut_mid_frame=True)
        assert (noisy.refused, noisy.positions) == (False, 3)
        link = await TrackerLink.open("127.0.0.1", gateway.port, timeout=10)
        await link.send(garbage(2000, seed=2) + b"\x78\x78\x0d\x01\x08")  # ends inside a login
        await link.close()
        clean = await run_tracker("127.0.0.1", gateway.port, sim(LOOSE), 2)
        assert clean.positions == 2
        while gateway.stats.active:
            await asyncio.sleep(0.01)
        assert gateway.stats.garbage_bytes >= 300 and gateway.stats.cut_mid_frame == 2

    with_gateway(central, scenario)
    assert count(central, Fix) == 5


def test_resent_frames_are_stored_once(central: Central) -> None:
    """A tracker that sends the same frames again (same serials and times) adds nothing: event ids repeat."""

    async def scenario(gateway: Gt06Gateway) -> None:
        for _ in range(2):
            await run_tracker("127.0.0.1", gateway.port, sim(), 4, alarm="removed")

    with_gateway(central, scenario)
    assert count(central, Fix) == 5
    assert count(central, Event) == 6
    assert count(central, DeadLetter) == 0


def test_time_request_gets_the_gateway_clock(central: Central) -> None:
    """The answer to a time request is the gateway's UTC time."""
    answered = with_gateway(central, lambda g: ask_time("127.0.0.1", g.port, sim()))
    assert answered == NOW


@pytest.mark.timeout(180)
def test_a_thousand_trackers_at_once(central: Central) -> None:
    """1 000 trackers connect at the same time, each logs in and sends 2 positions: 2 000 fixes, no failure."""
    imeis = [imei_for(10_000 + i) for i in range(1000)]
    register(central, imeis)

    async def scenario(gateway: Gt06Gateway) -> Any:
        report = await fleet("127.0.0.1", gateway.port, imeis, 2, start=NOW - timedelta(hours=1), timeout=120)
        return report, gateway.stats.connections, gateway.stats.logins

    report, connections, logins = with_gateway(central, scenario)
    assert report.errors == []
    assert (report.completed, report.refused, report.positions) == (1000, 0, 2000)
    assert (connections, logins) == (1000, 1000)
    assert count(central, Fix) == 2000


# --- the mapping from GT06 messages to contract events (no database) -----------------------------

WORN = Tracker(TRACKER, TRACKER, SUBJECT)
FIXED = GpsFix(NOW - timedelta(minutes=5), 24.5158, 117.99, 4, 90, 8, True)


def test_event_ids_repeat_for_the_same_frame_only() -> None:
    """The event id depends on IMEI, serial, device time and event type, nothing else."""
    first = event_id(TRACKER, 7, FIXED.time, "fix")
    assert first == event_id(TRACKER, 7, FIXED.time, "fix")
    others = {
        event_id(LOOSE, 7, FIXED.time, "fix"),
        event_id(TRACKER, 8, FIXED.time, "fix"),
        event_id(TRACKER, 7, FIXED.time + timedelta(seconds=1), "fix"),
        event_id(TRACKER, 7, FIXED.time, "device_alarm"),
        event_id(TRACKER, 7, None, "fix"),
    }
    assert first not in others and len(others) == 5


def test_positions_without_a_gnss_fix_or_with_cells_only_make_no_event() -> None:
    """A position the tracker repeats without a fix, and a cell report, are not fixes."""
    stale = Location(1, GpsFix(FIXED.time, 24.5, 118.0, 0, 0, 0, False))
    cells = CellTowers(2, FIXED.time, (gt06.Cell(460, 0, 1, 2, 30),))
    assert events_for(WORN, stale, NOW) == events_for(WORN, cells, NOW) == []


def test_fix_event_carries_the_contract_fields() -> None:
    """A fix event names device, subject and serial, with a nominal GNSS accuracy and the heading."""
    [event] = events_for(WORN, Location(3, FIXED), NOW)
    payload = json.loads(event.payload)
    assert event.topic == f"corr/v1/dev/{TRACKER}/fix"
    assert payload["device_time"] == "2026-11-23T08:55:00Z"
    assert (payload["subject_id"], payload["tracker_serial"], payload["source"]) == (SUBJECT, TRACKER, "gnss")
    assert (payload["lat"], payload["lon"], payload["speed_kmh"], payload["heading_deg"]) == (24.5158, 117.99, 4, 90)
    assert payload["accuracy_m"] > 0


def test_alarm_without_a_usable_clock_is_stamped_when_received() -> None:
    """An alarm whose device clock is unusable is still reported, at the time received, and says why."""
    alarm = Alarm(4, None, None, Terminal(0x38), 2, 3, 0, 2, problem="alarm (0x16): device time … is not real")
    [event] = events_for(WORN, alarm, NOW)
    payload = json.loads(event.payload)
    assert (payload["type"], payload["kind"]) == ("device_alarm", "tamper")
    assert payload["device_time"] == "2026-11-23T09:00:00Z"
    assert "device clock unusable" in payload["detail"] and "status bits 00111000" in payload["detail"]


def test_every_mapped_alarm_is_a_contract_kind() -> None:
    """The alarm table only names kinds contract v1 knows."""
    assert {kind for kind, _ in DEVICE_ALARMS.values()} <= set(get_args(AlarmKind))


def test_a_tracker_is_online_while_connected_and_offline_after(central: Central) -> None:
    """Trackers send no MQTT status: the gateway marks the device online at login and offline when it hangs up."""
    assert [(d.online, d.last_seen) for d in rows(central, Device, id=TRACKER)] == [(False, None)]

    async def scenario(gateway: Gt06Gateway) -> tuple[bool, datetime | None]:
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        tracker = sim()
        writer.write(tracker.login())
        await writer.drain()
        await reader.read(64)  # the login acknowledgement
        [device] = rows(central, Device, id=TRACKER)
        state = (device.online, device.last_seen)
        writer.close()
        await writer.wait_closed()
        for _ in range(200):
            if not rows(central, Device, id=TRACKER)[0].online:
                break
            await asyncio.sleep(0.02)
        return state

    online, seen = with_gateway(central, scenario)
    assert (online, seen) == (True, NOW)
    [device] = rows(central, Device, id=TRACKER)
    assert (device.online, device.last_seen) == (False, NOW)
