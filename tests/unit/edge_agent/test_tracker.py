"""The IoU/centroid tracker: new, matched and lost tracks, and its invariants under random input."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.tracker import Box, Tracker, TrackerConfig, iou
from tests.unit.edge_agent.strategies import detection_passes, separated_pairs, smooth_walks


def test_iou_of_a_box_with_itself_is_one_and_with_a_far_box_zero() -> None:
    """IoU is 1 for equal boxes, 0 for disjoint ones, 1/3 for half-shifted equal boxes, 0 for an empty box."""
    a: Box = (0, 0, 10, 10)
    assert iou(a, a) == 1
    assert iou(a, (20, 20, 30, 30)) == 0
    assert abs(iou(a, (5, 0, 15, 10)) - 1 / 3) < 1e-9
    assert iou((0, 0, 0, 0), a) == 0


def test_a_new_box_starts_a_track_and_the_next_frame_continues_it() -> None:
    """The first box gets id 1; the same box one frame later keeps it."""
    tracker = Tracker()
    assert tracker.update([(0, 0, 100, 100)], 1).track_ids == [1]
    assert tracker.update([(10, 5, 110, 105)], 2).track_ids == [1]
    assert [t.hits for t in tracker.live] == [2]


def test_a_track_ends_after_max_missed_passes_without_it() -> None:
    """A track missing from K passes in a row is returned as ended on the K-th, not before."""
    tracker = Tracker(TrackerConfig(max_missed=3))
    tracker.update([(0, 0, 100, 100)], 1)
    assert tracker.update([], 2).ended == []
    assert tracker.update([], 3).ended == []
    ended = tracker.update([], 4).ended
    assert [t.track_id for t in ended] == [1]
    assert ended[0].first_frame == ended[0].last_frame == 1
    assert tracker.live == []


def test_a_track_missed_fewer_than_k_times_continues() -> None:
    """A face lost for K-1 passes (a missed detection) keeps its id when it comes back."""
    tracker = Tracker(TrackerConfig(max_missed=3))
    tracker.update([(0, 0, 100, 100)], 1)
    tracker.update([], 2)
    tracker.update([], 3)
    assert tracker.update([(5, 0, 105, 100)], 4).track_ids == [1]


def test_a_jump_without_overlap_is_matched_by_centre_distance() -> None:
    """A face may move past its own box between passes: under one box size it continues, beyond it a new track."""
    tracker = Tracker(TrackerConfig(max_centre_shift=1.0))
    tracker.update([(0, 0, 100, 100)], 1)
    assert tracker.update([(95, 0, 195, 100)], 2).track_ids == [1]
    assert tracker.update([(400, 0, 500, 100)], 3).track_ids == [2]


def test_flush_ends_every_live_track() -> None:
    """flush() returns all live tracks and leaves none."""
    tracker = Tracker()
    tracker.update([(0, 0, 100, 100), (300, 0, 400, 100)], 1)
    assert sorted(t.track_id for t in tracker.flush()) == [1, 2]
    assert tracker.live == []


@given(smooth_walks())
def test_a_smoothly_moving_box_keeps_one_id(walk: list[Box]) -> None:
    """A box moving at most a quarter of its size per frame is one track from start to end."""
    tracker = Tracker()
    ids = [tracker.update([box], frame).track_ids[0] for frame, box in enumerate(walk)]
    assert set(ids) == {1}


@given(separated_pairs())
def test_two_boxes_in_one_frame_are_never_merged(frames: list[tuple[Box, Box]]) -> None:
    """Two boxes of the same frame always get two different ids."""
    tracker = Tracker()
    for frame, (a, b) in enumerate(frames):
        ids = tracker.update([a, b], frame).track_ids
        assert len(set(ids)) == 2


@settings(max_examples=200)
@given(detection_passes, st.integers(1, 4))
def test_ids_are_unique_per_frame_and_an_ended_id_never_returns(passes: list[list[Box]], k: int) -> None:
    """Any detections: one id per box, distinct within a frame; an ended track's id is never given out again."""
    tracker = Tracker(TrackerConfig(max_missed=k))
    ended: set[int] = set()
    for frame, boxes in enumerate(passes):
        update = tracker.update(boxes, frame)
        assert len(update.track_ids) == len(boxes)
        assert len(set(update.track_ids)) == len(boxes)
        assert not ended & set(update.track_ids)
        ended |= {t.track_id for t in update.ended}
        assert not ended & {t.track_id for t in tracker.live}
