"""The device daemon's configuration: the `[devices]` table of the kiosk's TOML file, with CORR_DEVICES__* overrides.

The kiosk's file is shared by its processes, so the daemon reads only its own table, `[devices]`,
and the shared `[vision]` table (the face pipeline it runs for `capture_face`). Every key can be
overridden by an environment variable, as in central: nested keys take a double underscore, e.g.
`CORR_DEVICES__IDCARD__PORT=/dev/ttyUSB1` sets `[devices.idcard] port`, and `CORR_VISION__…` set
`[vision]` keys (see vision/config.py). A device whose table is absent is not configured; the
daemon runs without it and says so in `status`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from contracts.env import EnvError, env_tables, merge_tables
from peripherals.audio.config import MicrophoneConfig
from peripherals.camera.config import CameraConfig
from vision.config import VisionConfig

ENV_PREFIX = "CORR_DEVICES__"
VISION_ENV_PREFIX = "CORR_VISION__"
CONFIG_ENV = "CORR_KIOSK_CONFIG"
RUNTIME_SUBDIR = "corr-kiosk"
EVENTS_SOCKET = "devices-events"
COMMANDS_SOCKET = "devices-commands"
# sockaddr_un.sun_path is 108 bytes on Linux, with the terminating NUL.
_MAX_IPC_PATH = 107
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class ConfigError(ValueError):
    """The configuration is wrong; the message names the file or variable, the key and the value."""


def default_runtime_dir(environ: Mapping[str, str] | None = None) -> Path:
    """$XDG_RUNTIME_DIR/corr-kiosk for a user session, /run/corr-kiosk for the system service."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_RUNTIME_DIR")
    return Path(base) / RUNTIME_SUBDIR if base else Path("/run") / RUNTIME_SUBDIR


def check_address(address: str) -> str:
    """An ipc:// path, or tcp:// on the loopback interface; the daemon hands out personal data, so never the network."""
    parts = urlsplit(address)
    if parts.scheme == "ipc":
        path = address[len("ipc://") :]
        if not path.startswith("/"):
            raise ValueError(f"address {address!r}: an ipc:// address needs an absolute path, e.g. ipc:///run/x")
        if len(path.encode()) > _MAX_IPC_PATH:
            raise ValueError(
                f"address {address!r}: the socket path is {len(path.encode())} bytes, Unix sockets allow "
                f"{_MAX_IPC_PATH}; choose a shorter runtime_dir"
            )
        return address
    if parts.scheme == "tcp":
        if parts.hostname not in _LOCAL_HOSTS:
            raise ValueError(
                f"address {address!r}: tcp:// only on the loopback interface (127.0.0.1, ::1): the daemon hands "
                "out ID-card data and biometric templates"
            )
        try:
            port = parts.port
        except ValueError:
            port = None
        if not port:
            raise ValueError(f"address {address!r}: a tcp:// address needs a port, e.g. tcp://127.0.0.1:5601")
        return address
    raise ValueError(f"address {address!r}: expected ipc:///path or tcp://127.0.0.1:port")


class IdCardSection(BaseModel):
    """The SAM ID-card reader (peripherals.idcard)."""

    model_config = ConfigDict(extra="forbid")

    port: str = Field(min_length=1, title="Serial port", description="e.g. /dev/ttyUSB0")
    baudrate: int = Field(115200, title="Baud rate")
    command_timeout_s: float = Field(1.0, gt=0, title="Reply timeout of a short command")
    read_timeout_s: float = Field(3.0, gt=0, title="Reply timeout of a card read")
    retries: int = Field(2, ge=0, le=10, title="Resends after a garbled or missing reply")
    poll_interval_s: float = Field(0.3, gt=0, le=10, title="How often to look for a card")
    fingerprint: bool = Field(False, title="Also read the card's fingerprint block (30 10)")
    photo_library: Path | None = Field(
        None, title="Vendor WLT photo decoder", description="path of the reader vendor's library, e.g. libwlt2bmp.so"
    )
    photo_function: str = Field("unpack", min_length=1, title="Its decoding function")
    photo_argument: int = Field(0, title="The int argument it takes")
    photo_success: int = Field(1, title="The value it returns on success")


