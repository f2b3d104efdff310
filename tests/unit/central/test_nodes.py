"""The jurisdiction levels, from the top of the tree down."""

from central.nodes import LEVELS


def test_levels_from_province_to_township():
    """Levels run province → city → county → township; add_node relies on this order for parents."""
    assert LEVELS == ("province", "city", "county", "township")
