"""Chasing deadlines: the reminder and escalation ladder, in working days, one email per person per day.

Each piece of open work (an audit awaited, a self-reflection awaited, a corrective action open) has a due
date and a ladder of steps (``reminders`` in the config): for example 3 working days before the due date
and on it to the person it is with, 2 working days after to the service manager, 5 after to the QA lead.
On a working day, each item whose latest reached step has not yet been taken gets that step; steps
missed (the flow did not run that day) are not sent late, only the latest. A step is recorded per item and
per assignee, so a re-run sends nothing twice and a case moved to another auditor starts their ladder
afresh. Work already returned, and allocations cancelled or replaced, are never chased.

Everything one person is to hear about today goes into one email; the QA team gets one summary of what
is overdue, by area and service manager, and of the emails the mail server did not deliver to everyone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Any, Protocol, TypeVar

import pandas as pd
from sqlalchemy import Connection, Engine, String, and_, cast, exists, literal, null, select
from sqlalchemy.orm import aliased

from qaloop.core.settings import ReminderStep, Settings
from qaloop.core.templates import long_date
from qaloop.core.working_days import add_working_days, is_working_day, working_days_late
from qaloop.messaging.compose import compose
from qaloop.messaging.outbox import Message, enqueue
from qaloop.messaging.undelivered import Undelivered, undelivered
from qaloop.store import models
from qaloop.store.handles import authority_id

KIND_LABELS = {
    "audit": "audit",
    "self_reflection": "self-reflection",
    "corrective_action": "corrective action",
    "moderation": "moderation",
}
_ITEM_COLUMNS = [
    "kind", "item_id", "case_ref", "cycle_ref", "area", "due", "assignee_id", "assignee_ref", "assignee_email",
    "service_manager_ref", "service_manager_email",
]  # fmt: skip


@dataclass(frozen=True)
class ChaseOutcome:
    """What a day's chasing queued, and the overdue work by area and service manager."""

    reminders: int
    emails_queued: int
    overdue: list[dict[str, Any]]
    undelivered: list[Undelivered] = field(default_factory=list)  # emails that did not reach everyone


def open_items(connection: Connection, settings: Settings) -> pd.DataFrame:
    """Every piece of work still owed, one row each: what, which case, when due, who has it, their manager."""
    allocation, case, cycle, area = models.Allocation, models.CaseRecord, models.AuditCycle, models.Area
    assignee, manager = aliased(models.Staff), aliased(models.Staff)
    authority = authority_id(connection, settings)

    def owed(kind: str, item_id: Any, due: Any, who: Any, *conditions: Any, through: tuple = ()) -> Any:
        """Work of ``kind`` with the person (``who``) it is with; ``through``: the item's table and the joins
        that lead from it to its allocation, when the item is not the allocation itself."""
        query = select(
            _literal(kind), item_id.label("item_id"), case.case_ref, cycle.cycle_ref, area.name.label("area"),
            due.label("due"), assignee.id, assignee.staff_ref, assignee.email, manager.staff_ref, manager.email,
        )  # fmt: skip
        if through:
            query = query.select_from(through[0])
            for table, onclause in through[1:]:
                query = query.join(table, onclause)
        return (
            query.join(cycle, cycle.id == allocation.cycle_id)
            .join(case, case.id == allocation.case_id)
            .join(area, area.id == case.area_id)
            .join(assignee, assignee.id == who)
            .outerjoin(manager, manager.id == allocation.service_manager_id)
            .where(cycle.authority_id == authority, due.is_not(None), *conditions)
        )

    reflected = exists().where(
        and_(models.SelfReflection.allocation_id == allocation.id, models.SelfReflection.status == "filed")
    )
    action, moderation = models.CorrectiveAction, models.Moderation
    rows = []
    for query in (
        owed(
            "audit",
            allocation.id,
            allocation.audit_due,
            allocation.auditor_id,
            allocation.status.in_(("allocated", "notified")),
        ),
        owed(
            "self_reflection",
            allocation.id,
            allocation.self_reflection_due,
            allocation.practitioner_id,
            allocation.status.in_(("notified", "submitted", "moderation", "moderated")),
            ~reflected,
        ),
        owed(
            "corrective_action",
            action.id,
            action.due_date,
            action.owner_id,
            action.status == "open",
            through=(action, (allocation, allocation.id == action.allocation_id)),
        ),
        owed(
            "moderation",
            moderation.id,
            moderation.due,
            moderation.moderator_id,
            moderation.status.in_(("allocated", "notified")),
            through=(
                moderation,
                (models.AuditReturn, models.AuditReturn.id == moderation.return_id),
                (allocation, allocation.id == models.AuditReturn.allocation_id),
            ),
        ),
    ):
        rows.extend(connection.execute(query).all())
    for query in _governance_actions(authority):
        rows.extend(connection.execute(query).all())
    return pd.DataFrame([tuple(row) for row in rows], columns=_ITEM_COLUMNS)


