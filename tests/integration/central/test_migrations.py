"""The migrations produce exactly the schema central/db/models.py describes, and step down and up again."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.command import downgrade
from alembic.runtime.migration import MigrationContext

from central.db.engine import make_engine
from central.db.migrate import alembic_config, current_revision, upgrade
from central.db.models import Base


def _diff(db_url: str) -> list[object]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(ctx, Base.metadata))
    finally:
        engine.dispose()


def test_head_matches_models(db_url: str) -> None:
    """No table, column, index or type differs between the migrated database and the models."""
    upgrade(db_url)
    assert _diff(db_url) == []


def test_latest_steps_down_and_up(db_url: str) -> None:
    """Downgrading the device-API revision and upgrading again gives the same schema back."""
    upgrade(db_url)
    downgrade(alembic_config(db_url), "0004")
    assert current_revision(db_url) == "0004"
    upgrade(db_url)
    assert _diff(db_url) == []
