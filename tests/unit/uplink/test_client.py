"""The uplink's sender and command logic against a scripted stand-in for paho's client.

The integration suite proves the real thing with Mosquitto; this one drives the broker answers
Mosquitto will not give on demand (Quota exceeded, a small Receive Maximum or packet limit, a
reconnect with messages in flight) and checks exactly what is handed to paho and when.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from contracts import Fix, Message, RollcallStart, Status, decode, encode
from uplink.client import Uplink
from uplink.config import UplinkConfig
from uplink.outbox import Outbox

WAIT_S = 10.0


@dataclass
class Sent:
    """One publication handed to the fake client."""

    mid: int
    topic: str
    payload: bytes
    qos: int
    retain: bool


class FakeInfo:
    """What paho's publish returns: the mid and a return code."""

    def __init__(self, mid: int) -> None:
        self.mid = mid
        self.rc = MQTTErrorCode.MQTT_ERR_SUCCESS

    def wait_for_publish(self, timeout: float | None = None) -> None:
        """The fake acknowledges nothing by itself."""


class FakeClient:
    """Records what the uplink asks of paho; the test plays the broker by calling its callbacks.

    Status messages are acknowledged at once; events only when the test says so.
    """

    instances: ClassVar[list[FakeClient]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.sent: list[Sent] = []
        self.acked: list[int] = []
        self.subscriptions: list[tuple[str, Any]] = []
        self.will: tuple[str, bytes, int, bool] | None = None
        self.connect_args: dict[str, Any] = {}
        self._next_mid = 0
        self._changed = threading.Condition()
        self.on_connect: Callable[..., None] | None = None
        self.on_connect_fail: Callable[..., None] | None = None
        self.on_disconnect: Callable[..., None] | None = None
        self.on_publish: Callable[..., None] | None = None
        self.on_subscribe: Callable[..., None] | None = None
        self.on_message: Callable[..., None] | None = None
        self.suppress_exceptions = False
        FakeClient.instances.append(self)

    # -- the paho surface the uplink uses --
    def username_pw_set(self, username: str, password: str | None = None) -> None:
        self.credentials = (username, password)

    def tls_set(self, **kwargs: Any) -> None:
        self.tls = kwargs

    def max_inflight_messages_set(self, n: int) -> None:
        self.max_inflight = n

    def max_queued_messages_set(self, n: int) -> None:
        self.max_queued = n

    def reconnect_delay_set(self, min_delay: float, max_delay: float) -> None:
        self.reconnect_delay = (min_delay, max_delay)

    def will_set(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        self.will = (topic, payload, qos, retain)

    def connect_async(self, host: str, port: int, **kwargs: Any) -> None:
        self.connect_args = {"host": host, "port": port, **kwargs}

    def loop_start(self) -> None:
        pass

    def loop_stop(self) -> None:
        pass

    def disconnect(self) -> None:
        pass

    def subscribe(self, topic: str, options: Any = None) -> None:
        self.subscriptions.append((topic, options))

    def ack(self, mid: int, qos: int) -> None:
        with self._changed:
            self.acked.append(mid)
            self._changed.notify_all()

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> FakeInfo:
        with self._changed:
            self._next_mid += 1
            mid = self._next_mid
            self.sent.append(Sent(mid, topic, payload, qos, retain))
            self._changed.notify_all()
        if topic.endswith("/status"):
            # Acknowledged before publish() returns, as real paho may do: the uplink must cope.
            self.puback(mid)
        return FakeInfo(mid)

    # -- the broker's side, driven by the test --
    def connect(self, session_present: bool = False, **connack: int) -> None:
        """Deliver a successful CONNACK, with properties such as ReceiveMaximum=3."""
        properties = Properties(PacketTypes.CONNACK)  # type: ignore[no-untyped-call]
        for name, value in connack.items():
            setattr(properties, name, value)
        assert self.on_connect is not None
        self.on_connect(
            self,
            None,
            mqtt.ConnectFlags(session_present),
            ReasonCode(PacketTypes.CONNACK, "Success"),
            properties,
        )

    def refuse(self, code: int) -> None:
        """Deliver a failed CONNACK."""
        assert self.on_connect is not None
        self.on_connect(self, None, mqtt.ConnectFlags(False), ReasonCode(PacketTypes.CONNACK, identifier=code), None)

    def drop(self) -> None:
        """The connection breaks."""
        assert self.on_disconnect is not None
        self.on_disconnect(
            self, None, mqtt.DisconnectFlags(False), ReasonCode(PacketTypes.DISCONNECT, identifier=0x80), None
        )

    def puback(self, mid: int, code: int = 0) -> None:
        """The broker acknowledges one publication with a reason code."""
        assert self.on_publish is not None
        properties = Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]
        self.on_publish(self, None, mid, ReasonCode(PacketTypes.PUBACK, identifier=code), properties)

    def deliver(self, topic: str, payload: bytes, mid: int) -> None:
        """The broker delivers a QoS 1 message (a command)."""
        message = mqtt.MQTTMessage(mid, topic.encode())
        message.payload = payload
        message.qos = 1
        assert self.on_message is not None
        self.on_message(self, None, message)

    def wait_sent(self, count: int) -> list[Sent]:
        """Block until at least `count` publications were handed over; return them all."""
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.sent) >= count, WAIT_S), self.sent
            return list(self.sent)

    def wait_acked(self, count: int) -> list[int]:
        """Block until at least `count` commands were acknowledged."""
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.acked) >= count, WAIT_S), self.acked
            return list(self.acked)

    def events(self) -> list[Sent]:
        """Publications other than status messages."""
        with self._changed:
            return [s for s in self.sent if not s.topic.endswith("/status")]

    def wait_events(self, count: int) -> list[Sent]:
        """Block until at least `count` non-status publications were handed over."""
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.events()) >= count, WAIT_S), self.sent
        return self.events()


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Callable[[], FakeClient]:
    """Replace paho's Client inside the uplink; call the fixture to get the instance it made."""
    FakeClient.instances = []
    monkeypatch.setattr(mqtt, "Client", FakeClient)

    def current() -> FakeClient:
        return FakeClient.instances[-1]

    return current


