"""Organization grants and targets, Registry storage figures, job leases

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 22:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

from providers.sql import UTCDateTime


revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'registry_org_grants',
        sa.Column('username', sa.String(length=127), nullable=False),
        sa.Column('slug', sa.String(length=128), nullable=False),
        sa.Column('level', sa.Integer(), nullable=False),
        sa.Column('granted_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('username', 'slug', name=op.f('pk_registry_org_grants')),
    )
    op.create_table(
        'registry_org_targets',
        sa.Column('username', sa.String(length=127), nullable=False),
        sa.Column('organizations', sa.JSON(), nullable=False),
        sa.Column('queued_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('username', name=op.f('pk_registry_org_targets')),
    )
    op.create_table(
        'registry_storage',
        sa.Column('username', sa.String(length=127), nullable=False),
        sa.Column('used_bytes', sa.BigInteger(), nullable=False),
        sa.Column('quota_bytes', sa.BigInteger(), nullable=True),
        sa.Column('fetched_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('username', name=op.f('pk_registry_storage')),
    )
    op.create_table(
        'job_leases',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('holder', sa.String(length=100), nullable=False),
        sa.Column('until', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_job_leases')),
    )


def downgrade() -> None:
    op.drop_table('job_leases')
    op.drop_table('registry_storage')
    op.drop_table('registry_org_targets')
    op.drop_table('registry_org_grants')
