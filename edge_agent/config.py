"""The edge agent's TOML file: device id, uplink, cameras, detection rate, tracker, vision (extra keys refused).

Every key can be overridden by an environment variable `CORR_EDGE_<KEY>`, nested keys joined by
two underscores and list entries by their index: `CORR_EDGE_UPLINK__HOST=broker.local`,
`CORR_EDGE_UPLINK__PASSWORD=…`, `CORR_EDGE_CAMERAS__0__SOURCE__URL=rtsp://…`. A value starting
with `[` or `{` is read as JSON (a whole list or table). A `CORR_EDGE_` variable that names no
key is an error, never silently ignored; so is a near miss such as `CORR_EDGE_UPLINK_HOST` (one
underscore). `CORR_EDGE_CONFIG` names the TOML file when `-c` is not given. Secrets (passwords,
keys, stream URLs with credentials) are never shown in errors or in `--check-config`.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from contracts.env import EnvError, key_path, section_near_miss
from contracts.topics import DEVICE_ID_RULE, is_device_id
from edge_agent.track_faces import TrackFacesConfig
from edge_agent.tracker import TrackerConfig
from peripherals.camera import CameraConfig, redact_url
from uplink import UplinkConfig
from vision.config import VisionConfig

ENV_PREFIX = "CORR_EDGE_"
ENV_CONFIG = "CORR_EDGE_CONFIG"
SECRET_KEYS = frozenset({"password", "template_key"})


class ConfigError(ValueError):
    """The agent's configuration is wrong; the message names the file, the key and the value."""


class UplinkSection(BaseModel):
    """How the agent reaches the broker (the device id comes from the top level)."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, title="Broker host")
    port: int = Field(default=1883, ge=1, le=65535, title="Broker port")
    username: str = Field(default="", title="Username", description="defaults to the device id")
    password: SecretStr = Field(title="Password")
    outbox_path: Path = Field(title="Outbox file", description="SQLite file holding unacknowledged sightings")
    tls_ca_file: Path | None = Field(default=None, title="TLS CA file")
    status_interval_s: float = Field(default=30, gt=0, title="Heartbeat interval")

    def build(self, device_id: str, versions: dict[str, str]) -> UplinkConfig:
        """The uplink's own settings for this device."""
        return UplinkConfig(
            device_id=device_id,
            host=self.host,
            port=self.port,
            username=self.username,
            password=self.password.get_secret_value(),
            outbox_path=self.outbox_path,
            tls_ca_file=self.tls_ca_file,
            status_interval_s=self.status_interval_s,
            versions=versions,
        )


class CameraEntry(BaseModel):
    """One camera of this host: its id in sightings, and its source."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64, title="Camera id", description="camera_id in sightings and status")
    source: CameraConfig = Field(title="Source", description="device, url, file or images (peripherals.camera)")
    stall_after_s: float = Field(
        default=10.0,
        gt=0,
        title="Stall after",
        description="no new frame for this long: the camera is reported stalled and reconnected, seconds",
    )


class GallerySyncSection(BaseModel):
    """Fetching the gallery central announces with the retained `gallery` command (needs the uplink)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, title="Enabled", description="follow central's gallery commands")
    cache_dir: Path | None = Field(
        default=None,
        title="Cache folder",
        description="where the last good gallery file is kept, still encrypted; default <state_dir>/gallery",
    )
    central_url: str | None = Field(
        default=None,
        title="Central URL",
        description="central's base URL for GET /device-api/v1/gallery after a 404; default: from the command's URL",
    )
    ca_file: Path | None = Field(
        default=None, title="HTTPS CA file", description="CA certificate to verify central; default: the system's"
    )
    allow_http: bool = Field(
        default=False,
        title="Allow plain http",
        description="accept http:// gallery URLs (sends the device secret in clear: test benches and demos only)",
    )
    connect_timeout_s: float = Field(default=5.0, gt=0, title="Connect timeout", description="seconds")
    read_timeout_s: float = Field(
        default=30.0, gt=0, title="Read timeout", description="longest silence while downloading, seconds"
    )
    total_timeout_s: float = Field(
        default=300.0, gt=0, title="Download timeout", description="longest whole download, seconds"
    )
    max_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024, title="Size cap", description="largest gallery file accepted, bytes"
    )
    retry_min_s: float = Field(default=2.0, gt=0, title="Retry delay, first", description="seconds")
    retry_max_s: float = Field(default=300.0, gt=0, title="Retry delay, longest", description="seconds")

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.retry_max_s < self.retry_min_s:
            raise ValueError(f"retry_max_s ({self.retry_max_s}) must be at least retry_min_s ({self.retry_min_s})")
        if self.central_url is not None and not self.central_url.startswith(("https://", "http://")):
            raise ValueError(f"central_url {self.central_url!r}: must start with https:// (or http://)")
        return self


