"""Find model files and prove they are the ones models/manifest.toml names (sha256) before anything loads them.

Search order: CORR_MODELS_DIR when set (and only it); otherwise models/ in the repository, then
../shared/models next to the repository when that folder exists (the team's shared copy).
"""

from __future__ import annotations

import hashlib
import os
import threading
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vision.errors import ModelFileError

REPO_ROOT = Path(__file__).resolve().parent.parent
MANIFEST_PATH = REPO_ROOT / "models" / "manifest.toml"
ENV_MODELS_DIR = "CORR_MODELS_DIR"


@dataclass(frozen=True)
class ModelEntry:
    """One model as the manifest describes it."""

    name: str
    file: str
    sha256: str
    licence: str


@dataclass(frozen=True)
class ModelFile:
    """A model file on disk whose sha256 has been checked."""

    name: str
    path: Path
    sha256: str


def load_manifest(path: Path = MANIFEST_PATH) -> dict[str, ModelEntry]:
    """The manifest's entries by name."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelFileError(f"model manifest {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ModelFileError(f"model manifest {path}: not valid TOML: {exc}") from exc
    out: dict[str, ModelEntry] = {}
    for name, table in data.get("models", {}).items():
        try:
            out[name] = ModelEntry(name, str(table["file"]), str(table["sha256"]), str(table["licence"]))
        except KeyError as exc:
            raise ModelFileError(f"model manifest {path}: model '{name}' has no '{exc.args[0]}'") from exc
    return out


def search_dirs(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The folders searched for model files, in order."""
    environ = os.environ if environ is None else environ
    explicit = environ.get(ENV_MODELS_DIR)
    if explicit:
        return [Path(explicit)]
    dirs = [REPO_ROOT / "models"]
    shared = REPO_ROOT.parent / "shared" / "models"
    if shared.is_dir():
        dirs.append(shared)
    return dirs


_digests: dict[tuple[str, int, int], str] = {}
_digests_lock = threading.Lock()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, remembered per (path, size, mtime) so a process hashes each model once."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _digests_lock:
        known = _digests.get(key)
    if known is not None:
        return known
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    value = digest.hexdigest()
    with _digests_lock:
        _digests[key] = value
    return value


def resolve(
    name: str, *, manifest: Mapping[str, ModelEntry] | None = None, environ: Mapping[str, str] | None = None
) -> ModelFile:
    """Locate model `name` and check its sha256; a missing or mismatching file is a ModelFileError."""
    entries = load_manifest() if manifest is None else manifest
    entry = entries.get(name)
    if entry is None:
        raise ModelFileError(f"model '{name}' is not in the manifest; known models: {', '.join(sorted(entries))}")
    dirs = search_dirs(environ)
    for folder in dirs:
        path = folder / entry.file
        if path.is_file():
            got = sha256_file(path)
            if got != entry.sha256:
                raise ModelFileError(
                    f"model '{name}': {path} has sha256 {got}, the manifest expects {entry.sha256} "
                    f"(corrupt or another version); fetch it again with `python -m models.fetch {name}`"
                )
            return ModelFile(name=name, path=path, sha256=got)
    searched = ", ".join(str(d) for d in dirs)
    raise ModelFileError(
        f"model '{name}' ({entry.file}) not found in {searched}; fetch it with `python -m models.fetch {name}` "
        f"or point {ENV_MODELS_DIR} at a folder that holds it"
    )


def user_file(path: Path, expected_sha256: str | None = None) -> ModelFile:
    """A model file the manifest cannot list (a user's insightface pack): found, hashed, pinned when asked."""
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    got = sha256_file(path)
    if expected_sha256 is not None and got != expected_sha256.lower():
        raise ModelFileError(f"model file {path} has sha256 {got}, the configuration pins {expected_sha256}")
    return ModelFile(name=path.stem, path=path, sha256=got)
