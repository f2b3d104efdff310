"""The `[vision]` configuration: detector and embedder backends chosen by `type`, quality, threshold, key.

Roles that use vision (kiosk, edge) embed VisionConfig in their own file; `load_config` reads a
standalone file for the command line, with CORR_VISION__* environment overrides
(e.g. CORR_VISION__DETECTOR__TYPE=fr_detect, CORR_VISION__RUNTIME__THREADS=1).
"""

from __future__ import annotations

import base64
import binascii
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from contracts.env import EnvError, env_tables, merge_tables
from vision.backends.buffalo import BuffaloDetectorConfig, BuffaloEmbedderConfig
from vision.backends.fr_detect import FrDetectConfig
from vision.backends.fr_feature import FrFeatureConfig
from vision.backends.sface import SFaceConfig
from vision.backends.yunet import YuNetConfig
from vision.errors import ConfigError
from vision.image import DEFAULT_MAX_PIXELS
from vision.quality import QualityConfig
from vision.runtime import RuntimeConfig
from vision.template import TemplateCipher

ENV_PREFIX = "CORR_VISION__"

DetectorConfig = Annotated[YuNetConfig | FrDetectConfig | BuffaloDetectorConfig, Field(discriminator="type")]
EmbedderConfig = Annotated[SFaceConfig | FrFeatureConfig | BuffaloEmbedderConfig, Field(discriminator="type")]


class VisionConfig(BaseModel):
    """Everything the face pipeline needs to know."""

    model_config = ConfigDict(extra="forbid")

    detector: DetectorConfig = Field(
        default_factory=YuNetConfig, title="Detector", description="face detector backend: yunet, fr_detect, buffalo"
    )
    embedder: EmbedderConfig = Field(
        default_factory=SFaceConfig, title="Embedder", description="face embedder backend: sface, fr_feature, buffalo"
    )
    quality: QualityConfig = Field(default_factory=QualityConfig, title="Quality gate")
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig, title="Model runtime")
    threshold: float | None = Field(
        default=None,
        ge=-1,
        le=1,
        title="Decision threshold",
        description="same-person cosine threshold; by default the one calibrated for the embedder in "
        "vision/thresholds.toml",
    )
    template_key: SecretStr | None = Field(
        default=None,
        title="Template key",
        description="base64 of 32 random bytes: AES-256-GCM key sealing templates at rest",
    )
    max_image_pixels: int = Field(
        default=DEFAULT_MAX_PIXELS, ge=64 * 64, title="Largest image", description="images with more pixels are refused"
    )

    @field_validator("template_key")
    @classmethod
    def _key_is_32_bytes(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        try:
            raw = base64.b64decode(value.get_secret_value(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("must be base64 of 32 random bytes (make one with `python -m vision keygen`)") from exc
        if len(raw) != 32:
            raise ValueError(f"must decode to 32 bytes for AES-256, decodes to {len(raw)}")
        return value

    def template_cipher(self) -> TemplateCipher:
        """The cipher for sealing templates; a ConfigError when no key is configured."""
        if self.template_key is None:
            raise ConfigError(
                "vision.template_key is not set: templates are never stored in clear, so a key is required "
                "(make one with `python -m vision keygen`)"
            )
        return TemplateCipher.from_base64(self.template_key.get_secret_value())


def describe(exc: ValidationError, source: str, environ: Mapping[str, str] | None = None) -> str:
    """One line per problem: where it came from, the key, what was wrong, and the value (keys hidden)."""
    environ = {} if environ is None else environ
    lines = []
    for err in exc.errors():
        parts = [str(p) for p in err["loc"]]
        key = ".".join(["vision", *parts])
        env_name = ENV_PREFIX + "__".join(parts).upper()
        where = f"environment {env_name}" if env_name in environ else source
        if err["type"] == "missing":
            shown = ""
        elif parts and parts[-1] == "template_key":
            shown = " (value hidden: it is a secret)"
        else:
            shown = f" (got {err.get('input')!r})"
        lines.append(f"{where}: key '{key}': {err['msg']}{shown}")
    return "\n".join(lines)


def parse_config(data: Mapping[str, Any], source: str = "vision configuration") -> VisionConfig:
    """Validate a mapping (a role file's [vision] table); errors name the key and the bad value."""
    try:
        return VisionConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe(exc, source)) from exc


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> VisionConfig:
    """Read a TOML file (its [vision] table, or the whole file), apply CORR_VISION__* overrides, validate."""
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {path} does not exist") from exc
        try:
            whole = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        data = whole["vision"] if isinstance(whole.get("vision"), dict) else whole
    try:
        data = merge_tables(data, env_tables(environ, ENV_PREFIX))
    except EnvError as exc:
        raise ConfigError(str(exc)) from exc
    try:
        return VisionConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe(exc, source, environ)) from exc
