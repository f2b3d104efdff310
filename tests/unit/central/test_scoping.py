"""Jurisdiction scoping: a path lies within a scope only when it is the scope's node or below it."""

import pytest
from hypothesis import given

from central.scoping import path_within
from tests.unit.central.strategies import node_pairs, node_path

PROVINCE, CITY, COUNTY = "/35/", "/35/3502/", "/35/3502/350205/"


@pytest.mark.parametrize(
    ("path", "scope", "inside"),
    [
        (CITY, CITY, True),  # own node
        (COUNTY, CITY, True),  # child
        ("/35/3502/350205/350205001/", CITY, True),  # grandchild
        ("/35/35021/", CITY, False),  # sibling whose code starts with the scope's code
        ("/35/35021/350210/", CITY, False),  # that sibling's child
        ("/35/3503/", CITY, False),  # plain sibling
        (PROVINCE, CITY, False),  # parent
        ("/36/3502/", CITY, False),  # same code under another province
        ("/3/", "/35/", False),  # a shorter code is not a parent
        (None, CITY, False),  # row without a node
        (None, PROVINCE, False),
    ],
)
def test_examples(path, scope, inside):
    """Own node and descendants are inside; siblings (even with a shared prefix), parents and None are not."""
    assert path_within(path, scope) is inside


@given(pair=node_pairs())
def test_inside_exactly_when_scope_is_an_ancestor_or_self(pair):
    """In any tree, a node is within a scope exactly when the scope's codes are a prefix of the node's."""
    node, scope = pair
    is_ancestor_or_self = node[: len(scope)] == scope
    assert path_within(node_path(node), node_path(scope)) is is_ancestor_or_self


@given(pair=node_pairs())
def test_scopes_nest(pair):
    """Two different nodes are never each within the other."""
    first, second = pair
    if first != second:
        assert not (
            path_within(node_path(first), node_path(second)) and path_within(node_path(second), node_path(first))
        )
