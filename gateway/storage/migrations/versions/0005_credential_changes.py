"""Credential changes, read by every process's verified-credentials cache

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 12:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

from providers.sql import UTCDateTime


revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'credential_changes',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('username', sa.String(length=127), nullable=True),
        sa.Column('changed_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_credential_changes')),
    )
    op.create_index('ix_credential_changes_changed_at', 'credential_changes', ['changed_at'])


def downgrade() -> None:
    op.drop_index('ix_credential_changes_changed_at', table_name='credential_changes')
    op.drop_table('credential_changes')
