"""What follows a filed return: feedback, corrective actions, escalations, and the reflection for the manager.

When an audit is filed its feedback goes to the practitioner, copied to their line manager for a reflective
conversation, with the practitioner's self-reflection beside it when it has arrived. A grade below the
standard opens a corrective action for the case's team manager (the service manager copied in to confirm
it) and tells the workforce-development contact. An escalation reaches the team manager, the service
manager and the QA lead in one message at once, and opens an action to track it. A self-reflection that
arrives after its audit goes to the line manager to sit beside the feedback.
"""

from __future__ import annotations

import calendar as month_calendar
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.orm import aliased

from qaloop.core.roles import Role
from qaloop.core.schema import Dataset
from qaloop.core.settings import Settings
from qaloop.core.templates import long_date
from qaloop.core.working_days import add_working_days
from qaloop.governance.review_panels import filed_messages
from qaloop.messaging.compose import compose
from qaloop.messaging.outbox import Message
from qaloop.moderation.record import through_moderation
from qaloop.store import models
from qaloop.store.lifecycle import complete_action, note_allocation
from qaloop.store.queries import returned_audits

ACTOR = "qaloop follow-up"


def action_due(settings: Settings, audited_on: date) -> date:
    """When a corrective action opened for an audit of ``audited_on`` is due: the configured number of
    working days after it, or else the last day of the month after it (as Coventry asks)."""
    if settings.follow_up.action_due_working_days:
        return add_working_days(audited_on, settings.follow_up.action_due_working_days)
    next_month = (audited_on.replace(day=1) + timedelta(days=32)).replace(day=1)
    return next_month.replace(day=month_calendar.monthrange(next_month.year, next_month.month)[1])


def follow_up(
    connection: Connection, settings: Settings, dataset: Dataset, filed: list[int], today: date
) -> list[Message]:
    """The messages (and actions, in ``connection``'s transaction) that follow the returns just filed."""
    if not filed:
        return []
    if dataset is Dataset.AUDIT_RETURNS:
        return [message for row in _audits(connection, filed) for message in _after_audit(connection, settings, row)]
    if dataset is Dataset.SELF_REFLECTIONS:
        return [_reflection_for_manager(settings, row) for row in _late_reflections(connection, filed)]
    if dataset is Dataset.MODERATION_RETURNS:
        return [_moderation_feedback(settings, row) for row in _moderations(connection, filed)]
    if dataset is Dataset.REVIEW_RETURNS:
        return filed_messages(connection, settings, filed)
    return []


def _audits(connection: Connection, return_ids: list[int]) -> list[Any]:
    audit, allocation, case, cycle, team = (
        models.AuditReturn,
        models.Allocation,
        models.CaseRecord,
        models.AuditCycle,
        models.Team,
    )
    practitioner, manager, service_manager, auditor = (aliased(models.Staff) for _ in range(4))
    reflection = (
        select(models.SelfReflection.reflection)
        .where(models.SelfReflection.allocation_id == allocation.id, models.SelfReflection.status == "filed")
        .limit(1)
        .scalar_subquery()
    )
    return connection.execute(
        select(
            audit.id.label("return_id"),
            audit.grade,
            audit.submitted_on,
            audit.strengths,
            audit.learning_points,
            audit.to_reach_higher_grade,
            audit.escalation,
            audit.escalation_details,
            allocation.id.label("allocation_id"),
            case.case_ref,
            case.audit_type,
            case.team_id,
            team.name.label("team"),
            cycle.cycle_ref,
            practitioner.staff_ref.label("practitioner"),
            practitioner.email.label("practitioner_email"),
            manager.id.label("line_manager_id"),
            manager.email.label("line_manager_email"),
            service_manager.email.label("service_manager_email"),
            auditor.staff_ref.label("auditor"),
            reflection.label("reflection"),
        )
        .select_from(returned_audits())
        .join(team, team.id == case.team_id)
        .join(practitioner, practitioner.id == allocation.practitioner_id)
        .join(auditor, auditor.id == audit.auditor_id)
        .outerjoin(manager, manager.id == practitioner.line_manager_id)
        .outerjoin(service_manager, service_manager.id == allocation.service_manager_id)
        .where(audit.id.in_(return_ids))
        .order_by(case.case_ref)
    ).all()


def _context(settings: Settings, row: Any) -> dict[str, Any]:
    return {
        "cycle_ref": row.cycle_ref,
        "case_ref": row.case_ref,
        "audit_type": settings.audit_type(row.audit_type).label,
        "grade": row.grade,
        "standard": settings.grade_scale.standard,
    }


