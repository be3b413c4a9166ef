"""admin API and UI: role names, the stored mapping policy, personal API keys

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 03:30:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

import providers.sql


revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('app_passwords', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=8), nullable=False, server_default='app'))
    op.create_table(
        'roles',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('description', sa.String(length=500), nullable=True),
        sa.Column('created_at', providers.sql.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    op.create_table(
        'mapping_policy',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('document', sa.JSON(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('updated_at', providers.sql.UTCDateTime(), nullable=False),
        sa.Column('updated_by', sa.String(length=127), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade() -> None:
    op.drop_table('mapping_policy')
    op.drop_table('roles')
    with op.batch_alter_table('app_passwords', schema=None) as batch_op:
        batch_op.drop_column('kind')
