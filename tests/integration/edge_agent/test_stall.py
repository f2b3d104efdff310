"""A network camera that freezes mid-stream: reported (log, status, alarm) and reconnected, then frames flow again."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from contracts import DeviceAlarm, Status
from edge_agent.agent import Agent
from edge_agent.config import parse_config
from tests.integration.edge_agent.stream_server import FreezableStream, write_stream_clip
from tests.integration.uplink.helpers import CENTRAL_PASSWORD, Central, wait_until
from tests.support.mosquitto import Mosquitto
from vision.pipeline import FacePipeline

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

DEVICE = "edge-test-stall"
PASSWORD = "edge-stall-secret"
STALL_AFTER_S = 1.5


def _statuses(central: Central) -> list[Status]:
    return [m for m in central.decoded("status") if isinstance(m, Status)]


def test_a_frozen_camera_is_reported_replaced_and_recovers(
    broker: Mosquitto, pipeline: FacePipeline, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Freeze the stream: within stall_after_s the status says stalled, an alarm goes out, the camera is
    replaced (a new HTTP request); unfreeze: frames flow, the state is streaming again, one stall counted."""
    caplog.set_level(logging.INFO, logger="edge_agent.agent")
    clip = write_stream_clip(tmp_path / "cam.avi")
    stream = FreezableStream(clip, bytes_per_s=max(4096, clip.stat().st_size // 60)).start()
    broker.add_account(DEVICE, PASSWORD, "device")
    broker.add_account("central", CENTRAL_PASSWORD, "central")
    central = Central(broker)
    config = parse_config(
        {
            "device_id": DEVICE,
            "cameras": [
                {
                    "id": "hall",
                    "stall_after_s": STALL_AFTER_S,
                    # FFmpeg's own read timeout is far longer: only the agent's watch can notice the freeze.
                    "source": {
                        "type": "url",
                        "url": stream.url,
                        "open_timeout_s": 60,
                        "read_timeout_s": 60,
                        "reconnect_min_s": 0.2,
                        "reconnect_max_s": 1.0,
                    },
                }
            ],
            "uplink": {
                "host": broker.host,
                "port": broker.port,
                "password": PASSWORD,
                "outbox_path": str(tmp_path / "outbox.db"),
                "status_interval_s": 1.0,
            },
            "gallery_sync": {"enabled": False},
        }
    )
    agent = Agent(config, pipeline=pipeline)
    try:
        assert central.subscribed.wait(15)
        agent.start()
        assert wait_until(lambda: agent.cameras["hall"].stats().frames_read >= 25, 20), "frames before the freeze"
        assert agent.status()["camera_state"]["hall"] == "streaming"
        assert stream.requests == 1

        stream.pause()
        frozen_at = time.monotonic()
        assert wait_until(lambda: agent.status()["camera_state"]["hall"] == "stalled", 15), agent.status()
        assert time.monotonic() - frozen_at >= STALL_AFTER_S * 0.9, "not before stall_after_s without a frame"
        assert "camera hall stalled: no frame for" in caplog.text
        assert wait_until(lambda: agent.status()["camera_reconnects"]["hall"] >= 1, 10)
        assert wait_until(lambda: stream.requests >= 2, 10), "the replacement camera connects anew"
        assert central.wait_for(lambda ms: any(m.topic.endswith("/alarm") for m in ms), 10)
        alarms = [m for m in central.decoded("alarm") if isinstance(m, DeviceAlarm)]
        assert len(alarms) == 1
        assert alarms[0].kind == "sensor_fault"
        assert alarms[0].detail is not None and "camera hall: no frame for" in alarms[0].detail
        assert wait_until(
            lambda: any(
                (s.model_extra or {}).get("camera_state", {}).get("hall") == "stalled" for s in _statuses(central)
            ),
            10,
        ), "central sees the stalled state in the retained status"
        read_while_frozen = agent.cameras["hall"].stats().frames_read

        stream.resume()
        assert wait_until(lambda: agent.cameras["hall"].stats().frames_read >= read_while_frozen + 25, 30), (
            "frames after the camera came back"
        )
        assert wait_until(lambda: agent.status()["camera_state"]["hall"] == "streaming", 10)
        status = agent.status()
        assert status["camera_stalls"] == {"hall": 1}
        assert status["camera_queue"]["hall"] in (0, 1)
        assert "camera hall: frames again after a stall of" in caplog.text
        assert wait_until(
            lambda: (_statuses(central)[-1].model_extra or {}).get("camera_state", {}).get("hall") == "streaming", 10
        )
    finally:
        agent.stop(drain_timeout=5)
        stream.stop()
        central.close()
