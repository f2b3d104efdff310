"""Bytes on the wire to messages and back, with errors that say what was wrong and what was expected."""

import json
import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails, PydanticSerializationError

from contracts.errors import ContractError, show
from contracts.messages import MODEL_FOR_TYPE, Message, format_timestamp
from contracts.topics import KIND_FOR_TYPE, TYPE_FOR_KIND, parse_topic

MAX_PAYLOAD_BYTES = 65536
MAX_DEPTH = 32
CLOCK_AHEAD_LIMIT = timedelta(hours=25)  # a day plus slack for zone mistakes, as Traccar allows

_VERSION = 1
_ADAPTER: TypeAdapter[Message] = TypeAdapter(Message)
_TYPES = ", ".join(repr(t) for t in sorted(MODEL_FOR_TYPE))
_JSON_KINDS = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}

_TYPE_ERRORS = {
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "list_type": "must be an array",
    "dict_type": "must be an object",
    "finite_number": "must be a finite number",
}
_BOUNDS = {
    "greater_than": ("gt", "greater than"),
    "greater_than_equal": ("ge", "at least"),
    "less_than": ("lt", "less than"),
    "less_than_equal": ("le", "at most"),
}


def decode(topic: str, payload: bytes | str, *, now: datetime | None = None) -> Message:
    """Validate a payload received on `topic`; with `now`, also reject a device clock far ahead of it."""
    return decode_with_object(topic, payload, now=now)[0]


def decode_with_object(
    topic: str, payload: bytes | str, *, now: datetime | None = None
) -> tuple[Message, dict[str, Any]]:
    """`decode`, also returning the parsed JSON object (what central keeps as the raw event), parsed once."""
    obj, plain = _parse(payload)
    message = _validate(obj, check_tree=not plain)
    _check_topic(topic, message)
    if now is not None:
        _check_clock(message, now)
    return message, obj


def decode_object(obj: Mapping[str, Any]) -> Message:
    """Validate an already parsed JSON object (no topic checks)."""
    if not isinstance(obj, Mapping):
        raise ContractError(None, f"payload must be a JSON object, got {_json_kind(obj)}")
    return _validate(obj, check_tree=True)


def _validate(obj: Mapping[str, Any], *, check_tree: bool) -> Message:
    if check_tree:
        _check_tree(obj)
    _check_version(obj)
    _check_type(obj)
    try:
        return _ADAPTER.validate_python(dict(obj))
    except ValidationError as exc:
        raise _explain(exc, obj["type"]) from exc


def encode(message: Message) -> bytes:
    """Compact UTF-8 JSON of a message, timestamps in UTC with ``Z``; `decode` gives the message back."""
    if message.model_extra:
        _check_tree(message.model_extra)
    try:
        data = message.model_dump(mode="json")
        raw = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ContractError(None, "message text contains a lone surrogate, expected valid Unicode") from None
    except (PydanticSerializationError, TypeError, ValueError) as exc:
        raise ContractError(None, f"message cannot be written as JSON: {exc}") from exc
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise ContractError(None, f"message encodes to {len(raw)} bytes, more than the {MAX_PAYLOAD_BYTES}-byte limit")
    return raw


