"""Decision thresholds per embedder, as calibrated by bench/vision.py and stored in vision/thresholds.toml.

A threshold belongs to one model file: an entry whose model_sha256 differs from the running
embedder's is not used, because a score scale does not carry over between models.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from vision.errors import ConfigError

THRESHOLDS_PATH = Path(__file__).resolve().parent / "thresholds.toml"


@dataclass(frozen=True)
class Threshold:
    """A calibrated decision threshold and the error rates it was chosen for."""

    backend: str
    model_sha256: str
    value: float
    far: float
    frr: float
    target_far: float
    genuine_pairs: int
    impostor_pairs: int


def load_thresholds(path: Path = THRESHOLDS_PATH) -> dict[str, Threshold]:
    """All calibrated thresholds, by backend."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    out: dict[str, Threshold] = {}
    for backend, t in data.items():
        if not isinstance(t, dict):
            continue
        try:
            out[backend] = Threshold(
                backend=backend,
                model_sha256=str(t["model_sha256"]),
                value=float(t["threshold"]),
                far=float(t["far"]),
                frr=float(t["frr"]),
                target_far=float(t["target_far"]),
                genuine_pairs=int(t["genuine_pairs"]),
                impostor_pairs=int(t["impostor_pairs"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: [{backend}]: missing or bad key ({exc})") from exc
    return out


def threshold_for(backend: str, model_sha256: str, path: Path = THRESHOLDS_PATH) -> Threshold:
    """The calibrated threshold for this backend and model file, or a ConfigError saying how to get one."""
    found = load_thresholds(path).get(backend)
    if found is None:
        raise ConfigError(
            f"no calibrated threshold for embedder '{backend}' in {path}: run `python bench/vision.py` on "
            "labelled photos, or set `threshold` in the vision configuration"
        )
    if found.model_sha256 != model_sha256:
        raise ConfigError(
            f"the threshold for embedder '{backend}' in {path} was calibrated for model {found.model_sha256[:12]}…, "
            f"the configured model is {model_sha256[:12]}…: recalibrate with `python bench/vision.py` or set "
            "`threshold` in the vision configuration"
        )
    return found
