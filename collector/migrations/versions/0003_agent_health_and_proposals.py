"""agent health and proposals

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08 01:24:20

The fleet view (issue 14 item 7): each agent's latest status, and the scope/profile/schedule proposals an admin
made to an agent with the agent's answers.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import collector.models

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('agent_health',
    sa.Column('agent_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('received_at', collector.models.UTCDateTime(), nullable=False),
    sa.Column('via', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('taken_at', collector.models.UTCDateTime(), nullable=False),
    sa.Column('interval_seconds', sa.Float(), nullable=True),
    sa.Column('heartbeat_seconds', sa.Float(), nullable=True),
    sa.Column('spool_pending', sa.Integer(), nullable=False),
    sa.Column('spool_rejected', sa.Integer(), nullable=False),
    sa.Column('peak_rss_bytes', sa.BigInteger(), nullable=True),
    sa.Column('errors', sa.JSON(), nullable=False),
    sa.Column('last_scan', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ),
    sa.PrimaryKeyConstraint('agent_id')
    )
    op.create_table('agent_proposal',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('created_at', collector.models.UTCDateTime(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('answer', sa.Text(), nullable=False),
    sa.Column('answered_at', collector.models.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('agent_id', 'version')
    )
    with op.batch_alter_table('agent_proposal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agent_proposal_agent_id'), ['agent_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('agent_proposal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agent_proposal_agent_id'))

    op.drop_table('agent_proposal')
    op.drop_table('agent_health')
