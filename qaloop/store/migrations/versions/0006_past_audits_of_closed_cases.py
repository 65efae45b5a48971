"""past audits of closed cases

An audit history names cases audited in past cycles that have closed since and are no longer in the case
extract. They are kept in ``past_audit`` by reference, with their cycle and worker, so that the repeat rules
still see them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 12:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "past_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("case_ref", sa.String(length=64), nullable=False),
        sa.Column("worker_ref", sa.String(length=64), nullable=False),
        sa.Column("auditor_ref", sa.String(length=64), nullable=True),
        sa.Column("grade", sa.String(length=100), nullable=True),
        sa.Column("submitted_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["authority_id"], ["authority.id"], name=op.f("fk_past_audit_authority_id_authority")),
        sa.ForeignKeyConstraint(["cycle_id"], ["audit_cycle.id"], name=op.f("fk_past_audit_cycle_id_audit_cycle")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_past_audit")),
        sa.UniqueConstraint("authority_id", "case_ref", name=op.f("uq_past_audit_authority_id_case_ref")),
    )
    op.create_index(op.f("ix_past_audit_cycle_id"), "past_audit", ["cycle_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_past_audit_cycle_id"), table_name="past_audit")
    op.drop_table("past_audit")
