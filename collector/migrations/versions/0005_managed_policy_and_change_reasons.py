"""managed policy and change reasons

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08 02:00:28

The policy as managed data (issue 12 item 2: collector/policy.py), and why each verdict changed (evidence,
catalogue or policy). Changes recorded before keep a NULL reason.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import collector.models

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('policy_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('valid_from', collector.models.UTCDateTime(), nullable=False),
    sa.Column('set_at', collector.models.UTCDateTime(), nullable=False),
    sa.Column('set_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('version')
    )
    with op.batch_alter_table('policy_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_policy_record_valid_from'), ['valid_from'], unique=False)

    with op.batch_alter_table('identification_change', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('identification_change', schema=None) as batch_op:
        batch_op.drop_column('reason')

    with op.batch_alter_table('policy_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_policy_record_valid_from'))

    op.drop_table('policy_record')
