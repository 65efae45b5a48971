"""complaints and compliments about providers

``provider_feedback``: a complaint or a compliment about a commissioned provider, and whether a complaint was
upheld; the panel pack shows them under the Responsive and Caring key questions.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 15:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("feedback_ref", sa.String(length=64), nullable=False),
        sa.Column("feedback", sa.String(length=16), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("upheld", sa.Boolean(), nullable=True),
        sa.CheckConstraint(
            "feedback IN ('complaint', 'compliment')", name=op.f("ck_provider_feedback_feedback_allowed")
        ),
        sa.ForeignKeyConstraint(
            ["authority_id"], ["authority.id"], name=op.f("fk_provider_feedback_authority_id_authority")
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["provider.id"], name=op.f("fk_provider_feedback_provider_id_provider")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_feedback")),
        sa.UniqueConstraint(
            "authority_id", "feedback_ref", name=op.f("uq_provider_feedback_authority_id_feedback_ref")
        ),
    )


def downgrade() -> None:
    op.drop_table("provider_feedback")
