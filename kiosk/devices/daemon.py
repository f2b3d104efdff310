"""The kiosk's device daemon (`corr-kiosk-devices`): the only process that opens the readers, camera and microphone.

```
 driver threads (one per device, supervised)        main thread (owns both sockets)
 idcard ──┐  events ─▶ outbox ─▶ wake pipe ─▶   PUB  ──▶ UI (SUB)
 finger ──┤                                      ROUTER ◀─▶ UI (DEALER/REQ)
 camera ──┤  ◀── jobs (command + deadline) ────  decode, route, time out, reply
 mic ─────┘  ── replies ─▶ outbox ────────────▶
```

ZeroMQ sockets are not thread-safe, so only the main thread touches them. Driver threads hand
events and replies to it through a queue and wake it through a pipe. The main loop never waits on
a device: `status` is answered from the workers' shared state, and every device command has a
deadline after which the client gets a `timeout` reply, whatever the driver is doing.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import os
import queue
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

import zmq

from kiosk.devices.config import ConfigError, DevicesConfig, load_config
from kiosk.devices.drivers import NOT_CONFIGURED, build_factories
from kiosk.devices.protocol import (
    COMMAND_DRIVER,
    DRIVERS,
    MAX_MESSAGE_BYTES,
    DaemonInfo,
    DeviceProtocolError,
    ErrorCode,
    Reply,
    Request,
    StatusResult,
    decode_request,
    default_timeout_s,
    encode_event,
    encode_reply,
    error_reply,
    make_event,
    ok_reply,
)
from kiosk.devices.supervisor import DriverFactory, Job, Worker
from peripherals.camera.config import redact_url

log = logging.getLogger("kiosk.devices")

# Longest the main loop sleeps without looking at deadlines and the heartbeat.
_MAX_SLEEP_S = 0.1
_HUNG_CHECK_S = 1.0
_BATCH = 100


class DaemonError(RuntimeError):
    """The daemon cannot start (another one runs, a socket cannot be bound); the message says which."""


@dataclass
class _Pending:
    identity: bytes
    envelope: list[bytes]
    request: Request
    deadline: float
    timeout_s: float


def _version() -> str:
    try:
        return metadata.version("corr-platform")
    except metadata.PackageNotFoundError:
        return "unknown"


def _ipc_path(address: str) -> Path | None:
    return Path(address[len("ipc://") :]) if address.startswith("ipc://") else None


class Daemon:
    """The sockets, the driver workers, and the loop between them."""

    def __init__(
        self,
        config: DevicesConfig,
        factories: Mapping[str, DriverFactory | None] | None = None,
    ) -> None:
        self.config = config
        self.id = secrets.token_hex(6)
        self.pid = os.getpid()
        self.version = _version()
        self.started_at = time.time()
        self._started = time.monotonic()
        self._outbox: queue.SimpleQueue[tuple[str, Any, Any]] = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        chosen = build_factories(config) if factories is None else dict(factories)
        sup = config.supervision
        self.workers = {
            name: Worker(
                name,
                chosen.get(name),
                emit=self._emit,
                done=self._done,
                restart_min_s=sup.restart_min_s,
                restart_max_s=sup.restart_max_s,
                stable_s=sup.stable_s,
                hang_s=sup.hang_s,
                not_configured=NOT_CONFIGURED[name],
            )
            for name in DRIVERS
        }
        self._seq = 0
        self._pending: dict[tuple[bytes, str], _Pending] = {}
        self._pub: zmq.Socket[bytes] | None = None
        self._router: zmq.Socket[bytes] | None = None

    # --- what driver threads call ------------------------------------------------------------------

    def _emit(self, name: str, fields: dict[str, Any]) -> None:
        self._outbox.put(("event", name, fields))
        self._wake()

    def _done(self, job: Job, reply: Reply) -> None:
        self._outbox.put(("reply", job, reply))
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"\0")

    # --- life ------------------------------------------------------------------------------------------

    def run(self, stop: threading.Event, ready: Callable[[], None] | None = None) -> None:
        """Bind, start the drivers, serve until `stop` is set, then shut everything down."""
        lock = self._lock_runtime_dir()
        context = zmq.Context()
        try:
            self._bind(context)
            for worker in self.workers.values():
                worker.start()
            log.info(
                "device daemon %s ready: events %s, commands %s; drivers: %s",
                self.id,
                self.config.events_address,
                self.config.commands_address,
                ", ".join(f"{n}={w.state}" for n, w in self.workers.items()),
            )
            if ready is not None:
                ready()
            self._loop(stop)
        finally:
            self._shutdown()
            context.destroy(linger=0)
            for address in (self.config.events_address, self.config.commands_address):
                path = _ipc_path(address)
                if path is not None:
                    path.unlink(missing_ok=True)
            for fd in (self._wake_r, self._wake_w):
                with contextlib.suppress(OSError):
                    os.close(fd)
            lock.close()

    def _lock_runtime_dir(self) -> TextIO:
        runtime = self.config.runtime_dir
        try:
            runtime.mkdir(parents=True, exist_ok=True, mode=0o750)
        except OSError as exc:
            raise DaemonError(f"runtime folder {runtime}: cannot create it ({exc.strerror or exc})") from None
        path = runtime / "devices.lock"
        handle = path.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise DaemonError(
                f"another device daemon is running (pid {holder} holds {path}); only one process may open the devices"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(self.pid))
        handle.flush()
        return handle

    def _bind(self, context: zmq.Context[zmq.Socket[bytes]]) -> None:
        pub = context.socket(zmq.PUB)
        pub.setsockopt(zmq.LINGER, 0)
        pub.setsockopt(zmq.SNDHWM, 1000)
        router = context.socket(zmq.ROUTER)
        router.setsockopt(zmq.LINGER, 0)
        router.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        router.setsockopt(zmq.SNDHWM, 1000)
        for socket, address in ((pub, self.config.events_address), (router, self.config.commands_address)):
            path = _ipc_path(address)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
            try:
                socket.bind(address)
            except zmq.ZMQError as exc:
                raise DaemonError(f"cannot listen on {address}: {exc}") from None
            if path is not None:
                # Only the kiosk's own account (and its group) may talk to the daemon.
                os.chmod(path, 0o660)
        self._pub, self._router = pub, router

    def _shutdown(self) -> None:
        for worker in self.workers.values():
            worker.request_stop()
        deadline = time.monotonic() + 5.0
        for worker in self.workers.values():
            worker.join(max(0.0, deadline - time.monotonic()))
        self._drain_outbox()
        for pending in list(self._pending.values()):
            self._send(
                pending,
                error_reply(
                    pending.request.id,
                    pending.request.command,
                    "device_unavailable",
                    f"{pending.request.command}: the device daemon is shutting down",
                ),
            )
        self._pending.clear()
        for socket in (self._pub, self._router):
            if socket is not None:
                socket.close(linger=0)

    # --- the loop --------------------------------------------------------------------------------------

    def _loop(self, stop: threading.Event) -> None:
        assert self._router is not None
        poller = zmq.Poller()
        poller.register(self._router, zmq.POLLIN)
        poller.register(self._wake_r, zmq.POLLIN)
        heartbeat_s = self.config.supervision.heartbeat_s
        next_heartbeat = time.monotonic()
        next_hung_check = time.monotonic() + _HUNG_CHECK_S
        while not stop.is_set():
            now = time.monotonic()
            wake_at = min([next_heartbeat, now + _MAX_SLEEP_S] + [p.deadline for p in self._pending.values()])
            ready = dict(poller.poll(max(0, int((wake_at - now) * 1000))))
            if self._wake_r in ready:
                with contextlib.suppress(BlockingIOError, OSError):
                    while os.read(self._wake_r, 4096):
                        pass
            if self._router in ready:
                self._receive()
            self._drain_outbox()
            now = time.monotonic()
            self._expire(now)
            if now >= next_heartbeat:
                next_heartbeat = now + heartbeat_s
                self._publish(
                    "heartbeat",
                    {
                        "uptime_s": round(now - self._started, 3),
                        "drivers": {name: worker.state for name, worker in self.workers.items()},
                    },
                )
            if now >= next_hung_check:
                next_hung_check = now + _HUNG_CHECK_S
                for worker in self.workers.values():
                    worker.check_hung()

    def _drain_outbox(self) -> None:
        while True:
            try:
                kind, first, second = self._outbox.get_nowait()
            except queue.Empty:
                return
            if kind == "event":
                self._publish(first, second)
                continue
            job, reply = first, second
            pending = self._pending.pop(job.route, None)
            if pending is None:
                log.info("late reply to %s %s dropped: the client was already answered", reply.command, reply.id)
                continue
            self._send(pending, reply)

    def _publish(self, name: str, fields: dict[str, Any]) -> None:
        assert self._pub is not None
        try:
            event = make_event(name, self.id, self._seq + 1, time.time(), fields)
        except DeviceProtocolError as exc:
            log.error("event %s not published: %s", name, exc)
            return
        self._seq += 1
        with contextlib.suppress(zmq.Again):
            self._pub.send_multipart(encode_event(event), flags=zmq.NOBLOCK)

    def _send(self, pending: _Pending, reply: Reply) -> None:
        self._send_raw(pending.identity, pending.envelope, reply)

    def _send_raw(self, identity: bytes, envelope: list[bytes], reply: Reply) -> None:
        assert self._router is not None
        try:
            frames = encode_reply(reply)
        except (ValueError, TypeError) as exc:
            log.error("reply to %s %s cannot be encoded: %s", reply.command, reply.id, exc)
            frames = encode_reply(error_reply(reply.id, reply.command, "internal", f"reply not encodable: {exc}"))
        with contextlib.suppress(zmq.Again, zmq.ZMQError):
            self._router.send_multipart([identity, *envelope, *frames], flags=zmq.NOBLOCK)

    def _expire(self, now: float) -> None:
        for key, pending in list(self._pending.items()):
            if now < pending.deadline:
                continue
            del self._pending[key]
            worker = self.workers[COMMAND_DRIVER[pending.request.command] or ""]
            busy = worker.status().busy
            self._send(
                pending,
                error_reply(
                    pending.request.id,
                    pending.request.command,
                    "timeout",
                    f"{pending.request.command}: the {worker.name} did not finish within {pending.timeout_s:g} s"
                    + (f" (busy with {busy})" if busy and busy != pending.request.command else ""),
                ),
            )

    def _receive(self) -> None:
        assert self._router is not None
        for _ in range(_BATCH):
            try:
                frames = self._router.recv_multipart(flags=zmq.NOBLOCK)
            except zmq.Again:
                return
            self._handle(frames)

    def _handle(self, frames: list[bytes]) -> None:
        identity, rest = frames[0], frames[1:]
        envelope: list[bytes] = []
        if rest and rest[0] == b"":
            envelope, rest = [b""], rest[1:]  # a REQ client: echo its delimiter
        try:
            request = decode_request(rest)
        except DeviceProtocolError as exc:
            code: ErrorCode = "unknown_command" if exc.field == "command" else "bad_request"
            log.info("bad request: %s", exc)
            details = {"field": exc.field} if exc.field else None
            self._send_raw(identity, envelope, error_reply(exc.request_id, None, code, str(exc), details))
            return
        if request.sent_at is not None and request.timeout_s is not None:
            late = time.time() - (request.sent_at + request.timeout_s)
            if late > 0:
                message = f"{request.command}: arrived {late:.1f} s after the client's own deadline; not started"
                self._send_raw(identity, envelope, error_reply(request.id, request.command, "expired", message))
                return
        if request.command == "status":
            self._send_raw(identity, envelope, ok_reply(request, self.status()))
            return
        key = (identity, request.id)
        if key in self._pending:
            message = f"{request.command}: request id {request.id!r} is already running; use a new id per request"
            self._send_raw(identity, envelope, error_reply(request.id, request.command, "bad_request", message))
            return
        timeout_s = (
            request.timeout_s if request.timeout_s is not None else default_timeout_s(request.command, request.args)
        )
        pending = _Pending(identity, envelope, request, time.monotonic() + timeout_s, timeout_s)
        worker = self.workers[COMMAND_DRIVER[request.command] or ""]
        refused = worker.submit(Job(request, pending.deadline, route=key))
        if refused is not None:
            self._send(pending, refused)
            return
        self._pending[key] = pending

    def status(self) -> StatusResult:
        """The daemon and every driver: state, reason, restarts, what it is doing, its figures."""
        return StatusResult(
            daemon=DaemonInfo(
                id=self.id,
                pid=self.pid,
                version=self.version,
                started_at=self.started_at,
                uptime_s=round(time.monotonic() - self._started, 3),
                events=self.config.events_address,
                commands=self.config.commands_address,
            ),
            drivers={name: worker.status() for name, worker in self.workers.items()},
        )


# --- command line ----------------------------------------------------------------------------------


def _summary(config: DevicesConfig) -> dict[str, Any]:
    def described(section: Any) -> Any:
        if section is None:
            return None
        data = section.model_dump(mode="json", exclude={"password"})
        if "url" in data:
            data["url"] = redact_url(data["url"])  # a camera URL may carry the camera's password
        return data

    return {
        "runtime_dir": str(config.runtime_dir),
        "events": config.events_address,
        "commands": config.commands_address,
        "recordings": str(config.recordings_dir),
        "idcard": described(config.idcard),
        "fingerprint": described(config.fingerprint),
        "camera": described(config.camera),
        "microphone": described(config.microphone),
        "vision": {"detector": config.vision.detector.type, "embedder": config.vision.embedder.type},
    }


def main(argv: list[str] | None = None) -> int:
    """`corr-kiosk-devices [-c kiosk.toml] [--check]`: run the daemon until SIGTERM or Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="corr-kiosk-devices",
        description="The kiosk's device daemon: ID-card reader, fingerprint sensor, camera, microphone over ZeroMQ.",
    )
    parser.add_argument("-c", "--config", type=Path, help="the kiosk's TOML file (default: $CORR_KIOSK_CONFIG)")
    parser.add_argument("--check", action="store_true", help="validate the configuration, print it and exit")
    parser.add_argument(
        "--log-level",
        default=os.environ.get("CORR_LOG_LEVEL", "INFO").upper(),
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="default: $CORR_LOG_LEVEL or INFO",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"corr-kiosk-devices: configuration error:\n{exc}", file=sys.stderr)
        return 2
    if args.check:
        print(json.dumps(_summary(config), ensure_ascii=False, indent=2))
        return 0
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        Daemon(config).run(stop)
    except DaemonError as exc:
        print(f"corr-kiosk-devices: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
