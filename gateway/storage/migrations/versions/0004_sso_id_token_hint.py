"""SSO sessions keep their login's ID token, sealed, for id_token_hint at the IdP's logout

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 10:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('sso_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sealed_id_token', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sso_sessions', schema=None) as batch_op:
        batch_op.drop_column('sealed_id_token')
