"""one actions register

``corrective_action`` becomes the one register of actions: each has a ``source``, an audit (its allocation, as
before) or an escalation's outcome (``escalation_id``), with its owner, due date and status, chased on the same
ladder.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 04:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("corrective_action") as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=16), server_default="audit", nullable=False))
        batch_op.add_column(sa.Column("escalation_id", sa.Integer(), nullable=True))
        batch_op.alter_column("allocation_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_foreign_key(
            op.f("fk_corrective_action_escalation_id_escalation"), "escalation", ["escalation_id"], ["id"]
        )
        batch_op.create_check_constraint(
            op.f("ck_corrective_action_source_allowed"), "source IN ('audit', 'escalation')"
        )
        batch_op.create_check_constraint(
            op.f("ck_corrective_action_source_given"),
            "(source = 'audit' AND allocation_id IS NOT NULL) OR (source = 'escalation' AND escalation_id IS NOT NULL)",
        )


def downgrade() -> None:
    op.execute("DELETE FROM corrective_action WHERE source <> 'audit'")
    with op.batch_alter_table("corrective_action") as batch_op:
        batch_op.drop_constraint(op.f("ck_corrective_action_source_given"), type_="check")
        batch_op.drop_constraint(op.f("ck_corrective_action_source_allowed"), type_="check")
        batch_op.drop_constraint(op.f("fk_corrective_action_escalation_id_escalation"), type_="foreignkey")
        batch_op.alter_column("allocation_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("escalation_id")
        batch_op.drop_column("source")
