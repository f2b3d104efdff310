"""The device side of MQTT: outbox rows published until PUBACK, commands in, status heartbeat out.

Three threads share the work. Paho's network thread only records what happened (connected,
PUBACK received, command arrived) and wakes the others, so it never waits on SQLite or on a
command handler. The sender thread owns every QoS 1 publication and the outbox bookkeeping.
The command thread decodes commands, runs their handlers and acknowledges them afterwards.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from contracts import ContractError, Message, Status, cmd_topic, decode, dev_topic, encode, topic_for
from uplink.config import UplinkConfig
from uplink.outbox import Outbox

log = logging.getLogger(__name__)

CommandHandler = Callable[[Message], None]

# PUBACK reason codes that say "not now" rather than "never": the row is offered again later.
# 0x10 "No matching subscribers" is a success code in MQTT 5, but for us it means nobody holds the
# event: e.g. right after a Mosquitto 2.0 restart, which does not restore central's *shared*
# subscription until the ingest worker subscribes again. Deleting the row then would lose it.
_NO_SUBSCRIBERS = 0x10
_TRANSIENT_REASONS = frozenset({_NO_SUBSCRIBERS, 0x91, 0x97})  # + Packet Identifier in use, Quota exceeded
_RECEIVE_MAXIMUM_DEFAULT = 65535  # MQTT 5: the broker's limit when CONNACK does not state one
_OFFLINE_STATUS_TIMEOUT_S = 5.0
_ERROR_PAUSE_S = 1.0


class Uplink:
    """One device's connection to central: `send` events, receive commands, report status.

    Events go to the durable outbox first and leave it only when the broker acknowledged them,
    so delivery is at-least-once and survives broker outages and device crashes.
    """

    def __init__(self, config: UplinkConfig) -> None:
        self.config = config
        self._outbox = Outbox(config.outbox_path, config.outbox_max_rows, config.outbox_synchronous)
        self._cmd_prefix = f"corr/v1/cmd/{config.device_id}/"
        self._client: mqtt.Client | None = None
        self._sender: threading.Thread | None = None
        self._commander: threading.Thread | None = None
        self._handlers: dict[str, CommandHandler] = {}
        self._status_extra: dict[str, Any] = {}

        # Guards the fields below; `_changed` is signalled whenever the outbox may have drained.
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._inflight: dict[int, int | None] = {}  # paho mid → outbox row id (None: a status message)
        self._connected = False
        self._generation = 0  # successful connections so far
        self._ever_connected = False
        self._last_error: str | None = None
        self._published = 0
        self._rejected = 0
        self._status_due = True

        # Paho's thread hands results to the sender through these, without waiting.
        self._acks: queue.SimpleQueue[tuple[int, ReasonCode]] = queue.SimpleQueue()
        self._commands: queue.SimpleQueue[mqtt.MQTTMessage | None] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stopping = threading.Event()

        # Owned by the sender thread, read elsewhere only for stats.
        self._cursor = 0  # highest row id handed to paho in this process
        self._retry_from: int | None = None
        self._defer_s = config.reconnect_min_s  # grows while the broker keeps deferring rows
        self._resume_at = 0.0
        self._receive_maximum = _RECEIVE_MAXIMUM_DEFAULT
        self._maximum_packet_size: int | None = None

    # ---- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start connecting in the background; the broker may be down, the client keeps retrying."""
        if self._client is not None:
            raise RuntimeError(f"uplink {self.config.device_id} is already started")
        if self._stopping.is_set():
            raise RuntimeError(f"uplink {self.config.device_id} was stopped; make a new Uplink to start again")
        cfg = self.config
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=cfg.device_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        client.suppress_exceptions = True  # a bug in a callback must not end the network thread
        client.username_pw_set(cfg.username, cfg.password)
        if cfg.tls_ca_file is not None:
            client.tls_set(ca_certs=str(cfg.tls_ca_file))
        # The sender paces publications itself (max_inflight, the broker's Receive Maximum), so
        # paho sends whatever it is given and never parks messages in its own queue.
        client.max_inflight_messages_set(0)
        client.max_queued_messages_set(0)
        # Paho annotates these as int but does float arithmetic on them; sub-second delays work.
        client.reconnect_delay_set(cfg.reconnect_min_s, cfg.reconnect_max_s)  # type: ignore[arg-type]
        self._set_will(client)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = cfg.session_expiry_s
        client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive_s, clean_start=False, properties=properties)
        self._client = client
        self._sender = threading.Thread(target=self._run_sender, name=f"uplink-send-{cfg.device_id}", daemon=True)
        self._commander = threading.Thread(target=self._run_commands, name=f"uplink-cmd-{cfg.device_id}", daemon=True)
        self._sender.start()
        self._commander.start()
        client.loop_start()

    def stop(self, drain_timeout: float = 0.0) -> None:
        """Optionally wait for the outbox to drain, say offline, disconnect and close the outbox.

        Rows still unacknowledged stay in the outbox and are sent by the next start.
        """
        client = self._client
        if client is None:
            self._outbox.close()
            return
        if drain_timeout > 0:
            self.wait_drained(drain_timeout)
        self._stopping.set()
        self._wake.set()
        if self._sender is not None:
            self._sender.join()
        if self.connected:
            self._publish_offline(client)
        client.disconnect()
        client.loop_stop()
        self._commands.put(None)
        if self._commander is not None:
            self._commander.join()
        # PUBACKs that arrived while shutting down still count: fewer duplicates after restart.
        self._settle_acks()
        with self._lock:
            self._connected = False
            self._inflight.clear()
            self._changed.notify_all()
        self._outbox.close()
        self._client = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---- public API ------------------------------------------------------------------------------

    def send(self, message: Message) -> int:
        """Queue one event durably and return its outbox id; raises OutboxFull (back-pressure)."""
        row_id = self._outbox.put(topic_for(message), encode(message))
        self._wake.set()
        return row_id

    def send_many(self, messages: Iterable[Message]) -> list[int]:
        """Queue several events in one transaction: all of them or, at the outbox limit, none."""
        items = [(topic_for(m), encode(m)) for m in messages]
        ids = self._outbox.put_many(items)
        self._wake.set()
        return ids

    def publish_status(self, **extra: Any) -> None:
        """Publish the retained status now (when connected); `extra` Status fields are kept for later ones."""
        # Build one now so a bad field fails here, in the caller, and not in the sender thread.
        self._status(online=True, **extra)
        with self._lock:
            self._status_extra.update(extra)
            self._status_due = True
        self._wake.set()

    def on_command(self, kind: str, handler: CommandHandler) -> None:
        """Call `handler` with each command arriving on corr/v1/cmd/<this device>/<kind>."""
        cmd_topic(self.config.device_id, kind)  # raises ContractError for a kind the contract lacks
        with self._lock:
            self._handlers[kind] = handler

    def wait_drained(self, timeout: float) -> bool:
        """Block until the outbox is empty and nothing is in flight; False if `timeout` passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._inflight and self._outbox.depth() == 0, timeout)

    @property
    def connected(self) -> bool:
        """True while the broker has accepted this device's connection."""
        with self._lock:
            return self._connected

    def stats(self) -> dict[str, Any]:
        """Counters: depth, inflight, published, rejected, connected, and the last connection error."""
        with self._lock:
            return {
                "depth": self._outbox.depth(),
                "inflight": len(self._inflight),
                "published": self._published,
                "rejected": self._rejected,
                "connected": self._connected,
                "last_error": self._last_error,
            }

    # ---- paho callbacks (network thread: record, wake, return) --------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        cfg = self.config
        if reason_code.is_failure:
            self._note_error(
                f"broker {cfg.host}:{cfg.port} refused {cfg.username!r}: {reason_code} "
                f"(reason code 0x{reason_code.value:02X})"
            )
            return
        receive_maximum = getattr(properties, "ReceiveMaximum", _RECEIVE_MAXIMUM_DEFAULT)
        maximum_packet_size = getattr(properties, "MaximumPacketSize", None)
        with self._lock:
            first = not self._ever_connected
            self._ever_connected = True
            self._connected = True
            self._generation += 1
            self._last_error = None
            self._receive_maximum = int(receive_maximum)
            self._maximum_packet_size = None if maximum_packet_size is None else int(maximum_packet_size)
        try:
            # Retained commands (the gallery) come once per process, and again if the broker lost the session.
            retain_handling = (
                SubscribeOptions.RETAIN_SEND_ON_SUBSCRIBE
                if first or not flags.session_present
                else SubscribeOptions.RETAIN_SEND_IF_NEW_SUB
            )
            client.subscribe(self._cmd_prefix + "#", options=SubscribeOptions(qos=1, retainHandling=retain_handling))
            # The will was fixed when this connection was made; the next connection carries a new event id.
            self._set_will(client)
        except Exception:
            # Paho would swallow it (suppress_exceptions); say it here instead.
            log.exception("%s: subscribing to commands or renewing the will failed", cfg.device_id)
        log.info(
            "%s connected to %s:%s (session present: %s)",
            cfg.device_id,
            cfg.host,
            cfg.port,
            flags.session_present,
        )
        self._wake.set()

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._note_error(f"cannot reach broker {self.config.host}:{self.config.port}")

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._lock:
            was_connected = self._connected
            self._connected = False
        if was_connected and not self._stopping.is_set():
            log.warning("%s lost the broker connection: %s", self.config.device_id, reason_code)
        self._wake.set()

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason_code: ReasonCode, properties: Properties
    ) -> None:
        self._acks.put((mid, reason_code))
        self._wake.set()

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        for code in reason_codes:
            if code.is_failure:
                log.error(
                    "broker refused the command subscription %s#: %s (reason code 0x%02X)",
                    self._cmd_prefix,
                    code,
                    code.value,
                )

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._commands.put(message)

    # ---- sender thread --------------------------------------------------------------------------

    def _run_sender(self) -> None:
        interval = self.config.status_interval_s
        next_status = time.monotonic() + interval
        seen_generation = 0
        holding = False
        while True:
            now = time.monotonic()
            wake_at = min(next_status, self._resume_at) if self._retry_from is not None else next_status
            self._wake.wait(max(0.0, wake_at - now))
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self._settle_acks()
                now = time.monotonic()
                if now >= next_status:
                    next_status = now + interval
                    with self._lock:
                        self._status_due = True
                with self._lock:
                    connected = self._connected
                    generation = self._generation
                    busy = bool(self._inflight)
                if not connected:
                    continue
                if generation != seen_generation:
                    seen_generation = generation
                    holding = True
                    with self._lock:
                        self._status_due = True
                # After a reconnect paho retransmits what was in flight; new rows wait until those
                # are acknowledged so they cannot overtake them on the wire.
                if holding:
                    if busy:
                        continue
                    holding = False
                if self._retry_from is not None:
                    if busy or now < self._resume_at:
                        continue
                    self._cursor = self._retry_from - 1
                    self._retry_from = None
                self._publish_due_status()
                self._hand_out()
            except Exception:
                log.exception("%s: uplink sender failed; retrying", self.config.device_id)
                self._stopping.wait(_ERROR_PAUSE_S)

    def _hand_out(self) -> None:
        """Give paho the next outbox rows, in id order, up to the in-flight window."""
        assert self._client is not None
        with self._lock:
            window = min(self.config.max_inflight, max(1, self._receive_maximum - 1))
            free = window - len(self._inflight)
            limit = self._maximum_packet_size
        if free <= 0:
            return
        for row in self._outbox.pending(self._cursor, free):
            self._cursor = row.id
            size = _publish_packet_size(row.topic, row.payload)
            if limit is not None and size > limit:
                # The broker would drop the connection, and the row would come back forever.
                self._reject(row.id, f"PUBLISH of {size} bytes exceeds the broker's maximum packet size {limit}")
                continue
            try:
                info = self._client.publish(row.topic, row.payload, qos=row.qos, retain=row.retain)
            except ValueError as exc:
                self._reject(row.id, f"paho refused the publication: {exc}")
                continue
            self._track(info, row.id)

    def _publish_due_status(self) -> None:
        assert self._client is not None
        with self._lock:
            if not self._status_due or len(self._inflight) >= self._receive_maximum:
                return
            self._status_due = False
        status = self._status(online=True)
        info = self._client.publish(topic_for(status), encode(status), qos=1, retain=True)
        self._track(info, None)

    def _track(self, info: mqtt.MQTTMessageInfo, row_id: int | None) -> None:
        # NO_CONN is fine: paho keeps the message and sends it after the reconnect.
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            log.warning("paho returned %s for mid %s; waiting for its PUBACK anyway", info.rc, info.mid)
        with self._lock:
            self._inflight[info.mid] = row_id

    def _settle_acks(self) -> None:
        """Apply the PUBACKs paho reported: delete delivered rows, reject refused ones."""
        delivered: list[int] = []
        while True:
            try:
                mid, reason = self._acks.get_nowait()
            except queue.Empty:
                break
            with self._lock:
                if mid not in self._inflight:
                    continue
                row_id = self._inflight.pop(mid)
            if row_id is None:
                if reason.is_failure:
                    log.error("broker refused the status message: %s (reason code 0x%02X)", reason, reason.value)
            elif reason.value in _TRANSIENT_REASONS:
                if self._retry_from is None:
                    log.warning(
                        "%s: broker deferred outbox row %s: %s; holding it and retrying in %.1f s",
                        self.config.device_id,
                        row_id,
                        reason,
                        self._defer_s,
                    )
                self._retry_from = row_id if self._retry_from is None else min(self._retry_from, row_id)
                self._resume_at = time.monotonic() + self._defer_s
                self._defer_s = min(self._defer_s * 2, self.config.reconnect_max_s)
            elif not reason.is_failure:
                delivered.append(row_id)
            else:
                self._reject(row_id, f"broker refused it: {reason} (reason code 0x{reason.value:02X})")
        if delivered:
            self._outbox.delete(delivered)
            self._defer_s = self.config.reconnect_min_s
        with self._lock:
            self._published += len(delivered)
            self._changed.notify_all()

    def _reject(self, row_id: int, reason: str) -> None:
        self._outbox.reject(row_id, reason)
        log.error("%s: outbox row %s rejected and kept for an operator: %s", self.config.device_id, row_id, reason)
        with self._lock:
            self._rejected += 1
            self._changed.notify_all()

    # ---- status -------------------------------------------------------------------------------

    def _status(self, *, online: bool, **extra: Any) -> Status:
        with self._lock:
            fields = {**self._status_extra, **extra}
        return Status(
            event_id=uuid.uuid4(),
            device_id=self.config.device_id,
            device_time=datetime.now(UTC),
            online=online,
            versions=dict(self.config.versions),
            queue_depth=self._outbox.depth(),
            **fields,
        )

    def _set_will(self, client: mqtt.Client) -> None:
        status = self._status(online=False)
        client.will_set(dev_topic(self.config.device_id, "status"), encode(status), qos=1, retain=True)

    def _publish_offline(self, client: mqtt.Client) -> None:
        status = self._status(online=False)
        info = client.publish(topic_for(status), encode(status), qos=1, retain=True)
        try:
            info.wait_for_publish(_OFFLINE_STATUS_TIMEOUT_S)
        except (RuntimeError, ValueError) as exc:
            log.warning("%s: offline status not acknowledged: %s", self.config.device_id, exc)

    def _note_error(self, text: str) -> None:
        with self._lock:
            repeated = text == self._last_error
            self._last_error = text
        if not repeated:
            log.error("%s: %s; retrying", self.config.device_id, text)

    # ---- command thread -------------------------------------------------------------------------

    def _run_commands(self) -> None:
        while True:
            message = self._commands.get()
            if message is None:
                return
            try:
                self._dispatch(message)
            except Exception:
                log.exception("%s: command on %s failed", self.config.device_id, message.topic)
            finally:
                # Acknowledged only now: a command the device dies on is delivered again (persistent session).
                if message.qos > 0 and self._client is not None:
                    self._client.ack(message.mid, message.qos)

    def _dispatch(self, message: mqtt.MQTTMessage) -> None:
        topic = message.topic
        kind = topic.removeprefix(self._cmd_prefix)
        with self._lock:
            handler = self._handlers.get(kind)
        if handler is None:
            log.warning("%s: no handler for command %s; ignored", self.config.device_id, topic)
            return
        try:
            command = decode(topic, bytes(message.payload))
        except ContractError as exc:
            log.error("%s: invalid command on %s ignored: %s", self.config.device_id, topic, exc)
            return
        try:
            handler(command)
        except Exception:
            log.exception("%s: handler for %r failed on command %s", self.config.device_id, kind, command.event_id)


def _publish_packet_size(topic: str, payload: bytes) -> int:
    """Bytes of an MQTT 5 QoS 1 PUBLISH without properties, as the broker's packet limit counts them."""
    remaining = 2 + len(topic.encode()) + 2 + 1 + len(payload)  # topic, packet id, properties length, payload
    length_bytes = 1
    while remaining >= 128**length_bytes:
        length_bytes += 1
    return 1 + length_bytes + remaining
