"""The demo's simulated returns: how auditors and practitioners of the demo county answer a notified cycle.

Most return on time, some late, a few never; grades and answers follow the county's practice (``practice``:
each team's standing, the drifting team, the area that stepped up), one auditor escalates a
concern, one workbook comes back with a grade off the scale, one unreadable export is dropped in the inbox,
and one auditor sends a second, different return for a case already filed. ``returns_on`` writes the
files that arrive on a given day into the drop folder, as a mailbox rule would.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from qaloop.core.cycle_dates import CycleDates
from qaloop.core.settings import Settings
from qaloop.core.working_days import add_working_days
from qaloop.demo.practice import answers, practice
from qaloop.returns.workbooks import (
    auditors_grade,
    complete_audit_workbook,
    complete_moderation_workbook,
    complete_reflection_workbook,
)
from qaloop.store import models
from qaloop.store.handles import cycle_handle

ON_TIME, LATE = "on time", "late"
_WHEN = (ON_TIME, LATE, None)


@dataclass(frozen=True)
class Plan:
    """When each case's audit and reflection come back (None: never), and the audit's grade."""

    case_ref: str
    audit_tool: Path
    reflection_form: Path
    audit: str | None
    reflection: str | None
    grade: str
    escalation: str | None = None
    answers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CycleCases:
    """The cases of a cycle with their area and team (by name), and how many regular cycles came before it."""

    teams: Mapping[str, tuple[str, str]]
    earlier_cycles: int


def cycle_cases(engine: Engine, settings: Settings, cycle_ref: str) -> CycleCases:
    """``cycle_ref``'s allocated cases with their area and team, from the store."""
    handle = cycle_handle(engine, settings, cycle_ref)
    case, cycle = models.CaseRecord, models.AuditCycle
    with engine.connect() as connection:
        rows = connection.execute(
            select(case.case_ref, models.Area.name, models.Team.name)
            .join(models.Allocation, models.Allocation.case_id == case.id)
            .join(models.Team, models.Team.id == case.team_id)
            .join(models.Area, models.Area.id == case.area_id)
            .where(models.Allocation.cycle_id == handle.cycle_id)
        ).all()
        selected_on = select(cycle.selection_date).where(cycle.id == handle.cycle_id).scalar_subquery()
        earlier = connection.scalar(
            select(func.count())
            .select_from(cycle)
            .where(
                cycle.authority_id == handle.authority_id,
                cycle.programme == "regular",
                cycle.selection_date < selected_on,
            )
        )
    return CycleCases({ref: (area, team) for ref, area, team in rows}, int(earlier or 0))


def plan_returns(settings: Settings, cycle_ref: str, cases: CycleCases, seed: int = 7) -> list[Plan]:
    """A realistic pattern for the cycle's sent workbooks, the same for the same seed: each audit graded by
    the county's practice for its team in this cycle (``cases``), its questions answered to match."""
    rng = np.random.default_rng(seed)
    folder = settings.output_dir / "cycles" / cycle_ref / "workbooks"
    scale = settings.grade_scale.labels
    county = practice(settings, cases.teams.values(), latest=cases.earlier_cycles)
    options = next(iter(settings.audit_tools.values())).answers
    questions = sorted({question.id for tool in settings.audit_tools.values() for question in tool.questions})
    plans = []
    escalated = False
    for tool in sorted(folder.glob("* audit tool.xlsx")):
        case_ref = tool.name.split(" ")[0]
        form = next(folder.glob(f"{case_ref} * self-reflection.xlsx"))
        area, team = cases.teams.get(case_ref, ("", ""))
        rank = county.grade(rng, area, team, cases.earlier_cycles)
        grade = scale[rank]
        escalation = None
        if settings.grade_scale.below_standard(grade) and not escalated:
            escalation = "No safeguarding plan on file after the concern was raised; discussed with the team manager."
            escalated = True
        plans.append(
            Plan(
                case_ref=case_ref,
                audit_tool=tool,
                reflection_form=form,
                audit=_WHEN[rng.choice(3, p=[0.75, 0.15, 0.10])],
                reflection=_WHEN[rng.choice(3, p=[0.80, 0.10, 0.10])],
                grade=grade,
                escalation=escalation,
                answers={} if grade in options else answers(rng, rank, questions, options),
            )
        )
    return plans


