"""The audit hash chain: canonical form of a row and the keyed hash linking it to the one before."""

import hashlib
import hmac
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from central.audit import GENESIS, _canonical, chain_hash
from tests.unit.central.strategies import AUDIT_FIELDS, audit_rows, keys

KEY = bytes(range(32))
hashes = st.text("0123456789abcdef", min_size=64, max_size=64)


def _hash(row: dict[str, Any], key: bytes = KEY, prev: str = GENESIS) -> str:
    return chain_hash(key, prev, _canonical(**row))


ROW: dict[str, Any] = {
    "row_id": 7,
    "at": datetime(2026, 11, 23, 8, 5, 0, 123456, tzinfo=UTC),
    "actor": "haicang.officer",
    "action": "subject.register",
    "subject_id": "S-350205-0001",
    "node_path": "/35/3502/350205/",
    "detail": {"category": "probation"},
}


def test_canonical_form_example():
    """The canonical row is compact JSON with sorted keys, UTC microsecond time and raw UTF-8."""
    row = {**ROW, "actor": "王芳"}
    assert (
        _canonical(**row)
        == (
            '{"action":"subject.register","actor":"王芳","at":"2026-11-23T08:05:00.123456+00:00",'
            '"detail":{"category":"probation"},"id":7,"node_path":"/35/3502/350205/","subject_id":"S-350205-0001"}'
        ).encode()
    )


def test_chain_hash_is_hmac_sha256_of_previous_hash_and_row():
    """The hash is HMAC-SHA256(key, previous hash + canonical row), as the module documents."""
    canonical = _canonical(**ROW)
    expected = hmac.new(KEY, GENESIS.encode() + canonical, hashlib.sha256).hexdigest()
    assert chain_hash(KEY, GENESIS, canonical) == expected


@given(row=audit_rows)
def test_hash_is_stable(row):
    """The same row, key and previous hash always give the same 64 hex characters."""
    digest = _hash(row)
    assert digest == _hash(dict(row))
    assert len(digest) == 64
    assert set(digest) <= set("0123456789abcdef")


@given(row=audit_rows, field=st.sampled_from(sorted(AUDIT_FIELDS)), data=st.data())
def test_changing_any_field_changes_the_hash(row, field, data):
    """Editing any one field of a row (id, time, actor, action, subject, node, detail) breaks its hash."""
    value = data.draw(AUDIT_FIELDS[field].filter(lambda v: v != row[field]), label="new value")
    assert _hash({**row, field: value}) != _hash(row)


@given(row=audit_rows, key=keys, other=keys)
def test_hash_depends_on_the_key(row, key, other):
    """Without the audit key the chain cannot be rebuilt: another key gives another hash."""
    if key != other:
        assert _hash(row, key=key) != _hash(row, key=other)


@given(row=audit_rows, prev=hashes, other=hashes)
def test_hash_depends_on_the_previous_hash(row, prev, other):
    """A row's hash links it to the one before: another previous hash gives another hash."""
    if prev != other:
        assert _hash(row, prev=prev) != _hash(row, prev=other)


@given(row=audit_rows, offset=st.integers(-14 * 60, 14 * 60))
def test_same_instant_in_another_zone_hashes_the_same(row, offset):
    """The time is hashed in UTC, so reading a row back in another zone does not break the chain."""
    zone = timezone(timedelta(minutes=offset))
    assert _hash({**row, "at": row["at"].astimezone(zone)}) == _hash(row)


@given(row=audit_rows)
def test_detail_key_order_does_not_matter(row):
    """A detail dict read back with its keys in another order hashes the same (keys are sorted)."""
    reversed_detail = dict(reversed(list(row["detail"].items())))
    assert _hash({**row, "detail": reversed_detail}) == _hash(row)


def test_fields_cannot_be_shifted_into_each_other():
    """Moving text from one field to its neighbour changes the hash (fields are delimited, not concatenated)."""
    assert _hash({**ROW, "actor": "ab", "action": "c"}) != _hash({**ROW, "actor": "a", "action": "bc"})
    assert _hash({**ROW, "subject_id": None, "node_path": "x"}) != _hash({**ROW, "subject_id": "x", "node_path": None})
