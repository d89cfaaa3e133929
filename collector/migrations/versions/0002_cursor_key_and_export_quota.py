"""collector secrets (the cursor key) and the export quota

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 18:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import collector.models

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('collector_secret',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('value', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('created_at', collector.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('export_quota',
    sa.Column('token_id', sa.Integer(), nullable=False),
    sa.Column('minute', sa.BigInteger(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['token_id'], ['api_token.id'], ),
    sa.PrimaryKeyConstraint('token_id', 'minute')
    )


def downgrade() -> None:
    op.drop_table('export_quota')
    op.drop_table('collector_secret')
