"""audit chain and append-only audit log

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08 02:40:00

Each audit row carries the reason of a refusal and the hash that chains it to the row before (collector/audit.py);
triggers refuse UPDATE, DELETE and (PostgreSQL) TRUNCATE on audit_log. Rows from before keep no hash and are
counted apart by `herkomst collector audit verify`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from collector.audit import append_only_ddl

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('prev_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('row_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    create, _drop = append_only_ddl(op.get_bind().dialect.name)
    for statement in create:
        op.execute(statement)


def downgrade() -> None:
    _create, drop = append_only_ddl(op.get_bind().dialect.name)
    for statement in drop:
        op.execute(statement)
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_column('row_hash')
        batch_op.drop_column('prev_hash')
        batch_op.drop_column('reason')
