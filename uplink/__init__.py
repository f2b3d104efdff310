"""Device side of MQTT: a durable outbox, publish-until-PUBACK, commands in, status and last will out."""

from uplink.client import Uplink
from uplink.config import UplinkConfig
from uplink.outbox import Outbox, OutboxFull, OutboxRow

__all__ = ["Outbox", "OutboxFull", "OutboxRow", "Uplink", "UplinkConfig"]
