"""The device's durable outbox: every event waits in SQLite until the broker has acknowledged it.

A row leaves the `outbox` table only through `delete` (after a successful PUBACK) or `reject`
(the broker refused it for good; the row moves to `rejected` for an operator). A process crash
or power cut loses nothing that `put` returned for: reopening the file gives every row back.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Self

SynchronousMode = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
_SYNCHRONOUS_MODES: tuple[str, ...] = ("OFF", "NORMAL", "FULL", "EXTRA")
_BUSY_TIMEOUT_MS = 5_000
_DELETE_CHUNK = 500

# AUTOINCREMENT because ids must never be reused: the sender hands rows out by "id greater than
# the last one handed", and plain rowids restart from max(id)+1 once the newest rows are deleted.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    created_at REAL NOT NULL,
    reason TEXT NOT NULL,
    rejected_at REAL NOT NULL
);
"""


class OutboxFull(Exception):
    """The outbox holds as many events as it may: the producer must slow down (back-pressure)."""

    def __init__(self, depth: int, limit: int, adding: int = 1) -> None:
        self.depth = depth
        self.limit = limit
        self.adding = adding
        what = "an event" if adding == 1 else f"{adding} events"
        super().__init__(
            f"outbox holds {depth} events, its limit: the device must slow down until the broker is "
            f"reachable again (could not add {what}, limit {limit})"
        )


@dataclass(frozen=True)
class OutboxRow:
    """One event waiting for its PUBACK."""

    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool


class Outbox:
    """A bounded, crash-safe FIFO of MQTT publications in one SQLite file (WAL mode).

    Thread-safe: one connection guarded by a lock, so producers and the sender thread share it.
    """

    def __init__(self, path: Path, max_rows: int = 100_000, synchronous: str = "FULL") -> None:
        mode = synchronous.upper()
        if mode not in _SYNCHRONOUS_MODES:
            raise ValueError(f"outbox synchronous mode {synchronous!r} is not one of {', '.join(_SYNCHRONOUS_MODES)}")
        if max_rows < 1:
            raise ValueError(f"outbox max_rows must be at least 1, got {max_rows}")
        self.path = path
        self.max_rows = max_rows
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE … COMMIT) below.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        journal = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(journal).lower() != "wal":
            self._db.close()
            raise RuntimeError(f"outbox {path}: SQLite refused WAL journal mode (got {journal!r})")
        self._db.execute(f"PRAGMA synchronous = {mode}")
        self._db.executescript(_SCHEMA)
        # Counted once here and kept in memory: the depth check on every put must stay cheap.
        self._depth: int = self._db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        self._closed = False

    def put(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        """Store one publication durably and return its id; raise OutboxFull at the limit."""
        with self._lock:
            self._check_open()
            if self._depth >= self.max_rows:
                raise OutboxFull(self._depth, self.max_rows)
            with self._transaction():
                cur = self._db.execute(
                    "INSERT INTO outbox (topic, payload, qos, retain, created_at) VALUES (?, ?, ?, ?, ?)",
                    (topic, payload, qos, int(retain), time.time()),
                )
            self._depth += 1
            assert cur.lastrowid is not None
            return cur.lastrowid

    def put_many(self, items: Sequence[tuple[str, bytes]]) -> list[int]:
        """Store several QoS 1 publications in one transaction: all of them, or none if the limit is hit."""
        if not items:
            return []
        with self._lock:
            self._check_open()
            if self._depth + len(items) > self.max_rows:
                raise OutboxFull(self._depth, self.max_rows, adding=len(items))
            now = time.time()
            ids: list[int] = []
            with self._transaction():
                for topic, payload in items:
                    cur = self._db.execute(
                        "INSERT INTO outbox (topic, payload, qos, retain, created_at) VALUES (?, ?, 1, 0, ?)",
                        (topic, payload, now),
                    )
                    assert cur.lastrowid is not None
                    ids.append(cur.lastrowid)
            self._depth += len(ids)
            return ids

    def pending(self, after_id: int = 0, limit: int = 500) -> list[OutboxRow]:
        """Rows with id greater than `after_id`, oldest first, at most `limit` of them."""
        with self._lock:
            self._check_open()
            rows = self._db.execute(
                "SELECT id, topic, payload, qos, retain FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, limit),
            ).fetchall()
        return [OutboxRow(r[0], r[1], bytes(r[2]), r[3], bool(r[4])) for r in rows]

    def delete(self, ids: Iterable[int]) -> None:
        """Forget delivered rows (ids that are not there any more are ignored)."""
        wanted = list(ids)
        if not wanted:
            return
        with self._lock:
            self._check_open()
            removed = 0
            with self._transaction():
                for start in range(0, len(wanted), _DELETE_CHUNK):
                    chunk = wanted[start : start + _DELETE_CHUNK]
                    marks = ",".join("?" * len(chunk))
                    removed += self._db.execute(f"DELETE FROM outbox WHERE id IN ({marks})", chunk).rowcount  # noqa: S608
            self._depth -= removed

    def reject(self, id: int, reason: str) -> None:
        """Move a row the broker refused for good to `rejected`, with the reason, for an operator."""
        with self._lock:
            self._check_open()
            with self._transaction():
                moved = self._db.execute(
                    "INSERT INTO rejected (id, topic, payload, qos, retain, created_at, reason, rejected_at) "
                    "SELECT id, topic, payload, qos, retain, created_at, ?, ? FROM outbox WHERE id = ?",
                    (reason, time.time(), id),
                ).rowcount
                self._db.execute("DELETE FROM outbox WHERE id = ?", (id,))
            self._depth -= moved

    def rejected(self) -> list[tuple[OutboxRow, str]]:
        """Every rejected row with the reason it was refused, oldest first."""
        with self._lock:
            self._check_open()
            rows = self._db.execute(
                "SELECT id, topic, payload, qos, retain, reason FROM rejected ORDER BY id"
            ).fetchall()
        return [(OutboxRow(r[0], r[1], bytes(r[2]), r[3], bool(r[4])), r[5]) for r in rows]

    def depth(self) -> int:
        """How many rows wait for delivery (rejected rows not counted)."""
        with self._lock:
            return self._depth

    def close(self) -> None:
        """Close the file; further calls raise. Closing twice is harmless."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"outbox {self.path} is closed")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
