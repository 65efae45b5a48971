"""returns, substitutes and the reminder ladder

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 00:22:07.161275
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chase_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_kind", sa.String(length=32), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=False),
        sa.Column("step_days", sa.Integer(), nullable=False),
        sa.Column("notified", sa.String(length=32), nullable=False),
        sa.Column("sent_on", sa.Date(), nullable=False),
        sa.CheckConstraint(
            "item_kind IN ('audit', 'self_reflection', 'moderation', 'corrective_action')",
            name=op.f("ck_chase_step_item_kind_allowed"),
        ),
        sa.ForeignKeyConstraint(["assignee_id"], ["staff.id"], name=op.f("fk_chase_step_assignee_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chase_step")),
        sa.UniqueConstraint(
            "item_kind",
            "item_id",
            "assignee_id",
            "step_days",
            name=op.f("uq_chase_step_item_kind_item_id_assignee_id_step_days"),
        ),
    )
    op.create_table(
        "substitute",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("allocation_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["allocation_id"],
            ["allocation.id"],
            name=op.f("fk_substitute_allocation_id_allocation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_substitute_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_substitute")),
        sa.UniqueConstraint("allocation_id", "staff_id", name=op.f("uq_substitute_allocation_id_staff_id")),
    )
    with op.batch_alter_table("substitute", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_substitute_allocation_id"), ["allocation_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("substitute", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_substitute_allocation_id"))

    op.drop_table("substitute")
    op.drop_table("chase_step")
