"""Central's configuration: one TOML file, every key overridable by a `CORR_*` environment variable.

`CORR_DB_URL` overrides `db_url`; nested keys use a double underscore,
e.g. `CORR_MQTT__PORT=1884` overrides `[mqtt] port`.
"""

from __future__ import annotations

import base64
import binascii
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from contracts.env import EnvError, env_tables, merge_tables

ENV_PREFIX = "CORR_"


class ConfigError(ValueError):
    """The configuration is missing a key or holds a bad value; the message names both."""


class MqttSection(BaseModel):
    """How central reaches the broker, and where it keeps the broker's password file and ACL."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field("127.0.0.1", title="broker host")
    port: int = Field(1883, title="broker port", ge=1, le=65535)
    username: str = Field("central", title="central's broker login")
    password: str = Field("", title="central's broker password", repr=False)
    client_id: str = Field("central-ingest-1", title="MQTT client id of this ingest worker (unique per worker)")
    session_expiry_s: int = Field(7 * 24 * 3600, title="how long the broker keeps this worker's queue while it is away")
    password_file: Path | None = Field(None, title="Mosquitto password file central writes")
    acl_file: Path | None = Field(None, title="Mosquitto ACL file central writes")
    pid_file: Path | None = Field(None, title="Mosquitto pid file, to send SIGHUP after rewriting the files")


class SecuritySection(BaseModel):
    """Keys and login policy."""

    model_config = ConfigDict(extra="forbid")

    data_key: str = Field(..., title="base64 of 32 random bytes: AES-256-GCM key for personal data at rest", repr=False)
    hmac_key: str = Field(..., title="base64 of 32 random bytes: HMAC key for ID-number lookup", repr=False)
    audit_key: str = Field(..., title="base64 of 32 random bytes: HMAC key of the audit hash chain", repr=False)
    token_ttl_s: int = Field(8 * 3600, title="lifetime of an officer's login token, seconds", ge=60)
    session_idle_s: int = Field(
        30 * 60, title="an officer's login ends after this long without a request, seconds (0: never)", ge=0
    )
    max_failed_logins: int = Field(5, title="failed logins in a row before the account locks", ge=1)
    lockout_s: int = Field(15 * 60, title="how long a locked account stays locked, seconds", ge=1)

    @field_validator("data_key", "hmac_key", "audit_key")
    @classmethod
    def _thirty_two_bytes(cls, value: str) -> str:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("must be base64 (make one with `corr-central keys`)") from exc
        if len(raw) != 32:
            raise ValueError(f"must decode to 32 bytes, got {len(raw)}")
        return value

    def key_bytes(self, name: str) -> bytes:
        """The raw bytes of one of the three keys."""
        return base64.b64decode(getattr(self, name))


class IngestSection(BaseModel):
    """Batching of the ingest worker."""

    model_config = ConfigDict(extra="forbid")

    batch_max: int = Field(1000, title="most messages committed in one transaction", ge=1)
    batch_wait_ms: int = Field(20, title="how long to wait to fill a batch, milliseconds", ge=0)
    receive_maximum: int = Field(
        2000,
        title="unacknowledged messages the broker may send ahead (twice batch_max: one batch fills while one commits)",
        ge=1,
        le=65535,
    )


class ApiSection(BaseModel):
    """The HTTP server."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field("127.0.0.1", title="address to listen on")
    port: int = Field(8080, title="port to listen on", ge=0, le=65535)
    tile_url: str = Field(
        "", title="map tile URL template for the officer UI, e.g. https://tiles.example/{z}/{x}/{y}.png; empty: none"
    )

    @field_validator("tile_url")
    @classmethod
    def _tile_template(cls, value: str) -> str:
        placeholders = all(k in value for k in ("{z}", "{x}", "{y}"))
        if value and (not value.startswith(("https://", "http://")) or not placeholders):
            raise ValueError("expected an http(s) URL template holding {z}, {x} and {y}, or empty for no tiles")
        return value