class AgentConfig(BaseModel):
    """Everything one edge agent process needs."""

    model_config = ConfigDict(extra="forbid")

    device_id: str = Field(title="Device id", description=f"this host's device id: {DEVICE_ID_RULE}")
    cameras: list[CameraEntry] = Field(min_length=1, title="Cameras")
    detect_every: int = Field(
        default=1, ge=1, le=100, title="Detection rate", description="detect faces on every k-th frame taken"
    )
    uplink: UplinkSection | None = Field(
        default=None, title="Uplink", description="broker settings; without them sightings are only logged"
    )
    gallery_dir: Path | None = Field(
        default=None,
        title="Gallery folder",
        description="offline setups: sealed templates as <subject id>/<name>.tpl, opened with vision.template_key; "
        "when set, central's gallery commands are not followed",
    )
    gallery_sync: GallerySyncSection = Field(default_factory=GallerySyncSection, title="Gallery sync")
    state_dir: Path | None = Field(
        default=None,
        title="State folder",
        description="track-id reservations and the gallery cache; default: edge-state beside the outbox file",
    )
    journal_path: Path | None = Field(
        default=None,
        title="Sighting journal",
        description="append a JSON line per sighting handed to the outbox (event id, camera, track, subject)",
    )
    tracker: TrackerConfig = Field(default_factory=TrackerConfig, title="Tracker")
    tracks: TrackFacesConfig = Field(default_factory=TrackFacesConfig, title="Track judgement")
    vision: VisionConfig = Field(default_factory=VisionConfig, title="Vision")

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not is_device_id(self.device_id):
            raise ValueError(f"device_id {self.device_id!r}: must be {DEVICE_ID_RULE}")
        ids = [c.id for c in self.cameras]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"camera ids must be unique, repeated: {', '.join(repeated)}")
        return self

    def effective_state_dir(self) -> Path | None:
        """Where state persists: `state_dir`, else `edge-state` beside the outbox; None without either."""
        if self.state_dir is not None:
            return self.state_dir
        if self.uplink is not None:
            return self.uplink.outbox_path.parent / "edge-state"
        return None

    def gallery_sync_active(self) -> bool:
        """Central's gallery commands are followed: uplink configured, sync enabled, no offline gallery folder."""
        return self.uplink is not None and self.gallery_sync.enabled and self.gallery_dir is None


