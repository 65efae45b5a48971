"""key performance indicators

``indicator_value``: one month's figure of a key performance indicator for a service area (or, as "", the whole
service), with its numerator and denominator where it is a rate, its target, polarity and benchmarks, as the
council's monthly KPI return gave it.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 04:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "indicator_value",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("indicator", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("service_area", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("numerator", sa.Float(), nullable=True),
        sa.Column("denominator", sa.Float(), nullable=True),
        sa.Column("target", sa.Float(), nullable=True),
        sa.Column("polarity", sa.String(length=16), nullable=True),
        sa.Column("neighbours", sa.Float(), nullable=True),
        sa.Column("england", sa.Float(), nullable=True),
        sa.CheckConstraint(
            "polarity IN ('higher is better', 'lower is better')", name=op.f("ck_indicator_value_polarity_allowed")
        ),
        sa.ForeignKeyConstraint(
            ["authority_id"], ["authority.id"], name=op.f("fk_indicator_value_authority_id_authority")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicator_value")),
        sa.UniqueConstraint(
            "authority_id",
            "indicator",
            "period",
            "service_area",
            name=op.f("uq_indicator_value_authority_id_indicator_period_service_area"),
        ),
    )


def downgrade() -> None:
    op.drop_table("indicator_value")
