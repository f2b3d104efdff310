"""device API: device.gallery_key_enc and HTTPS lockout, device_gallery, sighting, study_session, audio_blob

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import central.db.types

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.add_column(sa.Column('gallery_key_enc', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('failed_auths', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(
            sa.Column('auth_locked_until', central.db.types.UTCDateTime(timezone=True), nullable=True)
        )

    op.create_table('device_gallery',
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content_hmac', sa.String(length=64), nullable=False),
    sa.Column('entries', sa.Integer(), nullable=False),
    sa.Column('blob', sa.LargeBinary(), nullable=False),
    sa.Column('built_at', central.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['device.id'], ),
    sa.PrimaryKeyConstraint('device_id')
    )

    op.create_table('sighting',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=True),
    sa.Column('reported_subject_id', sa.String(length=64), nullable=True),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('camera_id', sa.String(length=64), nullable=False),
    sa.Column('node_path', sa.String(length=400), nullable=True),
    sa.Column('track_id', sa.Integer(), nullable=False),
    sa.Column('first_seen', central.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen', central.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('quality', sa.Float(), nullable=False),
    sa.Column('created_at', central.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['event.event_id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('event_id')
    )
    with op.batch_alter_table('sighting', schema=None) as batch_op:
        batch_op.create_index('ix_sighting_subject_time', ['subject_id', 'first_seen'], unique=False)
        batch_op.create_index('ix_sighting_node_time', ['node_path', 'first_seen'], unique=False)

    op.create_table('study_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('node_id', sa.Integer(), nullable=False),
    sa.Column('node_path', sa.String(length=400), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('starts_at', central.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', central.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', central.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['node_id'], ['jurisdiction_node.id'], ),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('study_session', schema=None) as batch_op:
        batch_op.create_index('ix_study_session_node_time', ['node_path', 'starts_at'], unique=False)

    op.create_table('audio_blob',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('data_enc', sa.LargeBinary(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('created_at', central.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sha256')
    )


def downgrade() -> None:
    op.drop_table('audio_blob')
    with op.batch_alter_table('study_session', schema=None) as batch_op:
        batch_op.drop_index('ix_study_session_node_time')
    op.drop_table('study_session')
    with op.batch_alter_table('sighting', schema=None) as batch_op:
        batch_op.drop_index('ix_sighting_node_time')
        batch_op.drop_index('ix_sighting_subject_time')
    op.drop_table('sighting')
    op.drop_table('device_gallery')
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.drop_column('auth_locked_until')
        batch_op.drop_column('failed_auths')
        batch_op.drop_column('gallery_key_enc')
