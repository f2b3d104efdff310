"""A network camera that can freeze: an MJPG AVI served over HTTP at camera pace, paused on demand.

While paused, every open response stops sending with its TCP connection left up (a camera that
froze, not one that went away), and new requests wait before their headers. OpenCV's FFmpeg
backend reads it exactly as it reads an HTTP camera, so the agent's stall watch is tested on a
real socket with a real decoder blocked in a real read.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2
import numpy as np

_CHUNK = 2048


def write_stream_clip(path: Path, frames: int = 1500, fps: float = 25.0, size: tuple[int, int] = (160, 120)) -> Path:
    """An MJPG AVI of `frames` frames, each a different grey level (nothing in it looks like a face)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
    assert writer.isOpened(), "OpenCV cannot write MJPG AVI files here"
    for n in range(frames):
        writer.write(np.full((size[1], size[0], 3), 20 + (n % 50) * 4, dtype=np.uint8))
    writer.release()
    return path


class FreezableStream:
    """Serves one file at `bytes_per_s`; `pause()` freezes every response, `resume()` lets them go on."""

    def __init__(self, path: Path, bytes_per_s: int) -> None:
        self.path = path
        self.data = path.read_bytes()
        self.bytes_per_s = bytes_per_s
        self.requests = 0
        self._flowing = threading.Event()
        self._flowing.set()
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The stream's address."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/{self.path.name}"

    def start(self) -> FreezableStream:
        """Serve in the background."""
        self._thread.start()
        return self

    def pause(self) -> None:
        """Freeze: no more bytes on any connection, new requests wait."""
        self._flowing.clear()

    def resume(self) -> None:
        """Unfreeze."""
        self._flowing.set()

    def stop(self) -> None:
        """Stop listening and cut every connection."""
        self._closing.set()
        self._flowing.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def _wait_flowing(self) -> bool:
        while not self._flowing.wait(0.1):
            if self._closing.is_set():
                return False
        return not self._closing.is_set()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != f"/{stream.path.name}":
                    self.send_error(HTTPStatus.NOT_FOUND)
                    return
                with stream._lock:
                    stream.requests += 1
                    stream._connections.add(self.connection)
                try:
                    if not stream._wait_flowing():
                        return
                    self.send_response(HTTPStatus.OK)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(stream.data)))
                    self.end_headers()
                    pause = _CHUNK / stream.bytes_per_s
                    for start in range(0, len(stream.data), _CHUNK):
                        if not stream._wait_flowing():
                            return
                        self.wfile.write(stream.data[start : start + _CHUNK])
                        if stream._closing.wait(pause):
                            return
                except OSError:
                    return
                finally:
                    with stream._lock:
                        stream._connections.discard(self.connection)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
