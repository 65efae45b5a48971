"""moderation reasons and agreement figures

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 00:59:48.469565
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agreement_figure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("grouping", sa.String(length=32), nullable=False),
        sa.Column("group_value", sa.String(length=200), nullable=False),
        sa.Column("audits", sa.Integer(), nullable=False),
        sa.Column("exact", sa.Float(), nullable=False),
        sa.Column("within_one", sa.Float(), nullable=False),
        sa.Column("kappa", sa.Float(), nullable=True),
        sa.Column("kappa_low", sa.Float(), nullable=True),
        sa.Column("kappa_high", sa.Float(), nullable=True),
        sa.Column("auditor_higher", sa.Float(), nullable=False),
        sa.Column("auditor_lower", sa.Float(), nullable=False),
        sa.Column("feedback_constructive", sa.Float(), nullable=True),
        sa.Column("names_strengths_and_learning", sa.Float(), nullable=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cycle_id"], ["audit_cycle.id"], name=op.f("fk_agreement_figure_cycle_id_audit_cycle")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_figure")),
        sa.UniqueConstraint(
            "cycle_id", "grouping", "group_value", name=op.f("uq_agreement_figure_cycle_id_grouping_group_value")
        ),
    )
    with op.batch_alter_table("agreement_figure", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agreement_figure_cycle_id"), ["cycle_id"], unique=False)

    with op.batch_alter_table("moderation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("moderation", schema=None) as batch_op:
        batch_op.drop_column("reason")

    with op.batch_alter_table("agreement_figure", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agreement_figure_cycle_id"))

    op.drop_table("agreement_figure")
