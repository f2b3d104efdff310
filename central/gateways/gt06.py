"""GT06 tracker gateway: an asyncio TCP server turning tracker frames into contract events on the ingest path.

Per connection: FrameSplitter → decode → login (IMEI → device → subject; an unknown IMEI is
refused and the connection closed) → positions become `fix` events and alarms `device_alarm`
events, stored by `central.ingest.store.store_batch` (validation, dead letters, storage once per
`event_id`) → the reply the tracker expects, sent after the commit.

A tracker is a device of kind ``tracker`` whose id is its IMEI; `device.subject_id` names the
subject wearing it (a tracker without one still reports, with `tracker_serial` only). Trackers
send no MQTT `status`, so the gateway keeps their row's `online` and `last_seen` itself: online from
login (last_seen refreshed at most every SEEN_EVERY while it reports), offline when its last
connection closes, including when the gateway stops.

All database work goes through one writer task that batches the work of every connection into
one transaction and runs it in a worker thread, so the event loop never blocks on the database.
The frames of one read from a connection are stored together, then answered, before the next read.

``python -m central.gateways.gt06 [-c central.toml] [--port 5023]`` runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from central.db.models import Device
from central.ingest.store import Incoming, store_batch
from contracts import dev_topic
from contracts.messages import format_timestamp
from peripherals.errors import ProtocolError
from peripherals.tracker.gt06 import (
    LOGIN,
    ZERO,
    Alarm,
    FrameSplitter,
    GpsFix,
    Gt06Message,
    Location,
    Login,
    Unsupported,
    ack,
    decode,
    parse_offset,
    reply_for,
)

log = logging.getLogger("central.gateways.gt06")

# Event ids are uuid5 in this namespace of "gt06/<imei>/<serial>/<device time>/<event type>", so a
# frame the tracker sends again (after a lost connection) is stored once.
EVENT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:corr:gateway:gt06")
# GT06 sends no HDOP; the contract needs an accuracy, so a fixed GNSS figure stands in for it.
NOMINAL_ACCURACY_M = 15.0
# GT06 alarm names (peripherals.tracker.gt06.ALARM_CODES / TERMINAL_ALARMS) → contract alarm kind and
# detail. Fences, speed and vibration are not device alarms:
# central's rules judge positions themselves.
DEVICE_ALARMS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "tamper": ("tamper", "tracker opened or taken apart"),
        "removed": ("tamper", "strap removed"),
        "sos": ("sos", "SOS button pressed"),
        "low_battery": ("low_battery", "battery low"),
        "power_cut": ("power_off", "external power cut, running on its battery"),
        "power_off": ("power_off", "tracker switched off"),
    }
)
MAX_GARBAGE = 16 * 1024  # bytes skipped since the last good frame before the connection is dropped
CLOSE_WAIT_S = 10.0  # how long `close` waits for connections to finish the frame in hand
SEEN_EVERY = timedelta(seconds=30)  # a connected tracker's last_seen is written at most this often

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Tracker:
    """A registered, enabled tracker: its device id, IMEI and the subject wearing it (or None)."""

    device_id: str
    imei: str
    subject_id: str | None


@dataclass
class GatewayStats:
    """Counters for tests, benchmarks and the log."""

    connections: int = 0
    active: int = 0
    logins: int = 0
    refused: int = 0
    frames: int = 0
    bad_frames: int = 0
    unsupported: int = 0
    fixes: int = 0
    alarms: int = 0
    dead_letters: int = 0
    garbage_bytes: int = 0
    cut_mid_frame: int = 0


def event_id(imei: str, serial: int, moment: datetime | None, event_type: str) -> str:
    """The idempotent event id of one event of one frame (`moment` None: the device clock was not usable)."""
    when = "no-time" if moment is None else moment.astimezone(UTC).isoformat()
    return str(uuid.uuid5(EVENT_NAMESPACE, f"gt06/{imei}/{serial}/{when}/{event_type}"))


def events_for(tracker: Tracker, message: Gt06Message, received: datetime) -> list[Incoming]:
    """The contract events a decoded message makes: a `fix` per GNSS-fixed position, a `device_alarm` per alarm.

    Positions without a GNSS fix (the tracker repeating its last one) and cell-only reports (no
    cell database here) make no event. An alarm whose device clock is unusable is stamped with
    the time it was received.
    """
    events: list[Incoming] = []
    if isinstance(message, Location) and message.fix.gps_fixed:
        events.append(_fix_event(tracker, message.serial, message.fix, None))
    elif isinstance(message, Alarm):
        if message.fix is not None and message.fix.gps_fixed:
            events.append(_fix_event(tracker, message.serial, message.fix, message.battery_pct))
        alarm = _alarm_event(tracker, message, received)
        if alarm is not None:
            events.append(alarm)
    return events


def _fix_event(tracker: Tracker, serial: int, fix: GpsFix, battery_pct: float | None) -> Incoming:
    payload: dict[str, Any] = {
        "v": 1,
        "type": "fix",
        "event_id": event_id(tracker.imei, serial, fix.time, "fix"),
        "device_id": tracker.device_id,
        "device_time": format_timestamp(fix.time),
        "subject_id": tracker.subject_id,
        "tracker_serial": tracker.imei,
        "lat": fix.lat,
        "lon": fix.lon,
        "accuracy_m": NOMINAL_ACCURACY_M,
        "source": "gnss",
        "speed_kmh": float(fix.speed_kmh),
        "heading_deg": float(fix.course_deg) if fix.course_deg < 360 else None,
        "battery_pct": battery_pct,
        "satellites": fix.satellites,
    }
    return Incoming(dev_topic(tracker.device_id, "fix"), json.dumps(payload).encode())


def _alarm_event(tracker: Tracker, message: Alarm, received: datetime) -> Incoming | None:
    name = message.alarm
    if name is None or name not in DEVICE_ALARMS:
        return None
    kind, words = DEVICE_ALARMS[name]
    if message.alarm_code:
        code = f"alarm byte 0x{message.alarm_code:02X}"
    else:
        code = f"status bits {message.terminal.bits:08b}"
    detail = f"{name}: {words} (GT06 {code})"
    if message.time is None:
        detail += f"; device clock unusable ({message.problem}), stamped with the time received"
    payload: dict[str, Any] = {
        "v": 1,
        "type": "device_alarm",
        "event_id": event_id(tracker.imei, message.serial, message.time, "device_alarm"),
        "device_id": tracker.device_id,
        "device_time": format_timestamp(message.time or received),
        "kind": kind,
        "detail": detail,
        "subject_id": tracker.subject_id,
        "tracker_serial": tracker.imei,
        "gt06_alarm": name,
    }
    if message.fix is not None:
        payload.update(lat=message.fix.lat, lon=message.fix.lon)
    return Incoming(dev_topic(tracker.device_id, "alarm"), json.dumps(payload).encode())


def find_trackers(session: Session, imeis: Sequence[str]) -> dict[str, Tracker]:
    """The registered, enabled trackers among `imeis` (device kind ``tracker``, device id = IMEI)."""
    rows = session.execute(
        select(Device.id, Device.subject_id).where(
            Device.id.in_(list(imeis)), Device.kind == "tracker", Device.enabled.is_(True)
        )
    )
    return {row.id: Tracker(row.id, row.id, row.subject_id) for row in rows}


@dataclass
class _Job:
    imei: str | None
    events: list[Incoming]
    done: asyncio.Future[Tracker | None]
    presence: tuple[tuple[str, bool], ...] = ()
    """(device id, online) to write to the device's row, with last_seen = now."""


