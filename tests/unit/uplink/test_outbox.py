"""The durable outbox: order, bounds, rejection and crash safety on a real SQLite file."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from uplink.outbox import Outbox, OutboxFull, OutboxRow


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.db", max_rows=10)
    yield box
    box.close()


def test_pending_returns_rows_in_id_order(outbox: Outbox) -> None:
    """Rows come back oldest first, with what was put."""
    ids = [outbox.put(f"corr/v1/dev/d1/fix{i}", f"p{i}".encode()) for i in range(5)]
    rows = outbox.pending()
    assert [r.id for r in rows] == ids == sorted(ids)
    assert rows[0] == OutboxRow(ids[0], "corr/v1/dev/d1/fix0", b"p0", 1, False)


def test_pending_pages_after_an_id(outbox: Outbox) -> None:
    """`after_id` and `limit` page through the outbox without skipping or repeating."""
    ids = [outbox.put("t", bytes([i])) for i in range(7)]
    first = outbox.pending(limit=3)
    second = outbox.pending(after_id=first[-1].id, limit=3)
    third = outbox.pending(after_id=second[-1].id, limit=3)
    assert [r.id for r in first + second + third] == ids


def test_put_keeps_qos_and_retain(outbox: Outbox) -> None:
    """A retained QoS 0 row is stored as such."""
    outbox.put("t", b"x", qos=0, retain=True)
    (row,) = outbox.pending()
    assert (row.qos, row.retain) == (0, True)


def test_delete_removes_only_the_given_rows(outbox: Outbox) -> None:
    """Deleting some ids leaves the others, in order; unknown ids are ignored."""
    ids = [outbox.put("t", bytes([i])) for i in range(5)]
    outbox.delete([ids[1], ids[3], 9999])
    assert [r.id for r in outbox.pending()] == [ids[0], ids[2], ids[4]]
    assert outbox.depth() == 3


def test_ids_are_never_reused_after_the_newest_rows_are_deleted(outbox: Outbox) -> None:
    """A new row always gets a higher id than any row before it, even an emptied outbox's."""
    ids = [outbox.put("t", b"x") for _ in range(3)]
    outbox.delete(ids)
    assert outbox.put("t", b"y") > ids[-1]


def test_ids_keep_growing_after_reopen(tmp_path: Path) -> None:
    """Ids stay monotonic across a reopen of an emptied outbox."""
    box = Outbox(tmp_path / "o.db")
    last = [box.put("t", b"x") for _ in range(3)][-1]
    box.delete(range(1, last + 1))
    box.close()
    box = Outbox(tmp_path / "o.db")
    assert box.put("t", b"y") > last
    box.close()


def test_put_raises_outbox_full_at_the_limit(outbox: Outbox) -> None:
    """The eleventh row of a ten-row outbox is refused with a message naming the depth and limit."""
    for _ in range(10):
        outbox.put("t", b"x")
    with pytest.raises(OutboxFull, match=r"^outbox holds 10 events, its limit: the device must slow down") as info:
        outbox.put("t", b"x")
    assert (info.value.depth, info.value.limit) == (10, 10)
    assert outbox.depth() == 10


def test_outbox_full_message_matches_the_documented_text() -> None:
    """The message starts exactly as operators see it in the docs."""
    assert str(OutboxFull(100_000, 100_000)).startswith(
        "outbox holds 100000 events, its limit: the device must slow down until the broker is reachable again"
    )


def test_delete_makes_room_again(outbox: Outbox) -> None:
    """After a full outbox is drained, puts succeed again."""
    ids = [outbox.put("t", b"x") for _ in range(10)]
    outbox.delete(ids[:2])
    outbox.put("t", b"y")
    assert outbox.depth() == 9


def test_put_many_is_one_ordered_batch(outbox: Outbox) -> None:
    """put_many returns increasing ids, and pending gives the batch back in that order."""
    ids = outbox.put_many([("a", b"1"), ("b", b"2"), ("c", b"3")])
    assert ids == sorted(ids)
    assert [(r.topic, r.payload) for r in outbox.pending()] == [("a", b"1"), ("b", b"2"), ("c", b"3")]


def test_put_many_is_all_or_nothing_at_the_limit(outbox: Outbox) -> None:
    """A batch that would overflow the limit stores none of its rows."""
    for _ in range(8):
        outbox.put("t", b"x")
    with pytest.raises(OutboxFull, match="outbox holds 8 events") as info:
        outbox.put_many([("t", b"1"), ("t", b"2"), ("t", b"3")])
    assert info.value.adding == 3
    assert outbox.depth() == 8
    assert outbox.put_many([("t", b"1"), ("t", b"2")]) != []
    assert outbox.depth() == 10


