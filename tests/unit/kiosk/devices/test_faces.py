"""Pure helpers of the camera driver: face score, choice of the best capture, preview size, rate limiter."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.devices.faces import best, due, face_score, preview_size
from vision.quality import QualityConfig

GATE = QualityConfig()
GOOD = {"face_px": 240.0, "sharpness": 1500.0, "brightness": 132.5, "yaw": 0.0, "pitch": 0.55, "edge_margin": 0.4}

measures = st.fixed_dictionaries(
    {
        "face_px": st.floats(0, 5000, allow_nan=False),
        "sharpness": st.floats(0, 1e5, allow_nan=False),
        "brightness": st.floats(0, 255),
        "yaw": st.floats(-5, 5),
        "pitch": st.floats(-1, 2),
    }
)


@given(measures)
def test_the_score_is_between_0_and_1(m: dict[str, float]) -> None:
    assert 0.0 < face_score(m, GATE) <= 1.0


def test_a_sharp_frontal_large_well_lit_face_scores_top() -> None:
    assert face_score(GOOD, GATE) == 1.0


@pytest.mark.parametrize(
    ("key", "worse"),
    [("sharpness", 120.0), ("yaw", 0.5), ("yaw", -0.5), ("pitch", 0.3), ("face_px", 70.0), ("brightness", 60.0)],
)
def test_each_weakness_lowers_the_score(key: str, worse: float) -> None:
    assert face_score({**GOOD, key: worse}, GATE) < face_score(GOOD, GATE)


@given(measures, st.floats(0, 1e4), st.floats(0, 1e4))
def test_sharper_never_scores_lower(m: dict[str, float], a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert face_score({**m, "sharpness": low}, GATE) <= face_score({**m, "sharpness": high}, GATE)


@given(measures, st.floats(0, 3), st.floats(0, 3))
def test_more_turned_never_scores_higher(m: dict[str, float], a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert face_score({**m, "yaw": high}, GATE) <= face_score({**m, "yaw": -low}, GATE)


def test_nan_measures_count_as_worst() -> None:
    assert face_score({**GOOD, "yaw": float("nan")}, GATE) < face_score({**GOOD, "yaw": 0.69}, GATE)


def test_best_takes_the_highest_and_the_earliest_on_a_tie() -> None:
    assert best([(0.2, "a"), (0.9, "b"), (0.9, "c"), (0.1, "d")]) == "b"
    assert best([(0.5, "only")]) == "only"
    with pytest.raises(ValueError, match="no candidates"):
        best([])


@given(st.lists(st.tuples(st.floats(0, 1), st.integers()), min_size=1))
def test_best_is_a_maximum(candidates: list[tuple[float, int]]) -> None:
    chosen = best(candidates)
    top = max(score for score, _ in candidates)
    assert (top, chosen) in candidates


@given(st.integers(1, 8000), st.integers(1, 8000), st.integers(1, 2000))
def test_preview_size_fits_keeps_aspect_and_never_grows(width: int, height: int, max_side: int) -> None:
    w, h = preview_size(width, height, max_side)
    assert 1 <= w <= width and 1 <= h <= height
    if max(width, height) <= max_side:
        assert (w, h) == (width, height)
    else:
        assert max(w, h) == max_side
        scale = max_side / max(width, height)  # each side rounded from the exact scaled size (at least 1 px)
        assert abs(w - width * scale) <= 1
        assert abs(h - height * scale) <= 1


def test_preview_size_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="both sides must be positive"):
        preview_size(0, 10, 320)
    with pytest.raises(ValueError, match="max_side 0"):
        preview_size(10, 10, 0)


def test_due_runs_at_the_rate_and_never_at_zero() -> None:
    assert due(0.0, None, 5)
    assert not due(0.1, 0.0, 5)
    assert due(0.2, 0.0, 5)
    assert not due(100.0, None, 0)