class _Writer:
    """One task doing the database work of every connection, a batch per transaction, in a worker thread."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        stats: GatewayStats,
        batch_max: int,
        clock: Clock,
        audit_key: bytes,
    ) -> None:
        self._sessions = sessions
        self._audit_key = audit_key
        self._stats = stats
        self._batch_max = batch_max
        self._clock = clock
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()

    async def lookup(self, imei: str) -> Tracker | None:
        """The tracker with this IMEI, or None when it is not registered (or disabled)."""
        return await self._submit(_Job(imei, [], asyncio.get_running_loop().create_future()))

    async def store(self, events: list[Incoming], seen: str | None = None) -> None:
        """Store events on the ingest path (and mark tracker `seen` online now); returns after the commit."""
        presence = ((seen, True),) if seen is not None else ()
        await self._submit(_Job(None, events, asyncio.get_running_loop().create_future(), presence))

    async def mark(self, device_id: str, online: bool) -> None:
        """Write a tracker's online state and last_seen (the devices page, the dashboard's offline list)."""
        await self._submit(_Job(None, [], asyncio.get_running_loop().create_future(), ((device_id, online),)))

    async def _submit(self, job: _Job) -> Tracker | None:
        await self._queue.put(job)
        return await job.done

    async def run(self) -> None:
        """Take jobs until cancelled; each batch is one transaction."""
        while True:
            # Whatever the connections queued while the last transaction ran goes into this one.
            jobs = [await self._queue.get()]
            while len(jobs) < self._batch_max and not self._queue.empty():
                jobs.append(self._queue.get_nowait())
            try:
                found = await asyncio.to_thread(self._commit, jobs)
            except Exception as exc:  # the database failed: every waiting connection hears why
                log.error("database write of %d jobs failed: %s", len(jobs), exc)
                for job in jobs:
                    if not job.done.done():
                        job.done.set_exception(exc)
                continue
            for job in jobs:
                if not job.done.done():
                    job.done.set_result(found.get(job.imei) if job.imei is not None else None)

    def _commit(self, jobs: list[_Job]) -> dict[str, Tracker]:
        imeis = sorted({job.imei for job in jobs if job.imei is not None})
        events = [event for job in jobs for event in job.events]
        with self._sessions.begin() as session:
            found = find_trackers(session, imeis) if imeis else {}
            if events:
                result = store_batch(session, events, self._clock(), audit_key=self._audit_key)
                self._stats.dead_letters += len(result.dead)
                for reason in result.dead:
                    log.warning("event dead-lettered: %s", reason)
            presence = {device_id: online for job in jobs for device_id, online in job.presence}  # the last wins
            now = self._clock()
            for device_id, online in sorted(presence.items()):
                session.execute(update(Device).where(Device.id == device_id).values(online=online, last_seen=now))
        return found


@dataclass
class _Connection:
    peer: str
    tracker: Tracker | None = None
    seen_at: datetime | None = None  # when this connection last wrote the tracker's last_seen
    utc_offset: timedelta = ZERO
    garbage_seen: int = 0
    bad_frames: int = 0
    unsupported_seen: set[int] = field(default_factory=set)

    def __str__(self) -> str:
        return f"{self.peer} ({self.tracker.imei})" if self.tracker else self.peer


class _Close(Exception):
    """End this connection (the reason is logged where it is raised)."""


class Gt06Gateway:
    """The GT06 TCP server: `await start()`, then `port`, `stats`, and `await close()`."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        host: str = "0.0.0.0",  # noqa: S104 - trackers connect from the mobile network
        port: int = 5023,
        utc_offset: timedelta = ZERO,
        login_timeout_s: float = 60.0,
        idle_timeout_s: float = 600.0,
        batch_max: int = 500,
        clock: Clock = _utc_now,
        audit_key: bytes,
    ) -> None:
        """`audit_key`: central's audit key; the monitoring rules run on what is stored and audit their decisions."""
        self.host = host
        self.utc_offset = utc_offset
        self.login_timeout_s = login_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.stats = GatewayStats()
        self._requested_port = port
        self._clock = clock
        self._writer = _Writer(sessions, self.stats, batch_max, clock, audit_key)
        self._server: asyncio.Server | None = None
        self._writer_task: asyncio.Task[None] | None = None
        self._streams: set[asyncio.StreamWriter] = set()
        # Open connections per tracker: a tracker that reconnects before its old connection times out has
        # two for a while; it is offline only when the last one closes.
        self._live: Counter[str] = Counter()

    @property
    def port(self) -> int:
        """The port listened on (useful when started on port 0)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the gateway is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        """Listen and start the database writer."""
        self._writer_task = asyncio.create_task(self._writer.run(), name="gt06-writer")
        self._server = await asyncio.start_server(self._serve, self.host, self._requested_port, backlog=4096)
        log.info("GT06 gateway listening on %s:%d", self.host, self.port)

    async def close(self) -> None:
        """Stop listening, hang up on every tracker, stop the writer."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for stream in list(self._streams):
            stream.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CLOSE_WAIT_S
        while self.stats.active and loop.time() < deadline:
            await asyncio.sleep(0.01)
        if self._writer_task is not None:
            self._writer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer_task

    async def _serve(self, reader: asyncio.StreamReader, stream: asyncio.StreamWriter) -> None:
        peer = stream.get_extra_info("peername")
        conn = _Connection(f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer))
        self._streams.add(stream)
        self.stats.connections += 1
        self.stats.active += 1
        try:
            await self._converse(conn, reader, stream)
        except _Close:
            pass
        except TimeoutError:
            log.info("%s: silent for too long, closing", conn)
        except ConnectionError as exc:
            log.info("%s: connection lost: %s", conn, exc)
        except Exception:  # one broken connection must never take the gateway down
            log.exception("%s: unexpected error, closing", conn)
        finally:
            if conn.tracker is not None:
                await self._went(conn.tracker.device_id)
            self.stats.active -= 1
            self._streams.discard(stream)
            stream.close()
            with contextlib.suppress(ConnectionError, OSError):
                await stream.wait_closed()

    async def _converse(self, conn: _Connection, reader: asyncio.StreamReader, stream: asyncio.StreamWriter) -> None:
        splitter = FrameSplitter()
        while True:
            timeout = self.idle_timeout_s if conn.tracker else self.login_timeout_s
            data = await asyncio.wait_for(reader.read(4096), timeout)
            if not data:
                if splitter.pending:
                    self.stats.cut_mid_frame += 1
                    log.info("%s: hung up in the middle of a frame (%d bytes dropped)", conn, splitter.pending)
                return
            before = splitter.discarded
            frames = splitter.feed(data)
            skipped = splitter.discarded - before
            if skipped:
                self.stats.garbage_bytes += skipped
                conn.garbage_seen += skipped
                level = logging.WARNING if conn.garbage_seen == skipped else logging.DEBUG
                log.log(level, "%s: skipped %d bytes that are not GT06 frames", conn, skipped)
                if conn.garbage_seen > MAX_GARBAGE:
                    log.warning("%s: more than %d bytes of garbage, closing", conn, MAX_GARBAGE)
                    return
            await self._frames(conn, frames, stream)

    async def _frames(self, conn: _Connection, frames: list[bytes], stream: asyncio.StreamWriter) -> None:
        """The frames of one read: their events stored together, then their replies sent, in order."""
        events: list[Incoming] = []
        replies: list[bytes] = []
        for frame in frames:
            self.stats.frames += 1
            now = self._clock()
            try:
                messages = decode(frame, now=now, utc_offset=conn.utc_offset)
            except ProtocolError as exc:
                self.stats.bad_frames += 1
                conn.bad_frames += 1
                # A tracker without a fix may send 0,0 positions all day: say it once per connection.
                level = logging.WARNING if conn.bad_frames == 1 else logging.DEBUG
                log.log(level, "%s: frame %s… dropped: %s", conn, frame[:24].hex(), exc)
                continue
            conn.garbage_seen = 0
            for message in messages:
                if isinstance(message, Login):
                    await self._flush(conn, events, replies, stream)
                    await self._login(conn, message, stream)
                    continue
                if conn.tracker is None:
                    log.warning("%s: %s frame before a login, closing", conn, message.kind)
                    raise _Close
                if isinstance(message, Unsupported):
                    self.stats.unsupported += 1
                    if message.protocol not in conn.unsupported_seen:
                        conn.unsupported_seen.add(message.protocol)
                        log.info("%s: %s (not stored)", conn, message.reason)
                    continue
                events += events_for(conn.tracker, message, now)
                reply = reply_for(message, now)
                if reply is not None:
                    replies.append(reply)
        await self._flush(conn, events, replies, stream)

    async def _flush(
        self, conn: _Connection, events: list[Incoming], replies: list[bytes], stream: asyncio.StreamWriter
    ) -> None:
        """Store the events, and only then send the replies (a tracker may drop what it sees acknowledged)."""
        if events:
            seen = None
            now = self._clock()
            if conn.tracker is not None and (conn.seen_at is None or now - conn.seen_at >= SEEN_EVERY):
                seen, conn.seen_at = conn.tracker.device_id, now
            await self._writer.store(list(events), seen)
            self.stats.fixes += sum(1 for e in events if e.topic.endswith("/fix"))
            self.stats.alarms += sum(1 for e in events if e.topic.endswith("/alarm"))
            events.clear()
        if replies:
            stream.write(b"".join(replies))
            replies.clear()
            await stream.drain()

    async def _went(self, device_id: str) -> None:
        """A connection of this tracker ended: offline once it was the last one (a failed write is only logged)."""
        self._live[device_id] -= 1
        if self._live[device_id] > 0:
            return
        del self._live[device_id]
        try:
            await asyncio.wait_for(self._writer.mark(device_id, False), CLOSE_WAIT_S)
        except Exception as exc:  # the database is down or the gateway is stopping: the next login corrects it
            log.warning("tracker %s: could not mark it offline: %s", device_id, exc)

    async def _login(self, conn: _Connection, message: Login, stream: asyncio.StreamWriter) -> None:
        tracker = await self._writer.lookup(message.imei)
        if tracker is None:
            self.stats.refused += 1
            log.warning("%s: login refused: IMEI %s is not a registered, enabled tracker", conn, message.imei)
            raise _Close
        if conn.tracker is not None and conn.tracker.device_id != tracker.device_id:
            await self._went(conn.tracker.device_id)  # a second login with another IMEI on one connection
        if conn.tracker is None or conn.tracker.device_id != tracker.device_id:
            self._live[tracker.device_id] += 1
        conn.tracker = tracker
        conn.utc_offset = self.utc_offset if message.utc_offset is None else message.utc_offset
        conn.seen_at = self._clock()
        await self._writer.mark(tracker.device_id, True)
        self.stats.logins += 1
        stream.write(ack(LOGIN, message.serial))
        await stream.drain()
        log.debug("%s: logged in, subject %s", conn, tracker.subject_id or "none")


