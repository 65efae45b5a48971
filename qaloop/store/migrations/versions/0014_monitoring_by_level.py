"""monitoring by level

What the quality team and providers do to monitor a service (``monitoring_activity``: visits, contract monitoring
meetings, annual contacts, self-assessments), the address a provider is asked and chased at
(``provider.contact_email``), and the steps of the providers' reminder ladders taken (``provider_chase_step``,
once per item, due date and step).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 14:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

ACTIVITIES = (
    "'announced visit', 'unannounced visit', 'annual contact', 'contract monitoring meeting', 'self-assessment'"
)


def upgrade() -> None:
    with op.batch_alter_table("provider", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contact_email", sa.String(length=320), nullable=True))
    op.create_table(
        "monitoring_activity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("activity_ref", sa.String(length=64), nullable=False),
        sa.Column("activity", sa.String(length=32), nullable=False),
        sa.Column("done_on", sa.Date(), nullable=False),
        sa.CheckConstraint(f"activity IN ({ACTIVITIES})", name=op.f("ck_monitoring_activity_activity_allowed")),
        sa.ForeignKeyConstraint(
            ["authority_id"], ["authority.id"], name=op.f("fk_monitoring_activity_authority_id_authority")
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["provider.id"], name=op.f("fk_monitoring_activity_provider_id_provider")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_activity")),
        sa.UniqueConstraint(
            "authority_id", "activity_ref", name=op.f("uq_monitoring_activity_authority_id_activity_ref")
        ),
    )
    op.create_table(
        "provider_chase_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("item_kind", sa.String(length=64), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("step_days", sa.Integer(), nullable=False),
        sa.Column("notified", sa.String(length=16), nullable=False),
        sa.Column("sent_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["provider.id"], name=op.f("fk_provider_chase_step_provider_id_provider")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_chase_step")),
        sa.UniqueConstraint(
            "item_kind",
            "item_id",
            "due_on",
            "step_days",
            name=op.f("uq_provider_chase_step_item_kind_item_id_due_on_step_days"),
        ),  # fmt: skip
    )


def downgrade() -> None:
    op.drop_table("provider_chase_step")
    op.drop_table("monitoring_activity")
    with op.batch_alter_table("provider", schema=None) as batch_op:
        batch_op.drop_column("contact_email")
