"""The kiosk runtime's configuration: the `[kiosk]` table of the kiosk's TOML file, with CORR_KIOSK__* overrides.

The kiosk has one TOML file shared by its processes. The device daemon reads `[devices]` (and the
shared `[vision]`); the runtime and its UI read `[kiosk]`, plus the daemon's socket addresses from
`[devices]` and the embedder choice from `[vision]`. Every key can be overridden by the environment,
nested keys joined by two underscores: `CORR_KIOSK__SECRET=…`, `CORR_KIOSK__CENTRAL__URL=https://…`,
`CORR_KIOSK__POLICY__FACE_TRIES=2`. A near miss such as `CORR_KIOSK_CENTRAL__URL` (one underscore)
is refused so it cannot pass unnoticed; `CORR_KIOSK_CONFIG` names the file.

```toml
[kiosk]
device_id = "kiosk-haicang"
secret = "…"                        # what `corr-central devices add` printed; better in the unit's env file
state_dir = "/var/lib/corr-kiosk"   # outbox, gallery cache, subject cache, audio spool
enrolled_by = "haicang.town"        # the officer who answers for enrolments made at this kiosk

[kiosk.central]
url = "https://central.example:8443"
ca_file = "/etc/corr/ca.pem"

[kiosk.uplink]
host = "broker.example"
port = 8883
tls_ca_file = "/etc/corr/ca.pem"

[kiosk.policy]                      # kiosk.flows.Policy; thresholds default to vision/thresholds.toml
pin_hash = "pbkdf2_sha256$200000$…$…"   # `corr-kiosk-ui --hash-pin` makes one
```
"""

from __future__ import annotations

import base64
import binascii
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from contracts.env import EnvError, env_tables, merge_tables
from contracts.topics import DEVICE_ID_RULE, is_device_id
from kiosk.devices.config import CONFIG_ENV, DevicesConfig
from kiosk.devices.config import ConfigError as DevicesConfigError
from kiosk.devices.config import parse_config as parse_devices_config
from kiosk.flows.policy import PinHash, Policy
from kiosk.speech import DEFAULT_MODEL, SpeechConfig
from uplink import UplinkConfig

ENV_PREFIX = "CORR_KIOSK__"
DEFAULT_STATE_DIR = Path("/var/lib/corr-kiosk")
NOTO_CJK = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
_SECRETS = frozenset({"secret", "pin_hash", "password"})
_PIN_SCHEME = "pbkdf2_sha256"


class ConfigError(ValueError):
    """The kiosk's configuration is wrong; the message names the file or variable, the key and the value."""


def encode_pin_hash(pin_hash: PinHash) -> str:
    """A PinHash as the configuration keeps it: `pbkdf2_sha256$<iterations>$<salt b64>$<digest b64>`."""
    salt = base64.b64encode(pin_hash.salt).decode()
    digest = base64.b64encode(pin_hash.digest).decode()
    return f"{_PIN_SCHEME}${pin_hash.iterations}${salt}${digest}"


def decode_pin_hash(text: str) -> PinHash:
    """The PinHash a configuration string holds; ValueError saying what the string should look like."""
    parts = text.strip().split("$")
    if len(parts) != 4 or parts[0] != _PIN_SCHEME:
        raise ValueError(
            f"expected {_PIN_SCHEME}$<iterations>$<salt base64>$<digest base64> (corr-kiosk-ui --hash-pin)"
        )
    try:
        iterations = int(parts[1])
        salt = base64.b64decode(parts[2], validate=True)
        digest = base64.b64decode(parts[3], validate=True)
    except (ValueError, binascii.Error):
        raise ValueError("iterations must be a number and salt and digest base64") from None
    if iterations < 10_000 or len(salt) < 8 or len(digest) != 32:
        raise ValueError("needs at least 10000 iterations, a salt of 8 bytes or more and a 32-byte digest")
    return PinHash(salt, digest, iterations)


