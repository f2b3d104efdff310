"""The ingest worker: an MQTT 5 shared subscription, batches committed to the DB, then acknowledged.

Delivery guarantees:
- paho's manual ack: a message is acknowledged only after the transaction holding it has
  committed, so a crash before that makes the broker deliver it again;
- the persistent session (clean_start=False, session expiry) keeps the queue while the
  worker is away;
- `event_id` is the event log's primary key, so redeliveries are stored once;
- after a reconnect, messages read on the old connection are not acknowledged (their
  packet ids may be reused by the broker for other messages); the broker redelivers them.

A batch is decoded before its transaction starts. On SQLite, where one write transaction runs at a
time, the workers of one database file also queue for it on an OS file lock (`<file>.ingest-lock`)
rather than in SQLite's busy handler, which polls with growing sleeps (up to 100 ms) and so leaves
the database idle between one worker's commit and the next one's start. Their connections get a
larger page cache, and they copy the write-ahead log into the database file after acknowledging a
batch, outside their turn, rather than inside the commit that crosses SQLite's 1000-page threshold.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError

from central.context import Central
from central.ingest.store import Incoming, decode_batch, store_decoded
from contracts.topics import INGEST_SHARED_SUBSCRIPTION

log = logging.getLogger("central.ingest")


SQLITE_CACHE_KIB = 65536
"""SQLite page cache of an ingest worker's connections (the default is 2 MiB): every batch touches the
pages of hundreds of subjects' rule states, fences and the event and fix indexes."""
SQLITE_AUTOCHECKPOINT_PAGES = 8000
"""SQLite checkpoints at commit only past this many WAL pages (default 1000, less than one batch writes):
the worker checkpoints after each batch, outside its write turn (`IngestWorker._checkpoint`), so this
only bounds the log when those cannot finish (readers holding old snapshots)."""


@dataclass(frozen=True)
class _Delivery:
    generation: int
    mid: int
    qos: int
    item: Incoming


class IngestWorker:
    """Consume device messages into the database until `stop()` is called."""

    def __init__(self, central: Central) -> None:
        self.central = central
        self.cfg = central.config.mqtt
        self._queue: queue.Queue[_Delivery] = queue.Queue()
        self._stop = threading.Event()
        self._generation = 0
        self._connected = threading.Event()
        self.stored = 0
        self.duplicates = 0
        self.dead = 0
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.cfg.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        self._client.username_pw_set(self.cfg.username, self.cfg.password)
        self._client.reconnect_delay_set(0.2, 10)  # type: ignore[arg-type]  # paho says int; floats work
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._lock_path = _sqlite_lock_path(central)
        if self._lock_path is not None:
            event.listen(central.engine, "connect", _sqlite_tuning)

    # paho callbacks run on paho's network thread: keep them short.
    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        if getattr(reason, "is_failure", False):
            log.error("broker refused the ingest worker: %s", reason)
            return
        self._generation += 1
        client.subscribe(INGEST_SHARED_SUBSCRIPTION, qos=1)
        self._connected.set()
        log.info("connected to %s:%s, subscribed %s", self.cfg.host, self.cfg.port, INGEST_SHARED_SUBSCRIPTION)

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        self._generation += 1
        self._connected.clear()
        log.warning("disconnected from broker (%s); will reconnect", reason)

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        self._queue.put(_Delivery(self._generation, msg.mid, msg.qos, Incoming(msg.topic, bytes(msg.payload))))

    def start(self) -> None:
        """Connect (retrying in the background while the broker is down)."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.cfg.session_expiry_s
        props.ReceiveMaximum = self.central.config.ingest.receive_maximum
        self._client.connect_async(self.cfg.host, self.cfg.port, keepalive=30, clean_start=False, properties=props)
        self._client.loop_start()

    def wait_connected(self, timeout: float) -> bool:
        """True once the worker is connected and subscribed."""
        return self._connected.wait(timeout)

    def stop(self) -> None:
        """Ask `run` to finish the current batch and return."""
        self._stop.set()

    def _next_batch(self) -> list[_Delivery]:
        cfg = self.central.config.ingest
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + cfg.batch_wait_ms / 1000
        while len(batch) < cfg.batch_max:
            remaining = deadline - time.monotonic()
            try:
                batch.append(self._queue.get(timeout=max(remaining, 0)) if remaining > 0 else self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    @contextlib.contextmanager
    def _write_turn(self) -> Iterator[None]:
        """On SQLite, this worker's turn to write (an exclusive lock on the lock file); elsewhere nothing."""
        if self._lock_path is None:
            yield
            return
        try:
            f = self._lock_path.open("a")
        except OSError as exc:  # SQLite's own locking still holds; only the hand-over is slower
            log.warning("cannot open %s (%s); waiting on SQLite's busy handler instead", self._lock_path, exc)
            self._lock_path = None
            yield
            return
        with f:
            fcntl.flock(f, fcntl.LOCK_EX)  # released when the file is closed
            yield

    def _commit(self, batch: list[_Delivery]) -> None:
        decoded = decode_batch([d.item for d in batch])
        backoff = 0.2
        while True:
            try:
                with self._write_turn(), self.central.sessions() as session, session.begin():
                    result = store_decoded(session, decoded, audit_key=self.central.audit_key)
                break
            except SQLAlchemyError as exc:
                # The database is unreachable or busy: keep the batch unacknowledged and try again.
                log.error("could not store a batch of %d (%s); retrying in %.1f s", len(batch), exc, backoff)
                if self._stop.wait(backoff):
                    return
                backoff = min(backoff * 2, 10)
        self.stored += result.stored
        self.duplicates += result.duplicates
        self.dead += len(result.dead)
        for reason in result.dead:
            log.warning("dead-lettered: %s", reason)
        generation = self._generation
        for d in batch:
            if d.generation == generation:
                self._client.ack(d.mid, d.qos)
        if self._lock_path is not None:
            self._checkpoint()

    def _checkpoint(self) -> None:
        """Copy the SQLite write-ahead log into the database file, after the batch is acknowledged.

        Outside the write turn: another worker writes meanwhile. A PASSIVE checkpoint copies what no
        reader still needs and leaves the rest for the next one.
        """
        try:
            raw = self.central.engine.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
                cursor.fetchall()
                cursor.close()
            finally:
                raw.close()
        except Exception as exc:  # a skipped checkpoint is done by the next one, or by SQLite at commit
            log.warning("WAL checkpoint failed: %s", exc)

    def run(self) -> None:
        """Main loop: batch, store, commit, acknowledge."""
        self.start()
        try:
            while not self._stop.is_set():
                batch = self._next_batch()
                if batch:
                    self._commit(batch)
        finally:
            self._client.disconnect()
            self._client.loop_stop()


def _sqlite_lock_path(central: Central) -> Path | None:
    """The lock file the ingest workers of a SQLite database file take turns on; None for other databases."""
    url = central.engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).with_name(Path(url.database).name + ".ingest-lock")


def _sqlite_tuning(dbapi_conn: Any, _record: object) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_AUTOCHECKPOINT_PAGES}")
    cursor.close()
