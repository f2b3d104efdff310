"""The shared microphone interface over a scripted producer: non-blocking delivery, drops, end, failure, health."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from peripherals.audio.errors import AudioError
from peripherals.audio.level import SILENCE, measure
from peripherals.audio.source import AudioSource

pytestmark = pytest.mark.timeout(30)


class Scripted(AudioSource):
    """A source whose test pushes the chunks, as PortAudio's callback would."""

    def __init__(self, *, buffer_s: float = 0.3, refuse: str | None = None) -> None:
        super().__init__("scripted microphone", chunk_ms=100, buffer_s=buffer_s)
        self.refuse = refuse
        self.problem: str | None = None
        self.closed = 0

    def _open(self) -> None:
        if self.refuse:
            raise AudioError(self.refuse)

    def _close(self) -> None:
        self.closed += 1

    def _health(self) -> str | None:
        return self.problem

    def push(self, value: int) -> bytes:
        """Deliver 100 ms of one constant sample value, as the driver's callback would."""
        chunk = np.full(1600, value, dtype="<i2").tobytes()
        self._deliver(chunk)
        return chunk


def test_chunks_come_out_in_order() -> None:
    """What the producer delivers is read back in order, then b"" once stopped and drained."""
    source = Scripted().start()
    sent = [source.push(v) for v in (1, 2, 3)]
    source.stop()
    assert [source.read(1.0) for _ in range(3)] == sent
    assert source.read(1.0) == b""
    assert source.closed == 1


def test_full_buffer_drops_the_oldest_and_counts() -> None:
    """Beyond buffer_s of unread audio the oldest chunk goes, is counted, and the producer is never held."""
    source = Scripted(buffer_s=0.3).start()
    for value in range(5):
        source.push(value)
    stats = source.stats()
    assert (source.max_chunks, stats.chunks, stats.dropped) == (3, 5, 2)
    assert stats.seconds == 0.5
    assert [np.frombuffer(source.read(1.0) or b"", dtype="<i2")[0] for _ in range(3)] == [2, 3, 4]


def test_read_times_out_with_none() -> None:
    """No chunk within the timeout is None, not an error and not the end."""
    source = Scripted().start()
    assert source.read(0.01) is None
    assert source.state == "running"


def test_level_follows_the_newest_chunk() -> None:
    """The level is measured as chunks arrive, whether or not anyone reads them."""
    source = Scripted().start()
    assert source.level() == SILENCE
    chunk = source.push(8192)
    assert source.level() == measure(chunk)
    assert source.stats().level.dbfs == pytest.approx(-12.04, abs=0.01)


def test_end_of_source_reads_as_empty() -> None:
    """After the producer ends, the rest is read and then b"" comes at once."""
    source = Scripted().start()
    sent = source.push(5)
    source._end()
    assert source.read(5.0) == sent
    assert source.read(3600) == b""
    assert source.state == "ended"


def test_failed_open_raises_and_stays_failed() -> None:
    """start() raises the open error; the state and last_error keep it; reading raises it again."""
    source = Scripted(refuse="scripted microphone: unplugged")
    with pytest.raises(AudioError, match=r"^scripted microphone: unplugged$"):
        source.start()
    assert (source.state, source.stats().last_error) == ("failed", "scripted microphone: unplugged")
    with pytest.raises(AudioError, match="unplugged"):
        source.read(0.01)


def test_silent_death_is_found_by_the_health_check() -> None:
    """A producer that stops without a word is failed by the health check on a read timeout."""
    source = Scripted().start()
    source.problem = "scripted microphone: the input stream stopped"
    assert source.read(0.01) is None
    with pytest.raises(AudioError, match="the input stream stopped"):
        source.read(0.01)
    assert source.stats().state == "failed"


def test_chunks_iterates_to_the_end() -> None:
    """chunks() yields every chunk and ends when the source is stopped from another thread."""
    source = Scripted(buffer_s=10).start()
    sent = [source.push(v) for v in range(4)]
    threading.Timer(0.05, source.stop).start()
    assert list(source.chunks()) == sent


def test_chunks_raises_when_the_source_fails() -> None:
    """A failure while iterating surfaces as AudioError with the reason."""
    source = Scripted().start()
    source._fail("scripted microphone: device error -9999")
    with pytest.raises(AudioError, match="device error -9999"):
        list(source.chunks())


def test_waiting_delivery_holds_the_producer_until_there_is_room() -> None:
    """A file producer waits for room instead of dropping, and is released by stop()."""
    source = Scripted(buffer_s=0.1).start()
    stop = threading.Event()
    assert source._deliver_waiting(b"\x00\x00", stop)
    results: list[bool] = []
    waiter = threading.Thread(target=lambda: results.append(source._deliver_waiting(b"\x01\x00", stop)))
    waiter.start()
    assert source.read(5.0) == b"\x00\x00"
    waiter.join(5.0)
    assert results == [True]
    assert source.read(5.0) == b"\x01\x00"
    blocked = threading.Thread(target=lambda: results.append(source._deliver_waiting(b"\x02\x00", stop)))
    source._deliver_waiting(b"\x03\x00", stop)
    blocked.start()
    source.stop()
    blocked.join(5.0)
    assert results == [True, False]
    assert source.stats().dropped == 0


def test_misuse_is_refused() -> None:
    """Reading before start, or starting twice, says so."""
    source = Scripted()
    with pytest.raises(AudioError, match=r"^scripted microphone: read before start\(\)$"):
        source.read(0.01)
    source.start()
    with pytest.raises(AudioError, match=r"^scripted microphone: already started; make a new source$"):
        source.start()


def test_context_manager_stops() -> None:
    """Leaving the with block stops the source."""
    with Scripted() as source:
        assert source.stats().state == "running"
    assert source.stats().state == "stopped"
    assert source.stats().as_dict()["state"] == "stopped"
