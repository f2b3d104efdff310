"""1:1 verification (vision/verify.py) and calibrated thresholds (vision/thresholds.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given

from tests.unit.vision.strategies import templates
from vision.errors import ConfigError, TemplateError
from vision.template import Template
from vision.thresholds import THRESHOLDS_PATH, load_thresholds, threshold_for
from vision.verify import similarity, verify

SHA = "12" * 32


@given(templates(backend="sface", sha=SHA, dim=8), templates(backend="sface", sha=SHA, dim=8))
def test_similarity_is_the_cosine(a: Template, b: Template) -> None:
    """The score is the dot product of the unit vectors, symmetric, and 1 with itself."""
    want = float(np.dot(np.asarray(a.values()), np.asarray(b.values())))
    assert similarity(a, b) == pytest.approx(want, abs=1e-6)
    assert similarity(b, a) == pytest.approx(similarity(a, b), abs=1e-7)
    assert similarity(a, a) == pytest.approx(1.0, abs=1e-6)


def test_decision_is_score_at_least_threshold() -> None:
    """Same person exactly when the score reaches the threshold."""
    a = Template.from_values("sface", SHA, [1.0, 0.0])
    b = Template.from_values("sface", SHA, [0.6, 0.8])
    assert verify(a, b, 0.6).same_person is True
    assert verify(a, b, 0.61).same_person is False
    assert verify(a, b, 0.5).as_dict() == {"score": 0.6, "threshold": 0.5, "same_person": True}


def test_cross_backend_verification_is_refused() -> None:
    """A probe of one backend is never scored against a template of another."""
    a = Template.from_values("sface", SHA, [1.0, 0.0])
    b = Template.from_values("fr_feature", "34" * 32, [1.0, 0.0])
    with pytest.raises(TemplateError, match=r"cannot compare a 'sface' template .* with a 'fr_feature' template"):
        verify(a, b, 0.3)


def test_shipped_thresholds_cover_both_embedders() -> None:
    """vision/thresholds.toml holds a calibrated threshold, FAR and FRR for sface and fr_feature."""
    found = load_thresholds()
    for backend in ("sface", "fr_feature"):
        t = found[backend]
        assert -1 < t.value < 1 and 0 <= t.far <= t.target_far and 0 <= t.frr < 1
        assert t.genuine_pairs > 0 and t.impostor_pairs > 0
        assert threshold_for(backend, t.model_sha256) == t


def test_threshold_for_another_model_is_refused() -> None:
    """A threshold calibrated for one model file is not used for another."""
    sha = load_thresholds()["sface"].model_sha256
    with pytest.raises(ConfigError, match=r"was calibrated for model .* recalibrate with `python bench/vision\.py`"):
        threshold_for("sface", "f" * 64)
    with pytest.raises(ConfigError, match="no calibrated threshold for embedder 'buffalo'"):
        threshold_for("buffalo", sha)


def test_threshold_file_errors(tmp_path: Path) -> None:
    """A missing file means no thresholds; a broken one is named with the entry."""
    assert load_thresholds(tmp_path / "none.toml") == {}
    (tmp_path / "t.toml").write_text("[sface]\nthreshold = 0.3\n")
    with pytest.raises(ConfigError, match=r"\[sface\]: missing or bad key"):
        load_thresholds(tmp_path / "t.toml")
    assert THRESHOLDS_PATH.name == "thresholds.toml"
