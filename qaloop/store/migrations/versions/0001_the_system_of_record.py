"""the system of record

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-22 20:44:21.052463
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "authority",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("service", sa.String(length=16), nullable=False),
        sa.CheckConstraint("service IN ('adults', 'children')", name=op.f("ck_authority_service_allowed")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authority")),
        sa.UniqueConstraint("code", name=op.f("uq_authority_code")),
    )
    op.create_table(
        "email_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("cc", sa.JSON(), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('queued', 'sent', 'failed')", name=op.f("ck_email_outbox_status_allowed")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_outbox")),
        sa.UniqueConstraint("key", name=op.f("uq_email_outbox_key")),
    )
    with op.batch_alter_table("email_outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_email_outbox_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_email_outbox_status"), ["status"], unique=False)

    op.create_table(
        "source_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset", sa.String(length=64), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('processed', 'quarantined')", name=op.f("ck_source_file_status_allowed")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_file")),
        sa.UniqueConstraint("dataset", "content_hash", name=op.f("uq_source_file_dataset_content_hash")),
    )
    op.create_table(
        "area",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["authority_id"], ["authority.id"], name=op.f("fk_area_authority_id_authority")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_area")),
        sa.UniqueConstraint("authority_id", "code", name=op.f("uq_area_authority_id_code")),
        sa.UniqueConstraint("authority_id", "name", name=op.f("uq_area_authority_id_name")),
    )
    op.create_table(
        "audit_cycle",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("cycle_ref", sa.String(length=64), nullable=False),
        sa.Column("programme", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("selection_date", sa.Date(), nullable=False),
        sa.Column("allocation_date", sa.Date(), nullable=False),
        sa.Column("self_reflection_due", sa.Date(), nullable=False),
        sa.Column("audit_due", sa.Date(), nullable=False),
        sa.Column("moderation_due", sa.Date(), nullable=False),
        sa.Column("close_date", sa.Date(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=True),
        sa.Column("rule_version", sa.String(length=32), nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "programme IN ('regular', 'deep_dive', 'managers_monthly')", name=op.f("ck_audit_cycle_programme_allowed")
        ),
        sa.CheckConstraint(
            "status IN ('planned', 'selected', 'allocated', 'notified', 'moderation', 'closed')",
            name=op.f("ck_audit_cycle_status_allowed"),
        ),
        sa.CheckConstraint(
            "allocation_date >= selection_date AND self_reflection_due >= allocation_date AND audit_due >= allocation_date AND moderation_due >= audit_due AND close_date >= moderation_due",
            name=op.f("ck_audit_cycle_dates_in_order"),
        ),
        sa.ForeignKeyConstraint(["authority_id"], ["authority.id"], name=op.f("fk_audit_cycle_authority_id_authority")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_cycle")),
        sa.UniqueConstraint("authority_id", "cycle_ref", name=op.f("uq_audit_cycle_authority_id_cycle_ref")),
    )
    op.create_table(
        "report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["authority_id"], ["authority.id"], name=op.f("fk_report_authority_id_authority")),
        sa.ForeignKeyConstraint(["cycle_id"], ["audit_cycle.id"], name=op.f("fk_report_cycle_id_audit_cycle")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report")),
        sa.UniqueConstraint("authority_id", "kind", "path", name=op.f("uq_report_authority_id_kind_path")),
    )
    op.create_table(
        "team",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["area_id"], ["area.id"], name=op.f("fk_team_area_id_area")),
        sa.ForeignKeyConstraint(["authority_id"], ["authority.id"], name=op.f("fk_team_authority_id_authority")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team")),
        sa.UniqueConstraint("authority_id", "name", name=op.f("uq_team_authority_id_name")),
    )
    op.create_table(
        "complaint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("complaint_ref", sa.String(length=64), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("theme", sa.String(length=200), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("response_days", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('upheld', 'partly upheld', 'not upheld', 'open')", name=op.f("ck_complaint_outcome_allowed")
        ),
        sa.ForeignKeyConstraint(["area_id"], ["area.id"], name=op.f("fk_complaint_area_id_area")),
        sa.ForeignKeyConstraint(["authority_id"], ["authority.id"], name=op.f("fk_complaint_authority_id_authority")),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"], name=op.f("fk_complaint_team_id_team")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint")),
        sa.UniqueConstraint("authority_id", "complaint_ref", name=op.f("uq_complaint_authority_id_complaint_ref")),
    )
    op.create_table(
        "compliment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("compliment_ref", sa.String(length=64), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("theme", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["area_id"], ["area.id"], name=op.f("fk_compliment_area_id_area")),
        sa.ForeignKeyConstraint(["authority_id"], ["authority.id"], name=op.f("fk_compliment_authority_id_authority")),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"], name=op.f("fk_compliment_team_id_team")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliment")),
        sa.UniqueConstraint("authority_id", "compliment_ref", name=op.f("uq_compliment_authority_id_compliment_ref")),
    )
    op.create_table(
        "ombudsman_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("decision_ref", sa.String(length=64), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("theme", sa.String(length=200), nullable=False),
        sa.Column("outcome", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('upheld', 'not upheld', 'closed after initial enquiries')",
            name=op.f("ck_ombudsman_decision_outcome_allowed"),
        ),
        sa.ForeignKeyConstraint(["area_id"], ["area.id"], name=op.f("fk_ombudsman_decision_area_id_area")),
        sa.ForeignKeyConstraint(
            ["authority_id"], ["authority.id"], name=op.f("fk_ombudsman_decision_authority_id_authority")
        ),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"], name=op.f("fk_ombudsman_decision_team_id_team")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ombudsman_decision")),
        sa.UniqueConstraint(
            "authority_id", "decision_ref", name=op.f("uq_ombudsman_decision_authority_id_decision_ref")
        ),
    )
    op.create_table(
        "staff",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("staff_ref", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("line_manager_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("leave_start", sa.Date(), nullable=True),
        sa.Column("leave_end", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "role IN ('practitioner', 'senior_practitioner', 'team_manager', 'service_manager', 'practice_lead', 'qa_officer', 'director')",
            name=op.f("ck_staff_role_allowed"),
        ),
        sa.CheckConstraint(
            "leave_end IS NULL OR leave_start IS NULL OR leave_end >= leave_start", name=op.f("ck_staff_leave_in_order")
        ),
        sa.CheckConstraint("line_manager_id IS NULL OR line_manager_id <> id", name=op.f("ck_staff_not_own_manager")),
        sa.ForeignKeyConstraint(["area_id"], ["area.id"], name=op.f("fk_staff_area_id_area")),
        sa.ForeignKeyConstraint(["authority_id"], ["authority.id"], name=op.f("fk_staff_authority_id_authority")),
        sa.ForeignKeyConstraint(["line_manager_id"], ["staff.id"], name=op.f("fk_staff_line_manager_id_staff")),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"], name=op.f("fk_staff_team_id_team")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff")),
        sa.UniqueConstraint("authority_id", "staff_ref", name=op.f("uq_staff_authority_id_staff_ref")),
    )
    op.create_table(
        "survey_response",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("response_ref", sa.String(length=64), nullable=False),
        sa.Column("survey", sa.String(length=200), nullable=False),
        sa.Column("responded_on", sa.Date(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("question", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.CheckConstraint("score >= 0", name=op.f("ck_survey_response_score_not_negative")),
        sa.ForeignKeyConstraint(["area_id"], ["area.id"], name=op.f("fk_survey_response_area_id_area")),
        sa.ForeignKeyConstraint(
            ["authority_id"], ["authority.id"], name=op.f("fk_survey_response_authority_id_authority")
        ),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"], name=op.f("fk_survey_response_team_id_team")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_response")),
        sa.UniqueConstraint(
            "authority_id",
            "response_ref",
            "question",
            name=op.f("uq_survey_response_authority_id_response_ref_question"),
        ),
    )
    op.create_table(
        "case_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("case_ref", sa.String(length=64), nullable=False),
        sa.Column("person_ref", sa.String(length=64), nullable=False),
        sa.Column("audit_type", sa.String(length=64), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("last_activity_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.CheckConstraint("end_date IS NULL OR end_date >= start_date", name=op.f("ck_case_record_end_after_start")),
        sa.CheckConstraint("last_activity_date >= start_date", name=op.f("ck_case_record_activity_after_start")),
        sa.ForeignKeyConstraint(["area_id"], ["area.id"], name=op.f("fk_case_record_area_id_area")),
        sa.ForeignKeyConstraint(["authority_id"], ["authority.id"], name=op.f("fk_case_record_authority_id_authority")),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"], name=op.f("fk_case_record_team_id_team")),
        sa.ForeignKeyConstraint(["worker_id"], ["staff.id"], name=op.f("fk_case_record_worker_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_record")),
        sa.UniqueConstraint("authority_id", "case_ref", name=op.f("uq_case_record_authority_id_case_ref")),
    )
    with op.batch_alter_table("case_record", schema=None) as batch_op:
        batch_op.create_index("ix_case_record_authority_activity", ["authority_id", "last_activity_date"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_record_worker_id"), ["worker_id"], unique=False)

    op.create_table(
        "allocation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("programme", sa.String(length=32), nullable=False),
        sa.Column("stratum", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reserve_rank", sa.Integer(), nullable=True),
        sa.Column("practitioner_id", sa.Integer(), nullable=False),
        sa.Column("auditor_id", sa.Integer(), nullable=True),
        sa.Column("service_manager_id", sa.Integer(), nullable=True),
        sa.Column("audit_due", sa.Date(), nullable=True),
        sa.Column("self_reflection_due", sa.Date(), nullable=True),
        sa.Column("replaces_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(status = 'reserve') = (reserve_rank IS NOT NULL)", name=op.f("ck_allocation_reserves_ranked")
        ),
        sa.CheckConstraint(
            "programme IN ('regular', 'deep_dive', 'managers_monthly')", name=op.f("ck_allocation_programme_allowed")
        ),
        sa.CheckConstraint(
            "status IN ('reserve', 'selected', 'allocated', 'notified', 'submitted', 'moderation', 'moderated', 'closed', 'declined', 'replaced', 'cancelled')",
            name=op.f("ck_allocation_status_allowed"),
        ),
        sa.CheckConstraint(
            "auditor_id IS NULL OR auditor_id <> practitioner_id", name=op.f("ck_allocation_auditor_not_worker")
        ),
        sa.ForeignKeyConstraint(["auditor_id"], ["staff.id"], name=op.f("fk_allocation_auditor_id_staff")),
        sa.ForeignKeyConstraint(["case_id"], ["case_record.id"], name=op.f("fk_allocation_case_id_case_record")),
        sa.ForeignKeyConstraint(["cycle_id"], ["audit_cycle.id"], name=op.f("fk_allocation_cycle_id_audit_cycle")),
        sa.ForeignKeyConstraint(["practitioner_id"], ["staff.id"], name=op.f("fk_allocation_practitioner_id_staff")),
        sa.ForeignKeyConstraint(["replaces_id"], ["allocation.id"], name=op.f("fk_allocation_replaces_id_allocation")),
        sa.ForeignKeyConstraint(
            ["service_manager_id"], ["staff.id"], name=op.f("fk_allocation_service_manager_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocation")),
        sa.UniqueConstraint("cycle_id", "case_id", name=op.f("uq_allocation_cycle_id_case_id")),
    )
    with op.batch_alter_table("allocation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_allocation_auditor_id"), ["auditor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_allocation_cycle_id"), ["cycle_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_allocation_practitioner_id"), ["practitioner_id"], unique=False)
        batch_op.create_index(
            "uq_allocation_regular_case",
            ["case_id"],
            unique=True,
            sqlite_where=sa.text(
                "programme = 'regular' AND status IN ('selected', 'allocated', 'notified', 'submitted', 'moderation', 'moderated', 'closed')"
            ),
            postgresql_where=sa.text(
                "programme = 'regular' AND status IN ('selected', 'allocated', 'notified', 'submitted', 'moderation', 'moderated', 'closed')"
            ),
        )

    op.create_table(
        "allocation_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("allocation_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["allocation_id"],
            ["allocation.id"],
            name=op.f("fk_allocation_event_allocation_id_allocation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocation_event")),
    )
    with op.batch_alter_table("allocation_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_allocation_event_allocation_id"), ["allocation_id"], unique=False)

    op.create_table(
        "audit_return",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("allocation_id", sa.Integer(), nullable=False),
        sa.Column("auditor_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("submitted_on", sa.Date(), nullable=False),
        sa.Column("grade", sa.String(length=100), nullable=False),
        sa.Column("escalation", sa.Boolean(), nullable=False),
        sa.Column("escalation_details", sa.Text(), nullable=True),
        sa.Column("strengths", sa.Text(), nullable=True),
        sa.Column("learning_points", sa.Text(), nullable=True),
        sa.Column("to_reach_higher_grade", sa.Text(), nullable=True),
        sa.Column("source_file_id", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('filed', 'held')", name=op.f("ck_audit_return_status_allowed")),
        sa.ForeignKeyConstraint(
            ["allocation_id"], ["allocation.id"], name=op.f("fk_audit_return_allocation_id_allocation")
        ),
        sa.ForeignKeyConstraint(["auditor_id"], ["staff.id"], name=op.f("fk_audit_return_auditor_id_staff")),
        sa.ForeignKeyConstraint(
            ["source_file_id"], ["source_file.id"], name=op.f("fk_audit_return_source_file_id_source_file")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_return")),
    )
    with op.batch_alter_table("audit_return", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_return_allocation_id"), ["allocation_id"], unique=False)
        batch_op.create_index(
            "uq_audit_return_filed",
            ["allocation_id"],
            unique=True,
            sqlite_where=sa.text("status = 'filed'"),
            postgresql_where=sa.text("status = 'filed'"),
        )

    op.create_table(
        "self_reflection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("allocation_id", sa.Integer(), nullable=False),
        sa.Column("practitioner_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("submitted_on", sa.Date(), nullable=False),
        sa.Column("reflection", sa.Text(), nullable=False),
        sa.Column("source_file_id", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('filed', 'held')", name=op.f("ck_self_reflection_status_allowed")),
        sa.ForeignKeyConstraint(
            ["allocation_id"], ["allocation.id"], name=op.f("fk_self_reflection_allocation_id_allocation")
        ),
        sa.ForeignKeyConstraint(
            ["practitioner_id"], ["staff.id"], name=op.f("fk_self_reflection_practitioner_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["source_file_id"], ["source_file.id"], name=op.f("fk_self_reflection_source_file_id_source_file")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_self_reflection")),
    )
    with op.batch_alter_table("self_reflection", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_self_reflection_allocation_id"), ["allocation_id"], unique=False)
        batch_op.create_index(
            "uq_self_reflection_filed",
            ["allocation_id"],
            unique=True,
            sqlite_where=sa.text("status = 'filed'"),
            postgresql_where=sa.text("status = 'filed'"),
        )

    op.create_table(
        "audit_answer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("return_id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.String(length=64), nullable=False),
        sa.Column("answer", sa.String(length=100), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["return_id"], ["audit_return.id"], name=op.f("fk_audit_answer_return_id_audit_return"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_answer")),
        sa.UniqueConstraint("return_id", "question_id", name=op.f("uq_audit_answer_return_id_question_id")),
    )
    op.create_table(
        "corrective_action",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("allocation_id", sa.Integer(), nullable=False),
        sa.Column("return_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("confirmed_by_id", sa.Integer(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "reason IN ('below_standard', 'escalation', 'agreed_action')",
            name=op.f("ck_corrective_action_reason_allowed"),
        ),
        sa.CheckConstraint(
            "status <> 'done' OR closed_at IS NOT NULL", name=op.f("ck_corrective_action_done_has_closed_at")
        ),
        sa.CheckConstraint("status IN ('open', 'done', 'cancelled')", name=op.f("ck_corrective_action_status_allowed")),
        sa.ForeignKeyConstraint(
            ["allocation_id"], ["allocation.id"], name=op.f("fk_corrective_action_allocation_id_allocation")
        ),
        sa.ForeignKeyConstraint(
            ["confirmed_by_id"], ["staff.id"], name=op.f("fk_corrective_action_confirmed_by_id_staff")
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["staff.id"], name=op.f("fk_corrective_action_owner_id_staff")),
        sa.ForeignKeyConstraint(
            ["return_id"], ["audit_return.id"], name=op.f("fk_corrective_action_return_id_audit_return")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_corrective_action")),
    )
    with op.batch_alter_table("corrective_action", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_corrective_action_allocation_id"), ["allocation_id"], unique=False)

    op.create_table(
        "moderation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("return_id", sa.Integer(), nullable=False),
        sa.Column("moderator_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("due", sa.Date(), nullable=True),
        sa.Column("moderated_grade", sa.String(length=100), nullable=True),
        sa.Column("criteria_consistent", sa.Boolean(), nullable=True),
        sa.Column("feedback_constructive", sa.Boolean(), nullable=True),
        sa.Column("names_strengths", sa.Boolean(), nullable=True),
        sa.Column("names_learning", sa.Boolean(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("submitted_on", sa.Date(), nullable=True),
        sa.Column("source_file_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('sampled', 'allocated', 'notified', 'submitted', 'cancelled')",
            name=op.f("ck_moderation_status_allowed"),
        ),
        sa.ForeignKeyConstraint(["moderator_id"], ["staff.id"], name=op.f("fk_moderation_moderator_id_staff")),
        sa.ForeignKeyConstraint(["return_id"], ["audit_return.id"], name=op.f("fk_moderation_return_id_audit_return")),
        sa.ForeignKeyConstraint(
            ["source_file_id"], ["source_file.id"], name=op.f("fk_moderation_source_file_id_source_file")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation")),
        sa.UniqueConstraint("return_id", name=op.f("uq_moderation_return_id")),
    )


def downgrade() -> None:
    op.drop_table("moderation")
    with op.batch_alter_table("corrective_action", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_corrective_action_allocation_id"))

    op.drop_table("corrective_action")
    op.drop_table("audit_answer")
    with op.batch_alter_table("self_reflection", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_self_reflection_filed",
            sqlite_where=sa.text("status = 'filed'"),
            postgresql_where=sa.text("status = 'filed'"),
        )
        batch_op.drop_index(batch_op.f("ix_self_reflection_allocation_id"))

    op.drop_table("self_reflection")
    with op.batch_alter_table("audit_return", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_audit_return_filed",
            sqlite_where=sa.text("status = 'filed'"),
            postgresql_where=sa.text("status = 'filed'"),
        )
        batch_op.drop_index(batch_op.f("ix_audit_return_allocation_id"))

    op.drop_table("audit_return")
    with op.batch_alter_table("allocation_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_allocation_event_allocation_id"))

    op.drop_table("allocation_event")
    with op.batch_alter_table("allocation", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_allocation_regular_case",
            sqlite_where=sa.text(
                "programme = 'regular' AND status IN ('selected', 'allocated', 'notified', 'submitted', 'moderation', 'moderated', 'closed')"
            ),
            postgresql_where=sa.text(
                "programme = 'regular' AND status IN ('selected', 'allocated', 'notified', 'submitted', 'moderation', 'moderated', 'closed')"
            ),
        )
        batch_op.drop_index(batch_op.f("ix_allocation_practitioner_id"))
        batch_op.drop_index(batch_op.f("ix_allocation_cycle_id"))
        batch_op.drop_index(batch_op.f("ix_allocation_auditor_id"))

    op.drop_table("allocation")
    with op.batch_alter_table("case_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_record_worker_id"))
        batch_op.drop_index("ix_case_record_authority_activity")

    op.drop_table("case_record")
    op.drop_table("survey_response")
    op.drop_table("staff")
    op.drop_table("ombudsman_decision")
    op.drop_table("compliment")
    op.drop_table("complaint")
    op.drop_table("team")
    op.drop_table("report")
    op.drop_table("audit_cycle")
    op.drop_table("area")
    op.drop_table("source_file")
    with op.batch_alter_table("email_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_outbox_status"))
        batch_op.drop_index(batch_op.f("ix_email_outbox_kind"))

    op.drop_table("email_outbox")
    op.drop_table("authority")
