"""The emails a cycle sends once allocated: each auditor their case with the audit tool workbook, each
practitioner a request for their self-reflection (at the same time), each service manager a summary.

Messages are rendered from ``report_templates/email`` (HTML and plain text), name cases by reference and
people by staff id only, and carry deterministic outbox keys: queueing a cycle twice queues nothing new,
and a case moved to another auditor gets a new message for the new auditor.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import aliased

from qaloop.core.outputs import file_in
from qaloop.core.settings import Settings
from qaloop.core.templates import long_date
from qaloop.messaging.compose import compose, outbox_key
from qaloop.messaging.outbox import Message, enqueue
from qaloop.returns.workbooks import AuditSheet, ReflectionSheet, write_audit_workbook, write_reflection_workbook
from qaloop.store import models
from qaloop.store.handles import authority_id, cycle_handle
from qaloop.store.lifecycle import move_allocations, move_cycle
from qaloop.store.queries import allocated_cases

ACTOR = "qaloop notification"


def _allocated(engine: Engine, authority: int, cycle_ref: str) -> list[Any]:
    allocation, case, cycle, area, team = (
        models.Allocation,
        models.CaseRecord,
        models.AuditCycle,
        models.Area,
        models.Team,
    )
    practitioner, auditor, manager = aliased(models.Staff), aliased(models.Staff), aliased(models.Staff)
    with engine.connect() as connection:
        return connection.execute(
            select(
                allocation.id,
                case.case_ref,
                case.audit_type,
                area.name.label("area"),
                team.name.label("team"),
                practitioner.staff_ref.label("practitioner"),
                practitioner.email.label("practitioner_email"),
                auditor.staff_ref.label("auditor"),
                auditor.email.label("auditor_email"),
                manager.staff_ref.label("manager"),
                manager.email.label("manager_email"),
                allocation.audit_due,
                allocation.self_reflection_due,
            )
            .select_from(allocated_cases())
            .join(area, area.id == case.area_id)
            .join(team, team.id == case.team_id)
            .join(practitioner, practitioner.id == allocation.practitioner_id)
            .join(auditor, auditor.id == allocation.auditor_id)
            .outerjoin(manager, manager.id == allocation.service_manager_id)
            .where(cycle.authority_id == authority, cycle.cycle_ref == cycle_ref, allocation.status == "allocated")
            .order_by(case.case_ref)
        ).all()


def cycle_messages(engine: Engine, settings: Settings, cycle_ref: str) -> tuple[list[Message], list[int]]:
    """The messages for every allocation of ``cycle_ref`` not yet notified, and those allocations' ids.

    Writes each auditor's workbook under ``output_dir/cycles/<cycle>/workbooks``.
    """
    rows = _allocated(engine, authority_id(engine, settings), cycle_ref)
    messages: list[Message] = []
    by_manager: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        context = _case_context(settings, cycle_ref, row)
        messages += [_auditor_message(settings, cycle_ref, row, context),
                     _self_reflection_message(settings, cycle_ref, row, context)]  # fmt: skip
        if row.manager:
            by_manager[(row.manager, row.manager_email)].append(
                context | {"practitioner": row.practitioner, "auditor": row.auditor}
            )
    messages += [
        _service_manager_message(settings, cycle_ref, manager, email, cases)
        for (manager, email), cases in sorted(by_manager.items())
    ]
    return messages, [row.id for row in rows]


def _case_context(settings: Settings, cycle_ref: str, row: Any) -> dict[str, Any]:
    return {
        "cycle_ref": cycle_ref,
        "case_ref": row.case_ref,
        "audit_type": settings.audit_type(row.audit_type).label,
        "area": row.area,
        "team": row.team,
        "audit_due": long_date(row.audit_due),
        "self_reflection_due": long_date(row.self_reflection_due),
    }


def _workbooks(settings: Settings, cycle_ref: str) -> Path:
    return settings.output_dir / "cycles" / cycle_ref / "workbooks"


def _auditor_message(settings: Settings, cycle_ref: str, row: Any, context: dict[str, Any]) -> Message:
    """The auditor's case, with the audit tool workbook (its outbox key inside, to match the return)."""
    label = context["audit_type"]
    key = (cycle_ref, "auditor", row.case_ref, row.auditor)
    sheet = AuditSheet(outbox_key(settings, key), row.case_ref, label, cycle_ref, row.auditor, row.audit_due)
    workbook = write_audit_workbook(
        file_in(_workbooks(settings, cycle_ref), f"{row.case_ref} {row.auditor} audit tool", ".xlsx"),
        sheet,
        settings.tool_for(row.audit_type),
        settings.grade_scale,
    )
    return compose(
        settings,
        "auditor",
        key=key,
        to=[row.auditor_email],
        subject=f"Audit allocated: case {row.case_ref} ({label}), due {long_date(row.audit_due)}",
        context=context,
        attachments=[workbook],
    )


def _self_reflection_message(settings: Settings, cycle_ref: str, row: Any, context: dict[str, Any]) -> Message:
    """The practitioner's request for their self-reflection, with its form."""
    form = write_reflection_workbook(
        file_in(_workbooks(settings, cycle_ref), f"{row.case_ref} {row.practitioner} self-reflection", ".xlsx"),
        ReflectionSheet(row.case_ref, context["audit_type"], cycle_ref, row.practitioner, row.self_reflection_due),
    )
    return compose(
        settings,
        "self_reflection",
        key=(cycle_ref, "self_reflection", row.case_ref, row.practitioner),
        to=[row.practitioner_email],
        subject=f"Your self-reflection on case {row.case_ref}, due {long_date(row.self_reflection_due)}",
        context=context,
        attachments=[form],
    )


def _service_manager_message(
    settings: Settings, cycle_ref: str, manager: str, email: str, cases: list[dict[str, Any]]
) -> Message:
    """A service manager's summary of their service's cases allocated this cycle (keyed by the cases and their
    auditors, so a move sends a new summary)."""
    refs = hashlib.sha256(",".join(c["case_ref"] + c["auditor"] for c in cases).encode()).hexdigest()[:16]
    context = {
        "cycle_ref": cycle_ref,
        "rows": cases,
        "audit_due": cases[0]["audit_due"],
        "self_reflection_due": cases[0]["self_reflection_due"],
    }
    return compose(
        settings,
        "service_manager",
        key=(cycle_ref, "service_manager", manager, refs),
        to=[email],
        subject=f"Cycle {cycle_ref}: {len(cases)} case(s) from your service allocated for audit",
        context=context,
    )


def notify_cycle(engine: Engine, settings: Settings, cycle_ref: str) -> int:
    """Queue the messages of every allocation of ``cycle_ref`` not yet notified, and mark them notified.

    Returns how many messages this call queued. Safe to run again, and at the same time as another run: the
    outbox keys stop duplicate messages, and an allocation another run has notified meanwhile is left to it.
    """
    messages, allocation_ids = cycle_messages(engine, settings, cycle_ref)
    with engine.begin() as connection:
        queued = enqueue(connection, messages)
        move_allocations(connection, allocation_ids, "notified", actor=ACTOR, only_from=("allocated",))
        move_cycle(connection, cycle_handle(connection, settings, cycle_ref).cycle_id, "notified")
    return queued