class CentralSection(BaseModel):
    """How the runtime reaches central's device API over HTTPS (HTTP Basic: device id + secret)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(title="Central's base URL", description="e.g. https://central.example:8443")
    ca_file: Path | None = Field(
        None, title="CA file", description="CA certificate to verify central; default: the system's"
    )
    allow_http: bool = Field(
        False,
        title="Allow plain http",
        description="send the device secret in clear: one-machine demos and test benches only",
    )
    connect_timeout_s: float = Field(3.0, gt=0, le=60, title="Connect timeout, seconds")
    read_timeout_s: float = Field(8.0, gt=0, le=120, title="Read timeout of a lookup, seconds")
    upload_timeout_s: float = Field(60.0, gt=0, le=600, title="Read timeout of an upload, seconds")
    probe_interval_s: float = Field(5.0, gt=0, le=300, title="While central is unreachable, how often to try it")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (or http:// with allow_http)")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _plain_http(self) -> Self:
        if self.url.startswith("http://") and not self.allow_http:
            raise ValueError(
                f"url {self.url!r} is plain http, which would send the device secret and personal data in clear; "
                "use https, or set allow_http = true only for a demo or a test bench"
            )
        return self


class UplinkSection(BaseModel):
    """How the runtime reaches the broker (device id and password come from [kiosk])."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, title="Broker host")
    port: int = Field(1883, ge=1, le=65535, title="Broker port")
    username: str = Field("", title="Username", description="defaults to the device id")
    tls_ca_file: Path | None = Field(None, title="TLS CA file", description="None: plain TCP")
    outbox_path: Path | None = Field(None, title="Outbox file", description="default: <state_dir>/outbox.db")
    status_interval_s: float = Field(30.0, gt=0, title="Heartbeat interval, seconds")
    reconnect_max_s: float = Field(30.0, gt=0, title="Longest wait between reconnects, seconds")


class GallerySection(BaseModel):
    """The face gallery central seals for this kiosk (vision.gallery_sync does the fetching)."""

    model_config = ConfigDict(extra="forbid")

    cache_dir: Path | None = Field(None, title="Cache folder", description="default: <state_dir>/gallery (encrypted)")
    max_bytes: int = Field(64 * 1024 * 1024, ge=1024, title="Largest gallery file accepted, bytes")
    retry_min_s: float = Field(2.0, gt=0, title="Retry delay, first, seconds")
    retry_max_s: float = Field(300.0, gt=0, title="Retry delay, longest, seconds")
    refresh_wait_s: float = Field(
        3.0,
        ge=0,
        le=30,
        title="Refresh wait",
        description="a lookup that finds a face central has but the gallery "
        "lacks asks central for its current gallery and waits this long for it",
    )


class CacheSection(BaseModel):
    """The encrypted subject cache that answers lookups while central is unreachable."""

    model_config = ConfigDict(extra="forbid")

    path: Path | None = Field(None, title="Cache file", description="default: <state_dir>/subjects.db")
    max_age_days: float = Field(
        30.0, gt=0, title="Oldest entry used", description="an entry not refreshed online for this long is not used"
    )


class CaptureSection(BaseModel):
    """How the runtime asks the device daemon for faces and fingers."""

    model_config = ConfigDict(extra="forbid")

    frames: int = Field(2, ge=1, le=30, title="Accepted frames to choose the best face from")
    timeout_s: float = Field(5.0, gt=0, le=60, title="How long one capture looks for an accepted face, seconds")
    finger_timeout_s: float = Field(
        20.0, gt=0, le=120, title="How long the sensor waits for a finger, seconds (keep below policy.step_timeout_s)"
    )
    finger_model: str = Field("as608", min_length=1, max_length=100, title="Fingerprint template model sent to central")


