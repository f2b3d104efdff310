"""The audit chain detects edits, insertions and deletions, on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from central import audit
from central.context import Central
from tests.support.central import migrated_central


def _drop_guard(central: Central) -> None:
    """What an attacker with database rights would do first: remove the append-only triggers."""
    with central.engine.begin() as c:
        if c.dialect.name == "postgresql":
            c.execute(text("DROP TRIGGER audit_append_only ON audit"))
        else:
            c.execute(text("DROP TRIGGER audit_no_update"))
            c.execute(text("DROP TRIGGER audit_no_delete"))


@pytest.fixture
def central(db_url: str):
    c = migrated_central(db_url)
    with c.sessions.begin() as s:
        for i in range(6):
            audit.record(
                s,
                c.audit_key,
                actor=f"officer{i}",
                action="subject.view",
                subject_id=f"S-{i}",
                detail={"reason": "home visit", "n": i},
            )
    yield c
    c.close()


def _verify(c: Central, **kw) -> audit.VerifyResult:
    with c.sessions() as s:
        return audit.verify(s, c.audit_key, **kw)


def test_intact_chain(central: Central) -> None:
    """An untouched chain verifies."""
    r = _verify(central)
    assert r.ok and r.rows == 6 and r.head_id == 6


def test_database_refuses_update_and_delete(central: Central) -> None:
    """The append-only triggers refuse UPDATE and DELETE on audit rows."""
    for stmt in ("UPDATE audit SET actor = 'x' WHERE id = 2", "DELETE FROM audit WHERE id = 2"):
        with pytest.raises(DBAPIError, match="append-only"), central.engine.begin() as c:
            c.execute(text(stmt))


def test_edit_detected(central: Central) -> None:
    """Changing one field of a middle row is found at that row."""
    _drop_guard(central)
    with central.engine.begin() as c:
        c.execute(text("UPDATE audit SET actor = 'someone-else' WHERE id = 3"))
    r = _verify(central)
    assert not r.ok and r.problem is not None and "row 3" in r.problem and "edited" in r.problem


def test_deletion_in_the_middle_detected(central: Central) -> None:
    """Deleting a middle row leaves a gap the check names."""
    _drop_guard(central)
    with central.engine.begin() as c:
        c.execute(text("DELETE FROM audit WHERE id = 4"))
    r = _verify(central)
    assert not r.ok and r.problem == "rows 4..4 are missing (deleted)"


def test_deletion_at_the_end_detected(central: Central) -> None:
    """Deleting the newest rows is found against the head row, and against a recorded head."""
    recorded = _verify(central)
    _drop_guard(central)
    with central.engine.begin() as c:
        c.execute(text("DELETE FROM audit WHERE id >= 5"))
    r = _verify(central)
    assert not r.ok and "rows at the end were removed" in (r.problem or "")
    with central.engine.begin() as c:
        c.execute(text("UPDATE audit_head SET last_id = 4, last_hash = (SELECT hash FROM audit WHERE id = 4)"))
    assert _verify(central).ok  # a careful attacker also rewrote the head...
    r = _verify(central, expect_head=(recorded.head_id, recorded.head_hash))
    assert not r.ok and "rows were removed" in (r.problem or "")  # ...but not the head recorded elsewhere


def test_recomputed_chain_without_key_detected(central: Central) -> None:
    """Rewriting a row and recomputing plain SHA-256 hashes does not pass: the chain is keyed."""
    _drop_guard(central)
    with central.engine.begin() as c:
        c.execute(text("UPDATE audit SET detail = :d WHERE id = 2"), {"d": '{"reason": "forged"}'})
    assert not _verify(central).ok
