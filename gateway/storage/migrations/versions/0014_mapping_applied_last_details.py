"""The file mapping last applied to the Registry, and the identity details of the last login

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 08:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

from providers.sql import UTCDateTime


revision: str = '0014'
down_revision: Union[str, Sequence[str], None] = '0013'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'mapping_applied',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('document', sa.JSON(), nullable=False),
        sa.Column('fingerprint', sa.String(length=64), nullable=False),
        sa.Column('applied_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_mapping_applied')),
    )
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_details', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_column('last_details')
    op.drop_table('mapping_applied')
