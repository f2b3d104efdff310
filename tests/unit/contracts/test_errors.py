"""ContractError: what it carries and how it reads."""

import pytest

from contracts import ContractError
from contracts.errors import show


def test_names_the_field_and_the_reason():
    """A field error reads `field 'x': reason` and keeps both parts."""
    err = ContractError("lat", "must be between -90 and 90, got 95.0")
    assert str(err) == "field 'lat': must be between -90 and 90, got 95.0"
    assert err.field == "lat"
    assert err.reason == "must be between -90 and 90, got 95.0"


def test_payload_errors_have_no_field():
    """An error about the whole payload reads as the bare reason."""
    err = ContractError(None, "payload is not valid JSON: Expecting value at line 1 column 1")
    assert str(err) == "payload is not valid JSON: Expecting value at line 1 column 1"
    assert err.field is None


def test_is_a_value_error():
    """Callers that catch ValueError also catch contract errors."""
    with pytest.raises(ValueError, match=r"field 'bbox\.2'"):
        raise ContractError("bbox.2", "x2 must be greater than x1 (412), got 400")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("gps", "'gps'"),
        (95.0, "95.0"),
        (-1, "-1"),
        (True, "true"),
        (None, "null"),
        (float("nan"), "nan"),
        ([1, "a"], '[1, "a"]'),
        ({"k": "厦门"}, '{"k": "厦门"}'),
    ],
)
def test_show_renders_values_readably(value, shown):
    """Text is quoted Python-style, everything else is shown as JSON."""
    assert show(value) == shown


def test_show_truncates_long_values():
    """A long value is cut with an ellipsis so messages stay one line."""
    shown = show("x" * 1000)
    assert len(shown) < 70
    assert shown.endswith("…'")
    assert show(list(range(1000))).endswith("…")


def test_show_survives_unprintable_values():
    """Showing a value never fails, whatever its type."""

    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert show(Broken()) == "<Broken>"
    assert show(10**5000) == "<int>"
