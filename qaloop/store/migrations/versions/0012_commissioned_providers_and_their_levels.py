"""commissioned providers and their threshold levels

The commissioned market (Herefordshire's quality assurance strategy): each provider by its CQC location id, its
intelligence (CQC ratings and enforcement, safeguarding and quality concerns, monthly monitoring returns,
contract notices, improvement plan actions), each month's proposed threshold level with its reasons and rule
version, and the decisions on levels with who made them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 10:35:33.726231
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.String(length=64), nullable=False),
        sa.Column("cqc_provider_id", sa.String(length=64), nullable=True),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("service_type", sa.String(length=32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("commissioned_by", sa.String(length=16), nullable=False),
        sa.Column("lead_organisation", sa.String(length=16), nullable=True),
        sa.Column("contract_ref", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "commissioned_by IN ('council', 'icb', 'joint')", name=op.f("ck_provider_commissioned_by_allowed")
        ),
        sa.CheckConstraint(
            "service_type IN ('care_home', 'nursing_home', 'home_care', 'supported_living')",
            name=op.f("ck_provider_service_type_allowed"),
        ),
        sa.CheckConstraint("size >= 0", name=op.f("ck_provider_size_not_negative")),
        sa.ForeignKeyConstraint(["area_id"], ["area.id"], name=op.f("fk_provider_area_id_area")),
        sa.ForeignKeyConstraint(["authority_id"], ["authority.id"], name=op.f("fk_provider_authority_id_authority")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider")),
        sa.UniqueConstraint("authority_id", "location_id", name=op.f("uq_provider_authority_id_location_id")),
    )
    op.create_table(
        "contract_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("notice_ref", sa.String(length=64), nullable=False),
        sa.Column("notice", sa.String(length=32), nullable=False),
        sa.Column("served_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "notice IN ('default', 'further default', 'advisory', 'placement suspension')",
            name=op.f("ck_contract_notice_notice_allowed"),
        ),
        sa.CheckConstraint(
            "ends_on IS NULL OR ends_on >= served_on", name=op.f("ck_contract_notice_ends_after_served")
        ),
        sa.ForeignKeyConstraint(
            ["authority_id"], ["authority.id"], name=op.f("fk_contract_notice_authority_id_authority")
        ),
        sa.ForeignKeyConstraint(["provider_id"], ["provider.id"], name=op.f("fk_contract_notice_provider_id_provider")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_notice")),
        sa.UniqueConstraint("authority_id", "notice_ref", name=op.f("uq_contract_notice_authority_id_notice_ref")),
    )
    op.create_table(
        "cqc_enforcement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("action_ref", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("served_on", sa.Date(), nullable=False),
        sa.CheckConstraint(
            "action IN ('warning notice', 'requirement notice', 'conditions imposed', 'notice of proposal to cancel', 'notice of decision to cancel')",
            name=op.f("ck_cqc_enforcement_action_allowed"),
        ),
        sa.ForeignKeyConstraint(
            ["authority_id"], ["authority.id"], name=op.f("fk_cqc_enforcement_authority_id_authority")
        ),
        sa.ForeignKeyConstraint(["provider_id"], ["provider.id"], name=op.f("fk_cqc_enforcement_provider_id_provider")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cqc_enforcement")),
        sa.UniqueConstraint("authority_id", "action_ref", name=op.f("uq_cqc_enforcement_authority_id_action_ref")),
    )
    op.create_table(
        "cqc_rating",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("domain", sa.String(length=16), nullable=False),
        sa.Column("rating", sa.String(length=32), nullable=False),
        sa.Column("published_on", sa.Date(), nullable=False),
        sa.CheckConstraint(
            "domain IN ('Overall', 'Safe', 'Effective', 'Caring', 'Responsive', 'Well-led')",
            name=op.f("ck_cqc_rating_domain_allowed"),
        ),
        sa.CheckConstraint(
            "rating IN ('Outstanding', 'Good', 'Requires improvement', 'Inadequate', 'Insufficient evidence to rate')",
            name=op.f("ck_cqc_rating_rating_allowed"),
        ),
        sa.ForeignKeyConstraint(["provider_id"], ["provider.id"], name=op.f("fk_cqc_rating_provider_id_provider")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cqc_rating")),
        sa.UniqueConstraint(
            "provider_id", "domain", "published_on", name=op.f("uq_cqc_rating_provider_id_domain_published_on")
        ),
    )
    op.create_table(
        "improvement_action",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("action_ref", sa.String(length=64), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("completed_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["authority_id"], ["authority.id"], name=op.f("fk_improvement_action_authority_id_authority")
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["provider.id"], name=op.f("fk_improvement_action_provider_id_provider")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_improvement_action")),
        sa.UniqueConstraint("authority_id", "action_ref", name=op.f("uq_improvement_action_authority_id_action_ref")),
    )
    op.create_table(
        "level_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("jointly_with", sa.String(length=200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("level IN (1, 2, 3)", name=op.f("ck_level_decision_level_allowed")),
        sa.ForeignKeyConstraint(["provider_id"], ["provider.id"], name=op.f("fk_level_decision_provider_id_provider")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_level_decision")),
        sa.UniqueConstraint("provider_id", "month", name=op.f("uq_level_decision_provider_id_month")),
    )
    op.create_table(
        "level_proposal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("current_level", sa.Integer(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("rule_version", sa.String(length=32), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "level IN (1, 2, 3) AND current_level IN (1, 2, 3)", name=op.f("ck_level_proposal_levels_allowed")
        ),
        sa.ForeignKeyConstraint(["provider_id"], ["provider.id"], name=op.f("fk_level_proposal_provider_id_provider")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_level_proposal")),
        sa.UniqueConstraint("provider_id", "month", name=op.f("uq_level_proposal_provider_id_month")),
    )
    op.create_table(
        "monitoring_return",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["provider.id"], name=op.f("fk_monitoring_return_provider_id_provider")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_return")),
        sa.UniqueConstraint("provider_id", "month", name=op.f("uq_monitoring_return_provider_id_month")),
    )
    op.create_table(
        "provider_concern",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("concern_ref", sa.String(length=64), nullable=False),
        sa.Column("concern", sa.String(length=16), nullable=False),
        sa.Column("raised_on", sa.Date(), nullable=False),
        sa.Column("serious", sa.Boolean(), nullable=True),
        sa.CheckConstraint("concern IN ('safeguarding', 'quality')", name=op.f("ck_provider_concern_concern_allowed")),
        sa.ForeignKeyConstraint(
            ["authority_id"], ["authority.id"], name=op.f("fk_provider_concern_authority_id_authority")
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["provider.id"], name=op.f("fk_provider_concern_provider_id_provider")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_concern")),
        sa.UniqueConstraint("authority_id", "concern_ref", name=op.f("uq_provider_concern_authority_id_concern_ref")),
    )


def downgrade() -> None:
    op.drop_table("provider_concern")
    op.drop_table("monitoring_return")
    op.drop_table("level_proposal")
    op.drop_table("level_decision")
    op.drop_table("improvement_action")
    op.drop_table("cqc_rating")
    op.drop_table("cqc_enforcement")
    op.drop_table("contract_notice")
    op.drop_table("provider")
