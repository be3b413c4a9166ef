"""SSO sessions remember the IdP's session id (the ID token's sid) for back-channel logout

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 01:10:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('sso_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('idp_session', sa.String(length=255), nullable=True))
        batch_op.create_index('ix_sso_sessions_idp_session', ['provider', 'idp_session'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sso_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_sso_sessions_idp_session')
        batch_op.drop_column('idp_session')
