"""The stall watch: when a camera that stopped delivering is reported and replaced, and when it is not."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.health import StallAction, StallWatch


def test_frames_in_time_never_stall() -> None:
    """Checks between frames closer than stall_after_s do nothing."""
    watch = StallWatch(2.0, now=0.0)
    for t in range(1, 20):
        watch.frame(float(t))
        assert watch.check(t + 1.9, "streaming") == StallAction()
    assert watch.stalls == 0


def test_a_stall_is_reported_once_and_reconnected_with_growing_waits() -> None:
    """No frame for 2 s: report and replace at once; later replacements after 2, 4, 8 s (then 16 max)."""
    watch = StallWatch(2.0, now=0.0, retry_max_s=16.0)
    assert watch.check(1.9, "streaming") == StallAction()
    assert watch.check(2.0, "streaming") == StallAction(report=True, reconnect=True)
    assert watch.stalled
    attempts = [t / 10 for t in range(21, 400) if watch.check(t / 10, "starting").reconnect]
    assert attempts == [4.0, 8.0, 16.0, 32.0]
    assert watch.stalls == 1
    assert watch.reconnects == 5


def test_the_next_frame_ends_the_episode_and_says_how_long_it_lasted() -> None:
    """frame() after a stall returns its length; the next stall is a new episode with fresh backoff."""
    watch = StallWatch(1.0, now=0.0)
    watch.check(1.5, "streaming")
    assert watch.frame(4.0) == 3.0
    assert not watch.stalled
    assert watch.frame(4.5) is None
    assert watch.check(5.5, "streaming") == StallAction(report=True, reconnect=True)
    assert watch.stalls == 2
    assert watch.check(6.4, "starting") == StallAction()
    assert watch.check(6.5, "starting").reconnect, "backoff starts again at stall_after_s"


def test_an_ended_file_never_stalls_and_a_reconnecting_camera_is_reported_not_replaced() -> None:
    """Final states are not stalls; `reconnecting` is the camera's own retry: reported, left to it."""
    watch = StallWatch(1.0, now=0.0)
    for state in ("ended", "failed", "stopped"):
        assert watch.check(50.0, state) == StallAction()
    assert watch.check(50.0, "reconnecting") == StallAction(report=True, reconnect=False)
    assert watch.check(60.0, "reconnecting") == StallAction()
    assert watch.check(60.1, "streaming") == StallAction(reconnect=True)


@settings(max_examples=200, deadline=None)
@given(
    events=st.lists(
        st.tuples(st.floats(0.01, 5.0), st.booleans(), st.sampled_from(["starting", "streaming", "reconnecting"])),
        max_size=60,
    )
)
def test_reports_match_episodes_and_replacements_are_spaced(events: list[tuple[float, bool, str]]) -> None:
    """Any sequence: one report per episode, never a report while frames flow, replacements ≥ stall_after_s apart."""
    watch = StallWatch(1.0, now=0.0)
    now = 0.0
    last_frame = 0.0
    reports = 0
    replacements: list[float] = []
    for step, is_frame, state in events:
        now += step
        if is_frame:
            watch.frame(now)
            last_frame = now
            continue
        action = watch.check(now, state)
        if action.report:
            reports += 1
            assert now - last_frame >= 1.0
        if action.reconnect:
            assert state in ("starting", "streaming")
            replacements.append(now)
    assert reports == watch.stalls
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(replacements))