# An action an escalation's outcome or a service review's panel set belongs to no case or cycle: it is named by
# its escalation or review, in the governance "area", and has no service manager (its ladder's service manager
# step goes to the QA lead).
GOVERNANCE = "governance"


def _governance_actions(authority: int) -> list[Any]:
    action, escalation, review, owner = (
        models.CorrectiveAction,
        models.Escalation,
        models.ServiceReview,
        aliased(models.Staff),
    )

    def owed(named: Any, source: str, table: Any, link: Any) -> Any:
        return (
            select(
                _literal("corrective_action"), action.id.label("item_id"), named.label("case_ref"),
                literal(GOVERNANCE).label("cycle_ref"), literal(GOVERNANCE).label("area"),
                action.due_date.label("due"), owner.id, owner.staff_ref, owner.email,
                null().label("service_manager_ref"), null().label("service_manager_email"),
            )
            .join(table, table.id == link)
            .join(owner, owner.id == action.owner_id)
            .where(table.authority_id == authority, action.source == source, action.status == "open")
        )  # fmt: skip

    return [
        owed(literal("ESC-") + cast(escalation.id, String), "escalation", escalation, action.escalation_id),
        owed(literal("SPR-") + review.service_area + literal("-") + cast(review.panel_on, String), "review", review,
             action.service_review_id),
    ]  # fmt: skip


def about(case_ref: str, cycle_ref: str) -> str:
    """What a chased item is about, as an email names it: a case in its cycle, an escalation or a service review."""
    if cycle_ref != GOVERNANCE:
        return f"case {case_ref} (cycle {cycle_ref})"
    return f"escalation {case_ref}" if case_ref.startswith("ESC-") else f"service review {case_ref}"


def _literal(kind: str) -> Any:
    return literal(kind).label("kind")


@cache
def _step_day(due: date, days: int) -> date:
    return add_working_days(due, days)


class Step(Protocol):
    """A step of a reminder ladder: its day, in working days from the due date, and who it tells."""

    @property
    def days(self) -> int: ...

    @property
    def notify(self) -> str: ...


StepT = TypeVar("StepT", bound=Step)


def latest_step_reached(due: date, ladder: Sequence[StepT], today: date) -> StepT | None:
    """The latest step of ``ladder`` (in increasing order of days) reached by ``today`` for work due on ``due``;
    None before the first. Steps missed (no run that day) are never taken late: only the latest is."""
    reached = [step for step in ladder if _step_day(due, step.days) <= today]
    return reached[-1] if reached else None


def steps_due(
    items: pd.DataFrame, settings: Settings, today: date, taken: set[tuple[str, int, int, int]]
) -> pd.DataFrame:
    """For each item, the latest step of its ladder reached by ``today`` and not yet taken for its assignee."""
    chosen = []
    for row in items.itertuples(index=False):
        ladder: list[ReminderStep] = getattr(settings.reminders, row.kind)
        step = latest_step_reached(row.due, ladder, today)
        if step is None:
            continue
        if (row.kind, row.item_id, row.assignee_id, step.days) in taken:
            continue
        chosen.append((*row, step.days, step.notify))
    return pd.DataFrame(chosen, columns=[*items.columns, "step_days", "notify"])


