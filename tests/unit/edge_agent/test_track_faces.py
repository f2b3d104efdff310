"""Best-crop choice and the per-track decision: who, unknown, once per subject."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.track_faces import Candidate, Crop, FaceTrack, TrackFacesConfig, crop_quality, decide, decide_early
from vision.quality import Measures, QualityConfig

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
THRESHOLD = 0.33


def crop(quality: float, second: float = 0) -> Crop:
    """A crop of the given quality, `second` s after T0."""
    return Crop(quality, (10, 10, 110, 110), T0 + timedelta(seconds=second), np.zeros((112, 112, 3), np.uint8))


def track(*qualities: float, hits: int | None = None) -> FaceTrack:
    """A track with one crop per quality, one per second."""
    t = FaceTrack.start(7, T0)
    for i, q in enumerate(qualities):
        t.see(T0 + timedelta(seconds=i), crop(q, i), keep=3)
    t.hits = len(qualities) if hits is None else hits
    return t


def measures(face_px: float = 120, sharpness: float = 200, yaw: float = 0.0) -> Measures:
    """Gate measures of one face."""
    return Measures(face_px, face_px / 3, sharpness, 120, yaw, 0.55, 0.2)


def test_quality_is_one_for_a_large_sharp_frontal_face_and_falls_with_each_measure() -> None:
    """Quality 1 at twice the size limit, four times the sharpness limit, yaw 0; lower when any gets worse."""
    gate = QualityConfig()
    assert crop_quality(measures(), gate) == pytest.approx(1.0)
    assert crop_quality(measures(face_px=60), gate) < 1
    assert crop_quality(measures(sharpness=60), gate) < 1
    assert crop_quality(measures(yaw=0.5), gate) < crop_quality(measures(yaw=0.1), gate) < 1
    assert crop_quality(measures(yaw=float("inf")), gate) == 0


@given(st.lists(st.floats(0, 1), min_size=1, max_size=30), st.integers(1, 5))
def test_a_track_keeps_its_best_crops_best_first(qualities: list[float], keep: int) -> None:
    """After any sequence of crops the track holds the `keep` best, in falling quality."""
    t = FaceTrack.start(1, T0)
    for i, q in enumerate(qualities):
        t.see(T0 + timedelta(seconds=i), crop(q, i), keep)
    assert [c.quality for c in t.crops] == sorted(qualities, reverse=True)[:keep]
    assert t.last_seen == T0 + timedelta(seconds=len(qualities) - 1)
    assert t.hits == len(qualities)


def test_the_best_candidate_above_the_threshold_names_the_subject() -> None:
    """The highest score wins; the decision carries it, the best crop's quality and the track's times."""
    t = track(0.9, 0.8, 0.7)
    candidates = [Candidate("S-1", 0.5), Candidate("S-2", 0.6), Candidate("S-1", 0.4)]
    d = decide(t, [candidates[i] for i in range(3)], THRESHOLD, min_hits=2)
    assert d is not None
    assert (d.subject_id, d.score, d.quality) == ("S-2", 0.6, 0.9)
    assert (d.first_seen, d.last_seen) == (T0, T0 + timedelta(seconds=2))


def test_a_track_that_matches_nobody_above_the_threshold_is_unknown() -> None:
    """Scores all below the threshold give subject None with the best score."""
    d = decide(track(0.9, 0.8), [Candidate("S-1", 0.2), Candidate("S-2", 0.3)], THRESHOLD, min_hits=2)
    assert d is not None
    assert d.subject_id is None
    assert d.score == 0.3


def test_an_empty_gallery_reports_unknown_with_score_zero() -> None:
    """No gallery: every track is unknown, score 0."""
    d = decide(track(0.9, 0.8), [Candidate(None, 0.0)] * 2, THRESHOLD, min_hits=2)
    assert d is not None
    assert (d.subject_id, d.score) == (None, 0.0)


def test_a_subject_already_reported_for_the_track_is_not_reported_again() -> None:
    """One sighting per track per subject: a second judgement naming the same subject gives nothing."""
    t = track(0.9, 0.8)
    t.reported.add("S-1")
    assert decide(t, [Candidate("S-1", 0.7)] * 2, THRESHOLD, min_hits=2) is None
    assert decide(t, [Candidate("S-2", 0.7)] * 2, THRESHOLD, min_hits=2) is not None


def test_an_unknown_is_not_reported_for_a_track_already_reported() -> None:
    """A track named (or reported unknown) before gives no further unknown sighting."""
    t = track(0.9, 0.8)
    t.reported.add(None)
    assert decide(t, [Candidate("S-1", 0.1)] * 2, THRESHOLD, min_hits=2) is None
    assert decide(t, [Candidate("S-1", 0.7)] * 2, THRESHOLD, min_hits=2) is not None


def test_short_tracks_and_tracks_without_accepted_crops_give_nothing() -> None:
    """Fewer hits than min_hits, or no crop that passed the gate: no decision."""
    assert decide(track(0.9, hits=1), [Candidate("S-1", 0.9)], THRESHOLD, min_hits=2) is None
    assert decide(track(hits=5), [], THRESHOLD, min_hits=2) is None


def test_candidates_must_match_the_crops() -> None:
    """A candidate list of the wrong length is refused with both counts in the message."""
    with pytest.raises(ValueError, match="1 candidates for 2 crops"):
        decide(track(0.9, 0.8), [Candidate("S-1", 0.9)], THRESHOLD, min_hits=2)


def test_a_long_track_is_due_after_max_track_s_and_starts_a_fresh_window() -> None:
    """due() turns true after max_track_s; next_window() clears the crops and restarts the clock."""
    t = track(0.9)
    assert not t.due(T0 + timedelta(seconds=29), 30)
    assert t.due(T0 + timedelta(seconds=30), 30)
    t.next_window(T0 + timedelta(seconds=30))
    assert t.crops == []
    assert not t.due(T0 + timedelta(seconds=59), 30)


def test_an_early_decision_names_only_a_clear_match() -> None:
    """Early: a match at threshold + margin names the subject; just above the threshold, or unknown, waits."""
    t = track(0.9, 0.8, 0.7)
    clear = [Candidate("S-1", THRESHOLD + 0.06), Candidate("S-2", 0.1), Candidate(None, 0.0)]
    decision = decide_early(t, clear, THRESHOLD, 0.05, 2)
    assert decision is not None
    assert decision.subject_id == "S-1"
    assert decide_early(t, [Candidate("S-1", THRESHOLD + 0.01)] * 3, THRESHOLD, 0.05, 2) is None
    assert decide_early(t, [Candidate(None, 0.0)] * 3, THRESHOLD, 0.05, 2) is None
    with pytest.raises(ValueError, match="expected one per crop"):
        decide_early(t, clear[:2], THRESHOLD, 0.05, 2)


def test_early_attempts_need_a_full_set_of_new_crops_and_are_spaced() -> None:
    """early_due: only with best_crops crops, not on crops already tried, not within early_every_s, never once named."""
    config = TrackFacesConfig(best_crops=3, early_every_s=0.5)
    t = track(0.9, 0.8)
    now = T0 + timedelta(seconds=2)
    assert not t.early_due(now, config), "two crops of three"
    t.see(now, crop(0.7, 2), keep=3)
    assert t.early_due(now, config)
    t.tried_early(now)
    assert not t.early_due(now + timedelta(seconds=1), config), "the same crops again"
    t.see(now + timedelta(seconds=0.1), crop(0.95, 2.1), keep=3)
    assert not t.early_due(now + timedelta(seconds=0.2), config), "too soon"
    assert t.early_due(now + timedelta(seconds=0.5), config)
    t.reported.add("S-1")
    assert not t.early_due(now + timedelta(seconds=5), config), "already named"
    assert not track(0.9, 0.8, 0.7).early_due(now, TrackFacesConfig(early=False))
