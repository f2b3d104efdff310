"""The edge agent's TOML file: device id, uplink, cameras, detection rate, tracker, vision (extra keys refused)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from contracts.topics import DEVICE_ID_RULE, is_device_id
from edge_agent.track_faces import TrackFacesConfig
from edge_agent.tracker import TrackerConfig
from peripherals.camera import CameraConfig
from uplink import UplinkConfig
from vision.config import VisionConfig


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

    id: str = Field(min_length=1, max_length=128, title="Camera id", description="camera_id in sightings and status")
    source: CameraConfig = Field(title="Source", description="device, url, file or images (peripherals.camera)")


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
        description="sealed templates as <subject id>/<name>.tpl, opened with vision.template_key",
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


def parse_config(data: dict[str, Any], source: str = "edge agent configuration") -> AgentConfig:
    """Validate a mapping; ConfigError with one line per problem naming the key and the bad value."""
    try:
        return AgentConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            secret = key.endswith("password") or key.endswith("template_key")
            shown = "" if err["type"] == "missing" or secret else f" (got {err.get('input')!r})"
            lines.append(f"{source}: key '{key}': {err['msg']}{shown}")
        raise ConfigError("\n".join(lines)) from None


def load_config(path: Path) -> AgentConfig:
    """Read and validate the agent's TOML file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data, str(path))
