"""The UI's side of the device daemon: commands over a DEALER socket, events over a SUB socket.

Every call has a timeout. A daemon that is not running, was killed, or does not answer makes the
call raise `DeviceUnavailable` once its timeout has passed, never hang; the next call works as
soon as the daemon is back (ZeroMQ reconnects by itself; the client also throws away its command
socket after a timeout, so a request left in it is never delivered to a daemon started later).
A device that is down (driver failed, not configured, too slow) is `DeviceUnavailable` too, with
the daemon's code; a refusal (face not accepted, no finger, bad argument) is `CommandRefused`.

```python
client = DeviceClient.from_config(load_config())
card = client.read_card(wait_s=20)                 # CardFields, or None
face = client.capture_face(reference=template)      # FaceResult: .template, .quality, .verification
event = client.next_event(timeout_s=0.5)            # CardInserted, FingerPlaced, FrameReady, …, or None
```

One thread may send commands while another reads events: each socket has its own lock.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import zmq
from pydantic import BaseModel

from kiosk.devices.config import DevicesConfig
from kiosk.devices.protocol import (
    COMMAND_ARGS,
    EVENTS,
    MAX_MESSAGE_BYTES,
    CardFields,
    CardResult,
    DeviceProtocolError,
    Event,
    FaceResult,
    FingerEnrolResult,
    FingerVerifyResult,
    Heartbeat,
    RecordingResult,
    RecordingStarted,
    StatusResult,
    decode_event,
    decode_reply,
    default_timeout_s,
    encode_request,
    make_request,
    parse_result,
)
from vision.template import Template

log = logging.getLogger(__name__)

E = TypeVar("E", bound=BaseModel)

UNAVAILABLE_CODES = frozenset({"device_unavailable", "timeout", "expired", "unreachable", "no_answer", "internal"})
"""Error codes that mean "the device cannot be used now" rather than "the person or the request was refused"."""


class DeviceClientError(Exception):
    """A command that did not succeed: `code` (the daemon's error code, or the client's own), message, details."""

    def __init__(self, code: str, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = dict(details or {})


class DeviceUnavailable(DeviceClientError):
    """The daemon did not answer in time (code `unreachable` or `no_answer`), or the device is down."""


class CommandRefused(DeviceClientError):
    """The daemon answered with a refusal: bad request, face not accepted, no finger, not recording, busy…"""


class DeviceClient:
    """Commands and events of one device daemon."""

    def __init__(
        self,
        events: str,
        commands: str,
        *,
        topics: Iterable[str] | None = None,
        margin_s: float = 2.0,
        context: zmq.Context[zmq.Socket[bytes]] | None = None,
    ) -> None:
        self.events_address = events
        self.commands_address = commands
        self.margin_s = margin_s
        wanted = list(EVENTS) if topics is None else list(topics)
        unknown = sorted(set(wanted) - set(EVENTS))
        if unknown:
            raise ValueError(f"topics: unknown event {unknown[0]!r}, expected some of {', '.join(EVENTS)}")
        self._all_topics = topics is None
        # The heartbeat is always read: it carries the daemon's id and says it is alive.
        self._topics = sorted(set(wanted) | {"heartbeat"})
        self._own_context = context is None
        self._context = context if context is not None else zmq.Context()
        self._command_lock = threading.Lock()
        self._event_lock = threading.Lock()
        self._dealer: zmq.Socket[bytes] | None = None
        self._sub: zmq.Socket[bytes] | None = None
        self.daemon_id: str | None = None
        """The id of the daemon run events last came from."""
        self.daemon_changes = 0
        """How often events started coming from a new daemon run (a restart)."""
        self.missed_events = 0
        """Events lost in transit (gaps in `seq`), counted when subscribed to every topic."""
        self.bad_events = 0
        """Event messages that did not decode (logged and skipped)."""
        self._last_seq = 0
        self._last_heard: float | None = None

    @classmethod
    def from_config(cls, config: DevicesConfig, **options: Any) -> DeviceClient:
        """A client for the daemon this configuration describes."""
        return cls(config.events_address, config.commands_address, **options)

    def close(self) -> None:
        """Close both sockets (and the context, when the client made it)."""
        with self._command_lock:
            if self._dealer is not None:
                self._dealer.close(linger=0)
                self._dealer = None
        with self._event_lock:
            if self._sub is not None:
                self._sub.close(linger=0)
                self._sub = None
        if self._own_context:
            self._context.term()

    def __enter__(self) -> DeviceClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- commands -----------------------------------------------------------------------------------

    def _command_socket(self) -> zmq.Socket[bytes]:
        if self._dealer is None:
            socket = self._context.socket(zmq.DEALER)
            socket.setsockopt(zmq.LINGER, 0)
            # Queue a request only on a live connection: nothing waits in the socket for a daemon that
            # might start much later and then carry out a stale command.
            socket.setsockopt(zmq.IMMEDIATE, 1)
            socket.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
            socket.setsockopt(zmq.RECONNECT_IVL, 100)
            socket.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
            socket.connect(self.commands_address)
            self._dealer = socket
        return self._dealer

    def _drop_command_socket(self) -> None:
        if self._dealer is not None:
            self._dealer.close(linger=0)
            self._dealer = None

    def call(
        self, command: str, args: BaseModel | Mapping[str, Any] | None = None, *, timeout_s: float | None = None
    ) -> Any:
        """Send one command and wait for its reply; the result as the command's result model.

        `timeout_s` is how long the daemon may take (default: the command's own, from its arguments);
        the client waits `margin_s` longer for the reply before it gives up with DeviceUnavailable.
        A malformed argument raises DeviceProtocolError (a ValueError) before anything is sent.
        """
        if command not in COMMAND_ARGS:
            raise DeviceProtocolError(f"unknown command {command!r}, expected one of {', '.join(COMMAND_ARGS)}")
        checked = make_request("check", command, args)
        daemon_s = timeout_s if timeout_s is not None else default_timeout_s(command, checked.args)
        request = make_request(uuid.uuid4().hex, command, checked.args, timeout_s=daemon_s, sent_at=time.time())
        wait_s = daemon_s + self.margin_s
        deadline = time.monotonic() + wait_s
        with self._command_lock:
            socket = self._command_socket()
            if not socket.poll(self._ms_left(deadline), zmq.POLLOUT):
                self._drop_command_socket()
                raise DeviceUnavailable(
                    "unreachable",
                    f"{command}: cannot reach the device daemon at {self.commands_address} within {wait_s:g} s "
                    "(is corr-kiosk-devices running?)",
                )
            try:
                socket.send_multipart(encode_request(request), flags=zmq.NOBLOCK)
            except zmq.Again:
                self._drop_command_socket()
                raise DeviceUnavailable(
                    "unreachable", f"{command}: the device daemon at {self.commands_address} went away"
                ) from None
            while True:
                left = self._ms_left(deadline)
                if left <= 0 or not socket.poll(left, zmq.POLLIN):
                    self._drop_command_socket()
                    raise DeviceUnavailable(
                        "no_answer",
                        f"{command}: the device daemon did not answer within {wait_s:g} s "
                        f"(is corr-kiosk-devices running? {self.commands_address})",
                    )
                frames = socket.recv_multipart(flags=zmq.NOBLOCK)
                try:
                    reply = decode_reply(frames)
                except DeviceProtocolError as exc:
                    log.warning("%s: a reply that does not decode was skipped: %s", command, exc)
                    continue
                if reply.id == request.id:
                    break
                log.info("a late reply to request %s was skipped", reply.id)
        if reply.ok:
            assert reply.result is not None
            return parse_result(command, reply.result)
        assert reply.error is not None
        error = reply.error
        kind = DeviceUnavailable if error.code in UNAVAILABLE_CODES else CommandRefused
        raise kind(error.code, error.message, error.details)

    @staticmethod
    def _ms_left(deadline: float) -> int:
        return max(0, int((deadline - time.monotonic()) * 1000))

    def status(self, *, timeout_s: float = 2.0) -> StatusResult:
        """The daemon's and every driver's state."""
        result: StatusResult = self.call("status", timeout_s=timeout_s)
        return result

    def read_card(
        self, wait_s: float = 0.0, *, include_photo: bool = True, timeout_s: float | None = None
    ) -> CardFields | None:
        """The card on the reader, or the next one put there within `wait_s`; None when none came."""
        result: CardResult = self.call(
            "read_card", {"wait_s": wait_s, "include_photo": include_photo}, timeout_s=timeout_s
        )
        return result.card

    def capture_face(
        self,
        *,
        timeout_s: float = 5.0,
        frames: int = 3,
        reference: Template | bytes | None = None,
        reference_photo: bytes | None = None,
        include_crop: bool = False,
        call_timeout_s: float | None = None,
    ) -> FaceResult:
        """The best quality-gated face seen within `timeout_s`, its template, and 1:1 scores against the references."""
        template = reference.to_bytes() if isinstance(reference, Template) else reference
        args = {
            "timeout_s": timeout_s,
            "frames": frames,
            "reference": template,
            "reference_photo": reference_photo,
            "include_crop": include_crop,
        }
        result: FaceResult = self.call("capture_face", args, timeout_s=call_timeout_s)
        return result

    def enrol_finger(
        self, page: int | None = None, *, timeout_s: float = 10.0, call_timeout_s: float | None = None
    ) -> FingerEnrolResult:
        """Two presses of a finger; the sensor's template (kept at `page` on the sensor when given)."""
        result: FingerEnrolResult = self.call(
            "enrol_finger", {"page": page, "timeout_s": timeout_s}, timeout_s=call_timeout_s
        )
        return result

    def verify_finger(
        self,
        template: bytes | None = None,
        *,
        page: int | None = None,
        timeout_s: float = 10.0,
        call_timeout_s: float | None = None,
    ) -> FingerVerifyResult:
        """The finger on the sensor against `template` (from enrol_finger) or a sensor library `page`."""
        result: FingerVerifyResult = self.call(
            "verify_finger", {"template": template, "page": page, "timeout_s": timeout_s}, timeout_s=call_timeout_s
        )
        return result

    def start_recording(self, max_s: float = 120.0) -> RecordingStarted:
        """Start recording; the recording id comes back."""
        result: RecordingStarted = self.call("start_recording", {"max_s": max_s})
        return result

    def stop_recording(self, recording_id: str | None = None, *, include_audio: bool = False) -> RecordingResult:
        """Stop (or collect) a recording: its WAV path, sha256, duration, and the bytes when asked for."""
        result: RecordingResult = self.call(
            "stop_recording", {"recording_id": recording_id, "include_audio": include_audio}
        )
        return result

    # --- events -------------------------------------------------------------------------------------

    def _event_socket(self) -> zmq.Socket[bytes]:
        if self._sub is None:
            socket = self._context.socket(zmq.SUB)
            socket.setsockopt(zmq.LINGER, 0)
            socket.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
            socket.setsockopt(zmq.RECONNECT_IVL, 100)
            socket.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
            socket.setsockopt(zmq.RCVHWM, 10_000)
            for topic in self._topics:
                socket.setsockopt(zmq.SUBSCRIBE, topic.encode("ascii"))
            socket.connect(self.events_address)
            self._sub = socket
        return self._sub

    def subscribe(self) -> None:
        """Connect the event socket now (events published before it connects are not seen)."""
        with self._event_lock:
            self._event_socket()

    def wait_connected(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for a heartbeat; True once one came, and events flow from then on.

        A SUB socket connects (and reconnects after a daemon restart) on its own schedule, so a caller
        about to rely on events waits for this first. Events read while waiting are skipped.
        """
        return self.wait_for(Heartbeat, timeout_s) is not None

    def next_event(self, timeout_s: float) -> Event | None:
        """The next event, waiting at most `timeout_s`; None when none came."""
        deadline = time.monotonic() + timeout_s
        with self._event_lock:
            socket = self._event_socket()
            while True:
                left = self._ms_left(deadline)
                if not socket.poll(left, zmq.POLLIN):
                    return None
                frames = socket.recv_multipart(flags=zmq.NOBLOCK)
                # A SUB matches topics by prefix: drop what matched a prefix but is another event.
                if frames and frames[0].decode("ascii", "replace") not in self._topics:
                    continue
                try:
                    event = decode_event(frames)
                except DeviceProtocolError as exc:
                    self.bad_events += 1
                    log.warning("an event that does not decode was skipped: %s", exc)
                    continue
                self._track(event)
                return event

    def wait_event(
        self, names: str | Iterable[str], timeout_s: float, where: Callable[[Any], bool] | None = None
    ) -> Event | None:
        """The next event named `names` (and satisfying `where`) within `timeout_s`; others are skipped."""
        wanted = {names} if isinstance(names, str) else set(names)
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            event = self.next_event(left)
            if event is None:
                return None
            if event.event in wanted and (where is None or where(event)):
                return event

    def wait_for(self, kind: type[E], timeout_s: float, where: Callable[[E], bool] | None = None) -> E | None:
        """The next event of class `kind` (e.g. CardInserted) satisfying `where`, within `timeout_s`; skips others."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            event = self.next_event(left)
            if event is None:
                return None
            if isinstance(event, kind) and (where is None or where(event)):
                return event

    def _track(self, event: Event) -> None:
        self._last_heard = time.monotonic()
        if event.daemon != self.daemon_id:
            if self.daemon_id is not None:
                self.daemon_changes += 1
                log.info("device daemon restarted: %s → %s", self.daemon_id, event.daemon)
            self.daemon_id = event.daemon
        elif self._all_topics and event.seq > self._last_seq + 1:
            self.missed_events += event.seq - self._last_seq - 1
        self._last_seq = event.seq

    def heard_within(self, seconds: float) -> bool:
        """Whether any event (a heartbeat at least) arrived in the last `seconds` (read events to keep this fresh)."""
        return self._last_heard is not None and time.monotonic() - self._last_heard <= seconds
