"""actions' measures

``corrective_action.measure`` (and ``measure_area``): the key indicator, for a service area or the whole service,
whose figure an action in the register is to improve; the quarterly report says whether it has moved.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 19:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("corrective_action") as batch_op:
        batch_op.add_column(sa.Column("measure", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("measure_area", sa.String(length=64), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_corrective_action_measure_area_has_measure"), "measure_area IS NULL OR measure IS NOT NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("corrective_action") as batch_op:
        batch_op.drop_constraint(op.f("ck_corrective_action_measure_area_has_measure"), type_="check")
        batch_op.drop_column("measure_area")
        batch_op.drop_column("measure")
