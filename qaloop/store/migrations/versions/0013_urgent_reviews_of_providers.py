"""urgent reviews of providers

A major concern about a commissioned provider (a CQC notice to cancel, a safeguarding concern flagged serious)
brings the quality review panel forward: ``urgent_review`` records each cause once, so the panel is emailed and
an urgent review run started once per cause, however many runs see it; ``reviewed_at`` says when its review
went to the panel (until then, each provider run starts it again).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 19:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "urgent_review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("cause", sa.String(length=32), nullable=False),
        sa.Column("cause_ref", sa.String(length=64), nullable=False),
        sa.Column("trigger", sa.String(length=64), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("says", sa.Text(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("cause IN ('cqc_enforcement', 'concern')", name=op.f("ck_urgent_review_cause_allowed")),
        sa.ForeignKeyConstraint(["provider_id"], ["provider.id"], name=op.f("fk_urgent_review_provider_id_provider")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_urgent_review")),
        sa.UniqueConstraint(
            "provider_id", "cause", "cause_ref", name=op.f("uq_urgent_review_provider_id_cause_cause_ref")
        ),
    )


def downgrade() -> None:
    op.drop_table("urgent_review")
