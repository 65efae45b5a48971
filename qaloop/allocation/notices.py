"""The emails a cycle sends once allocated: each auditor their case with the audit tool workbook, each
practitioner a request for their self-reflection (at the same time), each service manager a summary.

Messages are rendered from ``report_templates/email`` (HTML and plain text), name cases by reference and
people by staff id only, and carry deterministic outbox keys: queueing a cycle twice queues nothing new,
and a case moved to another auditor gets a new message for the new auditor.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import aliased

from qaloop.core.settings import Settings
from qaloop.core.templates import long_date
from qaloop.messaging.compose import compose, outbox_key
from qaloop.messaging.outbox import Message, enqueue
from qaloop.returns.workbooks import AuditSheet, ReflectionSheet, write_audit_workbook, write_reflection_workbook
from qaloop.store import models
from qaloop.store.handles import authority_id
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
    authority = authority_id(engine, settings)
    rows = _allocated(engine, authority, cycle_ref)
    common = {"cycle_ref": cycle_ref}
    workbooks = settings.output_dir / "cycles" / cycle_ref / "workbooks"
    messages: list[Message] = []
    by_manager: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in rows:
        audit_type = settings.audit_type(row.audit_type)
        context = common | {
            "case_ref": row.case_ref,
            "audit_type": audit_type.label,
            "area": row.area,
            "team": row.team,
            "audit_due": long_date(row.audit_due),
            "self_reflection_due": long_date(row.self_reflection_due),
        }
        key = (cycle_ref, "auditor", row.case_ref, row.auditor)
        sheet = AuditSheet(outbox_key(settings, key), row.case_ref, audit_type.label, cycle_ref, row.auditor,
                           row.audit_due)  # fmt: skip
        workbook = write_audit_workbook(
            workbooks / f"{row.case_ref} {row.auditor} audit tool.xlsx",
            sheet,
            settings.tool_for(row.audit_type),
            settings.grade_scale,
        )
        subject = f"Audit allocated: case {row.case_ref} ({audit_type.label}), due {long_date(row.audit_due)}"
        messages.append(
            compose(settings, "auditor", key=key, to=[row.auditor_email], subject=subject, context=context,
                    attachments=[workbook])
        )  # fmt: skip
        form = write_reflection_workbook(
            workbooks / f"{row.case_ref} {row.practitioner} self-reflection.xlsx",
            ReflectionSheet(row.case_ref, audit_type.label, cycle_ref, row.practitioner, row.self_reflection_due),
        )
        messages.append(
            compose(
                settings,
                "self_reflection",
                key=(cycle_ref, "self_reflection", row.case_ref, row.practitioner),
                to=[row.practitioner_email],
                subject=f"Your self-reflection on case {row.case_ref}, due {long_date(row.self_reflection_due)}",
                context=context,
                attachments=[form],
            )
        )
        if row.manager:
            by_manager[(row.manager, row.manager_email)].append(
                context | {"practitioner": row.practitioner, "auditor": row.auditor}
            )
    for (manager, email), cases in sorted(by_manager.items()):
        refs = hashlib.sha256(",".join(c["case_ref"] + c["auditor"] for c in cases).encode()).hexdigest()[:16]
        subject = f"Cycle {cycle_ref}: {len(cases)} case(s) from your service allocated for audit"
        context = common | {
            "rows": cases,
            "audit_due": cases[0]["audit_due"],
            "self_reflection_due": cases[0]["self_reflection_due"],
        }
        messages.append(
            compose(settings, "service_manager", key=(cycle_ref, "service_manager", manager, refs), to=[email],
                    subject=subject, context=context)
        )  # fmt: skip
    return messages, [row.id for row in rows]


def notify_cycle(engine: Engine, settings: Settings, cycle_ref: str) -> int:
    """Queue the messages of every allocation of ``cycle_ref`` not yet notified, and mark them notified.

    Returns how many messages were newly queued. Safe to run again: the outbox keys stop duplicates.
    """
    messages, allocation_ids = cycle_messages(engine, settings, cycle_ref)
    with engine.begin() as connection:
        queued = enqueue(connection, messages)
        move_allocations(connection, allocation_ids, "notified", actor=ACTOR)
        cycle_id = connection.scalar(
            select(models.AuditCycle.id).where(
                models.AuditCycle.authority_id == authority_id(connection, settings),
                models.AuditCycle.cycle_ref == cycle_ref,
            )
        )
        if cycle_id is not None:
            move_cycle(connection, cycle_id, "notified")
    return queued