def _after_audit(connection: Connection, settings: Settings, row: Any) -> list[Message]:
    """Everything a filed audit sets going: its feedback, and where it calls for them, a corrective action, the
    agreed actions' owners told, and an escalation."""
    context = _context(settings, row) | {
        "strengths": row.strengths,
        "learning_points": row.learning_points,
        "to_reach_higher_grade": row.to_reach_higher_grade,
        "reflection": row.reflection,
        "team": row.team,
        "practitioner": row.practitioner,
        "auditor": row.auditor,
    }
    line_manager = [row.line_manager_email] if row.line_manager_email else []
    messages = [
        compose(
            settings,
            "feedback",
            key=(row.cycle_ref, "feedback", row.case_ref),
            to=[row.practitioner_email],
            cc=line_manager,
            subject=f"Audit feedback: case {row.case_ref}, graded {row.grade}",
            context=context,
        )
    ]
    team_manager = _team_manager(connection, row.team_id) or (row.line_manager_id, row.line_manager_email)
    if settings.grade_scale.below_standard(row.grade):
        messages += _below_standard(connection, settings, row, context, team_manager)
    messages += [
        _agreed_action_message(settings, row, context, action) for action in _agreed_actions(connection, row.return_id)
    ]
    if row.escalation:
        messages.append(_escalation(connection, settings, row, context, team_manager))
    return messages


def _service_manager(row: Any) -> list[str]:
    return [row.service_manager_email] if row.service_manager_email else []


def _below_standard(
    connection: Connection, settings: Settings, row: Any, context: dict[str, Any], team_manager: tuple[int, str]
) -> list[Message]:
    """A corrective action opened for the case's team manager, and the workforce development contacts told."""
    due = action_due(settings, row.submitted_on)
    action_id = _open_action(connection, row, "below_standard", team_manager[0], due, row.learning_points)
    action = context | {"action_id": action_id, "due": long_date(due)}
    messages = [
        compose(
            settings,
            "corrective_action",
            key=(row.cycle_ref, "action", action_id, "opened"),
            to=[team_manager[1]],
            cc=_service_manager(row),
            subject=f"Corrective action {action_id}: case {row.case_ref} graded {row.grade}, due {long_date(due)}",
            context=action,
        )
    ]
    if settings.follow_up.workforce_development:
        messages.append(
            compose(
                settings,
                "workforce_development",
                key=(row.cycle_ref, "action", action_id, "workforce-development"),
                to=[str(address) for address in settings.follow_up.workforce_development],
                subject=f"Below-standard audit in team {row.team} (cycle {row.cycle_ref})",
                context=action,
            )
        )
    return messages


def _agreed_action_message(settings: Settings, row: Any, context: dict[str, Any], action: Any) -> Message:
    return compose(
        settings,
        "agreed_action",
        key=(row.cycle_ref, "action", action.id, "agreed"),
        to=[action.owner_email],
        cc=_service_manager(row),
        subject=f"Agreed action {action.id}: case {row.case_ref}, by {long_date(action.due_date)}",
        context=context | {"action_id": action.id, "action": action.description, "due": long_date(action.due_date)},
    )


def _escalation(
    connection: Connection, settings: Settings, row: Any, context: dict[str, Any], team_manager: tuple[int, str]
) -> Message:
    """An escalated concern: an action opened, the team manager, service manager and QA lead told at once, and
    the allocation's history says so."""
    due = add_working_days(row.submitted_on, 5)
    action_id = _open_action(connection, row, "escalation", team_manager[0], due, row.escalation_details)
    note_allocation(
        connection,
        row.allocation_id,
        actor=ACTOR,
        why="escalated concern emailed to the team manager, the service manager and the QA lead",
    )
    return compose(
        settings,
        "escalation",
        key=(row.cycle_ref, "escalation", row.case_ref),
        to=[team_manager[1], *_service_manager(row), settings.qa_lead],
        subject=f"Escalated concern: case {row.case_ref} (cycle {row.cycle_ref})",
        context=context
        | {"details": row.escalation_details or "(no details given)", "action_id": action_id, "due": long_date(due)},
    )


def _agreed_actions(connection: Connection, return_id: int) -> list[Any]:
    """The agreed actions the audit's return opened (Coventry's "agreed actions, by whom, by when")."""
    action, owner = models.CorrectiveAction, models.Staff
    return connection.execute(
        select(action.id, action.description, action.due_date, owner.email.label("owner_email"))
        .join(owner, owner.id == action.owner_id)
        .where(action.return_id == return_id, action.reason == "agreed_action")
        .order_by(action.id)
    ).all()


def _team_manager(connection: Connection, team_id: int) -> tuple[int, str] | None:
    found = connection.execute(
        select(models.Staff.id, models.Staff.email)
        .where(
            models.Staff.team_id == team_id,
            models.Staff.role == Role.TEAM_MANAGER.value,
            models.Staff.active.is_(True),
        )
        .order_by(models.Staff.staff_ref)
        .limit(1)
    ).first()
    return (found.id, found.email) if found else None


def _open_action(connection: Connection, row: Any, reason: str, owner_id: int, due: date, description: Any) -> int:
    return connection.execute(
        models.CorrectiveAction.__table__.insert().values(
            allocation_id=row.allocation_id,
            return_id=row.return_id,
            reason=reason,
            description=description,
            owner_id=owner_id,
            due_date=due,
            status="open",
            opened_at=models.utcnow(),
        )
    ).inserted_primary_key[0]


