"""The e-mail queue, self-service tokens, must-change-password and pending registrations

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 01:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

from providers.sql import UTCDateTime


revision: str = '0012'
down_revision: Union[str, Sequence[str], None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'mail_queue',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('recipient', sa.String(length=320), nullable=False),
        sa.Column('subject', sa.String(length=300), nullable=False),
        sa.Column('body', sa.LargeBinary(), nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', UTCDateTime(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('claimed_by', sa.String(length=100), nullable=True),
        sa.Column('claimed_until', UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_queue')),
    )
    op.create_index('ix_mail_queue_state', 'mail_queue', ['state', 'next_attempt_at'])
    op.create_table(
        'self_service_tokens',
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('purpose', sa.String(length=16), nullable=False),
        sa.Column('username', sa.String(length=127), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('expires_at', UTCDateTime(), nullable=False),
        sa.Column('used_at', UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('digest', name=op.f('pk_self_service_tokens')),
    )
    op.create_index('ix_self_service_tokens_username', 'self_service_tokens', ['username', 'purpose'])
    # Plain ADD COLUMN (every dialect has it): a batch rebuild on SQLite would lose the
    # table's AUTOINCREMENT, and with it the promise that a deleted user's id is never reused.
    op.add_column(
        'local_users', sa.Column('must_change_password', sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column('local_users', sa.Column('registration_state', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('local_users', table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.drop_column('registration_state')
        batch.drop_column('must_change_password')
    op.drop_index('ix_self_service_tokens_username', table_name='self_service_tokens')
    op.drop_table('self_service_tokens')
    op.drop_index('ix_mail_queue_state', table_name='mail_queue')
    op.drop_table('mail_queue')