def test_put_many_of_nothing_stores_nothing(outbox: Outbox) -> None:
    """An empty batch is a no-op."""
    assert outbox.put_many([]) == []
    assert outbox.depth() == 0


def test_put_many_rolls_back_on_a_bad_row(outbox: Outbox) -> None:
    """A batch with a row SQLite refuses stores none of its rows."""
    with pytest.raises(sqlite3.Error):
        outbox.put_many([("t", b"1"), (None, b"2")])  # type: ignore[list-item]
    assert outbox.depth() == 0
    assert outbox.pending() == []


def test_reject_moves_the_row_with_its_reason(outbox: Outbox) -> None:
    """A rejected row leaves the queue for the `rejected` table, reason kept, and is not offered again."""
    ids = [outbox.put(f"t{i}", bytes([i])) for i in range(3)]
    outbox.reject(ids[1], "broker refused it: Not authorized (reason code 0x87)")
    assert [r.id for r in outbox.pending()] == [ids[0], ids[2]]
    assert outbox.depth() == 2
    assert outbox.rejected() == [
        (OutboxRow(ids[1], "t1", b"\x01", 1, False), "broker refused it: Not authorized (reason code 0x87)")
    ]


def test_rejected_rows_survive_reopen(tmp_path: Path) -> None:
    """An operator finds rejected rows after a restart."""
    box = Outbox(tmp_path / "o.db")
    row_id = box.put("t", b"x")
    box.reject(row_id, "no")
    box.close()
    box = Outbox(tmp_path / "o.db")
    assert [(row.id, reason) for row, reason in box.rejected()] == [(row_id, "no")]
    assert box.depth() == 0
    box.close()


def test_reopen_after_close_keeps_rows(tmp_path: Path) -> None:
    """Rows not deleted are all there after close and reopen, and the depth is recounted."""
    box = Outbox(tmp_path / "o.db")
    ids = [box.put("t", bytes([i])) for i in range(5)]
    box.delete([ids[0]])
    box.close()
    box = Outbox(tmp_path / "o.db")
    assert [r.id for r in box.pending()] == ids[1:]
    assert box.depth() == 4
    box.close()


def test_rows_survive_a_process_that_dies_without_closing(tmp_path: Path) -> None:
    """A process that exits abruptly after put loses none of the rows put returned for."""
    path = tmp_path / "o.db"
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from uplink.outbox import Outbox\n"
        "box = Outbox(Path(sys.argv[1]))\n"
        "for i in range(50):\n"
        "    box.put('t', str(i).encode())\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(path)], check=True, cwd=Path(__file__).parents[3])
    box = Outbox(path)
    assert [r.payload for r in box.pending(limit=100)] == [str(i).encode() for i in range(50)]
    box.close()


def test_wal_mode_and_synchronous_are_set(tmp_path: Path) -> None:
    """The file is in WAL mode, and the chosen synchronous mode applies."""
    box = Outbox(tmp_path / "o.db", synchronous="NORMAL")
    box.put("t", b"x")
    assert box._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    box.close()
    with sqlite3.connect(tmp_path / "o.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unknown_synchronous_mode_is_refused(tmp_path: Path) -> None:
    """A typo in the synchronous mode fails with the allowed values."""
    with pytest.raises(ValueError, match="outbox synchronous mode 'FAST' is not one of OFF, NORMAL, FULL, EXTRA"):
        Outbox(tmp_path / "o.db", synchronous="FAST")


def test_concurrent_puts_from_threads_lose_nothing(tmp_path: Path) -> None:
    """Eight threads putting at once: every row is stored once, each thread's rows in its order."""
    box = Outbox(tmp_path / "o.db", synchronous="OFF")
    per_thread = 200

    def producer(n: int) -> None:
        for i in range(per_thread):
            box.put(f"t{n}", f"{n}:{i}".encode())

    threads = [threading.Thread(target=producer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = box.pending(limit=10_000)
    assert len(rows) == box.depth() == 8 * per_thread
    for n in range(8):
        mine = [r.payload.decode() for r in rows if r.topic == f"t{n}"]
        assert mine == [f"{n}:{i}" for i in range(per_thread)]
    box.close()


def test_closed_outbox_refuses_work(tmp_path: Path) -> None:
    """Using a closed outbox fails loudly; closing twice does not."""
    box = Outbox(tmp_path / "o.db")
    box.close()
    box.close()
    with pytest.raises(RuntimeError, match="is closed"):
        box.put("t", b"x")
