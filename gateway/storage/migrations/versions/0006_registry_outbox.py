"""The outbox of intended Registry writes

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 21:45:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

from providers.sql import UTCDateTime


revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'registry_outbox',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('username', sa.String(length=127), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', UTCDateTime(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('claimed_by', sa.String(length=100), nullable=True),
        sa.Column('claimed_until', UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_registry_outbox')),
    )
    op.create_index('ix_registry_outbox_username', 'registry_outbox', ['username', 'state', 'id'])
    op.create_index('ix_registry_outbox_state', 'registry_outbox', ['state', 'next_attempt_at'])


def downgrade() -> None:
    op.drop_index('ix_registry_outbox_state', table_name='registry_outbox')
    op.drop_index('ix_registry_outbox_username', table_name='registry_outbox')
    op.drop_table('registry_outbox')
