"""cases set aside by their checks

A case whose row in the latest extract failed its checks keeps its earlier stored row, which is out of date:
``case_record.set_aside`` says why, and while it is set the case is never eligible for a draw. Loading a row
that passes clears it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 11:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("case_record") as batch_op:
        batch_op.add_column(sa.Column("set_aside", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("case_record") as batch_op:
        batch_op.drop_column("set_aside")