def _late_reflections(connection: Connection, reflection_ids: list[int]) -> list[Any]:
    """Reflections just filed whose audit was filed before them, with the line manager to send them to."""
    reflection, audit, allocation, case, cycle = (
        models.SelfReflection,
        models.AuditReturn,
        models.Allocation,
        models.CaseRecord,
        models.AuditCycle,
    )
    practitioner, manager = aliased(models.Staff), aliased(models.Staff)
    return connection.execute(
        select(
            reflection.reflection,
            audit.grade,
            case.case_ref,
            case.audit_type,
            cycle.cycle_ref,
            manager.email.label("line_manager_email"),
        )
        .join(allocation, allocation.id == reflection.allocation_id)
        .join(audit, (audit.allocation_id == allocation.id) & (audit.status == "filed"))
        .join(case, case.id == allocation.case_id)
        .join(cycle, cycle.id == allocation.cycle_id)
        .join(practitioner, practitioner.id == reflection.practitioner_id)
        .join(manager, manager.id == practitioner.line_manager_id)
        .where(reflection.id.in_(reflection_ids))
    ).all()


def _reflection_for_manager(settings: Settings, row: Any) -> Message:
    return compose(
        settings,
        "reflection_for_manager",
        key=(row.cycle_ref, "reflection", row.case_ref),
        to=[row.line_manager_email],
        subject=f"Self-reflection received: case {row.case_ref}",
        context=_context(settings, row) | {"reflection": row.reflection},
    )


class ActionError(Exception):
    """A corrective action cannot be closed as asked; the message says why."""


def confirm_action(engine: Engine, action_id: int, staff_ref: str) -> str:
    """Record the service manager's confirmation of an open action and its due date; returns what was done."""
    with engine.begin() as connection:
        status = connection.scalar(
            select(models.CorrectiveAction.status).where(models.CorrectiveAction.id == action_id)
        )
        if status is None:
            raise ActionError(f"there is no corrective action {action_id}")
        confirmer = connection.execute(
            select(models.Staff.id, models.Staff.role).where(models.Staff.staff_ref == staff_ref)
        ).one_or_none()
        if confirmer is None or Role(confirmer.role).seniority < Role.SERVICE_MANAGER.seniority:
            raise ActionError(f"{staff_ref} is not a service manager or above, who confirm corrective actions")
        connection.execute(
            update(models.CorrectiveAction)
            .where(models.CorrectiveAction.id == action_id)
            .values(confirmed_by_id=confirmer.id)
        )
    return f"corrective action {action_id} confirmed by {staff_ref}"


def close_action(engine: Engine, action_id: int, evidence: str, actor: str) -> str:
    """Close an open corrective action with its evidence of completion; returns what was done, in words."""
    if not evidence.strip():
        raise ActionError("closing an action needs the evidence of what was done")
    with engine.begin() as connection:
        status = connection.scalar(
            select(models.CorrectiveAction.status).where(models.CorrectiveAction.id == action_id)
        )
        if status is None:
            raise ActionError(f"there is no corrective action {action_id}")
        if status != "open":
            raise ActionError(f"corrective action {action_id} is already {status}")
        complete_action(connection, action_id, f"{evidence} (closed by {actor})")
    return f"corrective action {action_id} closed"


def _moderations(connection: Connection, moderation_ids: list[int]) -> list[Any]:
    moderation, audit, case, cycle = models.Moderation, models.AuditReturn, models.CaseRecord, models.AuditCycle
    return connection.execute(
        through_moderation(
            select(
                moderation.moderated_grade,
                moderation.criteria_consistent,
                moderation.feedback_constructive,
                moderation.names_strengths,
                moderation.names_learning,
                moderation.notes,
                audit.grade,
                case.case_ref,
                case.audit_type,
                cycle.cycle_ref,
                models.Staff.email.label("auditor_email"),
            )
        )
        .join(models.Staff, models.Staff.id == audit.auditor_id)
        .where(moderation.id.in_(moderation_ids))
    ).all()


def _moderation_feedback(settings: Settings, row: Any) -> Message:
    """The auditor's feedback from moderation: the moderated grade beside theirs, and the moderator's view."""
    return compose(
        settings,
        "moderation_feedback",
        key=(row.cycle_ref, "moderation-feedback", row.case_ref),
        to=[row.auditor_email],
        subject=f"Moderation of your audit of case {row.case_ref}",
        context=_context(settings, row)
        | {
            "moderated_grade": row.moderated_grade,
            "agreed": row.moderated_grade == row.grade,
            "consistent": row.criteria_consistent,
            "constructive": row.feedback_constructive,
            "strengths": row.names_strengths,
            "learning": row.names_learning,
            "notes": row.notes,
        },
    )