class FingerprintSection(BaseModel):
    """The AS608 / R30x fingerprint sensor (peripherals.fingerprint)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    port: str = Field(min_length=1, title="Serial port", description="e.g. /dev/ttyUSB1")
    baudrate: int = Field(57600, title="Baud rate")
    address: int = Field(0xFFFFFFFF, ge=0, le=0xFFFFFFFF, title="Module address")
    password: SecretStr = Field(SecretStr("0"), title="Module password (a 32-bit number)")
    reply_timeout_s: float = Field(2.0, gt=0, le=30, title="Reply timeout")
    poll_interval_s: float = Field(0.1, gt=0, le=5, title="How often to look for a finger during a command")
    retries: int = Field(1, ge=0, le=10, title="Resends after a damaged reply")
    watch_interval_s: float = Field(
        0.25, ge=0, le=10, title="Idle finger watch", description="how often to look for a finger when idle; 0: off"
    )
    scratch_page: int | None = Field(
        None,
        ge=0,
        le=65535,
        title="Scratch page",
        description="library page for templates given in a request; default: the last page",
    )

    @field_validator("password")
    @classmethod
    def _number(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value().strip()
        try:
            number = int(text, 0)
        except ValueError:
            raise ValueError("must be a number, e.g. 0 or 0x12345678") from None
        if not 0 <= number <= 0xFFFFFFFF:
            raise ValueError("must fit in 32 bits")
        return value

    def password_number(self) -> int:
        """The password as the sensor takes it."""
        return int(self.password.get_secret_value().strip(), 0)


class VideoSection(BaseModel):
    """What the camera driver does with frames besides `capture_face`."""

    model_config = ConfigDict(extra="forbid")

    preview_fps: float = Field(5.0, ge=0, le=30, title="Preview rate", description="frame_ready events/s; 0: none")
    preview_max_side: int = Field(320, ge=32, le=1920, title="Preview size", description="longest side, pixels")
    preview_quality: int = Field(70, ge=10, le=100, title="Preview JPEG quality")
    face_watch_fps: float = Field(
        2.0, ge=0, le=30, title="Face watch rate", description="face_found analyses/s; 0: none"
    )
    face_pipeline: bool = Field(
        True, title="Load the face pipeline", description="false: no capture_face and no face watch"
    )


class RecordingSection(BaseModel):
    """Where recordings go and how the level is reported."""

    model_config = ConfigDict(extra="forbid")

    directory: Path | None = Field(None, title="Folder for WAV files", description="default: <runtime_dir>/recordings")
    level_hz: float = Field(10.0, gt=0, le=50, title="audio_level events per second")
    chunks: bool = Field(True, title="Publish audio_chunk events (PCM for live transcription)")
    keep: int = Field(20, ge=1, le=1000, title="Recordings kept in the folder; older ones are deleted")


class SupervisionSection(BaseModel):
    """How failed drivers are restarted."""

    model_config = ConfigDict(extra="forbid")

    restart_min_s: float = Field(0.5, gt=0, le=60, title="First wait before reopening a failed device")
    restart_max_s: float = Field(10.0, gt=0, le=600, title="Longest wait (it doubles up to this)")
    stable_s: float = Field(10.0, gt=0, title="Up this long, a driver's next failure waits restart_min_s again")
    hang_s: float = Field(
        60.0,
        gt=0,
        title="Hang limit",
        description="a driver still inside a command this long after the command's deadline (or inside one poll "
        "or open this long) is declared hung and replaced by a new thread",
    )
    heartbeat_s: float = Field(1.0, gt=0, le=60, title="heartbeat event interval")

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.restart_max_s < self.restart_min_s:
            raise ValueError(
                f"restart_max_s ({self.restart_max_s}) must be at least restart_min_s ({self.restart_min_s})"
            )
        return self


class DevicesConfig(BaseModel):
    """Everything the device daemon needs."""

    model_config = ConfigDict(extra="forbid")

    runtime_dir: Path = Field(
        default_factory=default_runtime_dir, title="Runtime folder", description="sockets, lock file, recordings"
    )
    events: str | None = Field(None, title="PUB address", description="default: ipc://<runtime_dir>/devices-events")
    commands: str | None = Field(
        None, title="ROUTER address", description="default: ipc://<runtime_dir>/devices-commands"
    )
    idcard: IdCardSection | None = Field(None, title="ID-card reader")
    fingerprint: FingerprintSection | None = Field(None, title="Fingerprint sensor")
    camera: CameraConfig | None = Field(None, title="Camera", description="a peripherals.camera source")
    microphone: MicrophoneConfig | None = Field(None, title="Microphone", description="pyaudio device or WAV file")
    video: VideoSection = Field(default_factory=VideoSection, title="Preview and face watch")
    recording: RecordingSection = Field(default_factory=RecordingSection, title="Recordings")
    supervision: SupervisionSection = Field(default_factory=SupervisionSection, title="Driver supervision")
    vision: VisionConfig = Field(default_factory=VisionConfig, title="Face pipeline (the file's [vision] table)")

    @field_validator("events", "commands")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return None if value is None else check_address(value)

    @model_validator(mode="after")
    def _defaults(self) -> Self:
        for key, name in (("events", EVENTS_SOCKET), ("commands", COMMANDS_SOCKET)):
            if getattr(self, key) is None:
                address = f"ipc://{self.runtime_dir}/{name}"
                try:
                    check_address(address)
                except ValueError as exc:
                    raise ValueError(f"{key}: {exc}") from None
                object.__setattr__(self, key, address)
        if self.events == self.commands:
            raise ValueError(f"events and commands must be different addresses, both are {self.events!r}")
        return self

    @property
    def events_address(self) -> str:
        """The PUB address (always set after validation)."""
        assert self.events is not None
        return self.events

    @property
    def commands_address(self) -> str:
        """The ROUTER address (always set after validation)."""
        assert self.commands is not None
        return self.commands

    @property
    def recordings_dir(self) -> Path:
        """Where WAV files are written."""
        return self.recording.directory or self.runtime_dir / "recordings"


# --- loading ---------------------------------------------------------------------------------------


def _env_overrides(environ: Mapping[str, str], prefix: str) -> dict[str, Any]:
    hint = (
        f"nested keys take two underscores, e.g. {prefix}IDCARD__PORT"
        if prefix == ENV_PREFIX
        else f"keys follow {prefix} with two underscores between parts"
    )
    try:
        return env_tables(environ, prefix, near_miss_hint=hint)
    except EnvError as exc:
        raise ConfigError(str(exc)) from None


_SECRETS = {"password", "template_key"}


def _describe(exc: ValidationError, source: str, environ: Mapping[str, str]) -> str:
    lines = []
    for err in exc.errors():
        parts = [str(p) for p in err["loc"]]
        if parts and parts[0] == "vision":
            env_name = VISION_ENV_PREFIX + "__".join(parts[1:]).upper()
            key = ".".join(parts)
        else:
            env_name = ENV_PREFIX + "__".join(parts).upper()
            key = ".".join(["devices", *parts])
        where = f"environment {env_name}" if env_name in environ else source
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "missing":
            shown = ""
        elif set(parts) & _SECRETS:
            shown = " (value hidden: it is a secret)"
        else:
            shown = f" (got {err.get('input')!r})"
        lines.append(f"{where}: key '{key}': {message}{shown}")
    return "\n".join(lines)


def parse_config(
    document: Mapping[str, Any], source: str = "configuration", environ: Mapping[str, str] | None = None
) -> DevicesConfig:
    """Validate a whole kiosk file's tables (`devices`, `vision`; others belong to other processes) with overrides."""
    environ = os.environ if environ is None else environ
    devices = document.get("devices", {})
    if not isinstance(devices, Mapping):
        raise ConfigError(f"{source}: 'devices' must be a table, got {type(devices).__name__}")
    vision = document.get("vision", {})
    if not isinstance(vision, Mapping):
        raise ConfigError(f"{source}: 'vision' must be a table, got {type(vision).__name__}")
    data = merge_tables(dict(devices), _env_overrides(environ, ENV_PREFIX))
    if "vision" in data:
        raise ConfigError(
            f"{source}: the face pipeline's keys go in the shared [vision] table (CORR_VISION__…), not [devices.vision]"
        )
    data["vision"] = merge_tables(dict(vision), _env_overrides(environ, VISION_ENV_PREFIX))
    data.setdefault("runtime_dir", str(default_runtime_dir(environ)))
    try:
        return DevicesConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source, environ)) from None


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> DevicesConfig:
    """Read the kiosk's TOML file (`path`, else $CORR_KIOSK_CONFIG, else none: environment only) and validate."""
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
    return parse_config(document, source, environ)
