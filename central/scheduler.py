"""`corr-central monitor`: the periodic monitoring jobs, in a loop until SIGTERM.

Every round (`[monitor] interval_s`) runs, each in its own transactions and each on its own
(one failing is logged and does not stop the others):

- **lost contact** (脱管): `central.monitoring.tick_page` over every active subject heard from,
  `[monitor] page_size` subjects per transaction, so a province never sits in one transaction;
- **location confirmations** (位置确认): settles pending requests (answered, or missed with a
  `location_unconfirmed` alert), then asks the scheduled ones that are due. Subjects with a
  registered phone (a device of kind `phone` linked to them) under `confirmation_nodes` get
  `confirmations_<level>` requests a day, at moments drawn at random within the daily
  `confirmation_windows` (China time): the windows' total time is cut into as many equal shares as
  requests, and each request falls somewhere in its share. The moments come from an HMAC of the
  subject and the day under a key derived from the audit key, so they are unpredictable to the
  subject yet every monitor computes the same ones. A slot is asked when it is due and not more
  than `LATE_LIMIT` late (a monitor that was down longer skips it), with
  `confirmation_answer_min` minutes to answer;
- **positioning reminders**: an alert of kind `positioning_expiring` for each subject whose
  electronic-positioning period ends within `positioning_reminder_days` days, one per period
  (the episode is the period's last day), closed by the job when the period is renewed or over.

Idempotent across restarts and safe with several monitors at once: alerts are unique per episode
(INSERT … ON CONFLICT DO NOTHING), a scheduled request is unique per (subject, slot), and rows
another transaction holds are skipped on PostgreSQL (`FOR UPDATE SKIP LOCKED`) and seen in the
next round. On SQLite every write transaction is serialised anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from sqlalchemy import false, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from central import confirmations
from central.alerts import apply_decisions
from central.config import MonitorSection
from central.context import Central
from central.db.models import Alert, Device, JurisdictionNode, LocationConfirmation, Subject
from central.errors import Conflict
from central.locations import china_date, day_start
from central.monitoring import MonitorResult, tick_page
from central.rules.base import CloseAlert, Decision, OpenAlert

log = logging.getLogger("central.scheduler")

LATE_LIMIT: Final = timedelta(hours=1)
"""A scheduled confirmation not asked within this long after its moment is skipped."""
REMINDER: Final = "positioning_expiring"
_SCHEDULE_LABEL: Final = b"corr/v1/confirmation-schedule"


# --- when scheduled confirmations are asked (pure) -------------------------------------------


def parse_windows(texts: Sequence[str]) -> list[tuple[int, int]]:
    """["09:00-12:00", …] as sorted, merged (start, end) minutes of the day; ValueError naming a bad one."""
    spans = []
    for text in texts:
        try:
            start, end = (int(h) * 60 + int(m) for h, m in (part.split(":") for part in text.split("-")))
        except ValueError:
            raise ValueError(f"window {text!r}: expected HH:MM-HH:MM") from None
        if not 0 <= start < end <= 24 * 60:
            raise ValueError(f"window {text!r}: expected the start before the end, within one day")
        spans.append((start, end))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def schedule_key(audit_key: bytes) -> bytes:
    """The key the moments are drawn with, derived from the audit key (never used for anything else)."""
    return hmac.new(audit_key, _SCHEDULE_LABEL, hashlib.sha256).digest()


def slot_times(
    key: bytes, subject_id: str, day: date, count: int, windows: Sequence[tuple[int, int]]
) -> list[datetime]:
    """The `count` moments (UTC, whole seconds, ascending) of a subject's scheduled confirmations on a China day.

    Slot i falls in the i-th of `count` equal shares of the windows' total time, at an offset
    drawn from HMAC(key, subject | day | i).
    """
    total = sum(end - start for start, end in windows) * 60  # seconds
    if count <= 0 or total <= 0:
        return []
    share = total / count
    midnight = day_start(day)
    out = []
    for i in range(count):
        digest = hmac.new(key, f"{subject_id}|{day.isoformat()}|{i}".encode(), hashlib.sha256).digest()
        fraction = int.from_bytes(digest[:8], "big") / 2**64
        offset = int(i * share + fraction * share)  # seconds into the windows, < total
        for start, end in windows:
            length = (end - start) * 60
            if offset < length:
                out.append(midnight + timedelta(seconds=start * 60 + offset))
                break
            offset -= length
    return out


def slot_name(day: date, index: int) -> str:
    """The `schedule_slot` of the index-th (from 1) scheduled confirmation of a China day."""
    return f"{day.isoformat()}#{index}"


def per_day(cfg: MonitorSection, level: str) -> int:
    """Scheduled confirmations a day for a supervision level (unknown levels as normal)."""
    return {"strict": cfg.confirmations_strict, "lenient": cfg.confirmations_lenient}.get(
        level, cfg.confirmations_normal
    )


def due_slots(
    key: bytes, subject_id: str, level: str, now: datetime, cfg: MonitorSection, windows: Sequence[tuple[int, int]]
) -> list[tuple[str, datetime]]:
    """(slot name, moment) of the subject's slots whose moment has come and is at most LATE_LIMIT ago."""
    today = china_date(now)
    out = []
    for day in (today - timedelta(days=1), today):  # a slot just before midnight is still due after it
        moments = slot_times(key, subject_id, day, per_day(cfg, level), windows)
        for index, moment in enumerate(moments, start=1):
            if moment <= now < moment + LATE_LIMIT:
                out.append((slot_name(day, index), moment))
    return out


