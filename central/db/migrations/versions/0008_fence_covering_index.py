"""fence: covering index for ingest's per-batch read of active fence ids and digests

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 19:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('fence', schema=None) as batch_op:
        batch_op.create_index(
            'ix_fence_subject_active', ['subject_id', 'active', 'kind', 'digest', 'id'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('fence', schema=None) as batch_op:
        batch_op.drop_index('ix_fence_subject_active')