async def serve(
    sessions: sessionmaker[Session],
    host: str,
    port: int,
    utc_offset: timedelta,
    stop: asyncio.Event,
    audit_key: bytes,
) -> None:
    """Run a gateway until `stop` is set; the monitoring rules run on what it stores (`audit_key` for their audit)."""
    gateway = Gt06Gateway(sessions, host=host, port=port, utc_offset=utc_offset, audit_key=audit_key)
    await gateway.start()
    try:
        await stop.wait()
    finally:
        await gateway.close()
        log.info("GT06 gateway stopped: %s", gateway.stats)


def main(argv: list[str] | None = None) -> int:
    """Command line: run the gateway on central's database until SIGINT or SIGTERM."""
    from pathlib import Path

    from central.config import ConfigError, load_config
    from central.context import Central

    parser = argparse.ArgumentParser(prog="python -m central.gateways.gt06", description="GT06 tracker gateway.")
    parser.add_argument("-c", "--config", type=Path, help="central TOML config (default: $CORR_CONFIG)")
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on")  # noqa: S104
    parser.add_argument("--port", type=int, default=5023, help="TCP port (5023 is the usual GT06 port)")
    parser.add_argument(
        "--utc-offset", default="+00:00", help="zone of tracker clocks whose login does not say (default UTC)"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        offset = parse_offset(args.utc_offset)
        central = Central.from_config(load_config(args.config))
    except (ConfigError, ValueError) as exc:
        parser.error(str(exc))

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(central.sessions, args.host, args.port, offset, stop, central.audit_key)

    try:
        asyncio.run(run())
    finally:
        central.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
