"""The agent's state file: track ids never repeat across restarts, event ids are stable, writes are atomic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.state import AgentState, StateError, sighting_event_id
from edge_agent.tracker import Tracker
from vision.atomic_file import atomic_write


def test_track_ids_continue_after_a_restart_and_skip_the_unused_rest_of_a_block(tmp_path: Path) -> None:
    """A new process on the same folder starts after the block the last one reserved, camera by camera."""
    first = AgentState(tmp_path)
    ids = first.track_ids("hall", block=10)
    assert [next(ids) for _ in range(3)] == [1, 2, 3]
    assert first.reserve_track_ids("yard", 5) == range(1, 6)
    second = AgentState(tmp_path)  # as after a SIGKILL: nothing was saved on the way out
    assert second.epoch == first.epoch
    assert next(second.track_ids("hall", block=10)) == 11
    assert second.reserve_track_ids("yard", 5) == range(6, 11)


@settings(max_examples=30, deadline=None)
@given(runs=st.lists(st.integers(0, 25), min_size=1, max_size=6), block=st.integers(1, 7))
def test_no_track_id_is_ever_given_twice(tmp_path_factory: pytest.TempPathFactory, runs: list[int], block: int) -> None:
    """Over any number of restarts, each taking any number of ids, every id is new and ids only grow."""
    folder = tmp_path_factory.mktemp("state")
    given_out: list[int] = []
    for taken in runs:
        ids = AgentState(folder).track_ids("hall", block=block)
        given_out += [next(ids) for _ in range(taken)]
    assert given_out == sorted(set(given_out))


def test_the_tracker_uses_the_ids_it_is_given() -> None:
    """Tracker(ids=...) names new tracks from the iterator, in order."""
    tracker = Tracker(ids=iter([501, 502]))
    assert tracker.update([(0, 0, 50, 50), (300, 300, 350, 350)], 1).track_ids == [501, 502]


def test_event_ids_are_a_function_of_the_judgement() -> None:
    """Same epoch, device, camera, track and subject: same id; any of them different: a different id."""
    base = sighting_event_id("e1", "edge-01", "hall", 7, "S-1")
    assert base == sighting_event_id("e1", "edge-01", "hall", 7, "S-1")
    others = {
        sighting_event_id("e2", "edge-01", "hall", 7, "S-1"),
        sighting_event_id("e1", "edge-02", "hall", 7, "S-1"),
        sighting_event_id("e1", "edge-01", "yard", 7, "S-1"),
        sighting_event_id("e1", "edge-01", "hall", 8, "S-1"),
        sighting_event_id("e1", "edge-01", "hall", 7, "S-2"),
        sighting_event_id("e1", "edge-01", "hall", 7, None),
    }
    assert base not in others
    assert len(others) == 6


def test_a_wiped_state_folder_draws_a_new_epoch(tmp_path: Path) -> None:
    """Without the old state, ids restart at 1 but the new epoch keeps event ids from colliding with old ones."""
    old = AgentState(tmp_path / "a")
    new = AgentState(tmp_path / "b")
    assert old.epoch != new.epoch
    assert sighting_event_id(old.epoch, "d", "c", 1, None) != sighting_event_id(new.epoch, "d", "c", 1, None)


def test_a_damaged_state_file_is_moved_aside_and_a_new_state_begins(tmp_path: Path) -> None:
    """A state.json that is not JSON does not stop the agent: it is kept aside for a look, a new epoch starts."""
    (tmp_path / "state.json").write_text("{not json")
    state = AgentState(tmp_path)
    assert len(state.epoch) == 32
    aside = list(tmp_path.glob("state.json.damaged-*"))
    assert len(aside) == 1
    assert aside[0].read_text() == "{not json"
    assert json.loads((tmp_path / "state.json").read_text())["epoch"] == state.epoch


def test_without_a_folder_nothing_is_written(tmp_path: Path) -> None:
    """AgentState(None): ids from 1, a fresh epoch, no file."""
    state = AgentState(None)
    assert state.reserve_track_ids("hall", 3) == range(1, 4)
    assert list(tmp_path.iterdir()) == []


def test_track_ids_stop_short_of_the_32_bit_limit(tmp_path: Path) -> None:
    """Central keeps track ids in a 32-bit column: a reservation past it is refused with what to do."""
    (tmp_path / "state.json").write_text(json.dumps({"epoch": "e", "next_track_id": {"hall": 2**31 - 5}}))
    with pytest.raises(StateError, match="start a new state folder"):
        AgentState(tmp_path).reserve_track_ids("hall", 10)


def test_atomic_write_replaces_whole_files_and_leaves_no_temporary(tmp_path: Path) -> None:
    """The target holds the old bytes or the new, and no .tmp- file stays behind."""
    target = tmp_path / "f.bin"
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]
