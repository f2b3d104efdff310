"""The simulated tracker over a real TCP socket, against a bare server made of the codec alone (no central)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from peripherals.errors import ProtocolError
from peripherals.tracker.gt06 import Alarm, FrameSplitter, Gt06Message, Location, Login, Status, decode, reply_for
from peripherals.tracker.sim import SimTracker, TrackerRun, garbage, imei_for, run_tracker

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
KNOWN = imei_for(1)


async def session(tracker: SimTracker, **kwargs: object) -> tuple[TrackerRun, list[Gt06Message], int]:
    """Run one simulated session against a bare GT06 server; return the run, what the server decoded, bad frames."""
    received: list[Gt06Message] = []
    bad = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal bad
        splitter = FrameSplitter()
        try:
            while data := await reader.read(4096):
                for frame in splitter.feed(data):
                    try:
                        [message] = decode(frame, now=NOW)
                    except ProtocolError:
                        bad += 1
                        continue
                    received.append(message)
                    if isinstance(message, Login) and message.imei != KNOWN:
                        return
                    reply = reply_for(message, NOW)
                    if reply is not None:
                        writer.write(reply)
                        await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        run = await run_tracker("127.0.0.1", port, tracker, 3, timeout=10, **kwargs)  # type: ignore[arg-type]
    finally:
        server.close()
        await server.wait_closed()
    return run, received, bad


def test_a_noisy_session_arrives_whole() -> None:
    """Noise, login, positions, an alarm, a heartbeat and half a frame: the server reads every whole frame in order."""
    tracker = SimTracker(KNOWN, start=NOW - timedelta(hours=1))
    run, received, _ = asyncio.run(session(tracker, noise=garbage(200, seed=3), alarm="sos", cut_mid_frame=True))
    assert (run.refused, run.positions, run.acks) == (False, 3, 3)
    assert [type(m) for m in received] == [Login, Location, Location, Location, Alarm, Status]
    positions = [m for m in received if isinstance(m, Location)]
    # GT06 carries 1/1 800 000 of a degree (6 cm), hence the tolerance.
    for position, step in zip(positions, range(3), strict=True):
        assert (position.fix.lat, position.fix.lon) == pytest.approx(tracker.point(step), abs=1e-6)
    assert [m.serial for m in received] == list(range(1, 7))


def test_a_refused_login_is_reported() -> None:
    """When the server hangs up instead of acknowledging the login, the run says refused and sends nothing more."""
    run, received, bad = asyncio.run(session(SimTracker(imei_for(2), start=NOW - timedelta(hours=1))))
    assert (run.refused, run.positions, run.acks, bad) == (True, 0, 0, 0)
    assert [type(m) for m in received] == [Login]