class DeviceApiSection(BaseModel):
    """What devices (kiosks, edge agents) reach over HTTPS under /device-api/v1/."""

    model_config = ConfigDict(extra="forbid")

    public_url: str | None = Field(
        None,
        title="base URL devices reach central at, e.g. https://central.example:8443 (default: http://api.host:api.port)",
    )
    fingerprint_nodes: list[str] = Field(
        default_factory=list,
        title="node codes whose centres ask every subject for a fingerprint at check-in (strict level always does)",
    )
    audio_max_bytes: int = Field(20 * 1024 * 1024, title="largest voice-report recording a kiosk may upload", ge=1)
    auth_cache_s: int = Field(
        300, title="how long a verified device secret skips the argon2 check, seconds (0 = never cache)", ge=0
    )

    @field_validator("fingerprint_nodes", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        # From the environment the list comes as "350205001,350206001".
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value is not None else None


class MonitorSection(BaseModel):
    """The periodic jobs of `corr-central monitor` (central/scheduler.py)."""

    model_config = ConfigDict(extra="forbid")

    interval_s: float = Field(30.0, title="how often the jobs run, seconds", gt=0, le=3600)
    page_size: int = Field(500, title="subjects per transaction of the lost-contact tick", ge=1, le=10000)
    confirmation_windows: list[str] = Field(
        default_factory=lambda: ["09:00-12:00", "14:00-17:30"],
        title="daily windows (China time, HH:MM-HH:MM) in which scheduled location confirmations are asked",
    )
    confirmations_strict: int = Field(2, title="scheduled confirmations a day, strict level", ge=0, le=12)
    confirmations_normal: int = Field(1, title="scheduled confirmations a day, normal level", ge=0, le=12)
    confirmations_lenient: int = Field(0, title="scheduled confirmations a day, lenient level", ge=0, le=12)
    confirmation_answer_min: int = Field(30, title="minutes a subject has to answer a scheduled one", ge=5, le=1440)
    confirmation_nodes: list[str] = Field(
        default_factory=list, title="node codes whose subjects (with a phone) get scheduled ones; empty: every node"
    )
    positioning_reminder_days: int = Field(7, title="remind this many days before a positioning period ends", ge=0)

    @field_validator("confirmation_windows", "confirmation_nodes", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        # From the environment a list comes as "09:00-12:00,14:00-17:30".
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("confirmation_windows")
    @classmethod
    def _windows(cls, value: list[str]) -> list[str]:
        for window in value:
            parts = window.split("-")
            times = [p.split(":") for p in parts]
            ok = len(parts) == 2 and all(len(t) == 2 and all(x.isdigit() and len(x) == 2 for x in t) for t in times)
            if not ok or not all(int(h) < 24 and int(m) < 60 for h, m in times) or parts[0] >= parts[1]:
                raise ValueError(f"window {window!r}: expected HH:MM-HH:MM with the start before the end")
        return value


class CentralConfig(BaseModel):
    """Everything central needs to run."""

    model_config = ConfigDict(extra="forbid")

    db_url: str = Field("sqlite:///central.db", title="SQLAlchemy database URL")
    mqtt: MqttSection = Field(default_factory=MqttSection, title="broker connection and files")
    security: SecuritySection = Field(title="keys and login policy")
    ingest: IngestSection = Field(default_factory=IngestSection, title="ingest batching")
    api: ApiSection = Field(default_factory=ApiSection, title="HTTP server")
    device_api: DeviceApiSection = Field(default_factory=DeviceApiSection, title="the API devices use")
    monitor: MonitorSection = Field(default_factory=MonitorSection, title="periodic monitoring jobs")

    def public_url(self) -> str:
        """The base URL devices reach central at (no trailing slash)."""
        return self.device_api.public_url or f"http://{self.api.host}:{self.api.port}"


_SECRET_KEYS = {"password", "data_key", "hmac_key", "audit_key"}


def _is_section(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    # CORR_* is shared by every role (kiosk, edge, demo, ...): take only the variables whose first
    # part names a key of central's config; a typo inside a known section is still an error, and so
    # is a near miss such as CORR_MQTT_PORT (one underscore) that would otherwise pass unnoticed.
    fields = CentralConfig.model_fields
    try:
        return env_tables(
            environ,
            ENV_PREFIX,
            keys=fields,
            sections=[name for name, field in fields.items() if _is_section(field.annotation)],
        )
    except EnvError as exc:
        raise ConfigError(str(exc)) from None


def _describe(exc: ValidationError, source: str, environ: Mapping[str, str]) -> str:
    lines = []
    for err in exc.errors():
        parts = [str(p) for p in err["loc"]]
        key = ".".join(parts)
        env_name = ENV_PREFIX + "__".join(parts).upper()
        where = f"environment {env_name}" if env_name in environ else source
        if err["type"] == "missing":
            shown = ""
        elif parts and parts[-1] in _SECRET_KEYS:
            shown = " (value hidden: it is a secret)"
        else:
            shown = f" (got {err.get('input')!r})"
        lines.append(f"{where}: key '{key}': {err['msg']}{shown}")
        if parts == ["security"] and err["type"] == "missing":
            lines[-1] += " (needs data_key, hmac_key, audit_key: make them with `corr-central keys`)"
    return "\n".join(lines)


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> CentralConfig:
    """Read the TOML file (CORR_CONFIG when `path` is None), apply CORR_* overrides, validate."""
    environ = os.environ if environ is None else environ
    path = path or (Path(environ["CORR_CONFIG"]) if environ.get("CORR_CONFIG") else None)
    data: dict[str, Any] = {}
    source = "environment"
    if path is not None:
        source = str(path)
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {path} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    data = merge_tables(data, _env_overrides(environ))
    try:
        return CentralConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source, environ)) from exc


def _toml_value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    out = []
    for ch in str(value):
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")  # TOML basic strings forbid raw control characters
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def dump_toml(config: CentralConfig) -> str:
    """The config as TOML text that `load_config` reads back (unset optional keys left out)."""
    data = config.model_dump(mode="json", exclude_none=True)
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for section, values in data.items():
        if isinstance(values, dict):
            lines += ["", f"[{section}]"] + [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"
