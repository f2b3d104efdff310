"""The driver against the simulator over a real pty: reads, noise, split and garbled replies, timeouts, unplugging."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import TypeVar

import pytest

from peripherals.idcard import (
    FIND_CARD,
    READ_TEXT_PHOTO,
    SAM_STATUS,
    CardPresented,
    CardReadError,
    IdCardReader,
    IdCardSimulator,
    ReaderError,
    ReaderEvent,
    ReaderGone,
    ReaderOffline,
    ReaderOnline,
    ReaderTimeout,
    Status,
)
from tests.unit.peripherals.idcard.samples import AYI_GULI, ZHANG_SAN, tiny_jpeg

E = TypeVar("E", bound=ReaderEvent)

# Upper bound on waiting for one event from the polling loop; generous, never asserted on.
EVENT_WAIT_S = 10


def test_happy_path(simulator, reader):
    """find → select → read returns the card on the reader, photo included."""
    simulator.put_card("zhang")
    card = reader.read_card()
    assert card is not None
    assert card.text == ZHANG_SAN
    assert card.photo is not None
    assert card.photo.data == tiny_jpeg()
    assert [str(command) for command in simulator.received] == [
        "11 FF (SAM status)",
        "20 01 (find card)",
        "20 02 (select card)",
        "30 01 (read text and photo)",
    ]


def test_no_card(reader):
    """With nothing on the reader, read_card returns None."""
    assert reader.read_card() is None


def test_fingerprint_read(simulator, settings):
    """With fingerprint reading configured, 30 10 is sent and the fingerprint block comes back."""
    simulator.put_card("ayi")
    with IdCardReader(replace(settings, fingerprint=True)) as reader:
        card = reader.read_card()
    assert card is not None
    assert card.text == AYI_GULI
    assert card.fingerprint == b"\x43" * 1024


def test_garbage_before_the_preamble(simulator, reader):
    """Noise before each reply is skipped; the read succeeds without resending."""
    simulator.put_card("zhang")
    simulator.inject_garbage(b"\x00\xff\x13\xaa\xaa\x96noise", times=3)
    card = reader.read_card()
    assert card is not None
    assert card.text == ZHANG_SAN
    assert len(simulator.received) == 4


def test_split_frames(simulator, reader):
    """Replies arriving a few bytes at a time are reassembled."""
    simulator.put_card("zhang")
    simulator.inject_split(chunk=7, delay_s=0.001, times=3)
    card = reader.read_card()
    assert card is not None
    assert card.text == ZHANG_SAN


def test_partial_frame_before_the_reply(simulator, reader):
    """Half a frame left over before a reply (a reader reset mid-reply) does not hide the reply."""
    simulator.put_card("zhang")
    simulator.inject_partial_frame(times=3)
    card = reader.read_card()
    assert card is not None
    assert card.text == ZHANG_SAN


def test_checksum_error_is_resent(simulator, reader):
    """A reply with a bad checksum makes the driver send the command again, and the second reply is used."""
    simulator.put_card("zhang")
    simulator.inject_checksum_error(times=1)
    card = reader.read_card()
    assert card is not None
    assert [command.code for command in simulator.received[1:3]] == [0x20, 0x20]


def test_checksum_errors_past_the_retries(simulator, reader):
    """When every attempt comes back garbled, the error says so and quotes the checksum problem."""
    simulator.inject_checksum_error(times=3)
    with pytest.raises(
        ReaderError, match=r"^find card: the reply was garbled \(checksum: frame says 0x7B, bytes give 0x84\)$"
    ):
        reader.transact(FIND_CARD)


def test_delayed_reply_within_the_timeout(simulator, reader):
    """A reply that comes late but within the timeout is taken, not resent."""
    simulator.inject_delay(0.1)
    assert reader.transact(SAM_STATUS).status is Status.SUCCESS
    assert len(simulator.received) == 2


def test_one_lost_reply_is_resent(simulator, reader):
    """A command that gets no reply is sent again after the timeout."""
    simulator.inject_silence(times=1)
    assert reader.transact(FIND_CARD).status is Status.NO_CARD
    assert [command.code for command in simulator.received[1:]] == [0x20, 0x20]


def test_timeout(simulator, reader):
    """A reader that never answers ends in ReaderTimeout naming the command and the timeout."""
    simulator.inject_silence(times=3)
    with pytest.raises(ReaderTimeout, match=r"^find card: no reply within 0.5 s$"):
        reader.transact(FIND_CARD)


def test_failure_status_is_explained(simulator, reader):
    """A failure status from the SAM becomes an error with the command and the English and Chinese message."""
    simulator.put_card("zhang")
    reply = reader.transact(READ_TEXT_PHOTO)
    assert reply.status is Status.READ_FAILED
    assert str(CardReadError(READ_TEXT_PHOTO, reply)) == (
        "read text and photo: reading the card failed (status 41, 读居民身份证操作失败)"
    )


def test_unplugged_reader(simulator, reader):
    """After the port disappears, the next command raises ReaderGone and the port is closed."""
    simulator.unplug()
    with pytest.raises(ReaderGone, match=r"ttyIDCARD"):
        reader.transact(FIND_CARD)
    assert not reader.is_open


def test_opening_a_missing_port(simulator, settings):
    """Opening a reader whose port does not exist says so."""
    simulator.unplug()
    with pytest.raises(ReaderGone, match=r"ttyIDCARD: does not exist \(reader unplugged\?\)"):
        IdCardReader(settings).open()


@pytest.fixture
def events(settings) -> Iterator[queue.Queue[ReaderEvent]]:
    """The polling loop running in a thread, its events in a queue."""
    found: queue.Queue[ReaderEvent] = queue.Queue()
    stop = threading.Event()
    reader = IdCardReader(settings)

    def loop() -> None:
        for event in reader.watch(stop):
            found.put(event)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield found
    stop.set()
    thread.join(timeout=EVENT_WAIT_S)
    reader.close()


def next_event(events: queue.Queue[ReaderEvent], kind: type[E]) -> E:
    """The next event of `kind`, skipping others (read failures during an unplug, say)."""
    while True:
        event = events.get(timeout=EVENT_WAIT_S)
        if isinstance(event, kind):
            return event


def wait_for_polls(simulator: IdCardSimulator, count: int) -> None:
    """Wait until the simulator has received `count` more commands (polls of the loop)."""
    target = len(simulator.received) + count
    deadline = time.monotonic() + EVENT_WAIT_S
    while len(simulator.received) < target:
        assert time.monotonic() < deadline, f"the polling loop sent fewer than {count} commands"
        time.sleep(0.005)


def test_watch_presents_a_card_once(simulator, events):
    """A card laid on the reader is presented once while it stays, and a new card after the first is taken off."""
    assert isinstance(events.get(timeout=EVENT_WAIT_S), ReaderOnline)
    simulator.put_card("zhang")
    first = next_event(events, CardPresented)
    assert first.card.text == ZHANG_SAN
    wait_for_polls(simulator, 5)
    assert events.empty()
    simulator.take_card()
    # Two polls after taking it off: at least one of them saw the reader empty.
    wait_for_polls(simulator, 2)
    simulator.put_card("ayi")
    second = next_event(events, CardPresented)
    assert second.card.text == AYI_GULI


def test_watch_survives_unplug_and_replug(simulator, events):
    """Unplugging is reported offline, replugging online again, and the card on the reader is read again."""
    assert isinstance(events.get(timeout=EVENT_WAIT_S), ReaderOnline)
    simulator.put_card("zhang")
    next_event(events, CardPresented)
    simulator.unplug()
    offline = next_event(events, ReaderOffline)
    assert "ttyIDCARD" in offline.reason
    simulator.replug()
    next_event(events, ReaderOnline)
    again = next_event(events, CardPresented)
    assert again.card.text == ZHANG_SAN


def test_watch_reports_a_missing_reader_at_start(tmp_path, settings):
    """A loop started before the reader is plugged in reports it offline, then online when it appears."""
    link = tmp_path / "late" / "ttyIDCARD"
    link.parent.mkdir()
    stop = threading.Event()
    found: queue.Queue[ReaderEvent] = queue.Queue()
    reader = IdCardReader(replace(settings, port=str(link)))

    def loop() -> None:
        for event in reader.watch(stop):
            found.put(event)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        assert isinstance(found.get(timeout=EVENT_WAIT_S), ReaderOffline)
        with IdCardSimulator(link, {}):
            assert isinstance(next_event(found, ReaderOnline), ReaderOnline)
    finally:
        stop.set()
        thread.join(timeout=EVENT_WAIT_S)
        reader.close()
