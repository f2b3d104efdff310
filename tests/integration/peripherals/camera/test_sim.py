"""A stream over real HTTP, read by OpenCV's FFmpeg backend: served, cut mid-stream, served again."""

from __future__ import annotations

import logging
import re
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from peripherals.camera.capture import Camera
from peripherals.camera.config import UrlCamera
from peripherals.camera.sim import VideoHttpServer
from tests.integration.peripherals.camera.conftest import PERIOD, frame_number, wait_until, write_clip

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

FRAMES = 400


def _refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return True
    return False


def test_serves_the_file_as_is(clip: Path) -> None:
    """The file's bytes come back unchanged; any other path is 404."""
    with VideoHttpServer(clip, lifetime_s=10) as server:
        with urllib.request.urlopen(server.url, timeout=5) as reply:  # noqa: S310 - loopback test server
            assert reply.read() == clip.read_bytes()
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(server.url + ".other", timeout=5)  # noqa: S310
        assert server.requests == 1


def test_server_stops_itself_after_its_lifetime(clip: Path) -> None:
    """A forgotten server closes its port once `lifetime_s` has passed."""
    server = VideoHttpServer(clip, lifetime_s=0.2).start()
    wait_until(lambda: _refuses(server.port), "the server to stop itself", timeout=10)


def test_stream_reconnects_after_the_server_dies_mid_stream(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Losing the server mid-stream is reported, retried with backoff, and frames flow again once it is back."""
    caplog.set_level(logging.INFO, logger="peripherals.camera.capture")
    clip = write_clip(tmp_path / "stream.avi", FRAMES)
    server = VideoHttpServer(clip, bytes_per_s=60_000, lifetime_s=45).start()
    config = UrlCamera(
        url=server.url, reconnect_min_s=0.05, reconnect_max_s=0.2, open_timeout_s=5.0, read_timeout_s=5.0
    )
    camera = Camera(config, name="hall").start()
    try:
        wait_until(lambda: camera.stats().frames_read >= 20, "frames from the stream")
        frame = camera.read_latest()
        assert frame is not None
        assert frame_number(frame.image) == frame.index % PERIOD
        assert camera.stats().fps > 0

        server.stop()
        wait_until(lambda: camera.stats().open_failures >= 2, "failed reconnection attempts")
        stats = camera.stats()
        assert stats.state == "reconnecting"
        assert stats.last_error is not None
        assert "could not connect to it or read a video stream from it" in stats.last_error
        lost = re.search(r"stream lost after (\d+) frames", caplog.text)
        assert lost is not None, caplog.text
        assert 20 <= int(lost.group(1)) < FRAMES, "the server was cut mid-stream"
        read_while_down = stats.frames_read

        server = VideoHttpServer(clip, port=server.port, bytes_per_s=60_000, lifetime_s=45).start()
        wait_until(lambda: camera.stats().frames_read > read_while_down + 10, "frames after the server came back")
        stats = camera.stats()
        assert stats.state == "streaming"
        assert stats.reconnects >= 1
        frame = camera.read_latest()
        assert frame is not None
        # Numbered from 0 again, and showing the frame of that number: the file is read from its start.
        assert frame.index <= stats.frames_read - read_while_down
        assert frame_number(frame.image) == frame.index % PERIOD
        assert "is back" in caplog.text
    finally:
        camera.stop()
        server.stop()