def _is_section(annotation: Any) -> bool:
    """A table or a list of tables (`uplink`, `cameras`, `vision`, ...), also when optional."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return get_origin(annotation) is list or any(_is_section(a) for a in get_args(annotation))


def env_overrides(environ: Mapping[str, str]) -> dict[tuple[str, ...], Any]:
    """The `CORR_EDGE_*` variables as key paths → values; ConfigError for one that names no key."""
    out: dict[tuple[str, ...], Any] = {}
    fields = AgentConfig.model_fields
    sections = [section for section, field in fields.items() if _is_section(field.annotation)]
    for name, value in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name == ENV_CONFIG:
            continue
        try:
            path = key_path(name, ENV_PREFIX)
        except EnvError as exc:
            raise ConfigError(str(exc)) from None
        if path[0] not in fields:
            miss = section_near_miss(name, ENV_PREFIX, path[0], sections)
            if miss is not None:
                raise ConfigError(str(miss))
            known = ", ".join(sorted(fields))
            raise ConfigError(f"environment {name}: {path[0]!r} is not a key of the edge agent's config ({known})")
        text = value.strip()
        if text[:1] in ("[", "{"):
            try:
                out[path] = json.loads(text)
            except ValueError as exc:
                raise ConfigError(f"environment {name}: starts like JSON but is not valid JSON: {exc}") from None
        else:
            out[path] = value
    return out


def apply_overrides(
    data: dict[str, Any], overrides: Mapping[tuple[str, ...], Any], names: Mapping[tuple[str, ...], str]
) -> dict[str, Any]:
    """A copy of `data` with each override set at its key path (list entries by index)."""
    merged: Any = json.loads(json.dumps(data, default=str))
    for path, value in overrides.items():
        node = merged
        for depth, part in enumerate(path):
            last = depth == len(path) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    where = ".".join(path[:depth]) or "(top level)"
                    raise ConfigError(
                        f"environment {names[path]}: {where} has {len(node)} entries; "
                        f"{part!r} is not the index of one of them"
                    )
                key: Any = int(part)
            elif isinstance(node, dict):
                key = part
            else:
                where = ".".join(path[:depth])
                raise ConfigError(f"environment {names[path]}: {where} is a value, not a table")
            if last:
                node[key] = value
            else:
                if isinstance(node, dict) and not isinstance(node.get(key), dict | list):
                    node[key] = {}
                node = node[key]
    result: dict[str, Any] = merged
    return result


def _describe(exc: ValidationError, source: str, env_names: Mapping[tuple[str, ...], str]) -> str:
    lines = []
    for err in exc.errors():
        loc = tuple(str(p) for p in err["loc"])
        key = ".".join(loc) or "(top level)"
        where = source
        for path, name in env_names.items():
            if loc[: len(path)] == path or path[: len(loc)] == loc:
                where = f"environment {name}"
                break
        secret = bool(loc) and loc[-1] in SECRET_KEYS
        shown = "" if err["type"] == "missing" or secret else f" (got {err.get('input')!r})"
        if secret and err["type"] != "missing":
            shown = " (value hidden: it is a secret)"
        lines.append(f"{where}: key '{key}': {err['msg']}{shown}")
    return "\n".join(lines)


def parse_config(
    data: dict[str, Any], source: str = "edge agent configuration", environ: Mapping[str, str] | None = None
) -> AgentConfig:
    """Validate a mapping with the `CORR_EDGE_*` overrides of `environ` (none when None); ConfigError names the key."""
    overrides = env_overrides(environ or {})
    names = {path: ENV_PREFIX + "__".join(path).upper() for path in overrides}
    merged = apply_overrides(data, overrides, names) if overrides else data
    try:
        return AgentConfig.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source, names)) from None


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> AgentConfig:
    """Read the TOML file (`CORR_EDGE_CONFIG` when `path` is None), apply `CORR_EDGE_*` overrides, validate."""
    environ = os.environ if environ is None else environ
    if path is None:
        named = environ.get(ENV_CONFIG)
        if not named:
            raise ConfigError(f"no configuration file: give -c edge.toml or set {ENV_CONFIG}")
        path = Path(named)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data, str(path), environ)


def _hide(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: _hide(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_hide(v) for v in value]
    if key in SECRET_KEYS and value is not None:
        return "(hidden)"
    if key == "url" and isinstance(value, str):
        return redact_url(value)
    return value


def describe_config(config: AgentConfig) -> str:
    """The effective configuration as JSON, secrets hidden (passwords, keys, stream URL passwords)."""
    data = _hide(config.model_dump(mode="json"))
    data["effective"] = {
        "state_dir": str(config.effective_state_dir()) if config.effective_state_dir() else None,
        "gallery_sync": config.gallery_sync_active(),
    }
    return json.dumps(data, indent=2, ensure_ascii=False)


def _toml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_scalar(v) for v in value) + "]"
    out = []
    for ch in str(value):
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")  # TOML basic strings forbid raw control characters
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_table(data: Mapping[str, Any], prefix: str, lines: list[str]) -> None:
    scalars = {k: v for k, v in data.items() if v is not None and not _is_table(v)}
    for key, value in scalars.items():
        lines.append(f"{key} = {_toml_scalar(value)}")
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            lines += ["", f"[{name}]"]
            _toml_table(value, name, lines)
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            for item in value:
                lines += ["", f"[[{name}]]"]
                _toml_table(item, name, lines)


def _is_table(value: Any) -> bool:
    return isinstance(value, Mapping) or (
        isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)
    )


def to_toml(data: Mapping[str, Any]) -> str:
    """A config mapping as TOML text that `load_config` reads back (None values left out); for tools and the demo."""
    lines: list[str] = []
    _toml_table(data, "", lines)
    return "\n".join(lines).lstrip("\n") + "\n"
