"""Every hypothesis strategy of the central unit suite: ID numbers, node trees, keys, accounts, audit rows."""

from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

DIGITS = "0123456789"
CHECK_CHARACTERS = DIGITS + "X"


def iso7064_check(body: str) -> str:
    """ISO 7064 MOD 11-2 check character of 17 digits, written from the standard rather than the module.

    Weight of position i (1-based, counted from the left of 18) is 2^(18-i) mod 11; the check value
    c satisfies (sum + c) ≡ 1 (mod 11), and 10 is written X.
    """
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(body))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


id_bodies = st.text(DIGITS, min_size=17, max_size=17)
id_numbers = id_bodies.map(lambda body: body + iso7064_check(body))

keys = st.binary(min_size=32, max_size=32)
device_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", fullmatch=True)

# A small alphabet makes codes that share prefixes (3502 next to 35021) the common case.
node_codes = st.text("3502", min_size=1, max_size=4)


def node_path(node: tuple[str, ...]) -> str:
    """The materialized path of a node given as its codes from the root, as central.nodes builds it."""
    return "/" + "".join(code + "/" for code in node)


@st.composite
def node_pairs(draw: st.DrawFn) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Two nodes (each the tuple of codes from its root) of one generated jurisdiction forest."""
    branches = draw(st.lists(st.lists(node_codes, min_size=1, max_size=4).map(tuple), min_size=1, max_size=8))
    nodes = sorted({branch[:depth] for branch in branches for depth in range(1, len(branch) + 1)})
    return draw(st.sampled_from(nodes)), draw(st.sampled_from(nodes))


json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=10)
details = st.dictionaries(st.text(max_size=6), json_scalars | st.lists(json_scalars, max_size=3), max_size=4)
optional_texts = st.none() | st.text(max_size=20)

AUDIT_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "row_id": st.integers(1, 2**40),
    "at": st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    "actor": st.text(max_size=20),
    "action": st.text(max_size=20),
    "subject_id": optional_texts,
    "node_path": optional_texts,
    "detail": details,
}
audit_rows = st.fixed_dictionaries(AUDIT_FIELDS)
