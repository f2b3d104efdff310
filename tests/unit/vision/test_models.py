"""Model files (vision/models.py): search order, sha256 check, and messages that say how to fetch."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from vision.errors import ModelFileError
from vision.models import MANIFEST_PATH, REPO_ROOT, ModelEntry, load_manifest, resolve, search_dirs, user_file

CONTENT = b"not really a model, but bytes with a known sha256"
SHA = hashlib.sha256(CONTENT).hexdigest()
MANIFEST = {"toy": ModelEntry(name="toy", file="face/toy.onnx", sha256=SHA, licence="MIT")}


def _place(folder: Path, content: bytes = CONTENT) -> Path:
    path = folder / "face" / "toy.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_models_dir_from_environment(tmp_path: Path) -> None:
    """CORR_MODELS_DIR, when set, is the only folder searched."""
    assert search_dirs({"CORR_MODELS_DIR": str(tmp_path)}) == [tmp_path]


def test_default_dirs_are_the_repository_then_shared() -> None:
    """Without CORR_MODELS_DIR: models/ in the repository, then ../shared/models if it exists."""
    dirs = search_dirs({})
    assert dirs[0] == REPO_ROOT / "models"
    shared = REPO_ROOT.parent / "shared" / "models"
    assert dirs[1:] == ([shared] if shared.is_dir() else [])


def test_resolve_finds_and_checks(tmp_path: Path) -> None:
    """A file with the manifest's sha256 resolves to its path."""
    path = _place(tmp_path)
    found = resolve("toy", manifest=MANIFEST, environ={"CORR_MODELS_DIR": str(tmp_path)})
    assert found.path == path and found.sha256 == SHA and found.name == "toy"


def test_missing_file_says_how_to_fetch(tmp_path: Path) -> None:
    """A missing model names the file, the folders searched and the fetch command."""
    with pytest.raises(ModelFileError) as err:
        resolve("toy", manifest=MANIFEST, environ={"CORR_MODELS_DIR": str(tmp_path)})
    text = str(err.value)
    assert "model 'toy' (face/toy.onnx) not found in" in text
    assert str(tmp_path) in text and "python -m models.fetch toy" in text and "CORR_MODELS_DIR" in text


def test_mismatching_file_is_refused(tmp_path: Path) -> None:
    """A corrupt or different file is refused with both digests and the fetch command."""
    path = _place(tmp_path, CONTENT + b"!")
    with pytest.raises(ModelFileError) as err:
        resolve("toy", manifest=MANIFEST, environ={"CORR_MODELS_DIR": str(tmp_path)})
    text = str(err.value)
    assert f"{path} has sha256 {hashlib.sha256(CONTENT + b'!').hexdigest()}" in text
    assert f"the manifest expects {SHA}" in text and "python -m models.fetch toy" in text


def test_unknown_model_lists_the_known_ones() -> None:
    """Asking for a name the manifest lacks lists the names it has."""
    with pytest.raises(ModelFileError, match="model 'nope' is not in the manifest; known models: toy"):
        resolve("nope", manifest=MANIFEST)


def test_changed_file_is_hashed_again(tmp_path: Path) -> None:
    """The digest cache is keyed by size and mtime, so a file replaced in place is checked anew."""
    env = {"CORR_MODELS_DIR": str(tmp_path)}
    path = _place(tmp_path)
    resolve("toy", manifest=MANIFEST, environ=env)
    path.write_bytes(CONTENT[::-1] + b"xx")
    with pytest.raises(ModelFileError, match="has sha256"):
        resolve("toy", manifest=MANIFEST, environ=env)


def test_project_manifest_lists_every_backend_model() -> None:
    """The real manifest parses and names the files the backends ask for."""
    entries = load_manifest(MANIFEST_PATH)
    assert {"yunet", "sface", "sface_opencv", "fr_detect", "fr_landmark", "fr_feature"} <= set(entries)
    assert all(len(e.sha256) == 64 and e.licence for e in entries.values())


def test_broken_manifest(tmp_path: Path) -> None:
    """A manifest that is missing, not TOML, or missing a key is named."""
    with pytest.raises(ModelFileError, match="does not exist"):
        load_manifest(tmp_path / "none.toml")
    (tmp_path / "bad.toml").write_text("[models.x\n")
    with pytest.raises(ModelFileError, match="not valid TOML"):
        load_manifest(tmp_path / "bad.toml")
    (tmp_path / "short.toml").write_text('[models.x]\nfile = "a"\n')
    with pytest.raises(ModelFileError, match="model 'x' has no 'sha256'"):
        load_manifest(tmp_path / "short.toml")


def test_user_file_pin(tmp_path: Path) -> None:
    """A user's file is hashed; a pinned sha256 that differs is refused, a missing file is named."""
    path = _place(tmp_path)
    assert user_file(path).sha256 == SHA
    assert user_file(path, SHA.upper()).sha256 == SHA
    with pytest.raises(ModelFileError, match="the configuration pins"):
        user_file(path, "0" * 64)
    with pytest.raises(ModelFileError, match="does not exist"):
        user_file(tmp_path / "nope.onnx")
