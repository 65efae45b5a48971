"""The store's tables: SQLAlchemy 2 models of the system of record.

The constraints here carry the rules that must never break whatever the code above them does: a case
is audited at most once by the regular programme, one filed return per allocation, an outbox key is
unique, a source file is processed once. Alembic migrations in ``qaloop/migrations`` create exactly
these tables (a test compares the two).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from qaloop.core.roles import Role
from qaloop.core.schema import (
    COMMISSIONERS,
    CONCERN_KINDS,
    CONTRACT_NOTICE_KINDS,
    CQC_ACTIONS,
    CQC_DOMAINS,
    CQC_RATING_WORDS,
    ESCALATION_STATUSES,
    EXCEPTIONS,
    MONITORING_ACTIVITIES,
    POLARITIES,
    PROVIDER_FEEDBACK_KINDS,
    SERVICE_TYPES,
)

# Named constraints, so migrations can drop and alter them the same way on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SERVICES = ("adults", "children")
PROGRAMMES = ("regular", "deep_dive", "managers_monthly")
CYCLE_STATUSES = ("selected", "allocated", "notified", "moderation", "closed")
ALLOCATION_STATUSES = (
    "reserve",
    "selected",
    "allocated",
    "notified",
    "submitted",
    "moderation",
    "moderated",
    "closed",
    "replaced",
)
# An allocation in one of these states means the case is (or was) audited, so the regular programme
# may not select it again. Reserves, and cases replaced, were never audited.
AUDITED_STATUSES = ("selected", "allocated", "notified", "submitted", "moderation", "moderated", "closed")
RETURN_STATUSES = ("filed", "held")
MODERATION_STATUSES = ("sampled", "allocated", "notified", "submitted")
ACTION_REASONS = ("below_standard", "escalation", "agreed_action", "review_action")
# Where an action in the one register comes from: an audit (its allocation), an escalation's outcome or a
# service performance review's action plan.
ACTION_SOURCES = ("audit", "escalation", "review")
# A service performance review: its workbook sent to the head of service, their self-assessment returned, then
# the panel's record (its judgements, action plan and summary points) returned.
REVIEW_STATUSES = ("sent", "self-assessed", "panel held")
REVIEW_STAGES = ("self-assessment", "panel")
REVIEW_JUDGEMENTS = ("I", "RI", "G", "O")  # inadequate, requires improvement, good, outstanding (Coventry)
ACTION_STATUSES = ("open", "done", "cancelled")
OUTBOX_STATUSES = ("queued", "sent", "partly_sent", "failed")
SOURCE_FILE_STATUSES = ("processed", "quarantined")
CHASED_KINDS = ("audit", "self_reflection", "moderation", "corrective_action")
COMPLAINT_OUTCOMES = ("upheld", "partly upheld", "not upheld", "open")
OMBUDSMAN_OUTCOMES = ("upheld", "not upheld", "closed after initial enquiries")


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC, as the store keeps it."""
    return datetime.now(UTC)


def one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    """A named CHECK that ``column`` holds one of ``values``."""
    return CheckConstraint(f"{column} IN ({_in_list(values)})", name=f"{column}_allowed")


def unique_where(name: str, column: str, condition: str) -> Index:
    """A partial unique index: ``column`` is unique among the rows where ``condition`` holds (both engines)."""
    return Index(name, column, unique=True, sqlite_where=text(condition), postgresql_where=text(condition))


