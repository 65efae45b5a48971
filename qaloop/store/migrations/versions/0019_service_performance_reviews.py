"""service performance reviews

``service_review``: a six-monthly review of one service area for one panel, its workbook sent to the head of
service, the self-assessment and the panel's record returned; ``service_review_judgement``: each judgement area as
returned at each stage; ``corrective_action`` takes a review's action plan (``source`` review).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 19:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_GIVEN_BEFORE = (
    "(source = 'audit' AND allocation_id IS NOT NULL) OR (source = 'escalation' AND escalation_id IS NOT NULL)"
)
_GIVEN = _GIVEN_BEFORE + " OR (source = 'review' AND service_review_id IS NOT NULL)"


def upgrade() -> None:
    op.create_table(
        "service_review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("service_area", sa.String(length=64), nullable=False),
        sa.Column("panel_on", sa.Date(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("head_of_service_id", sa.Integer(), nullable=False),
        sa.Column("sent_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("workbook", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("self_assessed_on", sa.Date(), nullable=True),
        sa.Column("panel_recorded_on", sa.Date(), nullable=True),
        sa.Column("panel_input", sa.Text(), nullable=True),
        sa.Column("summary_points", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('sent', 'self-assessed', 'panel held')", name=op.f("ck_service_review_status_allowed")
        ),
        sa.ForeignKeyConstraint(
            ["authority_id"], ["authority.id"], name=op.f("fk_service_review_authority_id_authority")
        ),
        sa.ForeignKeyConstraint(
            ["head_of_service_id"], ["staff.id"], name=op.f("fk_service_review_head_of_service_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_review")),
        sa.UniqueConstraint(
            "authority_id",
            "service_area",
            "panel_on",
            name=op.f("uq_service_review_authority_id_service_area_panel_on"),
        ),
    )
    op.create_table(
        "service_review_judgement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("lens", sa.String(length=16), nullable=False),
        sa.Column("area", sa.String(length=200), nullable=False),
        sa.Column("judgement", sa.String(length=2), nullable=False),
        sa.Column("comments", sa.Text(), nullable=True),
        sa.Column("source_file_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "stage IN ('self-assessment', 'panel')", name=op.f("ck_service_review_judgement_stage_allowed")
        ),
        sa.CheckConstraint(
            "judgement IN ('I', 'RI', 'G', 'O')", name=op.f("ck_service_review_judgement_judgement_allowed")
        ),
        sa.ForeignKeyConstraint(
            ["review_id"], ["service_review.id"], name=op.f("fk_service_review_judgement_review_id_service_review")
        ),
        sa.ForeignKeyConstraint(
            ["source_file_id"], ["source_file.id"], name=op.f("fk_service_review_judgement_source_file_id_source_file")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_review_judgement")),
        sa.UniqueConstraint(
            "review_id", "stage", "lens", "area", name=op.f("uq_service_review_judgement_review_id_stage_lens_area")
        ),
    )
    with op.batch_alter_table("corrective_action") as batch_op:
        batch_op.add_column(sa.Column("service_review_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_corrective_action_service_review_id_service_review"),
            "service_review",
            ["service_review_id"],
            ["id"],
        )
        batch_op.drop_constraint(op.f("ck_corrective_action_source_given"), type_="check")
        batch_op.drop_constraint(op.f("ck_corrective_action_source_allowed"), type_="check")
        batch_op.drop_constraint(op.f("ck_corrective_action_reason_allowed"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_corrective_action_source_allowed"), "source IN ('audit', 'escalation', 'review')"
        )
        batch_op.create_check_constraint(op.f("ck_corrective_action_source_given"), _GIVEN)
        batch_op.create_check_constraint(
            op.f("ck_corrective_action_reason_allowed"),
            "reason IN ('below_standard', 'escalation', 'agreed_action', 'review_action')",
        )


def downgrade() -> None:
    op.execute("DELETE FROM corrective_action WHERE source = 'review'")
    with op.batch_alter_table("corrective_action") as batch_op:
        batch_op.drop_constraint(op.f("ck_corrective_action_reason_allowed"), type_="check")
        batch_op.drop_constraint(op.f("ck_corrective_action_source_given"), type_="check")
        batch_op.drop_constraint(op.f("ck_corrective_action_source_allowed"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_corrective_action_reason_allowed"), "reason IN ('below_standard', 'escalation', 'agreed_action')"
        )
        batch_op.create_check_constraint(
            op.f("ck_corrective_action_source_allowed"), "source IN ('audit', 'escalation')"
        )
        batch_op.create_check_constraint(op.f("ck_corrective_action_source_given"), _GIVEN_BEFORE)
        batch_op.drop_constraint(op.f("fk_corrective_action_service_review_id_service_review"), type_="foreignkey")
        batch_op.drop_column("service_review_id")
    op.drop_table("service_review_judgement")
    op.drop_table("service_review")