class SpeechSection(BaseModel):
    """The Vosk model for the voice report (kiosk.speech); without one the voice report is disabled."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        DEFAULT_MODEL, min_length=1, title="Manifest name of the model", description="models/manifest.toml"
    )
    path: Path | None = Field(None, title="Model folder", description="wins over `model`")
    verify: bool = Field(True, title="Check the pinned files' sha256 before loading")
    partial_interval_s: float = Field(0.3, gt=0, le=5, title="Audio between two live partial results, seconds")
    blas_threads: int | None = Field(1, ge=1, le=16, title="OpenBLAS threads of libvosk")
    reuse_audio_s: float = Field(
        600,
        ge=0,
        le=86_400,
        title="Audio one recogniser decodes before it is replaced, seconds",
        description="a kept recogniser decodes faster but grows; 0: a new one per recording",
    )

    def build(self) -> SpeechConfig:
        """The kiosk.speech settings."""
        return SpeechConfig(
            model=self.model,
            path=self.path,
            verify=self.verify,
            partial_interval_s=self.partial_interval_s,
            blas_threads=self.blas_threads,
            reuse_audio_s=self.reuse_audio_s,
        )


class UiSection(BaseModel):
    """The Kivy window."""

    model_config = ConfigDict(extra="forbid")

    fullscreen: bool = Field(False, title="Full screen", description="true on the kiosk's touch screen")
    width: int = Field(1280, ge=320, le=7680, title="Window width, pixels")
    height: int = Field(800, ge=240, le=4320, title="Window height, pixels")
    font: Path = Field(NOTO_CJK, title="CJK font", description="Debian's fonts-noto-cjk")
    show_cursor: bool = Field(True, title="Show the mouse cursor")


class PolicySection(BaseModel):
    """kiosk.flows.Policy as configured; unset thresholds come from vision/thresholds.toml for the embedder."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    face_threshold: float | None = Field(None, ge=-1, le=1, title="Least similarity with the enrolled face")
    card_threshold: float | None = Field(None, ge=-1, le=1, title="Least similarity with the card photo")
    face_tries: int = Field(3, ge=1, le=20)
    max_captures: int = Field(8, ge=1, le=50)
    finger_tries: int = Field(3, ge=1, le=20)
    fingerprint_levels: list[str] = Field(default_factory=lambda: ["strict"], title="Levels that verify a finger too")
    fingerprint_always: bool = Field(False, title="Every subject verifies a finger")
    rollcall_card: bool = Field(False, title="Roll-call answers start with the ID card")
    step_timeout_s: float = Field(30.0, gt=0)
    card_prompt_timeout_s: float = Field(45.0, gt=0)
    device_timeout_s: float = Field(20.0, gt=0)
    result_timeout_s: float = Field(8.0, gt=0)
    min_record_s: float = Field(1.0, gt=0)
    max_record_s: float = Field(300.0, gt=0, le=3600)
    enrol_poses: list[str] = Field(default_factory=lambda: ["front", "left", "right"])
    enrol_turn: float = Field(0.2, ge=0)
    enrol_fingers: int = Field(2, ge=0, le=10)
    pin_hash: SecretStr | None = Field(None, title="Staff PIN hash", description="corr-kiosk-ui --hash-pin")
    max_pin_failures: int = Field(5, ge=1, le=100)
    lockout_s: float = Field(300.0, gt=0)

    @field_validator("pin_hash")
    @classmethod
    def _pin(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            decode_pin_hash(value.get_secret_value())
        return value

    def build(self, face_threshold: float, card_threshold: float) -> Policy:
        """The flows' Policy with the thresholds filled in (configured values win)."""
        pin = decode_pin_hash(self.pin_hash.get_secret_value()) if self.pin_hash is not None else None
        try:
            return Policy(
                face_threshold=self.face_threshold if self.face_threshold is not None else face_threshold,
                card_threshold=self.card_threshold if self.card_threshold is not None else card_threshold,
                face_tries=self.face_tries,
                max_captures=self.max_captures,
                finger_tries=self.finger_tries,
                fingerprint_levels=frozenset(self.fingerprint_levels),
                fingerprint_always=self.fingerprint_always,
                rollcall_card=self.rollcall_card,
                step_timeout_s=self.step_timeout_s,
                card_prompt_timeout_s=self.card_prompt_timeout_s,
                device_timeout_s=self.device_timeout_s,
                result_timeout_s=self.result_timeout_s,
                min_record_s=self.min_record_s,
                max_record_s=self.max_record_s,
                enrol_poses=tuple(self.enrol_poses),
                enrol_turn=self.enrol_turn,
                enrol_fingers=self.enrol_fingers,
                pin_hash=pin,
                max_pin_failures=self.max_pin_failures,
                lockout_s=self.lockout_s,
            )
        except ValueError as exc:
            raise ConfigError(f"kiosk.policy: {exc}") from None


class KioskConfig(BaseModel):
    """Everything the kiosk runtime and UI need (the `[kiosk]` table)."""

    model_config = ConfigDict(extra="forbid")

    device_id: str = Field(title="Device id", description=f"this kiosk's id at central: {DEVICE_ID_RULE}")
    secret: SecretStr = Field(
        title="Device secret",
        description="printed by `corr-central devices add`: MQTT password, HTTPS password, key of the gallery "
        "and of the local caches",
    )
    state_dir: Path = Field(DEFAULT_STATE_DIR, title="State folder", description="outbox, caches, audio spool")
    enrolled_by: str = Field(
        "",
        max_length=64,
        title="Enrolling officer",
        description="officer username answering for enrolments at this kiosk; empty: enrolment uploads refused",
    )
    central: CentralSection = Field(title="Central's device API")
    uplink: UplinkSection = Field(title="Broker")
    gallery: GallerySection = Field(default_factory=GallerySection, title="Face gallery")
    cache: CacheSection = Field(default_factory=CacheSection, title="Offline subject cache")
    capture: CaptureSection = Field(default_factory=CaptureSection, title="Face and finger capture")
    speech: SpeechSection = Field(default_factory=SpeechSection, title="Speech to text")
    policy: PolicySection = Field(default_factory=PolicySection, title="Flow policy")
    ui: UiSection = Field(default_factory=UiSection, title="Window")

    @field_validator("device_id")
    @classmethod
    def _device_id(cls, value: str) -> str:
        if not is_device_id(value):
            raise ValueError(f"must be {DEVICE_ID_RULE}")
        return value

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 8:
            raise ValueError("must be the device's secret (at least 8 characters)")
        return value

    @property
    def outbox_path(self) -> Path:
        """Where unacknowledged events wait."""
        return self.uplink.outbox_path or self.state_dir / "outbox.db"

    @property
    def gallery_dir(self) -> Path:
        """Where the sealed gallery file is cached."""
        return self.gallery.cache_dir or self.state_dir / "gallery"

    @property
    def cache_path(self) -> Path:
        """The encrypted subject cache."""
        return self.cache.path or self.state_dir / "subjects.db"

    @property
    def spool_dir(self) -> Path:
        """Recordings waiting for central, encrypted."""
        return self.state_dir / "spool"

    def uplink_config(self, versions: dict[str, str]) -> UplinkConfig:
        """The uplink's own settings for this kiosk."""
        section = self.uplink
        return UplinkConfig(
            device_id=self.device_id,
            host=section.host,
            port=section.port,
            username=section.username,
            password=self.secret.get_secret_value(),
            outbox_path=self.outbox_path,
            tls_ca_file=section.tls_ca_file,
            status_interval_s=section.status_interval_s,
            reconnect_max_s=max(section.reconnect_max_s, 0.5),
            versions=versions,
        )


@dataclass(frozen=True)
class Settings:
    """The whole kiosk file as the runtime sees it: its own table, the daemon's addresses, the vision settings."""

    kiosk: KioskConfig
    devices: DevicesConfig
    """The daemon's table (socket addresses) and the shared [vision] table (`devices.vision`)."""
    source: str = "environment"


# --- loading ---------------------------------------------------------------------------------------


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    hint = f"nested keys take two underscores, e.g. CORR_KIOSK__CENTRAL__URL (and {CONFIG_ENV} names the file)"
    try:
        return env_tables(environ, ENV_PREFIX, skip={CONFIG_ENV}, near_miss_hint=hint)
    except EnvError as exc:
        raise ConfigError(str(exc)) from None


def _describe(exc: ValidationError, source: str, environ: Mapping[str, str]) -> str:
    lines = []
    for err in exc.errors():
        parts = [str(p) for p in err["loc"]]
        env_name = ENV_PREFIX + "__".join(parts).upper()
        where = f"environment {env_name}" if env_name in environ else source
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "missing":
            shown = ""
        elif set(parts) & _SECRETS:
            shown = " (value hidden: it is a secret)"
        else:
            shown = f" (got {err.get('input')!r})"
        lines.append(f"{where}: key '{'.'.join(['kiosk', *parts])}': {message}{shown}")
    return "\n".join(lines)


def parse_settings(
    document: Mapping[str, Any], source: str = "configuration", environ: Mapping[str, str] | None = None
) -> Settings:
    """Validate the kiosk file's `[kiosk]`, `[devices]` and `[vision]` tables with the environment's overrides."""
    environ = os.environ if environ is None else environ
    table = document.get("kiosk", {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{source}: 'kiosk' must be a table, got {type(table).__name__}")
    data = merge_tables(dict(table), _env_overrides(environ))
    try:
        kiosk = KioskConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source, environ)) from None
    try:
        devices = parse_devices_config(document, source, environ)
    except DevicesConfigError as exc:
        raise ConfigError(str(exc)) from None
    return Settings(kiosk=kiosk, devices=devices, source=source)


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the kiosk's TOML file (`path`, else $CORR_KIOSK_CONFIG, else the environment alone) and validate it."""
    environ = os.environ if environ is None else environ
    if path is None and environ.get(CONFIG_ENV):
        path = Path(environ[CONFIG_ENV])
    document: dict[str, Any] = {}
    source = "environment"
    if path is not None:
        source = str(path)
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path}: cannot read it ({exc})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_settings(document, source, environ)
