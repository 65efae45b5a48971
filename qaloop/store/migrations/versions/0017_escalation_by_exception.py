"""escalation by exception

``escalation``: an exception raised at once to the senior leadership team, once per event, with what it is about
and its evidence, acknowledged and closed with its outcome.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 05:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "escalation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("about", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("raised_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("closed_by", sa.String(length=200), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('audit_escalation', 'bottom_grade', 'triangulation_flag', 'action_overdue', "
            "'indicator_concern', 'provider_level_3')",
            name=op.f("ck_escalation_kind_allowed"),
        ),
        sa.CheckConstraint("status IN ('raised', 'acknowledged', 'closed')", name=op.f("ck_escalation_status_allowed")),
        sa.CheckConstraint(
            "status <> 'closed' OR (outcome IS NOT NULL AND closed_at IS NOT NULL)",
            name=op.f("ck_escalation_closed_has_outcome"),
        ),
        sa.ForeignKeyConstraint(["authority_id"], ["authority.id"], name=op.f("fk_escalation_authority_id_authority")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalation")),
        sa.UniqueConstraint("authority_id", "key", name=op.f("uq_escalation_authority_id_key")),
    )


def downgrade() -> None:
    op.drop_table("escalation")
