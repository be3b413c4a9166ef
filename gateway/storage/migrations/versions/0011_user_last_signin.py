"""Last successful sign-in per user and path (who is in)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 01:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

from providers.sql import UTCDateTime


revision: str = '0011'
down_revision: Union[str, Sequence[str], None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'user_last_signin',
        sa.Column('username', sa.String(length=127), nullable=False),
        sa.Column('path', sa.String(length=32), nullable=False),
        sa.Column('at', UTCDateTime(), nullable=False),
        sa.Column('client_address', sa.String(length=64), nullable=True),
        sa.Column('user_agent', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('username', 'path', name=op.f('pk_user_last_signin')),
    )
    op.create_index('ix_user_last_signin_at', 'user_last_signin', ['at'])


def downgrade() -> None:
    op.drop_index('ix_user_last_signin_at', table_name='user_last_signin')
    op.drop_table('user_last_signin')
