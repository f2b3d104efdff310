"""A stand-in network camera: serves one video file over HTTP, paced like a live stream.

OpenCV's FFmpeg backend reads it exactly as it reads an HTTP camera, so the stream path
(connect, read, lose the server mid-stream, reconnect) is tested over a real socket. The
server only listens on the address it is given (loopback by default), answers only the file's
own path, and stops itself after `lifetime_s` so a forgotten one never outlives its test.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Self

_CHUNK = 4096


class VideoHttpServer:
    """Serves `path` at http://host:port/<file name>, at `bytes_per_s` (None: as fast as the socket takes)."""

    def __init__(
        self,
        path: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bytes_per_s: int | None = None,
        lifetime_s: float = 60.0,
    ) -> None:
        if bytes_per_s is not None and bytes_per_s <= 0:
            raise ValueError(f"bytes_per_s {bytes_per_s}: must be more than 0, or None for no pacing")
        self.path = path
        self.data = path.read_bytes()
        self.bytes_per_s = bytes_per_s
        self.lifetime_s = lifetime_s
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self.requests = 0
        self._connections: set[socket.socket] = set()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="video-http", daemon=True)
        self._timer = threading.Timer(lifetime_s, self.stop)
        self._timer.daemon = True

    @property
    def port(self) -> int:
        """The TCP port it listens on (chosen by the system when 0 was given)."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The address of the video."""
        host = str(self._server.server_address[0])
        return f"http://{host}:{self.port}/{self.path.name}"

    def start(self) -> Self:
        """Listen and serve in background threads; returns at once."""
        self._thread.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every response in progress, as a camera that loses power would."""
        if self._closing.is_set():
            return
        self._closing.set()
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            # Wakes a handler blocked in a write to a reader that stopped reading.
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            """Answers GET for the file's own path only."""

            def do_GET(self) -> None:
                """Stream the file, or 404 for any other path."""
                if self.path != f"/{server.path.name}":
                    self.send_error(HTTPStatus.NOT_FOUND, f"only /{server.path.name} is served here")
                    return
                with server._lock:
                    server.requests += 1
                    server._connections.add(self.connection)
                try:
                    self._send_video()
                finally:
                    with server._lock:
                        server._connections.discard(self.connection)

            def _send_video(self) -> None:
                # No Accept-Ranges: the reader treats it as a live, unseekable stream.
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(server.data)))
                self.end_headers()
                pause = _CHUNK / server.bytes_per_s if server.bytes_per_s else 0.0
                try:
                    for start in range(0, len(server.data), _CHUNK):
                        if server._closing.is_set():
                            return
                        self.wfile.write(server.data[start : start + _CHUNK])
                        if pause and server._closing.wait(pause):
                            return
                except OSError:
                    return  # the reader went away, or stop() cut the connection

            def log_message(self, format: str, *args: object) -> None:
                pass  # one line per request on stderr would drown the test output

        return Handler
