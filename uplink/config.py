"""Settings of a device's MQTT uplink: broker, credentials, session, outbox and heartbeat."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.topics import DEVICE_ID_RULE, is_device_id

_MAX_SESSION_EXPIRY_S = 0xFFFF_FFFF  # MQTT 5: a four-byte integer; this value means "never expires"


class UplinkConfig(BaseModel):
    """How one device reaches the broker and where it keeps events until they are acknowledged."""

    model_config = ConfigDict(extra="forbid")

    device_id: str = Field(
        title="Device id", description=f"this device's id, also its MQTT client id: {DEVICE_ID_RULE}"
    )
    host: str = Field(min_length=1, title="Broker host", description="broker host name or address")
    port: int = Field(default=1883, ge=1, le=65535, title="Broker port", description="broker TCP port")
    username: str = Field(
        default="",
        title="Username",
        description="broker login; defaults to the device id, which the ACL expects",
    )
    password: str = Field(repr=False, title="Password", description="broker password for this device")
    keepalive_s: int = Field(
        default=30, ge=5, le=65535, title="Keepalive", description="seconds between MQTT pings when idle"
    )
    session_expiry_s: int = Field(
        default=7 * 24 * 3600,
        ge=0,
        le=_MAX_SESSION_EXPIRY_S,
        title="Session expiry",
        description="how long the broker keeps this device's session (queued commands) while it is offline",
    )
    reconnect_min_s: float = Field(
        default=0.5,
        gt=0,
        title="Reconnect delay, first",
        description="first wait before reconnecting, seconds",
    )
    reconnect_max_s: float = Field(
        default=30, gt=0, title="Reconnect delay, longest", description="the wait doubles up to this, seconds"
    )
    max_inflight: int = Field(
        default=200,
        ge=1,
        le=65535,
        title="Events in flight",
        description="most events published and not yet acknowledged at once",
    )
    outbox_path: Path = Field(title="Outbox file", description="SQLite file holding unacknowledged events")
    outbox_max_rows: int = Field(
        default=100_000,
        ge=1,
        title="Outbox limit",
        description="most events the outbox holds; beyond it send() raises OutboxFull",
    )
    outbox_synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = Field(
        default="FULL",
        title="Outbox synchronous mode",
        description="SQLite synchronous pragma; FULL survives power loss, NORMAL only process crashes",
    )
    status_interval_s: float = Field(
        default=30, gt=0, title="Heartbeat interval", description="seconds between retained status messages"
    )
    tls_ca_file: Path | None = Field(
        default=None,
        title="TLS CA file",
        description="CA certificate to verify the broker; None for plain TCP",
    )
    versions: dict[str, str] = Field(
        default_factory=dict, title="Versions", description="software and model versions reported in status"
    )

    @model_validator(mode="before")
    @classmethod
    def _username_defaults_to_device_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("username") and "device_id" in data:
            return {**data, "username": data["device_id"]}
        return data

    @field_validator("device_id")
    @classmethod
    def _device_id_is_one_topic_level(cls, value: str) -> str:
        if not is_device_id(value):
            raise ValueError(f"device_id {value!r} is not valid, expected {DEVICE_ID_RULE}")
        return value

    @model_validator(mode="after")
    def _reconnect_range(self) -> Self:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError(
                f"reconnect_max_s ({self.reconnect_max_s}) must be at least reconnect_min_s ({self.reconnect_min_s})"
            )
        return self