@pytest.fixture
def config(tmp_path: Path) -> Callable[..., UplinkConfig]:
    """A device config on a temporary outbox; keyword arguments override fields."""

    def make(**changes: Any) -> UplinkConfig:
        fields: dict[str, Any] = {
            "device_id": "kiosk-01",
            "host": "broker.test",
            "password": "pw",
            "outbox_path": tmp_path / "outbox.db",
            "reconnect_min_s": 0.05,
            "reconnect_max_s": 0.1,
            "outbox_synchronous": "OFF",
            "status_interval_s": 3600,
        }
        fields.update(changes)
        return UplinkConfig.model_validate(fields)

    return make


def fix(i: int) -> Fix:
    """The i-th test position; its accuracy carries i so payloads tell events apart."""
    return Fix(
        event_id=uuid.uuid4(),
        device_id="kiosk-01",
        device_time=datetime.now(UTC),
        subject_id="S-1",
        lat=24.5,
        lon=118.0,
        accuracy_m=float(i),
        source="gnss",
    )


def index(sent: Sent) -> int:
    """Which test fix a publication carries."""
    message = decode(sent.topic, sent.payload)
    assert isinstance(message, Fix)
    return int(message.accuracy_m)


def test_client_is_configured_for_a_persistent_v5_session(fake: Callable[[], FakeClient], config: Any) -> None:
    """Client id, credentials, clean_start=False with session expiry, backoff, a retained offline will."""
    with Uplink(config(session_expiry_s=3600)) as uplink:
        client = fake()
        assert client.kwargs["client_id"] == "kiosk-01"
        assert client.kwargs["protocol"] == mqtt.MQTTv5
        assert client.credentials == ("kiosk-01", "pw")
        assert client.connect_args["clean_start"] is False
        assert client.connect_args["properties"].SessionExpiryInterval == 3600
        assert client.reconnect_delay == (0.05, 0.1)
        assert client.will is not None
        topic, payload, qos, retain = client.will
        will = decode(topic, payload)
        assert (topic, qos, retain) == ("corr/v1/dev/kiosk-01/status", 1, True)
        assert isinstance(will, Status)
        assert will.online is False
        assert not uplink.connected


def test_connect_publishes_online_status_subscribes_and_renews_the_will(
    fake: Callable[[], FakeClient], config: Any
) -> None:
    """On connect: retained online status, QoS 1 command subscription, and a will with a new event id."""
    with Uplink(config(versions={"app": "2.0"})) as uplink:
        client = fake()
        assert client.will is not None
        first_will = decode(client.will[0], client.will[1])
        client.connect()
        (status,) = client.wait_sent(1)
        message = decode(status.topic, status.payload)
        assert isinstance(message, Status)
        assert (message.online, message.versions, status.retain, status.qos) == (
            True,
            {"app": "2.0"},
            True,
            1,
        )
        ((topic, options),) = client.subscriptions
        assert (topic, options.QoS) == ("corr/v1/cmd/kiosk-01/#", 1)
        assert client.will is not None
        assert decode(client.will[0], client.will[1]).event_id != first_will.event_id
        assert uplink.connected


