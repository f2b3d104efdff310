"""`python -m vision`: detect, embed, compare and keygen print one JSON object; refusals exit 1 with the reason."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.vision.conftest import FACES
from vision.cli import main
from vision.models import REPO_ROOT
from vision.thresholds import load_thresholds

OBAMA = str(FACES / "face_recognition" / "obama.jpg")
OBAMA2 = str(FACES / "face_recognition" / "obama2.jpg")
BIDEN = str(FACES / "face_recognition" / "biden.jpg")
PARTIAL = str(FACES / "face_recognition" / "obama_partial_face.jpg")


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["--threads", "1", *args])
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # one JSON object, one line
    return code, json.loads(out)


def test_detect(models_present: None, faces_dir: Path, capsys) -> None:
    """detect lists every face with box, landmarks, score, quality measures and refusals."""
    code, out = _run(capsys, "detect", str(faces_dir / "insightface" / "t1.jpg"))
    assert code == 0 and out["ok"] and out["width"] == 1280 and len(out["faces"]) == 6
    face = out["faces"][0]
    assert len(face["box"]) == 4 and set(face["landmarks"]) >= {"right_eye", "nose_tip"} and 0 < face["score"] <= 1
    assert "sharpness" in face["quality"] and isinstance(face["refused"], list)


def test_embed(models_present: None, faces_dir: Path, capsys) -> None:
    """embed prints the backend, model sha256 and the unit-length embedding."""
    code, out = _run(capsys, "--embedder", "fr_feature", "embed", OBAMA)
    assert code == 0 and out["embedder"] == "fr_feature" and out["dim"] == 512 and len(out["embedding"]) == 512
    assert abs(sum(v * v for v in out["embedding"]) - 1) < 1e-3


def test_compare_uses_the_calibrated_threshold(models_present: None, faces_dir: Path, capsys) -> None:
    """compare gives score, threshold (from vision/thresholds.toml) and decision."""
    code, same = _run(capsys, "compare", OBAMA, OBAMA2)
    assert code == 0 and same["same_person"] is True and same["threshold"] == load_thresholds()["sface"].value
    code, other = _run(capsys, "--detector", "fr_detect", "compare", OBAMA, BIDEN)
    assert code == 0 and other["same_person"] is False and other["score"] < other["threshold"]


def test_refusals_exit_1_with_the_reason(models_present: None, faces_dir: Path, tmp_path: Path, capsys) -> None:
    """A gate refusal, an unreadable file and a bad config each give ok=false, a message and exit status 1."""
    code, out = _run(capsys, "compare", OBAMA, PARTIAL)
    assert code == 1 and out["reasons"] == ["cut_off"] and out["image"] == PARTIAL
    (tmp_path / "empty.jpg").write_bytes(b"")
    code, out = _run(capsys, "detect", str(tmp_path / "empty.jpg"))
    assert code == 1 and "zero bytes" in out["error"]
    (tmp_path / "v.toml").write_text('[vision.detector]\ntype = "mtcnn"\n')
    code, out = _run(capsys, "--config", str(tmp_path / "v.toml"), "detect", OBAMA)
    assert code == 1 and "vision.detector" in out["error"] and "mtcnn" in out["error"]


def test_keygen(capsys) -> None:
    """keygen prints a fresh base64 key of 32 bytes."""
    code, out = _run(capsys, "keygen")
    assert code == 0 and len(base64.b64decode(out["template_key"])) == 32


def test_runs_as_a_module(models_present: None, faces_dir: Path) -> None:
    """`python -m vision compare` works as a separate process."""
    done = subprocess.run(
        [sys.executable, "-m", "vision", "--threads", "1", "compare", OBAMA, BIDEN],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["same_person"] is False
