"""The uplink against a real Mosquitto: delivery, order, outages, crashes, rejection, sessions, status."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest

from contracts import Message, RollcallStart, Status, cmd_topic, decode, dev_topic, encode
from tests.integration.uplink.helpers import (
    CENTRAL_PASSWORD,
    Central,
    DeviceProcess,
    event_id,
    fix,
    wait_until,
)
from tests.support.mosquitto import Mosquitto
from uplink.client import Uplink
from uplink.config import UplinkConfig
from uplink.outbox import Outbox, OutboxFull

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

MakeConfig = Callable[..., UplinkConfig]
StartProcess = Callable[..., DeviceProcess]


class DistinctCounter:
    """Counts distinct payloads in a growing message list without rescanning it on every message."""

    def __init__(self) -> None:
        self._seen: set[bytes] = set()
        self._scanned = 0

    def update(self, messages: list[mqtt.MQTTMessage]) -> int:
        """Take in messages added since the last call; return how many distinct fix payloads there are."""
        for message in messages[self._scanned :]:
            if message.topic.endswith("/fix"):
                self._seen.add(bytes(message.payload))
        self._scanned = len(messages)
        return len(self._seen)


def at_least(count: int) -> Callable[[list[mqtt.MQTTMessage]], bool]:
    """A predicate for Central.wait_for: at least `count` messages arrived."""
    return lambda messages: len(messages) >= count


def statuses(central: Central) -> list[Status]:
    """The status messages central received so far, in arrival order."""
    return [m for m in central.decoded("status") if isinstance(m, Status)]


def first_arrivals(ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """Event ids in the order they first arrived (redeliveries dropped, as central's event log does)."""
    return list(dict.fromkeys(ids))


def test_messages_arrive_in_order_and_the_outbox_empties(central: Central, device_config: MakeConfig) -> None:
    """Events sent one by one and in a batch reach central once each, in order, and leave the outbox."""
    n = 300
    with Uplink(device_config()) as uplink:
        for i in range(n // 2):
            uplink.send(fix("kiosk-01", i))
        uplink.send_many([fix("kiosk-01", i) for i in range(n // 2, n)])
        assert uplink.wait_drained(30)
        assert central.wait_for(lambda ms: sum(m.topic.endswith("/fix") for m in ms) >= n, 30)
        stats = uplink.stats()
    assert central.event_ids() == [event_id(i) for i in range(n)]
    assert stats["depth"] == 0
    assert stats["inflight"] == 0
    assert stats["published"] == n
    assert stats["rejected"] == 0


def test_events_wait_in_the_outbox_while_nobody_subscribes(broker: Mosquitto, device_config: MakeConfig) -> None:
    """PUBACK 0x10 'No matching subscribers' means nobody holds the event: rows stay until central subscribes."""
    with Uplink(device_config()) as uplink:
        uplink.send_many([fix("kiosk-01", i) for i in range(20)])
        assert not uplink.wait_drained(1.5)
        assert uplink.stats()["depth"] == 20
        broker.add_account("central", CENTRAL_PASSWORD, "central")
        central = Central(broker)
        try:
            assert central.subscribed.wait(15)
            assert uplink.wait_drained(30)
            assert central.wait_for(lambda ms: sum(m.topic.endswith("/fix") for m in ms) >= 20, 30)
            assert first_arrivals(central.event_ids()) == [event_id(i) for i in range(20)]
        finally:
            central.close()


def test_events_wait_in_the_outbox_while_the_broker_is_down(
    broker: Mosquitto, central: Central, device_config: MakeConfig
) -> None:
    """With the broker stopped events stay in the outbox; once it is back all of them arrive."""
    config = device_config()
    broker.stop()
    with Uplink(config) as uplink:
        for i in range(50):
            uplink.send(fix("kiosk-01", i))
        assert not uplink.wait_drained(1.0)
        assert uplink.stats()["depth"] == 50
        assert not uplink.connected
        broker.start()
        assert uplink.wait_drained(30)
        assert central.wait_for(lambda ms: sum(m.topic.endswith("/fix") for m in ms) >= 50, 30)
    assert first_arrivals(central.event_ids()) == [event_id(i) for i in range(50)]


def test_broker_restarts_mid_stream_lose_nothing(
    broker: Mosquitto, central: Central, device_config: MakeConfig
) -> None:
    """Two broker restarts while events flow: every event arrives, first arrivals in order, outbox empty."""
    n = 5000
    with Uplink(device_config(max_inflight=50)) as uplink:
        uplink.send_many([fix("kiosk-01", i) for i in range(n)])
        for restart in (1, 2):
            assert central.wait_for(at_least(restart * 500), 30)
            assert uplink.stats()["depth"] > 0, "the device sent everything before the restart"
            broker.restart()
        assert uplink.wait_drained(60)
        arrived = DistinctCounter()
        assert central.wait_for(lambda ms: arrived.update(ms) >= n, 30)
    assert first_arrivals(central.event_ids()) == [event_id(i) for i in range(n)]


def test_publish_denied_by_the_acl_is_rejected_not_retried(
    central: Central, device_config: MakeConfig, caplog: pytest.LogCaptureFixture
) -> None:
    """A row for a topic the device may not write is rejected with the broker's reason; later rows flow."""
    config = device_config()
    foreign = fix("kiosk-02", 0)
    with Outbox(config.outbox_path) as outbox:
        denied_id = outbox.put(dev_topic("kiosk-02", "fix"), encode(foreign))
    with caplog.at_level(logging.ERROR, logger="uplink"), Uplink(config) as uplink:
        uplink.send(fix("kiosk-01", 1))
        assert uplink.wait_drained(30)
        assert central.wait_for(lambda ms: any(m.topic.endswith("/fix") for m in ms), 30)
        assert uplink.stats()["rejected"] == 1
        # Another round trip: the rejected row is not offered again.
        uplink.send(fix("kiosk-01", 2))
        assert uplink.wait_drained(30)
        assert uplink.stats()["rejected"] == 1
    assert central.event_ids() == [event_id(1), event_id(2)]
    with Outbox(config.outbox_path) as outbox:
        ((row, reason),) = outbox.rejected()
        assert outbox.depth() == 0
    assert row.id == denied_id
    assert row.topic == "corr/v1/dev/kiosk-02/fix"
    assert reason == "broker refused it: Not authorized (reason code 0x87)"
    assert f"outbox row {denied_id} rejected" in caplog.text


def test_wrong_password_never_connects_and_says_why(
    broker: Mosquitto, device_config: MakeConfig, caplog: pytest.LogCaptureFixture
) -> None:
    """A device with a wrong password stays offline, keeps its events and reports the broker's refusal."""
    config = device_config(password="wrong")
    with caplog.at_level(logging.ERROR, logger="uplink"), Uplink(config) as uplink:
        uplink.send(fix("kiosk-01", 0))
        assert wait_until(lambda: uplink.stats()["last_error"] is not None, 15)
        stats = uplink.stats()
        assert not uplink.wait_drained(0.5)
    assert stats["connected"] is False
    assert stats["depth"] == 1
    assert "refused 'kiosk-01': Not authorized (reason code 0x87)" in stats["last_error"]
    assert "refused 'kiosk-01'" in caplog.text
    assert "New connection" in broker.log_text()


def test_status_is_retained_online_and_the_last_will_says_offline_after_a_kill(
    broker: Mosquitto, central: Central, device_config: MakeConfig, device_process: StartProcess
) -> None:
    """A device's retained status is online while it runs; SIGKILL makes the broker publish its will."""
    config = device_config(versions={"uplink": "1.2.3"})
    device = device_process(config, "idle")
    assert device.read_line(30) == "connected"

    assert central.wait_for(lambda ms: any(s.online for s in statuses(central)), 15)
    online = next(s for s in statuses(central) if s.online)
    assert (online.device_id, online.versions, online.queue_depth) == ("kiosk-01", {"uplink": "1.2.3"}, 0)

    device.kill()
    assert central.wait_for(lambda ms: any(not s.online for s in statuses(central)), 15), broker.log_text()
    will = next(s for s in statuses(central) if not s.online)
    assert will.device_id == "kiosk-01"
    assert will.event_id != online.event_id

    late = Central(broker, client_id="central-late")
    try:
        assert late.wait_for(lambda ms: bool(ms), 15)
        (retained,) = [m for m in late.messages if m.topic == "corr/v1/dev/kiosk-01/status"]
        assert retained.retain
        assert late.decoded("status")[0] == will
    finally:
        late.close()


def test_status_heartbeat_and_publish_status(central: Central, device_config: MakeConfig) -> None:
    """publish_status sends extra fields now; the heartbeat repeats them with the current queue depth."""
    with Uplink(device_config(status_interval_s=0.2)) as uplink:
        assert wait_until(lambda: uplink.connected, 15)
        uplink.publish_status(camera_fps={"hall-entrance": 12.5})

        def fps_statuses() -> list[Status]:
            return [s for s in statuses(central) if s.camera_fps]

        assert central.wait_for(lambda ms: len(fps_statuses()) >= 3, 15)
    assert all(s.camera_fps == {"hall-entrance": 12.5} for s in fps_statuses())
    assert central.wait_for(lambda ms: statuses(central)[-1].online is False, 15), "stop() says offline"


def rollcall(device_id: str, rollcall_id: str) -> RollcallStart:
    """A roll-call command for a kiosk, due in an hour."""
    now = datetime.now(UTC)
    return RollcallStart(
        event_id=uuid.uuid4(),
        device_id=device_id,
        device_time=now,
        rollcall_id=rollcall_id,
        subject_ids=["S-350205-0001"],
        deadline=now + timedelta(hours=1),
    )


def test_command_sent_while_offline_arrives_after_reconnect(central: Central, device_config: MakeConfig) -> None:
    """The persistent session keeps a command for an offline device and delivers it when it returns."""
    config = device_config()
    with Uplink(config) as uplink:
        assert wait_until(lambda: uplink.connected, 15)
    command = rollcall("kiosk-01", "RC-1")
    central.publish(cmd_topic("kiosk-01", "rollcall"), encode(command))

    received: list[Message] = []
    arrived = threading.Event()

    def handle(message: Message) -> None:
        received.append(message)
        arrived.set()

    uplink = Uplink(config)
    uplink.on_command("rollcall", handle)
    with uplink:
        assert arrived.wait(15)
        # The stop below publishes and waits for the offline status: a second copy would be here by then.
    assert received == [command]


def test_bad_commands_and_failing_handlers_do_not_stop_the_next_command(
    central: Central, device_config: MakeConfig, caplog: pytest.LogCaptureFixture
) -> None:
    """An invalid command is logged and skipped, a raising handler is logged, the next command still runs."""
    handled: list[str] = []
    done = threading.Event()

    def handle(message: Message) -> None:
        assert isinstance(message, RollcallStart)
        handled.append(message.rollcall_id)
        if message.rollcall_id == "RC-boom":
            raise RuntimeError("handler bug")
        done.set()

    uplink = Uplink(device_config())
    uplink.on_command("rollcall", handle)
    with caplog.at_level(logging.ERROR, logger="uplink"), uplink:
        assert wait_until(lambda: uplink.connected, 15)
        topic = cmd_topic("kiosk-01", "rollcall")
        central.publish(topic, b'{"v": 1, "type": "rollcall_start"}')
        central.publish(topic, encode(rollcall("kiosk-01", "RC-boom")))
        central.publish(topic, encode(rollcall("kiosk-01", "RC-2")))
        assert done.wait(15)
    assert handled == ["RC-boom", "RC-2"]
    assert "invalid command on corr/v1/cmd/kiosk-01/rollcall ignored: field 'event_id': missing" in caplog.text
    assert "handler for 'rollcall' failed" in caplog.text
    assert "RuntimeError: handler bug" in caplog.text


def test_on_command_refuses_a_kind_the_contract_lacks(device_config: MakeConfig) -> None:
    """Registering a handler for an unknown command kind fails at once, naming the known kinds."""
    uplink = Uplink(device_config())
    with pytest.raises(ValueError, match="unknown cmd topic kind 'reboot'"):
        uplink.on_command("reboot", lambda message: None)
    uplink.stop()


def test_device_killed_mid_send_and_restarted_delivers_every_event(
    central: Central, device_config: MakeConfig, device_process: StartProcess
) -> None:
    """SIGKILL while sending, restart on the same outbox: every committed event arrives, outbox ends empty."""
    n = 5000
    config = device_config(max_inflight=5)
    device = device_process(config, "send", str(n))
    assert device.read_line(30) == "sending"
    assert central.wait_for(lambda ms: len(ms) >= 300, 30)
    device.kill()

    arrived = set(central.event_ids())
    with Outbox(config.outbox_path) as outbox:
        waiting = {decode(row.topic, row.payload).event_id for row in outbox.pending(limit=n)}
    index = {event_id(i): i for i in range(n)}
    committed = max(index[e] for e in arrived | waiting) + 1
    assert waiting, "the device delivered everything before it was killed"

    with Uplink(config) as uplink:
        assert uplink.wait_drained(60)
        want = {event_id(i) for i in range(committed)}
        assert central.wait_for(lambda ms: want <= set(central.event_ids()), 30)
    assert set(central.event_ids()) == want
    assert first_arrivals(central.event_ids()) == [event_id(i) for i in range(committed)]
    with Outbox(config.outbox_path) as outbox:
        assert outbox.depth() == 0


def test_outbox_full_is_raised_when_the_bound_is_reached_with_the_broker_down(
    broker: Mosquitto, device_config: MakeConfig
) -> None:
    """With the broker down the outbox fills to its limit and then refuses events (back-pressure)."""
    config = device_config(outbox_max_rows=20)
    broker.stop()
    with Uplink(config) as uplink:
        uplink.send_many([fix("kiosk-01", i) for i in range(19)])
        with pytest.raises(OutboxFull, match="outbox holds 19 events, its limit"):
            uplink.send_many([fix("kiosk-01", 19), fix("kiosk-01", 20)])
        uplink.send(fix("kiosk-01", 19))
        with pytest.raises(OutboxFull, match=r"^outbox holds 20 events, its limit: the device must slow down") as info:
            uplink.send(fix("kiosk-01", 20))
        assert (info.value.depth, info.value.limit) == (20, 20)
        assert uplink.stats()["depth"] == 20