def test_rows_go_out_in_order_within_the_window_and_leave_on_puback(
    fake: Callable[[], FakeClient], config: Any
) -> None:
    """At most max_inflight rows are out at once, in id order; a PUBACK frees a slot and deletes its row."""
    with Uplink(config(max_inflight=3)) as uplink:
        uplink.send_many([fix(i) for i in range(6)])
        client = fake()
        client.connect()
        first = client.wait_events(3)
        assert [index(s) for s in first] == [0, 1, 2]
        assert uplink.stats()["depth"] == 6
        client.puback(first[0].mid)
        client.puback(first[1].mid)
        assert [index(s) for s in client.wait_events(5)] == [0, 1, 2, 3, 4]
        for sent in client.events():
            client.puback(sent.mid)
        client.wait_events(6)
        client.puback(client.events()[5].mid)
        assert uplink.wait_drained(WAIT_S)
        assert uplink.stats()["published"] == 6
        assert [index(s) for s in client.events()] == list(range(6))


def test_refused_row_is_rejected_once_and_the_rest_flow(
    fake: Callable[[], FakeClient], config: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """PUBACK 0x87 moves the row to `rejected` with the reason and an error log; it is not sent again."""
    cfg = config()
    with caplog.at_level(logging.ERROR, logger="uplink"), Uplink(cfg) as uplink:
        ids = uplink.send_many([fix(0), fix(1)])
        client = fake()
        client.connect()
        first, second = client.wait_events(2)
        client.puback(first.mid, code=0x87)
        client.puback(second.mid)
        assert uplink.wait_drained(WAIT_S)
        assert uplink.stats()["rejected"] == 1
        assert len(client.events()) == 2
    with Outbox(cfg.outbox_path) as outbox:
        ((row, reason),) = outbox.rejected()
    assert row.id == ids[0]
    assert reason == "broker refused it: Not authorized (reason code 0x87)"
    assert f"outbox row {ids[0]} rejected and kept for an operator" in caplog.text


def test_quota_exceeded_is_retried_not_rejected(fake: Callable[[], FakeClient], config: Any) -> None:
    """PUBACK 0x97 (Quota exceeded) means later: the row is offered again, in order, after a pause."""
    with Uplink(config()) as uplink:
        uplink.send_many([fix(0), fix(1)])
        client = fake()
        client.connect()
        first, second = client.wait_events(2)
        client.puback(first.mid, code=0x97)
        client.puback(second.mid)
        retry = client.wait_events(3)[2]
        assert index(retry) == 0
        client.puback(retry.mid)
        assert uplink.wait_drained(WAIT_S)
        assert uplink.stats()["rejected"] == 0


def test_broker_receive_maximum_narrows_the_window(fake: Callable[[], FakeClient], config: Any) -> None:
    """With Receive Maximum 3 at most two rows are out, leaving room for a status message."""
    with Uplink(config(max_inflight=100)) as uplink:
        uplink.send_many([fix(i) for i in range(5)])
        client = fake()
        client.connect(ReceiveMaximum=3)
        client.wait_events(2)
        assert uplink.wait_drained(0.3) is False
        assert len(client.events()) == 2
        assert uplink.stats()["inflight"] == 2


def test_row_larger_than_the_broker_packet_limit_is_rejected(
    fake: Callable[[], FakeClient], config: Any, tmp_path: Path
) -> None:
    """A row the broker would disconnect for (Maximum Packet Size) is rejected instead of looping forever."""
    cfg = config()
    with Outbox(cfg.outbox_path) as outbox:
        big = outbox.put("corr/v1/dev/kiosk-01/fix", b"x" * 2000)
    with Uplink(cfg) as uplink:
        uplink.send(fix(1))
        client = fake()
        client.connect(MaximumPacketSize=1024)
        (sent,) = client.wait_events(1)
        assert index(sent) == 1
        client.puback(sent.mid)
        assert uplink.wait_drained(WAIT_S)
    with Outbox(cfg.outbox_path) as outbox:
        ((row, reason),) = outbox.rejected()
    assert row.id == big
    assert "exceeds the broker's maximum packet size 1024" in reason


def test_after_a_reconnect_new_rows_wait_for_the_retransmitted_ones(
    fake: Callable[[], FakeClient], config: Any
) -> None:
    """Rows in flight at a disconnect are not handed out again; new rows wait until those are acknowledged."""
    with Uplink(config(max_inflight=10)) as uplink:
        uplink.send_many([fix(0), fix(1)])
        client = fake()
        client.connect()
        first, second = client.wait_events(2)
        client.drop()
        uplink.send_many([fix(2), fix(3)])
        client.connect(session_present=True)
        # Paho retransmits rows 0 and 1 itself; rows 2 and 3 must not overtake them on the wire.
        assert not uplink.wait_drained(0.3)
        assert [index(s) for s in client.events()] == [0, 1]
        client.puback(first.mid)
        client.puback(second.mid)
        third, fourth = client.wait_events(4)[2:]
        assert [index(third), index(fourth)] == [2, 3]
        client.puback(third.mid)
        client.puback(fourth.mid)
        assert uplink.wait_drained(WAIT_S)


def test_nothing_is_handed_out_while_disconnected(fake: Callable[[], FakeClient], config: Any) -> None:
    """Rows sent while offline stay in the outbox (not in paho's memory) until the broker accepts us."""
    with Uplink(config()) as uplink:
        uplink.send(fix(0))
        client = fake()
        assert not uplink.wait_drained(0.3)
        assert client.sent == []
        client.refuse(0x86)
        assert client.sent == []
        assert uplink.stats()["last_error"] == (
            "broker broker.test:1883 refused 'kiosk-01': Bad user name or password (reason code 0x86)"
        )


def test_publish_status_carries_extra_fields_into_later_heartbeats(fake: Callable[[], FakeClient], config: Any) -> None:
    """publish_status sends now; its extra fields stay in the periodic heartbeat."""
    with Uplink(config(status_interval_s=0.1)) as uplink:
        client = fake()
        client.connect()
        client.wait_sent(1)
        uplink.publish_status(camera_fps={"hall": 10.0})
        sent = client.wait_sent(4)
    statuses = [decode(s.topic, s.payload) for s in sent]
    assert all(isinstance(s, Status) and s.online for s in statuses)
    assert all(isinstance(s, Status) and s.camera_fps == {"hall": 10.0} for s in statuses[1:])


def test_publish_status_refuses_a_bad_field_in_the_caller(fake: Callable[[], FakeClient], config: Any) -> None:
    """A wrong status field fails in publish_status, not later in the sender thread."""
    with Uplink(config()) as uplink, pytest.raises(ValueError, match="camera_fps"):
        uplink.publish_status(camera_fps={"hall": -1.0})


def rollcall(rollcall_id: str) -> RollcallStart:
    """A roll-call command for the test kiosk."""
    now = datetime.now(UTC)
    return RollcallStart(
        event_id=uuid.uuid4(),
        device_id="kiosk-01",
        device_time=now,
        rollcall_id=rollcall_id,
        subject_ids=["S-1"],
        deadline=now + timedelta(hours=1),
    )


def test_commands_are_acknowledged_after_their_handler_even_when_bad(
    fake: Callable[[], FakeClient], config: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Every command is acknowledged in order, after its handler; only valid ones reach a handler."""
    handled: list[Message] = []

    def handle(message: Message) -> None:
        handled.append(message)
        if isinstance(message, RollcallStart) and message.rollcall_id == "boom":
            raise RuntimeError("handler bug")

    uplink = Uplink(config())
    uplink.on_command("rollcall", handle)
    with caplog.at_level(logging.WARNING, logger="uplink"), uplink:
        client = fake()
        client.connect()
        good, boom = rollcall("RC-1"), rollcall("boom")
        client.deliver("corr/v1/cmd/kiosk-01/rollcall", encode(boom), mid=1)
        client.deliver("corr/v1/cmd/kiosk-01/rollcall", b"not json", mid=2)
        client.deliver("corr/v1/cmd/kiosk-01/gallery", b"{}", mid=3)
        client.deliver("corr/v1/cmd/kiosk-01/rollcall", encode(good), mid=4)
        assert client.wait_acked(4) == [1, 2, 3, 4]
    assert handled == [boom, good]
    assert "invalid command on corr/v1/cmd/kiosk-01/rollcall ignored: payload is not valid JSON" in caplog.text
    assert "no handler for command corr/v1/cmd/kiosk-01/gallery" in caplog.text
    assert "RuntimeError: handler bug" in caplog.text


def test_a_stopped_uplink_cannot_start_again(fake: Callable[[], FakeClient], config: Any) -> None:
    """An Uplink is used once: its outbox is closed by stop()."""
    uplink = Uplink(config())
    uplink.start()
    uplink.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        uplink.start()
