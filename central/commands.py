"""Commands from central to devices over MQTT (`corr/v1/cmd/{device}/…`), published with central's own login.

Central logs in to the broker with the account in `[mqtt]` (a device of kind `central`, which may
write `corr/v1/cmd/#`). A `gallery` command is *retained*: a device that connects later, or
reconnects after an outage, gets the newest announcement at once, and a newer one replaces it.
Publishing waits for the broker's PUBACK, so a returned call means the broker holds the message.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from central.config import CentralConfig
from central.gallery import GalleryInfo
from contracts import Gallery, decode_object, encode, topic_for

log = logging.getLogger("central.commands")

# PUBACK reason codes that mean "accepted": 0 Success, 16 No matching subscribers (normal for retained).
_ACCEPTED = {0, 16}


class CommandError(RuntimeError):
    """The broker could not be reached or refused a command; the message says which and why."""


def gallery_command(info: GalleryInfo, public_url: str, now: datetime | None = None) -> Gallery:
    """The `gallery` command announcing a device's current gallery."""
    message = decode_object(
        {
            "v": 1,
            "type": "gallery",
            "event_id": str(uuid.uuid4()),
            "device_id": info.device_id,
            "device_time": (now or datetime.now(UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "version": info.version,
            "url": info.url(public_url),
            "sha256": info.sha256,
        }
    )
    assert isinstance(message, Gallery)
    return message


class CommandPublisher:
    """One short MQTT session that publishes retained commands and waits for each PUBACK.

    Use as a context manager: connects on enter, disconnects on exit. Central publishes commands
    rarely (an enrolment, an operator's `gallery publish`), so no connection is kept open.
    """

    def __init__(self, config: CentralConfig, timeout_s: float = 10.0) -> None:
        self.cfg = config.mqtt
        self.timeout_s = timeout_s
        self._connected = threading.Event()
        self._connect_reason: str | None = None
        self._acks: dict[int, int] = {}
        self._acked = threading.Condition()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{self.cfg.username}-cmd-{uuid.uuid4().hex[:12]}",
            protocol=mqtt.MQTTv5,
        )
        self._client.username_pw_set(self.cfg.username, self.cfg.password)
        self._client.on_connect = self._on_connect
        self._client.on_publish = self._on_publish

    def _on_connect(self, _c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        self._connect_reason = None if not reason.is_failure else str(reason)
        self._connected.set()

    def _on_publish(self, _c: mqtt.Client, _u: object, mid: int, reason: ReasonCode, _p: object) -> None:
        with self._acked:
            self._acks[mid] = reason.value
            self._acked.notify_all()

    def __enter__(self) -> CommandPublisher:
        try:
            self._client.connect(self.cfg.host, self.cfg.port, keepalive=30)
        except OSError as exc:
            raise CommandError(f"broker {self.cfg.host}:{self.cfg.port} unreachable: {exc}") from exc
        self._client.loop_start()
        if not self._connected.wait(self.timeout_s):
            self.close()
            raise CommandError(f"broker {self.cfg.host}:{self.cfg.port} did not answer CONNECT in {self.timeout_s} s")
        if self._connect_reason is not None:
            self.close()
            raise CommandError(
                f"broker refused central's login {self.cfg.username!r}: {self._connect_reason} "
                "(check [mqtt] username/password: a device of kind central)"
            )
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self._client.disconnect()
        self._client.loop_stop()

    def publish(self, message: Gallery) -> None:
        """Publish one retained command at QoS 1 and wait until the broker acknowledges it."""
        topic = topic_for(message)
        info = self._client.publish(topic, encode(message), qos=1, retain=True)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise CommandError(f"could not send {topic}: {mqtt.error_string(info.rc)}")
        with self._acked:
            if not self._acked.wait_for(lambda: info.mid in self._acks, self.timeout_s):
                raise CommandError(f"broker did not acknowledge {topic} in {self.timeout_s} s")
            code = self._acks.pop(info.mid)
        if code not in _ACCEPTED:
            raise CommandError(f"broker refused {topic}: reason code {code} (is [mqtt] username a central account?)")
        log.info("published %s version %s", topic, message.version)


def publish_galleries(config: CentralConfig, galleries: Sequence[GalleryInfo]) -> None:
    """Announce each device's current gallery with a retained `gallery` command."""
    if not galleries:
        return
    public_url = config.public_url()
    with CommandPublisher(config) as publisher:
        for info in galleries:
            publisher.publish(gallery_command(info, public_url))