def _in_list(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{value}'" for value in values)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: DateTime(timezone=True)}


class Authority(Base):
    __tablename__ = "authority"
    __table_args__ = (one_of("service", SERVICES),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    service: Mapped[str] = mapped_column(String(16))


class Area(Base):
    __tablename__ = "area"
    __table_args__ = (UniqueConstraint("authority_id", "code"), UniqueConstraint("authority_id", "name"))

    id: Mapped[int] = mapped_column(primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authority.id"))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))


class Team(Base):
    __tablename__ = "team"
    __table_args__ = (UniqueConstraint("authority_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authority.id"))
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id"))
    name: Mapped[str] = mapped_column(String(200))


class Staff(Base):
    __tablename__ = "staff"
    __table_args__ = (
        UniqueConstraint("authority_id", "staff_ref"),
        one_of("role", tuple(role.value for role in Role)),
        CheckConstraint("leave_end IS NULL OR leave_start IS NULL OR leave_end >= leave_start", name="leave_in_order"),
        CheckConstraint("line_manager_id IS NULL OR line_manager_id <> id", name="not_own_manager"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authority.id"))
    staff_ref: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(32))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    line_manager_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    leave_start: Mapped[date | None] = mapped_column(Date)
    leave_end: Mapped[date | None] = mapped_column(Date)


class CaseRecord(Base):
    """A piece of recorded work in the case management system, known only by references."""

    __tablename__ = "case_record"
    __table_args__ = (
        UniqueConstraint("authority_id", "case_ref"),
        CheckConstraint("last_activity_date >= start_date", name="activity_after_start"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="end_after_start"),
        Index("ix_case_record_authority_activity", "authority_id", "last_activity_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authority.id"))
    case_ref: Mapped[str] = mapped_column(String(64))
    person_ref: Mapped[str] = mapped_column(String(64))
    audit_type: Mapped[str] = mapped_column(String(64))
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id"))
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id"))
    worker_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    start_date: Mapped[date] = mapped_column(Date)
    last_activity_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    # Why the latest extract's row for this case was set aside by its checks; while set, the stored row is
    # out of date and the case is never eligible for a draw.
    set_aside: Mapped[str | None] = mapped_column(Text)


class AuditCycle(Base):
    """One audit period (or one deep dive) with its dates, its seed and the rules it was drawn under."""

    __tablename__ = "audit_cycle"
    __table_args__ = (
        UniqueConstraint("authority_id", "cycle_ref"),
        one_of("programme", PROGRAMMES),
        one_of("status", CYCLE_STATUSES),
        CheckConstraint(
            "allocation_date >= selection_date AND self_reflection_due >= allocation_date "
            "AND audit_due >= allocation_date AND moderation_due >= audit_due AND close_date >= moderation_due",
            name="dates_in_order",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authority.id"))
    cycle_ref: Mapped[str] = mapped_column(String(64))
    programme: Mapped[str] = mapped_column(String(32), default="regular")
    status: Mapped[str] = mapped_column(String(16))
    selection_date: Mapped[date] = mapped_column(Date)
    allocation_date: Mapped[date] = mapped_column(Date)
    self_reflection_due: Mapped[date] = mapped_column(Date)
    audit_due: Mapped[date] = mapped_column(Date)
    moderation_due: Mapped[date] = mapped_column(Date)
    close_date: Mapped[date] = mapped_column(Date)
    seed: Mapped[int | None] = mapped_column(BigInteger)
    rule_version: Mapped[str | None] = mapped_column(String(32))
    parameters: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Allocation(Base):
    """One selected (or reserve) case in a cycle: its auditor, its practitioner and where it is in its life."""

    __tablename__ = "allocation"
    __table_args__ = (
        UniqueConstraint("cycle_id", "case_id"),
        one_of("programme", PROGRAMMES),
        one_of("status", ALLOCATION_STATUSES),
        CheckConstraint("auditor_id IS NULL OR auditor_id <> practitioner_id", name="auditor_not_worker"),
        CheckConstraint("(status = 'reserve') = (reserve_rank IS NOT NULL)", name="reserves_ranked"),
        unique_where(
            "uq_allocation_regular_case",
            "case_id",
            f"programme = 'regular' AND status IN ({_in_list(AUDITED_STATUSES)})",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("audit_cycle.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"))
    # Copied from the cycle so the database itself can enforce "audited once by the regular programme".
    programme: Mapped[str] = mapped_column(String(32))
    stratum: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    reserve_rank: Mapped[int | None] = mapped_column(Integer)
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    auditor_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    service_manager_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    audit_due: Mapped[date | None] = mapped_column(Date)
    self_reflection_due: Mapped[date | None] = mapped_column(Date)
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("allocation.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AllocationEvent(Base):
    """The status history of an allocation: every change, who made it and why."""

    __tablename__ = "allocation_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    allocation_id: Mapped[int] = mapped_column(ForeignKey("allocation.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)


class PastAudit(Base):
    """A past audit, from the audit history, of a case no longer in the case extract (closed since): its
    reference, cycle and worker as the history gives them (by reference: the worker may have left). The
    repeat rules read these beside the recorded allocations, so the case is never audited again and the
    worker counts as audited in that cycle."""

    __tablename__ = "past_audit"
    __table_args__ = (UniqueConstraint("authority_id", "case_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authority.id"))
    cycle_id: Mapped[int] = mapped_column(ForeignKey("audit_cycle.id"), index=True)
    case_ref: Mapped[str] = mapped_column(String(64))
    worker_ref: Mapped[str] = mapped_column(String(64))
    auditor_ref: Mapped[str | None] = mapped_column(String(64))
    grade: Mapped[str | None] = mapped_column(String(100))
    submitted_on: Mapped[date | None] = mapped_column(Date)


class SourceFile(Base):
    """The ledger of files read: each file's content is processed once per dataset."""

    __tablename__ = "source_file"
    __table_args__ = (UniqueConstraint("dataset", "content_hash"), one_of("status", SOURCE_FILE_STATUSES))

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    rows: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    message: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditReturn(Base):
    """A completed audit tool. A second return for the same allocation is held, never overwriting the first."""

    __tablename__ = "audit_return"
    __table_args__ = (
        one_of("status", RETURN_STATUSES),
        unique_where("uq_audit_return_filed", "allocation_id", "status = 'filed'"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    allocation_id: Mapped[int] = mapped_column(ForeignKey("allocation.id"), index=True)
    auditor_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    status: Mapped[str] = mapped_column(String(16), default="filed")
    submitted_on: Mapped[date] = mapped_column(Date)
    grade: Mapped[str] = mapped_column(String(100))
    escalation: Mapped[bool] = mapped_column(Boolean, default=False)
    escalation_details: Mapped[str | None] = mapped_column(Text)
    strengths: Mapped[str | None] = mapped_column(Text)
    learning_points: Mapped[str | None] = mapped_column(Text)
    to_reach_higher_grade: Mapped[str | None] = mapped_column(Text)
    source_file_id: Mapped[int | None] = mapped_column(ForeignKey("source_file.id"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditAnswer(Base):
    __tablename__ = "audit_answer"
    __table_args__ = (UniqueConstraint("return_id", "question_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("audit_return.id", ondelete="CASCADE"))
    question_id: Mapped[str] = mapped_column(String(64))
    answer: Mapped[str] = mapped_column(String(100))
    evidence: Mapped[str | None] = mapped_column(Text)


class SelfReflection(Base):
    """The practitioner's own reflection on the audited case."""

    __tablename__ = "self_reflection"
    __table_args__ = (
        one_of("status", RETURN_STATUSES),
        unique_where("uq_self_reflection_filed", "allocation_id", "status = 'filed'"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    allocation_id: Mapped[int] = mapped_column(ForeignKey("allocation.id"), index=True)
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    status: Mapped[str] = mapped_column(String(16), default="filed")
    submitted_on: Mapped[date] = mapped_column(Date)
    reflection: Mapped[str] = mapped_column(Text)
    source_file_id: Mapped[int | None] = mapped_column(ForeignKey("source_file.id"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class Moderation(Base):
    """A practice lead's re-judgement of one filed audit return."""

    __tablename__ = "moderation"
    __table_args__ = (UniqueConstraint("return_id"), one_of("status", MODERATION_STATUSES))

    id: Mapped[int] = mapped_column(primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("audit_return.id"))
    moderator_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    status: Mapped[str] = mapped_column(String(16), default="sampled")
    due: Mapped[date | None] = mapped_column(Date)
    moderated_grade: Mapped[str | None] = mapped_column(String(100))
    criteria_consistent: Mapped[bool | None] = mapped_column(Boolean)
    feedback_constructive: Mapped[bool | None] = mapped_column(Boolean)
    names_strengths: Mapped[bool | None] = mapped_column(Boolean)
    names_learning: Mapped[bool | None] = mapped_column(Boolean)
    notes: Mapped[str | None] = mapped_column(Text)
    submitted_on: Mapped[date | None] = mapped_column(Date)
    source_file_id: Mapped[int | None] = mapped_column(ForeignKey("source_file.id"))
    reason: Mapped[str | None] = mapped_column(Text)


class AgreementFigure(Base):
    """Agreement between auditors and moderators for one cycle (or all cycles so far), overall or by group,
    kept for the cycle report as computed."""

    __tablename__ = "agreement_figure"
    __table_args__ = (UniqueConstraint("cycle_id", "grouping", "group_value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("audit_cycle.id"), index=True)
    grouping: Mapped[str] = mapped_column(String(32))  # overall, auditor, audit_type; "to date" ones prefixed
    group_value: Mapped[str] = mapped_column(String(200))
    audits: Mapped[int] = mapped_column(Integer)
    exact: Mapped[float] = mapped_column(Float)
    within_one: Mapped[float] = mapped_column(Float)
    kappa: Mapped[float | None] = mapped_column(Float)
    kappa_low: Mapped[float | None] = mapped_column(Float)
    kappa_high: Mapped[float | None] = mapped_column(Float)
    auditor_higher: Mapped[float] = mapped_column(Float)
    auditor_lower: Mapped[float] = mapped_column(Float)
    feedback_constructive: Mapped[float | None] = mapped_column(Float)
    names_strengths_and_learning: Mapped[float | None] = mapped_column(Float)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


ACTION_SOURCE_GIVEN = (
    "(source = 'audit' AND allocation_id IS NOT NULL) OR (source = 'escalation' AND escalation_id IS NOT NULL) "
    "OR (source = 'review' AND service_review_id IS NOT NULL)"
)


class CorrectiveAction(Base):
    """An action in the one register: work a team manager owes after a below-standard audit, an escalation or an
    agreed action (``source`` audit: its allocation), the action an escalation's outcome set (``source``
    escalation: its escalation) or an action of a service performance review's plan (``source`` review: its
    review); each with its owner, due date and status."""

    __tablename__ = "corrective_action"
    __table_args__ = (
        one_of("reason", ACTION_REASONS),
        one_of("status", ACTION_STATUSES),
        one_of("source", ACTION_SOURCES),
        CheckConstraint("status <> 'done' OR closed_at IS NOT NULL", name="done_has_closed_at"),
        CheckConstraint(ACTION_SOURCE_GIVEN, name="source_given"),
        CheckConstraint("measure_area IS NULL OR measure IS NOT NULL", name="measure_area_has_measure"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(16), default="audit", server_default="audit")
    allocation_id: Mapped[int | None] = mapped_column(ForeignKey("allocation.id"), index=True)
    escalation_id: Mapped[int | None] = mapped_column(ForeignKey("escalation.id"))
    service_review_id: Mapped[int | None] = mapped_column(ForeignKey("service_review.id"))
    # The key indicator whose figure the action is to improve (for a service area, "" the whole service's): the
    # quarterly report says whether it has moved since the action opened.
    measure: Mapped[str | None] = mapped_column(String(64))
    measure_area: Mapped[str | None] = mapped_column(String(64))
    return_id: Mapped[int | None] = mapped_column(ForeignKey("audit_return.id"))
    reason: Mapped[str] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text)
    owner_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    due_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")
    evidence: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column()


class Substitute(Base):
    """An auditor recorded as completing an allocation in place of the one it was given to (leave, sickness)."""

    __tablename__ = "substitute"
    __table_args__ = (UniqueConstraint("allocation_id", "staff_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    allocation_id: Mapped[int] = mapped_column(ForeignKey("allocation.id", ondelete="CASCADE"), index=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    reason: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ChaseStep(Base):
    """One rung of the reminder ladder reached for one piece of work and the person it is with.

    Recorded when the day's reminders are queued, so no rung is sent twice; a new assignee (a moved
    allocation) has no rungs yet, so the ladder starts again for them.
    """

    __tablename__ = "chase_step"
    __table_args__ = (
        one_of("item_kind", CHASED_KINDS),
        UniqueConstraint("item_kind", "item_id", "assignee_id", "step_days"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_kind: Mapped[str] = mapped_column(String(32))
    item_id: Mapped[int] = mapped_column(Integer)
    assignee_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    step_days: Mapped[int] = mapped_column(Integer)
    notified: Mapped[str] = mapped_column(String(32))
    sent_on: Mapped[date] = mapped_column(Date)


class EmailOutbox(Base):
    """Every message, written before it is sent under a deterministic key, so nothing is sent twice."""

    __tablename__ = "email_outbox"
    __table_args__ = (one_of("status", OUTBOX_STATUSES),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    recipients: Mapped[list[Any]] = mapped_column(JSON)
    cc: Mapped[list[Any]] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(String(500))
    html: Mapped[str] = mapped_column(Text)
    text_body: Mapped[str] = mapped_column(Text)
    attachments: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(255))
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
    # The sender that has claimed the message to send it, until when: any number of senders share a queue,
    # each sending only what it claimed; a claim left by a sender that died lapses and another takes it.
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None] = mapped_column()
    # Each recipient the server refused: {"address", "staff_ref" (whose address it was, if anyone's), "reply"};
    # once the address is corrected the message goes again to them alone, as the row ``resent_as``.
    refused: Mapped[list[Any] | None] = mapped_column(JSON)
    resent_as: Mapped[int | None] = mapped_column(ForeignKey("email_outbox.id"))
    # The run that sent it (a Prefect flow run, or a `qaloop send` process): a run counts what it sent itself.
    sent_by: Mapped[str | None] = mapped_column(String(100), index=True)


class MailPace(Base):
    """One mail relay's shared pace: the earliest moment (seconds since the epoch) its next message may go.
    Every sender takes its turns from here, so senders at once together keep to the relay's rate."""

    __tablename__ = "mail_pace"

    relay: Mapped[str] = mapped_column(String(255), primary_key=True)
    next_slot: Mapped[float] = mapped_column(Float)


class Complaint(Base):
    __tablename__ = "complaint"
    __table_args__ = (UniqueConstraint("authority_id", "complaint_ref"), one_of("outcome", COMPLAINT_OUTCOMES))

    id: Mapped[int] = mapped_column(primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authority.id"))
    complaint_ref: Mapped[str] = mapped_column(String(64))
    received_on: Mapped[date] = mapped_column(Date)
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    theme: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(32))
    response_days: Mapped[int | None] = mapped_column(Integer)


class OmbudsmanDecision(Base):
    __tablename__ = "ombudsman_decision"
    __table_args__ = (UniqueConstraint("authority_id", "decision_ref"), one_of("outcome", OMBUDSMAN_OUTCOMES))

    id: Mapped[int] = mapped_column(primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authority.id"))
    decision_ref: Mapped[str] = mapped_column(String(64))
    decided_on: Mapped[date] = mapped_column(Date)
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    theme: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(64))


class Compliment(Base):
    __tablename__ = "compliment"
    __table_args__ = (UniqueConstraint("authority_id", "compliment_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authority.id"))
    compliment_ref: Mapped[str] = mapped_column(String(64))
    received_on: Mapped[date] = mapped_column(Date)
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    theme: Mapped[str] = mapped_column(String(200))


class SurveyResponse(Base):
    __tablename__ = "survey_response"
    __table_args__ = (
        UniqueConstraint("authority_id", "response_ref", "question"),
        CheckConstraint("score >= 0", name="score_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authority.id"))
    response_ref: Mapped[str] = mapped_column(String(64))
    survey: Mapped[str] = mapped_column(String(200))
    responded_on: Mapped[date] = mapped_column(Date)
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    question: Mapped[str] = mapped_column(String(64))
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)


class Report(Base):
    """A report produced for a cycle (or a deep dive), kept with where it was written."""

    __tablename__ = "report"
    __table_args__ = (UniqueConstraint("authority_id", "kind", "path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authority.id"))
    cycle_id: Mapped[int | None] = mapped_column(ForeignKey("audit_cycle.id"))
    kind: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(500))
    path: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Provider(Base):
    """A commissioned care service, known by its CQC location id."""

    __tablename__ = "provider"
    __table_args__ = (
        UniqueConstraint("authority_id", "location_id"),
        one_of("service_type", SERVICE_TYPES),
        one_of("commissioned_by", COMMISSIONERS),
        CheckConstraint("size >= 0", name="size_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authority.id"))
    location_id: Mapped[str] = mapped_column(String(64))
    cqc_provider_id: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(300))
    service_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id"))
    commissioned_by: Mapped[str] = mapped_column(String(16))
    lead_organisation: Mapped[str | None] = mapped_column(String(16))
    contract_ref: Mapped[str | None] = mapped_column(String(64))
    contact_email: Mapped[str | None] = mapped_column(String(320))


class CqcRating(Base):
    """A provider's CQC rating in one domain (Overall or a key question) as published on a day: each directory
    read adds the ratings published since, so that a month's proposal can be derived again from what was known."""

    __tablename__ = "cqc_rating"
    __table_args__ = (
        UniqueConstraint("provider_id", "domain", "published_on"),
        one_of("domain", CQC_DOMAINS),
        one_of("rating", CQC_RATING_WORDS),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("provider.id"))
    domain: Mapped[str] = mapped_column(String(16))
    rating: Mapped[str] = mapped_column(String(32))
    published_on: Mapped[date] = mapped_column(Date)


class CqcEnforcement(Base):
    """An enforcement action CQC served on a provider (a warning notice, conditions, a notice to cancel)."""

    __tablename__ = "cqc_enforcement"
    __table_args__ = (UniqueConstraint("authority_id", "action_ref"), one_of("action", CQC_ACTIONS))

    id: Mapped[int] = mapped_column(primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authority.id"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("provider.id"))
    action_ref: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    served_on: Mapped[date] = mapped_column(Date)


class ProviderConcern(Base):
    """A safeguarding or quality concern raised about a provider."""

    __tablename__ = "provider_concern"
    __table_args__ = (UniqueConstraint("authority_id", "concern_ref"), one_of("concern", CONCERN_KINDS))

    id: Mapped[int] = mapped_column(primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authority.id"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("provider.id"))
    concern_ref: Mapped[str] = mapped_column(String(64))
    concern: Mapped[str] = mapped_column(String(16))
    raised_on: Mapped[date] = mapped_column(Date)
    serious: Mapped[bool | None] = mapped_column(Boolean)


class MonitoringReturn(Base):
    """A provider's monthly monitoring return: due for ``month``, received on ``received_on`` (None: not yet)."""

    __tablename__ = "monitoring_return"
    __table_args__ = (UniqueConstraint("provider_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("provider.id"))
    month: Mapped[str] = mapped_column(String(7))
    received_on: Mapped[date | None] = mapped_column(Date)


class ContractNotice(Base):
    """A contract notice served on a provider (default, advisory, placement suspension), and when it was lifted."""

    __tablename__ = "contract_notice"
    __table_args__ = (
        UniqueConstraint("authority_id", "notice_ref"),
        one_of("notice", CONTRACT_NOTICE_KINDS),
        CheckConstraint("ends_on IS NULL OR ends_on >= served_on", name="ends_after_served"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authority.id"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("provider.id"))
    notice_ref: Mapped[str] = mapped_column(String(64))
    notice: Mapped[str] = mapped_column(String(32))
    served_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)


class ImprovementAction(Base):
    """An action of a provider's service improvement plan, with its due date and when it was completed."""

    __tablename__ = "improvement_action"
    __table_args__ = (UniqueConstraint("authority_id", "action_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authority.id"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("provider.id"))
    action_ref: Mapped[str] = mapped_column(String(64))
    due_on: Mapped[date] = mapped_column(Date)
    completed_on: Mapped[date | None] = mapped_column(Date)


class LevelProposal(Base):
    """A provider's proposed threshold level for a month, with every reason and the rule version it came from,
    so that it can be derived again (``qaloop provider explain``)."""

    __tablename__ = "level_proposal"
    __table_args__ = (
        UniqueConstraint("provider_id", "month"),
        CheckConstraint("level IN (1, 2, 3) AND current_level IN (1, 2, 3)", name="levels_allowed"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("provider.id"))
    month: Mapped[str] = mapped_column(String(7))
    level: Mapped[int] = mapped_column(Integer)
    current_level: Mapped[int] = mapped_column(Integer)
    reasons: Mapped[list[Any]] = mapped_column()
    rule_version: Mapped[str] = mapped_column(String(32))
    proposed_at: Mapped[datetime] = mapped_column(default=utcnow)


class LevelDecision(Base):
    """A decision on a provider's threshold level: who decided, when, the level and why; never inferred."""

    __tablename__ = "level_decision"
    __table_args__ = (
        UniqueConstraint("provider_id", "month"),
        CheckConstraint("level IN (1, 2, 3)", name="level_allowed"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("provider.id"))
    month: Mapped[str] = mapped_column(String(7))
    level: Mapped[int] = mapped_column(Integer)
    decided_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    jointly_with: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)


URGENT_CAUSES = ("cqc_enforcement", "concern")


class UrgentReview(Base):
    """A major concern about a provider that brought the quality review panel forward, raised once per cause (a
    CQC enforcement action or a concern, by its reference): the panel emailed and an urgent review run started,
    started again by each provider run until its review has gone to the panel."""

    __tablename__ = "urgent_review"
    __table_args__ = (UniqueConstraint("provider_id", "cause", "cause_ref"), one_of("cause", URGENT_CAUSES))

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("provider.id"))
    cause: Mapped[str] = mapped_column(String(32))
    cause_ref: Mapped[str] = mapped_column(String(64))
    trigger: Mapped[str] = mapped_column(String(64))
    occurred_on: Mapped[date] = mapped_column(Date)
    says: Mapped[str] = mapped_column(Text)
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    reviewed_at: Mapped[datetime | None]  # when the urgent review's pack went to the panel


class MonitoringActivity(Base):
    """A visit, contract monitoring meeting, annual contact or self-assessment of a provider, and its day."""

    __tablename__ = "monitoring_activity"
    __table_args__ = (UniqueConstraint("authority_id", "activity_ref"), one_of("activity", MONITORING_ACTIVITIES))

    id: Mapped[int] = mapped_column(primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authority.id"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("provider.id"))
    activity_ref: Mapped[str] = mapped_column(String(64))
    activity: Mapped[str] = mapped_column(String(32))
    done_on: Mapped[date] = mapped_column(Date)


class ProviderChaseStep(Base):
    """A step of a provider's reminder ladder taken on a day: for a monthly return, an improvement action or a
    monitoring requirement (``item_kind``; ``item_id`` the return's, the action's or the provider's id), due on
    ``due_on``; once per item, due date and step, however many runs reach it."""

    __tablename__ = "provider_chase_step"
    __table_args__ = (UniqueConstraint("item_kind", "item_id", "due_on", "step_days"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("provider.id"))
    item_kind: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[date] = mapped_column(Date)
    step_days: Mapped[int] = mapped_column(Integer)
    notified: Mapped[str] = mapped_column(String(16))
    sent_on: Mapped[date] = mapped_column(Date)


class ProviderFeedback(Base):
    """A complaint or a compliment about a provider, and for a complaint whether it was upheld."""

    __tablename__ = "provider_feedback"
    __table_args__ = (UniqueConstraint("authority_id", "feedback_ref"), one_of("feedback", PROVIDER_FEEDBACK_KINDS))

    id: Mapped[int] = mapped_column(primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authority.id"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("provider.id"))
    feedback_ref: Mapped[str] = mapped_column(String(64))
    feedback: Mapped[str] = mapped_column(String(16))
    received_on: Mapped[date] = mapped_column(Date)
    upheld: Mapped[bool | None] = mapped_column(Boolean)


class IndicatorValue(Base):
    """One month's figure of a key performance indicator, for a service area or ("") the whole service, as the
    council's KPI return gave it: a later return restating the month replaces it."""

    __tablename__ = "indicator_value"
    __table_args__ = (
        UniqueConstraint("authority_id", "indicator", "period", "service_area"),
        one_of("polarity", POLARITIES),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authority.id"))
    indicator: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(7))
    service_area: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    numerator: Mapped[float | None] = mapped_column(Float)
    denominator: Mapped[float | None] = mapped_column(Float)
    target: Mapped[float | None] = mapped_column(Float)
    polarity: Mapped[str | None] = mapped_column(String(16))
    neighbours: Mapped[float | None] = mapped_column(Float)
    england: Mapped[float | None] = mapped_column(Float)


class Escalation(Base):
    """An exception raised at once to the senior leadership team (an escalated audit, a bottom grade, a
    triangulation flag, an overdue action, an indicator's special-cause concern, a provider at level 3): the event
    it is for (``key``, once per authority), what it is about by reference and its evidence, and what became of
    it: raised -> acknowledged -> closed with its outcome."""

    __tablename__ = "escalation"
    __table_args__ = (
        UniqueConstraint("authority_id", "key"),
        one_of("kind", EXCEPTIONS),
        one_of("status", ESCALATION_STATUSES),
        CheckConstraint(
            "status <> 'closed' OR (outcome IS NOT NULL AND closed_at IS NOT NULL)", name="closed_has_outcome"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authority.id"))
    key: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(32))
    about: Mapped[str] = mapped_column(Text)
    evidence: Mapped[list[str]] = mapped_column(JSON)
    occurred_on: Mapped[date] = mapped_column(Date)
    raised_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="raised")
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    acknowledged_at: Mapped[datetime | None] = mapped_column()
    note: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(Text)
    closed_by: Mapped[str | None] = mapped_column(String(200))
    closed_at: Mapped[datetime | None] = mapped_column()


class ServiceReview(Base):
    """A six-monthly service performance review of one service area for one panel: its workbook sent to the head
    of service (``due_on``, working days before the panel), the self-assessment returned, then the panel's record:
    its input and the key summary points for the service's staff (the action plan is in the actions register)."""

    __tablename__ = "service_review"
    __table_args__ = (
        UniqueConstraint("authority_id", "service_area", "panel_on"),
        one_of("status", REVIEW_STATUSES),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authority.id"))
    service_area: Mapped[str] = mapped_column(String(64))
    panel_on: Mapped[date] = mapped_column(Date)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    head_of_service_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    sent_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    workbook: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="sent")
    self_assessed_on: Mapped[date | None] = mapped_column(Date)
    panel_recorded_on: Mapped[date | None] = mapped_column(Date)
    panel_input: Mapped[str | None] = mapped_column(Text)
    summary_points: Mapped[str | None] = mapped_column(Text)


class ServiceReviewJudgement(Base):
    """One judgement area of a review as returned at one stage (the head of service's self-assessment, or as the
    panel agreed it): the judgement (I, RI, G or O) and the comments (the actions are in the register, from the panel's
    record)."""

    __tablename__ = "service_review_judgement"
    __table_args__ = (
        UniqueConstraint("review_id", "stage", "lens", "area"),
        one_of("stage", REVIEW_STAGES),
        one_of("judgement", REVIEW_JUDGEMENTS),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("service_review.id"))
    stage: Mapped[str] = mapped_column(String(16))
    lens: Mapped[str] = mapped_column(String(16))
    area: Mapped[str] = mapped_column(String(200))
    judgement: Mapped[str] = mapped_column(String(2))
    comments: Mapped[str | None] = mapped_column(Text)
    source_file_id: Mapped[int] = mapped_column(ForeignKey("source_file.id"))
