"""Multi-factor sign-in: second factors (TOTP, WebAuthn passkeys) and recovery codes

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 01:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

from providers.sql import UTCDateTime


revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'mfa_factors',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('username', sa.String(length=127), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('secret', sa.LargeBinary(), nullable=True),
        sa.Column('credential_id', sa.String(length=1400), nullable=True),
        sa.Column('public_key', sa.LargeBinary(), nullable=True),
        sa.Column('sign_count', sa.Integer(), nullable=False),
        sa.Column('transports', sa.JSON(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('last_used_at', UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_mfa_factors')),
        sa.UniqueConstraint('credential_id', name='uq_mfa_factors_credential_id'),
    )
    op.create_index('ix_mfa_factors_username', 'mfa_factors', ['username'], unique=False)
    op.create_table(
        'mfa_recovery_codes',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('username', sa.String(length=127), nullable=False),
        sa.Column('code_hash', sa.String(length=255), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('used_at', UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_mfa_recovery_codes')),
    )
    op.create_index('ix_mfa_recovery_codes_username', 'mfa_recovery_codes', ['username'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_mfa_recovery_codes_username', table_name='mfa_recovery_codes')
    op.drop_table('mfa_recovery_codes')
    op.drop_index('ix_mfa_factors_username', table_name='mfa_factors')
    op.drop_table('mfa_factors')