def chase(engine: Engine, settings: Settings, today: date) -> ChaseOutcome:
    """Queue today's reminders and escalations and the QA team's overdue summary, and record the steps taken.

    Safe to run again the same day: nothing already taken is taken again, and the outbox keys stop copies.
    On a weekend or bank holiday nobody is chased.
    """
    if not is_working_day(today):
        return ChaseOutcome(reminders=0, emails_queued=0, overdue=[])
    with engine.begin() as connection:
        items = open_items(connection, settings)
        taken = set(
            connection.execute(
                select(
                    models.ChaseStep.item_kind,
                    models.ChaseStep.item_id,
                    models.ChaseStep.assignee_id,
                    models.ChaseStep.step_days,
                )  # fmt: skip
            ).all()
        )
        due = steps_due(items, settings, today, taken)
        overdue = overdue_summary(items, today)
        missing = undelivered(connection)
        messages = reminder_messages(settings, due, today) + summary_messages(settings, overdue, items, today, missing)
        if len(due):
            connection.execute(
                models.ChaseStep.__table__.insert(),
                [
                    {
                        "item_kind": row.kind,
                        "item_id": int(row.item_id),
                        "assignee_id": int(row.assignee_id),
                        "step_days": int(row.step_days),
                        "notified": row.notify,
                        "sent_on": today,
                    }
                    for row in due.itertuples(index=False)
                ],
            )
        queued = enqueue(connection, messages)
    return ChaseOutcome(reminders=len(due), emails_queued=queued, overdue=overdue, undelivered=missing)


def reminder_messages(settings: Settings, due: pd.DataFrame, today: date) -> list[Message]:
    """One email per recipient with everything they are to hear about today."""
    by_recipient: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    late_cache: dict[date, int] = {}
    for row in due.itertuples(index=False):
        late = late_cache.setdefault(row.due, working_days_late(row.due, today))
        entry = {
            "what": KIND_LABELS[row.kind],
            "about": about(row.case_ref, row.cycle_ref),
            "case_ref": row.case_ref,
            "cycle_ref": row.cycle_ref,
            "due": long_date(row.due),
            "late": late,
            "with": row.assignee_ref,
        }
        if row.notify == "assignee":
            by_recipient[(row.assignee_ref, row.assignee_email)]["yours"].append(entry)
        elif row.notify == "service_manager" and row.service_manager_email:
            by_recipient[(row.service_manager_ref, row.service_manager_email)]["service"].append(entry)
        else:  # the QA lead, and escalations with no service manager to go to
            by_recipient[("qa-lead", settings.qa_lead)]["escalated"].append(entry)
    messages = []
    for (who, email), sections in sorted(by_recipient.items()):
        count = sum(len(entries) for entries in sections.values())
        subject = f"Quality assurance: {count} item(s) to chase, {long_date(today)}"
        context = {
            "cycle_ref": "reminders",
            "yours": sorted(sections.get("yours", []), key=_by_due),
            "service": sorted(sections.get("service", []), key=_by_due),
            "escalated": sorted(sections.get("escalated", []), key=_by_due),
        }
        messages.append(
            compose(settings, "reminder", key=("chase", today, who), to=[email], subject=subject, context=context)
        )
    return messages


def _by_due(entry: dict[str, Any]) -> tuple[int, str]:
    return (-entry["late"], entry["case_ref"])


def overdue_summary(items: pd.DataFrame, today: date) -> list[dict[str, Any]]:
    """Overdue work (past its due date) counted by area and service manager and kind."""
    late = items[items["due"] < today]
    if late.empty:
        return []
    table = (
        late.assign(service_manager=late["service_manager_ref"].fillna("(none)"), what=late["kind"].map(KIND_LABELS))
        .pivot_table(index=["area", "service_manager"], columns="what", values="item_id", aggfunc="count", fill_value=0)
        .reset_index()
    )
    table.columns.name = None
    return [
        {key: (int(value) if not isinstance(value, str) else value) for key, value in row.items()}
        for row in table.to_dict("records")
    ]


def summary_messages(
    settings: Settings, overdue: list[dict[str, Any]], items: pd.DataFrame, today: date, missing: list[Undelivered]
) -> list[Message]:
    """The QA team's one daily summary: overdue work, and emails that did not reach everyone they were for
    (none when there is neither)."""
    if not overdue and not missing:
        return []
    columns = [c for c in overdue[0] if c not in ("area", "service_manager")] if overdue else []
    late = int((items["due"] < today).sum()) if len(items) else 0
    subject = f"Overdue quality assurance work, {long_date(today)}: {late} item(s)"
    if missing:
        subject += f"; {len(missing)} email(s) not delivered to everyone"
    return [
        compose(
            settings,
            "overdue_summary",
            key=("overdue", today),
            to=[str(address) for address in settings.email.qa_team],
            subject=subject,
            context={"cycle_ref": "reminders", "rows": overdue, "columns": columns, "undelivered": missing},
        )
    ]
