"""`corr-central monitor`: paged lost-contact tick, scheduled confirmations, positioning reminders, on both databases.

Each job is run twice, and by two monitors at once, to show it is idempotent and safe to run twice.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, update

from central.context import Central
from central.db.models import Alert, LocationConfirmation, Subject
from central.devices import add_device
from central.ingest.store import Incoming, store_batch
from central.locations import china_date
from central.scheduler import LATE_LIMIT, Monitor, RoundResult, parse_windows, schedule_key, slot_times
from central.seed import SUBJECTS
from contracts import Fix, encode, topic_for
from tests.integration.central.conftest import Env
from tests.support.processes import CentralProcess, write_config

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 China time


def monitor(env: Env, clock: datetime, **settings: object) -> Monitor:
    """A monitor on the test's central with its clock fixed and some [monitor] settings changed."""
    config = env.central.config.model_copy(update={"monitor": env.central.config.monitor.model_copy(update=settings)})
    return Monitor(dataclasses.replace(env.central, config=config), clock=lambda: clock)


def both_at_once(first: Monitor, second: Monitor) -> tuple[RoundResult, RoundResult]:
    """One round of two monitors started together (two processes' worth of transactions at the same time)."""
    results: dict[int, RoundResult] = {}
    start = threading.Barrier(2)

    def run(index: int, m: Monitor) -> None:
        start.wait()
        results[index] = m.run_once()

    threads = [threading.Thread(target=run, args=(i, m)) for i, m in enumerate((first, second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results[0], results[1]


def count(central: Central, model: type, *where: object) -> int:
    """Rows of a table matching `where`."""
    with central.sessions() as s:
        return int(s.execute(select(func.count()).select_from(model).where(*where)).scalar_one())  # type: ignore[arg-type]


def heard_from(env: Env, subject_ids: list[str], at: datetime) -> None:
    """One fix of each subject at `at`: a reference point for the lost-contact rule."""
    messages = [
        Fix(
            event_id=uuid.uuid4(),
            device_id="phone-x",
            device_time=at,
            subject_id=sid,
            lat=24.49,
            lon=118.01,
            accuracy_m=10,
            source="gnss",
        )
        for sid in subject_ids
    ]
    with env.central.sessions.begin() as s:
        store_batch(s, [Incoming(topic_for(m), encode(m)) for m in messages], now=at, audit_key=env.central.audit_key)


def test_lost_contact_pages_through_every_subject_once(env: Env) -> None:
    """Five silent subjects, two per transaction: five alerts; again, and two monitors at once: still five."""
    everyone = [sid for sid, *_ in SUBJECTS]
    heard_from(env, everyone, T0)
    quiet = monitor(env, T0 + timedelta(hours=1), page_size=2).run_once()
    assert (quiet.ticked, quiet.lost_contact_opened, quiet.failed) == (5, 0, [])
    late = T0 + timedelta(hours=25)
    first = monitor(env, late, page_size=2).run_once()
    assert (first.ticked, first.lost_contact_opened) == (5, 5)
    a, b = both_at_once(monitor(env, late, page_size=2), monitor(env, late, page_size=2))
    assert a.lost_contact_opened + b.lost_contact_opened == 0
    assert count(env.central, Alert, Alert.kind == "lost_contact") == 5


def with_phones(env: Env) -> None:
    """S-350205-0001 (normal: 1 a day) and S-350205-0002 (strict: 2 a day) have the phone app."""
    with env.central.sessions.begin() as s:
        for i, sid in enumerate(("S-350205-0001", "S-350205-0002"), start=1):
            add_device(
                s, env.central.audit_key, device_id=f"phone-{i}", kind="phone", node_code="350205001", subject_id=sid
            )


def test_scheduled_confirmations_are_asked_once_per_slot_and_missed_ones_alert(env: Env) -> None:
    """Each due slot is asked once (twice the job, two monitors at once); unanswered, it becomes an alert."""
    with_phones(env)
    key, windows = schedule_key(env.central.audit_key), parse_windows(env.central.config.monitor.confirmation_windows)
    day = china_date(T0)
    [normal] = slot_times(key, "S-350205-0001", day, 1, windows)
    strict = slot_times(key, "S-350205-0002", day, 2, windows)
    before = min(normal, strict[0]) - timedelta(seconds=1)
    assert monitor(env, before).run_once().asked == 0

    moment = strict[0] + timedelta(seconds=5)
    due = 1 + (normal <= moment < normal + LATE_LIMIT)
    a, b = both_at_once(monitor(env, moment), monitor(env, moment))
    assert a.asked + b.asked == due and not a.failed and not b.failed
    assert monitor(env, moment + timedelta(seconds=30)).run_once().asked == 0
    assert count(env.central, LocationConfirmation) == due
    with env.central.sessions() as s:
        asked = s.execute(
            select(LocationConfirmation).where(LocationConfirmation.subject_id == "S-350205-0002")
        ).scalar_one()
    assert (asked.requested_by, asked.schedule_slot) == ("schedule", f"{day.isoformat()}#1")
    assert asked.deadline == moment + timedelta(minutes=30)

    settle = asked.deadline + timedelta(minutes=11)
    later = monitor(env, settle).run_once()
    assert later.missed >= 1
    with env.central.sessions() as s:
        missed = s.execute(select(LocationConfirmation).where(LocationConfirmation.id == asked.id)).scalar_one()
        alert = s.get(Alert, missed.alert_id)
    assert missed.state == "missed" and alert is not None and alert.kind == "location_unconfirmed"
    # Nobody without a phone, and nobody outside the configured nodes, is asked.
    assert (
        count(
            env.central,
            LocationConfirmation,
            LocationConfirmation.subject_id.not_in(["S-350205-0001", "S-350205-0002"]),
        )
        == 0
    )
    elsewhere = monitor(env, strict[1] + timedelta(seconds=1), confirmation_nodes=["350206"]).run_once()
    assert elsewhere.asked == 0


def test_positioning_reminder_once_per_period_closed_when_renewed(env: Env) -> None:
    """A period ending within 7 days opens one reminder; renewed, the reminder closes; the new end gets its own."""
    today = china_date(T0)
    with env.central.sessions.begin() as s:
        s.execute(
            update(Subject)
            .where(Subject.id == "S-350205-0001")
            .values(positioning_from=today - timedelta(days=80), positioning_until=today + timedelta(days=3))
        )
    first = monitor(env, T0).run_once()
    assert (first.reminders_opened, first.reminders_closed) == (1, 0)
    a, b = both_at_once(monitor(env, T0 + timedelta(hours=1)), monitor(env, T0 + timedelta(hours=1)))
    assert a.reminders_opened + b.reminders_opened == 0
    with env.central.sessions() as s:
        [reminder] = s.execute(select(Alert).where(Alert.kind == "positioning_expiring")).scalars().all()
    assert reminder.episode_key == f"positioning:{(today + timedelta(days=3)).isoformat()}"
    assert "in 3 days" in reminder.summary and "24." not in reminder.summary  # a date, never a place

    renewed = today + timedelta(days=60)
    with env.central.sessions.begin() as s:
        s.execute(update(Subject).where(Subject.id == "S-350205-0001").values(positioning_until=renewed))
    after = monitor(env, T0 + timedelta(days=1)).run_once()
    assert (after.reminders_opened, after.reminders_closed) == (0, 1)
    with env.central.sessions() as s:
        closed = s.get(Alert, reminder.id)
    assert closed is not None and closed.close_reason == f"renewed until {renewed.isoformat()}"
    ending = monitor(env, datetime.combine(renewed - timedelta(days=2), datetime.min.time(), UTC)).run_once()
    assert ending.reminders_opened == 1
    ended = monitor(env, datetime.combine(renewed + timedelta(days=2), datetime.min.time(), UTC)).run_once()
    assert ended.reminders_closed == 1


def test_monitor_process_runs_rounds_until_sigterm(env: Env, tmp_path: Path) -> None:
    """`corr-central monitor` loops every interval_s and stops cleanly on SIGTERM."""
    config = env.central.config.model_copy(
        update={"monitor": env.central.config.monitor.model_copy(update={"interval_s": 0.2})}
    )
    proc = CentralProcess(write_config(config, tmp_path / "central.toml"), "monitor", log=tmp_path / "monitor.log")
    proc.start()
    try:
        deadline = time.monotonic() + 60
        while len(re.findall(r"round \d+:", proc.output())) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(re.findall(r"round \d+:", proc.output())) >= 3, proc.output()
    finally:
        code = proc.stop()
    assert code == 0, proc.output()
    assert "FAILED" not in proc.output() and "monitor stopped after" in proc.output()


def test_monitor_once(env: Env, tmp_path: Path) -> None:
    """`corr-central monitor --once` runs one round and says what it did."""
    proc = CentralProcess(
        write_config(env.central.config, tmp_path / "central.toml"), "monitor", "--once", log=tmp_path / "once.log"
    )
    proc.start()
    assert proc.proc is not None and proc.proc.wait(60) == 0, proc.output()
    assert "monitor: 0 subjects ticked" in proc.output()
