"""browser single sign-on: identity snapshots and app passwords

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 17:30:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

import providers.sql


revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('snapshot', sa.JSON(), nullable=True))
    op.create_table(
        'app_passwords',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('username', sa.String(length=127), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('secret_sha256', sa.String(length=64), nullable=False),
        sa.Column('created_at', providers.sql.UTCDateTime(), nullable=False),
        sa.Column('expires_at', providers.sql.UTCDateTime(), nullable=True),
        sa.Column('last_used_at', providers.sql.UTCDateTime(), nullable=True),
        sa.Column('revoked_at', providers.sql.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_app_passwords')),
    )
    op.create_index('ix_app_passwords_username', 'app_passwords', ['username'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_app_passwords_username', table_name='app_passwords')
    op.drop_table('app_passwords')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_column('snapshot')
