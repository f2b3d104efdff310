"""GT06 figures for bench/protocols.py: frames decoded per second, and gateway positions per second.

    from bench.protocols_gt06 import decode_rate, gateway_rate
    decode_rate()                          # {"gt06_frames_per_s": …, "gt06_splitter_mb_per_s": …}
    gateway_rate(trackers=1000, positions=20)  # {"gt06_gateway_positions_per_s": …, …}

`gateway_rate` runs a migrated central (a temporary SQLite file unless `db_url` is given), the
GT06 gateway on a loopback port, and N simulated trackers in another process connecting at once,
each logging in and sending M positions; the clock runs from the first connect until the last
heartbeat ack (each tracker's positions are committed by then); the stored fixes are counted.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, insert, select

from central.context import Central
from central.db.models import Device, Fix
from central.gateways.gt06 import Gt06Gateway
from central.nodes import add_node, get_node
from central.seed import NODES
from peripherals.tracker.gt06 import FrameSplitter, decode
from peripherals.tracker.sim import SimTracker, imei_for
from tests.support.central import migrated_central


def _sample_frames() -> list[bytes]:
    """A realistic mix: mostly positions, some heartbeats, an alarm, a login."""
    tracker = SimTracker(imei_for(1), start=datetime.now(UTC) - timedelta(hours=1))
    frames = [tracker.login()]
    for i in range(100):
        frames.append(tracker.position())
        if i % 20 == 0:
            frames.append(tracker.heartbeat())
    frames.append(tracker.alarm("removed"))
    return frames


def decode_rate(duration_s: float = 1.0) -> dict[str, float]:
    """Frames decoded per second by `decode`, and stream megabytes per second cut by `FrameSplitter`."""
    frames = _sample_frames()
    now = datetime.now(UTC)
    decoded = 0
    began = time.perf_counter()
    while time.perf_counter() - began < duration_s:
        for frame in frames:
            decode(frame, now=now)
        decoded += len(frames)
    frames_per_s = decoded / (time.perf_counter() - began)

    stream = b"".join(frames)
    chunks = [stream[i : i + 1400] for i in range(0, len(stream), 1400)]  # TCP-segment-sized reads
    cut = 0
    began = time.perf_counter()
    while time.perf_counter() - began < duration_s:
        splitter = FrameSplitter()
        for chunk in chunks:
            splitter.feed(chunk)
        cut += len(stream)
    megabytes_per_s = cut / (time.perf_counter() - began) / 1e6
    return {"gt06_frames_per_s": round(frames_per_s), "gt06_splitter_mb_per_s": round(megabytes_per_s, 2)}


def _register(central: Central, imeis: list[str]) -> None:
    with central.sessions.begin() as s:
        for code, name, level, parent in NODES:
            add_node(s, code, name, level, parent)
        node = get_node(s, "350205001")
        now = datetime.now(UTC)
        s.execute(
            insert(Device),
            [
                {
                    "id": imei,
                    "kind": "tracker",
                    "node_id": node.id,
                    "node_path": node.path,
                    "description": "bench",
                    "mqtt_password_hash": "-",
                    "token_hash": "-",
                    "enabled": True,
                    "online": False,
                    "status": {},
                    "created_at": now,
                }
                for imei in imeis
            ],
        )


def gateway_rate(trackers: int = 1000, positions: int = 20, db_url: str | None = None) -> dict[str, Any]:
    """Positions per second through the gateway into the database with `trackers` connected at once.

    The trackers run in their own process (`python -m peripherals.tracker.sim`), so the gateway
    does not share its interpreter with them.
    """
    with tempfile.TemporaryDirectory(prefix="bench-gt06-") as tmp:
        central = migrated_central(db_url or f"sqlite:///{tmp}/central.db")
        _register(central, [imei_for(i) for i in range(trackers)])

        async def run() -> dict[str, Any]:
            gateway = Gt06Gateway(central.sessions, host="127.0.0.1", port=0, audit_key=central.audit_key)
            await gateway.start()
            try:
                fleet = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "peripherals.tracker.sim",
                    "--port",
                    str(gateway.port),
                    "--trackers",
                    str(trackers),
                    "--positions",
                    str(positions),
                    "--json",
                    stdout=asyncio.subprocess.PIPE,
                    cwd=Path(__file__).resolve().parent.parent,
                )
                out, _ = await fleet.communicate()
                report: dict[str, Any] = json.loads(out)
                return report
            finally:
                await gateway.close()

        try:
            report = asyncio.run(run())
            with central.sessions() as s:
                stored = int(s.execute(select(func.count()).select_from(Fix)).scalar_one())
        finally:
            central.close()
    return {
        "gt06_gateway_positions_per_s": round(report["positions_per_s"]),
        "gt06_gateway_trackers": trackers,
        "gt06_gateway_positions_each": positions,
        "gt06_gateway_stored": stored,
        "gt06_gateway_failed_sessions": len(report["errors"]),
        "gt06_gateway_elapsed_s": round(report["elapsed_s"], 2),
        "gt06_gateway_database": (db_url or "sqlite").split(":", 1)[0],
    }


if __name__ == "__main__":
    print(decode_rate())
    print(gateway_rate())
