"""MQTT topic names of contract v1: ``corr/v1/<dev|cmd>/<device id>/<kind>``."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, Protocol

from contracts.errors import ContractError, show

PREFIX = "corr/v1"
INGEST_SHARED_SUBSCRIPTION = f"$share/central/{PREFIX}/dev/+/+"

DEVICE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
DEVICE_ID_RULE = "1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit"

Direction = Literal["dev", "cmd"]

TYPE_FOR_KIND: Mapping[tuple[Direction, str], str] = MappingProxyType(
    {
        ("dev", "sighting"): "sighting",
        ("dev", "checkin"): "checkin",
        ("dev", "report"): "voice_report",
        ("dev", "rollcall"): "rollcall_answer",
        ("dev", "fix"): "fix",
        ("dev", "alarm"): "device_alarm",
        ("dev", "status"): "status",
        ("cmd", "rollcall"): "rollcall_start",
        ("cmd", "gallery"): "gallery",
    }
)
KIND_FOR_TYPE: Mapping[str, tuple[Direction, str]] = MappingProxyType(
    {message_type: where for where, message_type in TYPE_FOR_KIND.items()}
)

_SHAPE = f"{PREFIX}/<dev|cmd>/<device id>/<kind>"


@dataclass(frozen=True)
class Topic:
    """A parsed topic: who it concerns and which kind of message it carries."""

    direction: Direction
    device_id: str
    kind: str


class Addressed(Protocol):
    """Anything with a message type and a device id, such as every contract message."""

    @property
    def type(self) -> str: ...

    @property
    def device_id(self) -> str: ...


def is_device_id(value: str) -> bool:
    """Whether `value` is a valid device id (safe as one MQTT topic level)."""
    return DEVICE_ID_PATTERN.fullmatch(value) is not None


def dev_topic(device_id: str, kind: str) -> str:
    """The topic a device publishes `kind` messages on."""
    return _build("dev", device_id, kind)


def cmd_topic(device_id: str, kind: str) -> str:
    """The topic central sends `kind` commands to a device on."""
    return _build("cmd", device_id, kind)


def topic_for(message: Addressed) -> str:
    """The topic a message travels on, from its type and device id."""
    where = KIND_FOR_TYPE.get(message.type)
    if where is None:
        raise ContractError("type", f"unknown message type {show(message.type)}, expected one of {_types()}")
    direction, kind = where
    return _build(direction, message.device_id, kind)


def parse_topic(topic: str) -> Topic:
    """Split a contract topic into direction, device id and kind, rejecting anything else."""
    if not topic.startswith(PREFIX + "/"):
        raise ContractError(None, f"topic {show(topic)} does not start with '{PREFIX}/', expected {_SHAPE}")
    levels = topic.split("/")
    if len(levels) != 5:
        raise ContractError(None, f"topic {show(topic)} has {len(levels)} levels, expected 5: {_SHAPE}")
    _, _, direction, device_id, kind = levels
    if direction not in ("dev", "cmd"):
        raise ContractError(
            None, f"topic {show(topic)} has unknown direction {show(direction)}, expected 'dev' or 'cmd'"
        )
    parsed = Topic("dev" if direction == "dev" else "cmd", device_id, kind)
    problem = _problem(parsed.direction, device_id, kind)
    if problem is not None:
        raise ContractError(None, f"topic {show(topic)}: {problem}")
    return parsed


def _build(direction: Direction, device_id: str, kind: str) -> str:
    problem = _problem(direction, device_id, kind)
    if problem is not None:
        raise ContractError(None, problem)
    return f"{PREFIX}/{direction}/{device_id}/{kind}"


def _problem(direction: Direction, device_id: str, kind: str) -> str | None:
    if not is_device_id(device_id):
        return f"device id {show(device_id)} is not valid, expected {DEVICE_ID_RULE}"
    if (direction, kind) not in TYPE_FOR_KIND:
        kinds = ", ".join(repr(k) for d, k in sorted(TYPE_FOR_KIND) if d == direction)
        return f"unknown {direction} topic kind {show(kind)}, expected one of {kinds}"
    return None


def _types() -> str:
    return ", ".join(repr(t) for t in sorted(KIND_FOR_TYPE))