def _parse(payload: bytes | str) -> tuple[dict[str, Any], bool]:
    """The JSON object, and whether its text is plain enough to skip the tree walk.

    json.loads already refuses non-finite numbers and yields only JSON types with string keys;
    a lone surrogate can only come from a \\u escape, and more than MAX_DEPTH levels need more
    than MAX_DEPTH brackets. Text with neither cannot fail `_check_tree`, so it is skipped (it
    took a third of the ingest worker's time).
    """
    if isinstance(payload, str):
        size = len(payload.encode("utf-8", "surrogatepass"))
    elif isinstance(payload, bytes | bytearray | memoryview):
        size = len(payload)
    else:
        raise ContractError(None, f"payload must be bytes or str, got {type(payload).__name__}")
    if size > MAX_PAYLOAD_BYTES:
        raise ContractError(None, f"payload is {size} bytes, more than the {MAX_PAYLOAD_BYTES}-byte limit")
    if isinstance(payload, str):
        text = payload
    else:
        try:
            text = bytes(payload).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ContractError(
                None, f"payload is not valid UTF-8: {exc.reason} at byte {exc.start}, expected UTF-8 JSON"
            ) from None
    try:
        obj = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except ContractError:
        raise
    except json.JSONDecodeError as exc:
        raise ContractError(
            None, f"payload is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise ContractError(None, f"payload is not valid JSON: nested too deeply, the limit is {MAX_DEPTH}") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python will convert
        raise ContractError(None, f"payload is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ContractError(None, f"payload must be a JSON object, got {_json_kind(obj)}")
    plain = "\\u" not in text and text.count("{") + text.count("[") <= MAX_DEPTH
    return obj, plain


def _reject_constant(name: str) -> float:
    raise ContractError(None, f"payload is not valid JSON: {name} is not a JSON number, expected a finite number")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ContractError(None, f"payload is not valid JSON: key {show(key)} appears twice in an object")
            seen.add(key)
    return obj


def _check_tree(obj: Mapping[str, Any]) -> None:
    """Reject what JSON cannot carry faithfully: deep nesting, non-finite numbers, lone surrogates."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(obj, ())]
    while stack:
        value, path = stack.pop()
        field = ".".join(path) or None
        if len(path) > MAX_DEPTH:
            raise ContractError(_short(field), f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ContractError(field, f"object keys must be strings, got {show(key)}")
                _check_text(key, field)
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, str(index))) for index, item in enumerate(value))
        elif isinstance(value, str):
            _check_text(value, field)
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise ContractError(field, f"must be a finite number, got {show(value)}")
        elif not (value is None or isinstance(value, bool | int)):
            raise ContractError(field, f"must be a JSON value, got a Python {type(value).__name__}")


def _check_text(text: str, field: str | None) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ContractError(
            _short(field), f"text contains a lone surrogate, expected valid Unicode, got {show(text)}"
        ) from None


def _check_version(obj: Mapping[str, Any]) -> None:
    if "v" not in obj:
        raise ContractError("v", f"missing, expected {_VERSION}")
    v = obj["v"]
    if isinstance(v, bool) or not isinstance(v, int):
        raise ContractError("v", f"must be the number {_VERSION}, got {show(v)}")
    if v != _VERSION:
        raise ContractError("v", f"unsupported contract version {show(v)}, this build speaks {_VERSION}")


def _check_type(obj: Mapping[str, Any]) -> None:
    if "type" not in obj:
        raise ContractError("type", f"missing, expected one of {_TYPES}")
    message_type = obj["type"]
    if not isinstance(message_type, str):
        raise ContractError("type", f"must be a string, expected one of {_TYPES}, got {show(message_type)}")
    if message_type not in MODEL_FOR_TYPE:
        raise ContractError("type", f"unknown message type {show(message_type)}, expected one of {_TYPES}")


def _explain(exc: ValidationError, message_type: str) -> ContractError:
    """The first pydantic error, in plain words, naming the field."""
    error = exc.errors(include_url=False)[0]
    context = error.get("ctx") or {}
    loc = error["loc"][1:] if error["loc"][:1] == (message_type,) else error["loc"]
    field = context.get("field") or ".".join(str(part) for part in loc) or None
    return ContractError(_short(field), _reason(error, message_type))


def _reason(error: ErrorDetails, message_type: str) -> str:
    kind = error["type"]
    context = error.get("ctx") or {}
    if kind == "contract":
        return str(context["reason"])
    if kind == "missing":
        name = str(error["loc"][-1])
        description = MODEL_FOR_TYPE[message_type].model_fields.get(name)
        expected = description.description if description and description.description else "a value"
        return f"missing, expected {expected}"
    got = f"got {show(error['input'])}"
    if kind in _TYPE_ERRORS:
        return f"{_TYPE_ERRORS[kind]}, {got}"
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        bound = context[key]
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return f"must be {words} {bound}, {got}"
    if kind == "literal_error":
        return f"must be one of {context['expected']}, {got}"
    if kind == "value_error":
        return f"{context.get('error', error['msg'])}, {got}"
    msg = error["msg"]
    return f"{msg[:1].lower()}{msg[1:]}, {got}"


def _check_topic(topic: str, message: Message) -> None:
    where = parse_topic(topic)
    if KIND_FOR_TYPE[message.type] != (where.direction, where.kind):
        expected = TYPE_FOR_KIND[(where.direction, where.kind)]
        raise ContractError(
            "type", f"{message.type!r} does not belong on topic {show(topic)}, expected {expected!r} there"
        )
    if where.device_id != message.device_id:
        raise ContractError(
            "device_id",
            f"{show(message.device_id)} differs from device {show(where.device_id)} in topic {show(topic)}: "
            "a device may not speak for another",
        )


def _check_clock(message: Message, now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must carry a zone, e.g. datetime.now(UTC)")
    if message.device_time > now + CLOCK_AHEAD_LIMIT:
        raise ContractError(
            "device_time",
            f"{format_timestamp(message.device_time)} is more than 25 hours after the receiver's clock "
            f"({format_timestamp(now)}), expected a device clock that is roughly right",
        )


def _json_kind(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"a number ({show(value)})"
    return _JSON_KINDS.get(type(value), f"a Python {type(value).__name__}")


def _short(field: str | None) -> str | None:
    return field if field is None or len(field) <= 80 else field[:80] + "…"
