"""tracker subject: device.subject_id, the subject wearing a tracker (GT06 gateway: IMEI → device → subject)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 07:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Batch mode: SQLite cannot add a foreign key to an existing table, so Alembic copies it.
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subject_id', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_device_subject_id'), ['subject_id'], unique=False)
        batch_op.create_foreign_key('fk_device_subject_id_subject', 'subject', ['subject_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.drop_constraint('fk_device_subject_id_subject', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_device_subject_id'))
        batch_op.drop_column('subject_id')