# --- the jobs ----------------------------------------------------------------------------------


@dataclass
class RoundResult:
    """What one round of the monitor did."""

    ticked: int = 0
    lost_contact_opened: int = 0
    answered: int = 0
    missed: int = 0
    asked: int = 0
    reminders_opened: int = 0
    reminders_closed: int = 0
    failed: list[str] = field(default_factory=list)


def lost_contact(sessions: sessionmaker[Session], audit_key: bytes, now: datetime, page_size: int) -> MonitorResult:
    """The lost-contact tick over every page of subjects, one transaction per page."""
    total = MonitorResult()
    after: str | None = None
    while True:
        with sessions.begin() as session:
            page, after = tick_page(session, now=now, audit_key=audit_key, after=after, limit=page_size)
        total.subjects += page.subjects
        total.decisions += page.decisions
        total.applied.opened += page.applied.opened
        if after is None:
            return total


def _scheduled_subjects(session: Session, nodes: Sequence[str], after: str | None, limit: int) -> list[Subject]:
    """Active subjects with an enabled phone, under `nodes` (node codes; empty: all), by id after `after`."""
    q = (
        select(Subject)
        .where(
            Subject.status == "active",
            Subject.id.in_(
                select(Device.subject_id).where(
                    Device.kind == "phone", Device.enabled.is_(True), Device.subject_id.is_not(None)
                )
            ),
        )
        .order_by(Subject.id)
        .limit(limit)
    )
    if nodes:
        paths = session.execute(select(JurisdictionNode.path).where(JurisdictionNode.code.in_(list(nodes)))).scalars()
        q = q.where(_any_prefix(Subject.node_path, list(paths)))
    if after is not None:
        q = q.where(Subject.id > after)
    return list(session.execute(q).scalars())


def _any_prefix(column: Any, paths: list[str]) -> Any:
    if not paths:
        return false()
    return or_(*(column.startswith(path, autoescape=True) for path in paths))


def scheduled_confirmations(
    sessions: sessionmaker[Session], audit_key: bytes, cfg: MonitorSection, now: datetime
) -> tuple[int, confirmations.SweepResult]:
    """Settle pending requests, then ask the scheduled ones that are due; (asked, settled)."""
    with sessions.begin() as session:
        settled = confirmations.sweep(session, audit_key, now=now)
    windows = parse_windows(cfg.confirmation_windows)
    key = schedule_key(audit_key)
    answer = timedelta(minutes=cfg.confirmation_answer_min)
    asked = 0
    after: str | None = None
    while True:
        with sessions.begin() as session:
            page = _scheduled_subjects(session, cfg.confirmation_nodes, after, cfg.page_size)
            due = {s.id: due_slots(key, s.id, s.supervision_level, now, cfg, windows) for s in page}
            wanted = {(sid, name) for sid, slots in due.items() for name, _ in slots}
            if wanted:
                known = set(
                    session.execute(
                        select(LocationConfirmation.subject_id, LocationConfirmation.schedule_slot).where(
                            LocationConfirmation.subject_id.in_(sorted(due)),
                            LocationConfirmation.schedule_slot.in_(sorted({name for _, name in wanted})),
                        )
                    ).all()
                )
                for sid, name in sorted(wanted - known):
                    asked += _ask(session, audit_key, sid, name, now, answer)
        if len(page) < cfg.page_size:
            return asked, settled
        after = page[-1].id