def returns_on(settings: Settings, plans: list[Plan], dates: CycleDates, day: date) -> list[Path]:
    """Drop into the inbox every file the plan says arrives on ``day``; returns their paths.

    On-time reflections arrive the working day before they are due, on-time audits on their due date, and
    everything late three working days after the audits were due, with the odd files of a real inbox.
    """
    inbox = settings.returns.inbox
    dropped: list[Path] = []
    late_day = add_working_days(dates.audit_due, 3)
    for plan in plans:
        if plan.reflection and day == (
            add_working_days(dates.self_reflection_due, -1) if plan.reflection == ON_TIME else late_day
        ):
            dropped.append(
                complete_reflection_workbook(
                    plan.reflection_form,
                    inbox / f"{plan.case_ref} self-reflection.xlsx",
                    completed_on=day,
                    reflection="I kept the person's views at the centre; I would record my reasoning sooner.",
                )
            )
        if plan.audit and day == (dates.audit_due if plan.audit == ON_TIME else late_day):
            dropped.append(
                complete_audit_workbook(
                    plan.audit_tool,
                    inbox / f"{plan.case_ref} audit.xlsx",
                    grade=plan.grade,
                    completed_on=day,
                    escalation=plan.escalation,
                    answer=_answer_for(settings, plan.grade),
                    answers=plan.answers,
                )
            )
    if day == dates.audit_due:
        on_time = [plan for plan in plans if plan.audit == ON_TIME]
        dropped.append(
            complete_audit_workbook(
                on_time[0].audit_tool, inbox / "audit (edited).xlsx", grade="Excellent", completed_on=day
            )
        )
        (inbox / "export from the forms system.csv").write_text("Submitted,Form\n12/01/2027,Audit v2\n")
    if day == late_day:
        first = next(plan for plan in plans if plan.audit == ON_TIME and plan.grade != settings.grade_scale.labels[-1])
        dropped.append(
            complete_audit_workbook(
                first.audit_tool,
                inbox / f"{first.case_ref} audit (corrected).xlsx",
                grade=settings.grade_scale.labels[-1],
                completed_on=day,
                answer=_answer_for(settings, settings.grade_scale.labels[-1]),
            )
        )
    return dropped


def _answer_for(settings: Settings, grade: str) -> str:
    """How a simulated auditor answers the questions the plan does not answer one by one: with the grade where
    the tool judges on the grade's own scale (Coventry's "meets good"), else the tool's first answer ("Yes")."""
    options = next(iter(settings.audit_tools.values())).answers
    return grade if grade in options else options[0]


def moderations_on(settings: Settings, cycle_ref: str, day: date, seed: int = 11) -> list[Path]:
    """Drop into the inbox every practice lead's moderation form, filled in on ``day``: most agree with the
    auditor's grade, some judge it one grade apart."""
    rng = np.random.default_rng(seed)
    labels = settings.grade_scale.labels
    dropped = []
    for form in sorted((settings.output_dir / "cycles" / cycle_ref / "moderation").glob("* moderation.xlsx")):
        grade = auditors_grade(form)
        index = labels.index(grade)
        shift = int(rng.choice([0, -1, 1], p=[0.75, 0.15, 0.10]))
        moderated = labels[min(max(index + shift, 0), len(labels) - 1)]
        dropped.append(
            complete_moderation_workbook(
                form,
                settings.returns.inbox / form.name,
                grade=moderated,
                completed_on=day,
                constructive=bool(rng.random() < 0.9),
            )
        )
    return dropped
