"""Alert lifecycle and evidence merging: the pure parts of central/alerts.py."""

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from central.alerts import MAX_TEXT, STATES, TRANSITIONS, merge_evidence, next_state, required_text
from central.errors import Conflict

ALLOWED = {
    ("open", "acknowledge"): "acknowledged",
    ("acknowledged", "escalate"): "escalated",
    ("acknowledged", "handle"): "handled",
    ("escalated", "handle"): "handled",
}

event_ids = st.lists(st.sampled_from([f"e{i}" for i in range(12)]), max_size=20)


@pytest.mark.parametrize(("state", "action"), list(itertools.product(STATES, TRANSITIONS)))
def test_every_state_and_action(state, action):
    """Exactly the four documented transitions are allowed; every other one is refused naming what it needs."""
    if (state, action) in ALLOWED:
        assert next_state(7, state, action) == ALLOWED[state, action]
    else:
        with pytest.raises(Conflict) as caught:
            next_state(7, state, action)
        needed = " or ".join(TRANSITIONS[action][0])
        assert str(caught.value) == f"alert 7 is {state}: {action} needs an alert that is {needed}"


def test_handled_is_final():
    """No action leads out of handled."""
    for action in TRANSITIONS:
        with pytest.raises(Conflict, match="alert 1 is handled"):
            next_state(1, "handled", action)


def test_unknown_action():
    """An action that does not exist is a plain error naming the valid ones."""
    with pytest.raises(ValueError, match="alert action 'close': expected one of acknowledge, escalate, handle"):
        next_state(1, "open", "close")


@given(existing=event_ids, new=event_ids)
def test_merge_keeps_order_and_never_duplicates(existing, new):
    """The existing ids stay first and in order; every id appears once; nothing given is lost."""
    existing = list(dict.fromkeys(existing))
    merged = merge_evidence(existing, new)
    assert merged[: len(existing)] == existing
    assert len(merged) == len(set(merged))
    assert set(merged) == set(existing) | set(new)


@given(existing=event_ids, new=event_ids)
def test_merge_is_idempotent(existing, new):
    """Merging the same evidence twice changes nothing the second time."""
    once = merge_evidence(list(dict.fromkeys(existing)), new)
    assert merge_evidence(once, new) == once


def test_merge_stops_at_the_limit():
    """A long episode keeps its first ids up to the limit."""
    assert merge_evidence(["a", "b"], ["c", "d", "e"], limit=3) == ["a", "b", "c"]
    assert merge_evidence(["a", "b", "c"], ["d"], limit=3) == ["a", "b", "c"]


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t"])
def test_required_text_refuses_blank(text):
    """A resolution or reason must say something."""
    with pytest.raises(ValueError, match="resolution: required"):
        required_text("resolution", text)


def test_required_text_strips_and_limits():
    """Surrounding space goes; an over-long text is refused with its length."""
    assert required_text("reason", "  called him, he is home  ") == "called him, he is home"
    with pytest.raises(ValueError, match=f"reason: at most {MAX_TEXT} characters, got {MAX_TEXT + 1}"):
        required_text("reason", "x" * (MAX_TEXT + 1))