def _ask(session: Session, audit_key: bytes, subject_id: str, slot: str, now: datetime, answer: timedelta) -> int:
    """Ask one scheduled slot in a savepoint; 0 when another monitor asked it or a request is still pending."""
    try:
        with session.begin_nested():
            confirmations.request_confirmation(
                session, audit_key, subject_id, deadline=now + answer, now=now, schedule_slot=slot
            )
    except IntegrityError:
        return 0  # another monitor asked this slot first
    except Conflict as exc:
        log.info("scheduled confirmation %s of %s not asked: %s", slot, subject_id, exc)
        return 0
    return 1


def positioning_reminders(
    sessions: sessionmaker[Session], audit_key: bytes, now: datetime, within_days: int
) -> tuple[int, int]:
    """Open one reminder per positioning period ending within `within_days` days; close those renewed or over."""
    today = china_date(now)
    with sessions.begin() as session:
        decisions: list[Decision] = []
        ending = session.execute(
            select(Subject.id, Subject.positioning_until).where(
                Subject.status == "active",
                Subject.positioning_until >= today,
                Subject.positioning_until <= today + timedelta(days=within_days),
            )
        ).all()
        for subject_id, until in ending:
            if until is None:
                continue
            days = (until - today).days
            decisions.append(
                OpenAlert(
                    subject_id=subject_id,
                    kind=REMINDER,
                    episode_key=f"positioning:{until.isoformat()}",
                    at=now,
                    summary=f"electronic positioning ends on {until.isoformat()} (in {days} days): "
                    "renew it (approval needed) or let it end",
                    evidence=(),
                )
            )
        open_ones = session.execute(
            select(Alert.subject_id, Alert.episode_key, Subject.positioning_until, Subject.status)
            .join(Subject, Subject.id == Alert.subject_id)
            .where(Alert.kind == REMINDER, Alert.closed_at.is_(None))
        ).all()
        for owner, episode, until, status in open_ones:
            if owner is None:
                continue
            period_end = date.fromisoformat(episode.split(":", 1)[1])
            if until != period_end:
                reason = f"renewed until {until.isoformat()}" if until is not None else "positioning withdrawn"
            elif today > period_end:
                reason = f"the period ended on {period_end.isoformat()}"
            elif status != "active":
                reason = f"the subject is {status}"
            else:
                continue
            decisions.append(CloseAlert(owner, REMINDER, episode, now, reason, ()))
        applied = apply_decisions(session, decisions, audit_key=audit_key, now=now)
    return len(applied.opened), len(applied.closed)


# --- the loop ----------------------------------------------------------------------------------


class Monitor:
    """Runs the jobs every `interval_s` until stopped."""

    def __init__(self, central: Central, clock: Callable[[], datetime] | None = None) -> None:
        self.central = central
        self.cfg = central.config.monitor
        self.clock = clock or (lambda: datetime.now(UTC))
        self.rounds = 0

    def run_once(self) -> RoundResult:
        """One round of every job; a failing job is logged and named in `failed`."""
        sessions, key, cfg = self.central.sessions, self.central.audit_key, self.cfg
        result = RoundResult()
        now = self.clock()
        try:
            ticked = lost_contact(sessions, key, now, cfg.page_size)
            result.ticked, result.lost_contact_opened = ticked.subjects, len(ticked.applied.opened)
        except Exception:
            log.exception("lost-contact tick failed; next round tries again")
            result.failed.append("lost_contact")
        try:
            result.asked, settled = scheduled_confirmations(sessions, key, cfg, now)
            result.answered, result.missed = len(settled.answered), len(settled.missed)
        except Exception:
            log.exception("location confirmations failed; next round tries again")
            result.failed.append("confirmations")
        try:
            result.reminders_opened, result.reminders_closed = positioning_reminders(
                sessions, key, now, cfg.positioning_reminder_days
            )
        except Exception:
            log.exception("positioning reminders failed; next round tries again")
            result.failed.append("positioning")
        self.rounds += 1
        return result

    def run(self, stop: threading.Event) -> None:
        """Rounds every `interval_s` seconds until `stop` is set (a round in progress finishes first)."""
        log.info("monitor running every %.0f s", self.cfg.interval_s)
        while not stop.is_set():
            started = time.monotonic()
            r = self.run_once()
            log.info(
                "round %d: %d subjects ticked, %d lost-contact opened; confirmations %d asked, %d answered, "
                "%d missed; positioning reminders %d opened, %d closed%s",
                self.rounds,
                r.ticked,
                r.lost_contact_opened,
                r.asked,
                r.answered,
                r.missed,
                r.reminders_opened,
                r.reminders_closed,
                f"; FAILED: {', '.join(r.failed)}" if r.failed else "",
            )
            stop.wait(max(0.0, self.cfg.interval_s - (time.monotonic() - started)))
