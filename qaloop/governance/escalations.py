"""Escalation by exception (Warwickshire part 4: "risks and issues relating to quality should be escalated by
exception ... and not limited to quarterly reporting"): the configured events found in the store, each raised once
as an escalation to the named senior leadership team with its evidence, chased until it is acknowledged, and
closed with its outcome; the register the quarterly report lists.

The events (``governance.escalations.exceptions``): an audit return that escalated a concern; an audit graded at
the bottom of the scale; a team or area the month's triangulation flags; a corrective action open
``action_overdue_working_days`` past its due date; an indicator whose figure for last month is special-cause
concern; a commissioned provider decided at level 3 from a lower level. Each has a key naming its event (the
case in its cycle, the action, the indicator in its month, ...): the store holds one escalation per key, so a
re-run, or two runs at once, raise and email it once. Events dated before ``look_back_days`` ago are not raised,
so a first run raises no backlog.

An escalation names cases by reference, people by staff id; an auditor's free text is scrubbed of staff names
and email addresses before it is quoted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from qaloop.core.months import last_month
from qaloop.core.settings import Escalations, Settings
from qaloop.core.templates import long_date
from qaloop.core.working_days import add_working_days
from qaloop.governance.compendium import compendium
from qaloop.governance.indicators import GovernanceError, governance_of
from qaloop.messaging import outbox
from qaloop.messaging.compose import compose
from qaloop.messaging.outbox import Message
from qaloop.reporting.scrubber import Scrubber
from qaloop.reporting.triangulation import triangulate
from qaloop.returns.chasing import latest_step_reached
from qaloop.store import lifecycle, models
from qaloop.store.handles import authority_id
from qaloop.store.queries import allocated_cases, returned_audits

KIND_WORDS = {
    "audit_escalation": "an audit escalated a concern",
    "bottom_grade": "an audit graded at the bottom of the scale",
    "triangulation_flag": "several sources point to concern",
    "action_overdue": "a corrective action is overdue",
    "indicator_concern": "an indicator shows special-cause concern",
    "provider_level_3": "a provider moved to level 3",
}
REFERENCE = "ESC-{id}"


class EscalationError(Exception):
    """An escalation cannot be acknowledged or closed as asked; the message says why."""


@dataclass(frozen=True)
class Exceptional:
    """An event to escalate: its key (once per authority), kind, day, what it is about and its evidence."""

    key: str
    kind: str
    occurred_on: date
    about: str
    evidence: tuple[str, ...]


def escalations_of(settings: Settings) -> Escalations:
    """The configured escalation by exception; GovernanceError where there is none."""
    escalations = governance_of(settings).escalations
    if escalations is None:
        raise GovernanceError("escalation by exception is not configured: add governance.escalations")
    return escalations


def active_exceptions(settings: Settings) -> list[str]:
    """The events raised: those configured, or every one the configuration supports (indicators' concerns where
    indicators are defined, providers' levels where provider quality is run)."""
    configured = escalations_of(settings).exceptions
    if configured is not None:
        return list(configured)
    supported = {
        "indicator_concern": bool(governance_of(settings).indicators),
        "provider_level_3": settings.provider_quality is not None,
    }
    return [kind for kind in KIND_WORDS if supported.get(kind, True)]


def found_exceptions(engine: Engine, settings: Settings, today: date) -> list[Exceptional]:
    """Every configured event in the store on ``today`` not older than the look-back."""
    since = today - timedelta(days=escalations_of(settings).look_back_days)
    found: list[Exceptional] = []
    with engine.connect() as connection:
        authority = authority_id(connection, settings)
        for kind in active_exceptions(settings):
            if kind == "indicator_concern":
                found += _indicator_concerns(engine, settings, today)
            else:
                found += _FINDERS[kind](connection, settings, authority, since, today)
    return found


def _scrubber(connection: Connection, authority: int) -> Scrubber:
    staff = connection.execute(
        select(models.Staff.name, models.Staff.email).where(models.Staff.authority_id == authority)
    ).all()
    return Scrubber(names=[row.name for row in staff], references=[row.email for row in staff])


def _returns(connection: Connection, authority: int, since: date, today: date, *where: Any) -> list[Any]:
    audit, cycle, case, team = models.AuditReturn, models.AuditCycle, models.CaseRecord, models.Team
    return connection.execute(
        select(audit.id, audit.submitted_on, audit.grade, audit.escalation_details, cycle.cycle_ref.label("cycle_ref"),
               case.case_ref, case.audit_type, team.name.label("team"))
        .select_from(returned_audits())
        .join(team, team.id == case.team_id)
        .where(cycle.authority_id == authority, audit.status == "filed", audit.submitted_on.between(since, today),
               *where)
        .order_by(audit.submitted_on, case.case_ref)
    ).all()  # fmt: skip


def _audit_escalations(
    connection: Connection, settings: Settings, authority: int, since: date, today: date
) -> list[Exceptional]:
    scrub = _scrubber(connection, authority)
    return [
        Exceptional(
            f"audit_escalation:{row.cycle_ref}/{row.case_ref}", "audit_escalation", row.submitted_on,
            f"case {row.case_ref} (cycle {row.cycle_ref}, team {row.team})",
            (f"The auditor escalated a concern, returning the audit on {long_date(row.submitted_on)} graded "
             f"{row.grade}.", f"Their details: {scrub(row.escalation_details) or '(none given)'}",
             "A corrective action was opened with the team manager, and the team and service managers told."),
        )
        for row in _returns(connection, authority, since, today, models.AuditReturn.escalation.is_(True))
    ]  # fmt: skip


def _bottom_grades(
    connection: Connection, settings: Settings, authority: int, since: date, today: date
) -> list[Exceptional]:
    bottom = settings.grade_scale.labels[0]
    return [
        Exceptional(
            f"bottom_grade:{row.cycle_ref}/{row.case_ref}", "bottom_grade", row.submitted_on,
            f"case {row.case_ref} (cycle {row.cycle_ref}, team {row.team})",
            (f"Graded {bottom}, the bottom of the scale, on {long_date(row.submitted_on)} "
             f"({settings.audit_type(row.audit_type).label}).",
             "A corrective action was opened with the team manager."),
        )
        for row in _returns(connection, authority, since, today, models.AuditReturn.grade == bottom)
    ]  # fmt: skip


def _triangulation_flags(
    connection: Connection, settings: Settings, authority: int, since: date, today: date
) -> list[Exceptional]:
    result = triangulate(connection, settings, today)
    window = result.window
    return [
        Exceptional(
            f"triangulation_flag:{window.start:%Y-%m}/{row.level}/{row.unit}", "triangulation_flag", today,
            f"{row.level} {row.unit} ({window.label})",
            (f"{row.sources} sources signal concern: {row.signals} (flagged at {settings.triangulation.min_sources} "
             "or more).",),
        )
        for row in result.flagged.itertuples()
    ]  # fmt: skip


def _actions_overdue(
    connection: Connection, settings: Settings, authority: int, since: date, today: date
) -> list[Exceptional]:
    late = escalations_of(settings).action_overdue_working_days
    action, cycle, case, team, owner = (models.CorrectiveAction, models.AuditCycle, models.CaseRecord, models.Team,
                                        models.Staff)  # fmt: skip
    rows = connection.execute(
        select(action.id, action.reason, action.due_date, cycle.cycle_ref.label("cycle_ref"), case.case_ref,
               team.name.label("team"), owner.staff_ref.label("owner"))
        .select_from(allocated_cases())
        .join(action, action.allocation_id == models.Allocation.id)
        .join(team, team.id == case.team_id)
        .join(owner, owner.id == action.owner_id)
        .where(cycle.authority_id == authority, action.status == "open")
        .order_by(action.id)
    ).all()  # fmt: skip
    found = []
    for row in rows:
        overdue_on = add_working_days(row.due_date, late)
        if since <= overdue_on <= today:
            found.append(
                Exceptional(
                    f"action_overdue:{row.id}", "action_overdue", overdue_on,
                    f"corrective action {row.id} (case {row.case_ref}, cycle {row.cycle_ref}, team {row.team})",
                    (f"Open {late} working days past its due date, {long_date(row.due_date)}; owner {row.owner}; "
                     f"opened after {row.reason.replace('_', ' ')}.",),
                )
            )  # fmt: skip
    return found


def _indicator_concerns(engine: Engine, settings: Settings, today: date) -> list[Exceptional]:
    month = last_month(today)
    try:
        book = compendium(engine, settings, month)
    except GovernanceError:  # the month's KPI return is not in yet: the compendium flow says so
        return []
    return [
        Exceptional(
            f"indicator_concern:{r.series.indicator}/{r.series.service_area or 'whole'}/{month}", "indicator_concern",
            today, f"indicator {r.series.indicator} {r.series.definition.title} ({r.area}, {month})",
            (f"{r.chart.shown(r.latest.value) if r.latest else 'no figure'} in {month}: {r.chart.says}",
             f"Against target: {r.against_target}; benchmarks: {r.against_benchmarks}; owner "
             f"{r.series.definition.owner}."),
        )
        for r in book.readings
        if r.concern
    ]  # fmt: skip


def _providers_at_level_3(
    connection: Connection, settings: Settings, authority: int, since: date, today: date
) -> list[Exceptional]:
    decision, provider = models.LevelDecision, models.Provider
    rows = connection.execute(
        select(provider.location_id, decision.month, decision.level, decision.reason, decision.decided_by,
               decision.decided_at)
        .join(provider, provider.id == decision.provider_id)
        .where(provider.authority_id == authority)
        .order_by(provider.location_id, decision.month)
    ).all()  # fmt: skip
    found, before = [], {}
    for row in rows:
        earlier = before.get(row.location_id, 1)  # never decided: level 1
        decided_on = row.decided_at.date()
        if row.level == 3 and earlier < 3 and since <= decided_on <= today:
            found.append(
                Exceptional(
                    f"provider_level_3:{row.location_id}/{row.month}", "provider_level_3", decided_on,
                    f"provider {row.location_id} ({row.month})",
                    (f"Decided at level 3 (major concerns) from level {earlier} by {row.decided_by}: {row.reason}",),
                )
            )  # fmt: skip
        before[row.location_id] = row.level
    return found


_FINDERS: dict[str, Callable[[Connection, Settings, int, date, date], list[Exceptional]]] = {
    "audit_escalation": _audit_escalations,
    "bottom_grade": _bottom_grades,
    "triangulation_flag": _triangulation_flags,
    "action_overdue": _actions_overdue,
    "provider_level_3": _providers_at_level_3,
}


def raise_escalations(engine: Engine, settings: Settings, today: date) -> list[int]:
    """Raise each event found that has no escalation yet, and queue its email to the senior leadership team in the
    same transaction: an event is raised, and emailed, once. Returns the ids raised by this call."""
    found = found_exceptions(engine, settings, today)
    escalation = models.Escalation
    insert = postgresql_insert if engine.dialect.name == "postgresql" else sqlite_insert
    raised: list[int] = []
    with engine.begin() as connection:
        authority = authority_id(connection, settings)
        messages = []
        for event in found:
            statement = (
                insert(escalation)
                .values(authority_id=authority, key=event.key, kind=event.kind, about=event.about,
                        evidence=list(event.evidence), occurred_on=event.occurred_on, raised_on=today,
                        status="raised")
                .on_conflict_do_nothing(index_elements=["authority_id", "key"])
                .returning(escalation.id)
            )  # fmt: skip
            new_id = connection.execute(statement).scalar()
            if new_id is not None:
                raised.append(new_id)
                messages.append(_raised_message(settings, new_id, event))
        outbox.enqueue(connection, messages)
    return raised


def _raised_message(settings: Settings, escalation_id: int, event: Exceptional) -> Message:
    reference = REFERENCE.format(id=escalation_id)
    return compose(
        settings, "escalation_raised", key=("escalation", escalation_id),
        to=[str(address) for address in escalations_of(settings).to],
        subject=f"Escalation {reference}: {KIND_WORDS[event.kind]}: {event.about}",
        context={"reference": reference, "what": KIND_WORDS[event.kind], "about": event.about,
                 "evidence": list(event.evidence), "occurred_on": long_date(event.occurred_on), "step": None},
    )  # fmt: skip


def chase_messages(engine: Engine, settings: Settings, today: date) -> list[Message]:
    """The reminders due ``today`` for the escalations not yet acknowledged: the latest step of the ladder each has
    reached, once per step (its outbox key names the step)."""
    escalations = escalations_of(settings)
    escalation = models.Escalation
    with engine.connect() as connection:
        waiting = connection.execute(
            select(escalation).where(
                escalation.authority_id == authority_id(connection, settings), escalation.status == "raised"
            )
        ).all()
    messages = []
    for row in waiting:
        step = latest_step_reached(row.raised_on, escalations.chase, today)
        if step is None:
            continue
        reference = REFERENCE.format(id=row.id)
        messages.append(
            compose(
                settings, "escalation_raised", key=("escalation", row.id, "chase", step.days),
                to=[str(address) for address in escalations.to],
                cc=[settings.qa_lead] if step.notify == "leadership and QA lead" else [],
                subject=f"Not yet acknowledged: escalation {reference}, raised {long_date(row.raised_on)}: {row.about}",
                context={"reference": reference, "what": KIND_WORDS[row.kind], "about": row.about,
                         "evidence": list(row.evidence), "occurred_on": long_date(row.occurred_on),
                         "step": {"days": step.days, "raised_on": long_date(row.raised_on)}},
            )
        )  # fmt: skip
    return messages


def _stored(connection: Connection, settings: Settings, reference: str) -> Any:
    number = reference.upper().removeprefix("ESC-")
    row = (
        connection.execute(
            select(models.Escalation).where(
                models.Escalation.authority_id == authority_id(connection, settings),
                models.Escalation.id == (int(number) if number.isdigit() else -1),
            )
        ).first()
        if number
        else None
    )
    if row is None:
        raise EscalationError(f"no escalation {reference} for {settings.authority.code} (they are numbered ESC-1, ...)")
    return row


def _staff_id(connection: Connection, settings: Settings, by: str) -> str:
    known = connection.scalar(
        select(models.Staff.staff_ref).where(
            models.Staff.authority_id == authority_id(connection, settings), models.Staff.staff_ref == by.strip()
        )
    )
    if known is None:
        raise EscalationError(f"{by!r} is not a staff id in the staff list: name who acts by their staff id")
    return known


def acknowledge(engine: Engine, settings: Settings, reference: str, by: str, note: str | None = None) -> str:
    """Record that the senior leadership team acknowledged an escalation (by a staff id); the chasing stops.
    Returns what was done, in words; EscalationError when it is already acknowledged or closed."""
    with engine.begin() as connection:
        by = _staff_id(connection, settings, by)
        row = _stored(connection, settings, reference)
        if not lifecycle.move_escalation(connection, row.id, "acknowledged", acknowledged_by=by,
                                         acknowledged_at=models.utcnow(), note=note):  # fmt: skip
            raise EscalationError(f"{reference} is already {row.status}" + _who(row))
    return f"{REFERENCE.format(id=row.id)} acknowledged by {by}"


@dataclass(frozen=True)
class FollowUp:
    """The action an escalation's outcome sets: what, whose (a staff id), by when, and the key indicator (for a
    service area, or the whole service's) whose figure it is to improve, where it has one."""

    what: str
    owner: str
    due: date
    measure: str | None = None
    measure_area: str | None = None


def close(
    engine: Engine, settings: Settings, reference: str, by: str, outcome: str, action: FollowUp | None = None
) -> str:
    """Close an escalation with its outcome (what became of it) and, where the outcome sets one, the action it
    puts in the actions register (chased on the corrective actions' ladder); EscalationError when it is already
    closed, the outcome is blank, or the action's owner is not in the staff list."""
    if not outcome.strip():
        raise EscalationError("an escalation is closed with its outcome: say what became of it (--outcome)")
    if action is not None and not action.what.strip():
        raise EscalationError("an action needs saying what it is (--action)")
    with engine.begin() as connection:
        by = _staff_id(connection, settings, by)
        row = _stored(connection, settings, reference)
        if not lifecycle.move_escalation(connection, row.id, "closed", closed_by=by, closed_at=models.utcnow(),
                                         outcome=outcome.strip()):  # fmt: skip
            raise EscalationError(f"{reference} is already closed" + _who(row))
        said = f"{REFERENCE.format(id=row.id)} closed by {by}: {outcome.strip()}"
        if action is not None:
            owner = _staff_id(connection, settings, action.owner)
            staff = models.Staff
            owner_id = connection.scalar(
                select(staff.id).where(
                    staff.authority_id == authority_id(connection, settings), staff.staff_ref == owner
                )
            )
            measure, measure_area = _measure(settings, row, action)
            action_id = connection.execute(
                models.CorrectiveAction.__table__.insert()
                .values(source="escalation", escalation_id=row.id, reason="escalation",
                        description=action.what.strip(), owner_id=owner_id, due_date=action.due, status="open",
                        measure=measure, measure_area=measure_area)
                .returning(models.CorrectiveAction.id)
            ).scalar_one()  # fmt: skip
            said += f"; action {action_id} for {owner} by {long_date(action.due)}"
            if measure:
                said += f", its measure {measure}" + (f" ({measure_area})" if measure_area else "")
    return said


def _measure(settings: Settings, row: Any, action: FollowUp) -> tuple[str | None, str | None]:
    """The indicator (and service area) an escalation's action is to improve: as given, else, for an indicator's
    special-cause concern, that indicator; EscalationError when it is not configured."""
    governance = governance_of(settings)
    measure, area = action.measure, action.measure_area
    if measure is None and row.kind == "indicator_concern":
        measure, named, _month = row.key.split(":", 1)[1].split("/")  # as _indicator_concerns made the key
        area = None if named == "whole" else named
    if measure is None:
        if area is not None:
            raise EscalationError("a measure's service area needs its measure (--measure INDICATOR)")
        return None, None
    if measure not in governance.indicators:
        raise EscalationError(
            f"{measure!r} is not one of the configured indicators ({', '.join(governance.indicators) or 'none'})"
        )
    if area is not None and area not in governance.service_areas:
        raise EscalationError(
            f"{area!r} is not one of the configured service areas ({', '.join(governance.service_areas) or 'none'})"
        )
    return measure, area


def _who(row: Any) -> str:
    if row.status == "closed":
        return f" (by {row.closed_by}: {row.outcome})"
    return f" (by {row.acknowledged_by})" if row.acknowledged_by else ""


def register(engine: Engine, settings: Settings, start: date, end: date) -> pd.DataFrame:
    """The escalations raised from ``start`` to ``end`` (inclusive) and what became of each."""
    escalation = models.Escalation
    with engine.connect() as connection:
        rows = connection.execute(
            select(escalation)
            .where(
                escalation.authority_id == authority_id(connection, settings),
                escalation.raised_on >= start,
                escalation.raised_on <= end,
            )
            .order_by(escalation.id)
        ).all()
    return pd.DataFrame(
        [
            {
                "escalation": REFERENCE.format(id=row.id), "what": KIND_WORDS[row.kind], "about": row.about,
                "raised on": row.raised_on, "status": row.status, "acknowledged by": row.acknowledged_by,
                "outcome": row.outcome,
            }
            for row in rows
        ],
        columns=["escalation", "what", "about", "raised on", "status", "acknowledged by", "outcome"],
    )  # fmt: skip
