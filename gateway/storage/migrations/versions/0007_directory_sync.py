"""The directory sync's run history and lease

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 21:45:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

from providers.sql import UTCDateTime


revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'directory_sync_runs',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('started_at', UTCDateTime(), nullable=False),
        sa.Column('finished_at', UTCDateTime(), nullable=True),
        sa.Column('trigger', sa.String(length=127), nullable=False),
        sa.Column('dry_run', sa.Boolean(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('duration_seconds', sa.Float(), nullable=True),
        sa.Column('result', sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_directory_sync_runs')),
    )
    op.create_index('ix_directory_sync_runs_started_at', 'directory_sync_runs', ['started_at'])
    op.create_table(
        'directory_sync_lease',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('holder', sa.String(length=100), nullable=True),
        sa.Column('held_until', UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_directory_sync_lease')),
    )


def downgrade() -> None:
    op.drop_table('directory_sync_lease')
    op.drop_index('ix_directory_sync_runs_started_at', table_name='directory_sync_runs')
    op.drop_table('directory_sync_runs')
