"""The wire between devices and central: MQTT topics, message models (contract v1), JSON codec."""

from contracts.codec import MAX_PAYLOAD_BYTES, decode, decode_object, decode_with_object, encode
from contracts.errors import ContractError
from contracts.messages import (
    Checkin,
    DeviceAlarm,
    Envelope,
    Fix,
    Gallery,
    Message,
    RollcallAnswer,
    RollcallStart,
    Sighting,
    Status,
    VoiceReport,
)
from contracts.topics import (
    INGEST_SHARED_SUBSCRIPTION,
    KIND_FOR_TYPE,
    PREFIX,
    TYPE_FOR_KIND,
    Topic,
    cmd_topic,
    dev_topic,
    is_device_id,
    parse_topic,
    topic_for,
)

__all__ = [
    "INGEST_SHARED_SUBSCRIPTION",
    "KIND_FOR_TYPE",
    "MAX_PAYLOAD_BYTES",
    "PREFIX",
    "TYPE_FOR_KIND",
    "Checkin",
    "ContractError",
    "DeviceAlarm",
    "Envelope",
    "Fix",
    "Gallery",
    "Message",
    "RollcallAnswer",
    "RollcallStart",
    "Sighting",
    "Status",
    "Topic",
    "VoiceReport",
    "cmd_topic",
    "decode",
    "decode_object",
    "decode_with_object",
    "dev_topic",
    "encode",
    "is_device_id",
    "parse_topic",
    "topic_for",
]
