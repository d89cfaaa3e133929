"""identification.flag_vendors, for the what-if

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08 02:10:00

The vendors besides a device's own whose countries its flag looks at (OEM maker, software and OS makers), so that
a what-if over a proposed country list (collector/whatif.py, issue 12 item 3) counts a million devices without
parsing each verdict's JSON, and an index that holds what decides a verdict, so that PostgreSQL reads it without
the table's rows (each carries its detail). Verdicts already stored get flag_vendors from their own detail here; new
ones on insert.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000


def upgrade() -> None:
    with op.batch_alter_table('identification', schema=None) as batch_op:
        batch_op.add_column(sa.Column('flag_vendors', sa.Text(), nullable=True))
    _backfill()
    with op.batch_alter_table('identification', schema=None) as batch_op:
        batch_op.create_index('ix_identification_whatif', ['device_id'], unique=False, postgresql_include=[
            'country', 'owner_country', 'flagged', 'flag_vendors', 'computed_at'])


def _backfill() -> None:
    """Each stored verdict's flag_vendors from its detail, in id order and batches (memory stays flat)."""
    from collector.whatif import flag_vendors

    ident = sa.table('identification', sa.column('id', sa.Integer()), sa.column('vendor', sa.String()),
                     sa.column('vendor_id', sa.String()), sa.column('detail', sa.JSON()),
                     sa.column('flag_vendors', sa.Text()))
    conn = op.get_bind()
    last = 0
    while True:
        rows = conn.execute(sa.select(ident.c.id, ident.c.vendor, ident.c.vendor_id, ident.c.detail)
                            .where(ident.c.id > last).order_by(ident.c.id).limit(BATCH)).all()
        if not rows:
            return
        conn.execute(ident.update().where(ident.c.id == sa.bindparam('row_id'))
                     .values(flag_vendors=sa.bindparam('value')),
                     [{'row_id': r.id, 'value': flag_vendors(r.vendor, r.vendor_id, r.detail)} for r in rows])
        last = rows[-1].id


def downgrade() -> None:
    with op.batch_alter_table('identification', schema=None) as batch_op:
        batch_op.drop_index('ix_identification_whatif')
        batch_op.drop_column('flag_vendors')
