"""Identity providers managed in the database (provider_source: database)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 01:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

from providers.sql import UTCDateTime


revision: str = '0013'
down_revision: Union[str, Sequence[str], None] = '0012'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'configured_providers',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('type', sa.String(length=32), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('settings', sa.JSON(), nullable=False),
        sa.Column('secrets', sa.LargeBinary(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.Column('updated_by', sa.String(length=127), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_configured_providers')),
    )
    provider_set = op.create_table(
        'provider_set',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_provider_set')),
    )
    op.bulk_insert(provider_set, [{'id': 1, 'version': 0}])


def downgrade() -> None:
    op.drop_table('provider_set')
    op.drop_table('configured_providers')
