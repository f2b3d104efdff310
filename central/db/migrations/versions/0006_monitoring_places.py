"""monitoring: device places, fence digests, scheduled confirmation slots

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 12:00:00.000000
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.add_column(sa.Column('place_lat', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('place_lon', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('place_radius_m', sa.Float(), nullable=True))

    with op.batch_alter_table('fence', schema=None) as batch_op:
        batch_op.add_column(sa.Column('digest', sa.String(length=64), nullable=True))
    # Existing fences get the digest the models compute on every assignment (central.db.models.geojson_digest).
    fence = sa.table('fence', sa.column('id', sa.Integer()), sa.column('geojson', sa.JSON()),
                     sa.column('digest', sa.String()))
    conn = op.get_bind()
    for fence_id, geojson in conn.execute(sa.select(fence.c.id, fence.c.geojson)).all():
        canonical = json.dumps(geojson, sort_keys=True, separators=(",", ":")).encode()
        conn.execute(fence.update().where(fence.c.id == fence_id).values(digest=hashlib.sha256(canonical).hexdigest()))

    with op.batch_alter_table('location_confirmation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('schedule_slot', sa.String(length=32), nullable=True))
        batch_op.create_unique_constraint('uq_confirmation_slot', ['subject_id', 'schedule_slot'])


def downgrade() -> None:
    with op.batch_alter_table('location_confirmation', schema=None) as batch_op:
        batch_op.drop_constraint('uq_confirmation_slot', type_='unique')
        batch_op.drop_column('schedule_slot')

    with op.batch_alter_table('fence', schema=None) as batch_op:
        batch_op.drop_column('digest')

    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.drop_column('place_radius_m')
        batch_op.drop_column('place_lon')
        batch_op.drop_column('place_lat')
