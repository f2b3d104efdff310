"""monitoring: alert lifecycle columns, subject.positioning_from, location_confirmation

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import central.db.types

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ALERT_COLUMNS = (
    ('closed_at', central.db.types.UTCDateTime(timezone=True)),
    ('close_reason', sa.Text()),
    ('acknowledged_at', central.db.types.UTCDateTime(timezone=True)),
    ('acknowledged_by', sa.String(length=64)),
    ('handled_at', central.db.types.UTCDateTime(timezone=True)),
    ('handled_by', sa.String(length=64)),
    ('escalated_at', central.db.types.UTCDateTime(timezone=True)),
    ('escalated_by', sa.String(length=64)),
    ('escalation_reason', sa.Text()),
)


def upgrade() -> None:
    with op.batch_alter_table('alert', schema=None) as batch_op:
        for name, type_ in _ALERT_COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))

    with op.batch_alter_table('subject', schema=None) as batch_op:
        batch_op.add_column(sa.Column('positioning_from', sa.Date(), nullable=True))

    op.create_table('location_confirmation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('node_path', sa.String(length=400), nullable=False),
    sa.Column('requested_by', sa.String(length=64), nullable=False),
    sa.Column('requested_at', central.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deadline', central.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('answered_at', central.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('answer_event_id', sa.String(length=36), nullable=True),
    sa.Column('answer_method', sa.String(length=16), nullable=True),
    sa.Column('alert_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['alert.id'], ),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('location_confirmation', schema=None) as batch_op:
        batch_op.create_index('ix_location_confirmation_node_deadline', ['node_path', 'deadline'], unique=False)
        batch_op.create_index(batch_op.f('ix_location_confirmation_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_location_confirmation_subject_id'), ['subject_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('location_confirmation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_location_confirmation_subject_id'))
        batch_op.drop_index(batch_op.f('ix_location_confirmation_state'))
        batch_op.drop_index('ix_location_confirmation_node_deadline')

    op.drop_table('location_confirmation')
    with op.batch_alter_table('subject', schema=None) as batch_op:
        batch_op.drop_column('positioning_from')

    with op.batch_alter_table('alert', schema=None) as batch_op:
        for name, _type in reversed(_ALERT_COLUMNS):
            batch_op.drop_column(name)
