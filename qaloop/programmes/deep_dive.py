"""Deep dives: themed audits of similar cases, asked for by operations or the governance board, or started
because a cycle's report found a concern (Essex's deep-dive case audits; Coventry's "further deep dive
audit of similar cases").

A deep dive is recorded as a cycle of the ``deep_dive`` programme and then lives the same life as a regular
cycle: allocation, emails, chasing, returns, moderation and its own report. Its sample comes from the same
selection engine, over the cases its filters admit, split across area and audit type in proportion to
their cases; a case the regular programme has audited is admitted only when ``allow_reaudit`` says so,
and the allocation records that it is a re-audit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import select
from sqlalchemy.engine import Engine

from qaloop.core.cycle_dates import CycleDates, cycle_dates
from qaloop.core.settings import SelectionRules, Settings
from qaloop.core.templates import long_date
from qaloop.core.working_days import add_working_days
from qaloop.messaging.compose import compose
from qaloop.messaging.outbox import Message
from qaloop.programmes.cycle_record import (
    Draw,
    SelectionInputs,
    default_seed,
    draw_outcome,
    record_selection,
    save_inputs,
    selection_inputs,
)
from qaloop.programmes.readiness import NotReady, no_history
from qaloop.programmes.selection import Selection, proportional_quotas, select_cases
from qaloop.reporting.figures import CycleFigures
from qaloop.store import models
from qaloop.store.handles import CycleError, authority_id, recorded_cycle

REAUDIT = "re-audit of a case the regular programme audited (allowed by the deep dive's request)"


class DeepDiveRequest(BaseModel):
    """What a deep dive looks at: the form the Prefect UI draws for the deep-dive deployment."""

    theme: str = Field(min_length=3, max_length=120, description="what the deep dive is about, e.g. best interests")
    reason: str = Field(
        default="asked for by the governance board", description="who asked for it and why, as the QA team is told"
    )
    audit_types: list[str] = Field(
        default_factory=list,
        description="audit types to include, by label or id, e.g. Care Act assessment (empty: all)",
    )
    areas: list[str] = Field(default_factory=list, description="areas to include, by name or code (empty: all)")
    teams: list[str] = Field(default_factory=list, description="team names to include (empty: all)")
    activity_from: date | None = Field(default=None, description="cases with recorded activity on or after this day")
    activity_to: date | None = Field(default=None, description="... and on or before this day")
    question: str | None = Field(default=None, description="the audit-tool question that showed the concern, e.g. V1")
    sample_size: int = Field(default=20, ge=1, le=1000, description="how many cases to audit")
    due_date: date | None = Field(default=None, description="when the audits are due (default: as a regular cycle)")
    allow_reaudit: bool = Field(
        default=False, description="admit cases the regular programme has audited (each is recorded as a re-audit)"
    )
    concern: str | None = Field(default=None, description="set when a cycle report's concern started it")

    @model_validator(mode="after")
    def _window_in_order(self) -> DeepDiveRequest:
        if self.activity_from and self.activity_to and self.activity_to < self.activity_from:
            raise ValueError(f"activity_to {self.activity_to} is before activity_from {self.activity_from}")
        return self

    def resolved(self, settings: Settings) -> DeepDiveRequest:
        """The request with its audit types and areas given as the QA team knows them (a label such as "Care Act
        assessment", an area's name, in any case) put as the configuration's ids and codes, then checked (see
        ``check_against``)."""
        update: dict[str, list[str]] = {}
        for field, words in _vocabulary(settings).items():
            by_word = {word.casefold(): known for word, known in words.items()}
            update[field] = [by_word.get(given.strip().casefold(), given) for given in getattr(self, field)]
        found = self.model_copy(update=update)
        found.check_against(settings)
        return found

    @staticmethod
    def choices(settings: Settings) -> dict[str, list[str]]:
        """What the deep-dive form offers for each list the configuration knows, as ``resolved`` accepts it: every
        audit type by its label, then by its id; every area by its name, then by its code."""
        return {field: list(words) for field, words in _vocabulary(settings).items()}

    def check_against(self, settings: Settings) -> None:
        """CycleError naming any audit type, area or question the configuration does not know."""
        types = {audit_type.id: audit_type.label for audit_type in settings.audit_types}
        areas = {area.code: area.name for area in settings.authority.areas}
        known_types = ", ".join(f"{label} ({type_id})" for type_id, label in types.items())
        known_areas = ", ".join(f"{name} ({code})" for code, name in areas.items())
        problems = [f"audit type {t!r} is not one of: {known_types}" for t in self.audit_types if t not in types]
        problems += [f"area {a!r} is not one of: {known_areas}" for a in self.areas if a not in areas]
        tools = {settings.audit_type(t).tool for t in (self.audit_types or types) if t in types}
        questions = {q.id for tool in tools for q in settings.audit_tools[tool].questions}
        if self.question and self.question not in questions:
            problems.append(f"question {self.question!r} is not in the audit tool(s): {sorted(questions)}")
        if problems:
            raise CycleError("the deep dive cannot start: " + "; ".join(problems))


def _vocabulary(settings: Settings) -> dict[str, dict[str, str]]:
    """For each list field of the request the configuration knows, every word the QA team may give (labels and
    names first, then ids and codes) mapped to the id or code it stands for."""
    types = [(t.label, t.id) for t in settings.audit_types] + [(t.id, t.id) for t in settings.audit_types]
    areas = [(a.name, a.code) for a in settings.authority.areas] + [(a.code, a.code) for a in settings.authority.areas]
    return {"audit_types": dict(types), "areas": dict(areas)}


def deep_dive_ref(request: DeepDiveRequest, today: date) -> str:
    """The deep dive's reference: DD, the day and the theme, e.g. DD-20270301-best-interests."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.theme.casefold()).strip("-")[:40].rstrip("-")
    return f"DD-{today:%Y%m%d}-{slug}"


def deep_dive_dates(settings: Settings, request: DeepDiveRequest, today: date) -> CycleDates:
    """A deep dive's dates: selected today, then as a regular cycle's stages, or due on ``request.due_date``."""
    dates = cycle_dates(settings.calendar, today, ref=deep_dive_ref(request, today))
    if request.due_date is None:
        return dates
    calendar = settings.calendar
    audit_due = max(request.due_date, dates.allocation_date)
    moderation_due = add_working_days(audit_due, calendar.moderation_days)
    return CycleDates(
        cycle_ref=dates.cycle_ref,
        selection_date=dates.selection_date,
        allocation_date=dates.allocation_date,
        self_reflection_due=min(dates.self_reflection_due, audit_due),
        audit_due=audit_due,
        moderation_due=moderation_due,
        close_date=add_working_days(moderation_due, calendar.close_days),
    )


def admitted(cases: pd.DataFrame, request: DeepDiveRequest) -> pd.DataFrame:
    """The cases the request's filters admit (audit types, areas, teams, the window of activity)."""
    keep = pd.Series(True, index=cases.index)
    for column, wanted in (("audit_type", request.audit_types), ("area", request.areas), ("team", request.teams)):
        if wanted:
            keep &= cases[column].isin(wanted)
    activity = pd.to_datetime(cases["last_activity_date"])
    if request.activity_from:
        keep &= activity >= pd.Timestamp(request.activity_from)
    if request.activity_to:
        keep &= activity <= pd.Timestamp(request.activity_to)
    return cases[keep]


@dataclass(frozen=True)
class DeepDiveDraw:
    """A deep dive drawn (or found already drawn): its reference and dates, and how many cases."""

    cycle_ref: str
    dates: CycleDates
    drawn: Draw
    admitted: int
    selected: int
    reaudits: int


def draw_deep_dive(engine: Engine, settings: Settings, request: DeepDiveRequest, today: date) -> DeepDiveDraw:
    """Draw and record the deep dive's sample (a deep dive already recorded under its reference is kept)."""
    request.check_against(settings)
    dates = deep_dive_dates(settings, request, today)
    if recorded_cycle(engine, settings, dates.cycle_ref) is not None:
        return DeepDiveDraw(dates.cycle_ref, dates, draw_outcome(engine, settings, dates.cycle_ref, None), 0, 0, 0)
    inputs = selection_inputs(engine, settings, today)
    cases = admitted(inputs.cases, request)
    audited = frozenset() if request.allow_reaudit else inputs.audited
    population = cases[~cases["case_ref"].isin(audited)]
    if gaps := _not_ready(settings, request, inputs, cases, population, today):
        raise NotReady(dates.cycle_ref, gaps, what="Deep dive")
    quotas = proportional_quotas(population, request.sample_size)
    # The filters are the deep dive's window and no worker-repeat rule applies: nobody is blocked.
    rules = settings.selection.model_copy(update={"look_back_months": 1200})
    seed = default_seed(settings, dates.cycle_ref)
    selection = select_cases(cases, quotas, rules, today, seed, audited=audited)
    reaudits = {ref: REAUDIT for ref in selection.drawn["case_ref"] if ref in inputs.audited}
    reaudits |= {ref: REAUDIT for ref in selection.reserves["case_ref"] if ref in inputs.audited}
    path, digest = save_inputs(inputs, settings.output_dir / "cycles" / dates.cycle_ref)
    record_selection(
        engine, settings, dates, selection, quotas, path, digest, programme="deep_dive",
        extra={"request": request.model_dump(mode="json"), "concern": request.concern}, reasons=reaudits, rules=rules,
    )  # fmt: skip
    reaudited = sum(ref in inputs.audited for ref in selection.drawn["case_ref"])
    return DeepDiveDraw(
        dates.cycle_ref, dates, draw_outcome(engine, settings, dates.cycle_ref, selection), len(cases),
        len(selection.drawn), reaudited,
    )  # fmt: skip


def _not_ready(
    settings: Settings,
    request: DeepDiveRequest,
    inputs: SelectionInputs,
    cases: pd.DataFrame,
    population: pd.DataFrame,
    today: date,
) -> list[str]:
    """What stops the deep dive's draw: no audit history to keep audited cases out (unless re-audits are
    allowed), a team asked for that no case is in (a misspelt name would otherwise narrow the draw unseen), no
    case at all, none the filters admit, or every one admitted audited already."""
    gaps = [] if request.allow_reaudit else no_history(settings, inputs.audited_cycles, today)
    with_cases = set(inputs.cases["team"])
    unknown = [team for team in request.teams if team not in with_cases]
    if not len(inputs.cases):
        gaps.append("the store holds no case: load the case extract (`qaloop load cases`)")
    elif unknown:
        gaps.append(
            f"no case in the store is in team(s) {', '.join(map(repr, unknown))}: the teams with cases are "
            f"{', '.join(sorted(with_cases))}"
        )
    elif not len(cases):
        filters = {
            "audit types": request.audit_types, "areas": request.areas, "teams": request.teams,
            "activity from": request.activity_from, "activity to": request.activity_to,
        }  # fmt: skip
        said = "; ".join(f"{name} {value}" for name, value in filters.items() if value) or "none"
        gaps.append(f"no case in the store matches the deep dive's filters ({said}): widen them")
    elif not len(population):
        gaps.append(
            f"every one of the {len(cases)} case(s) the filters admit has been audited already: allow re-audits "
            "(allow_reaudit) to audit them again, or widen the filters"
        )
    return gaps


def rederive_deep_dive(inputs: SelectionInputs, parameters: dict[str, Any], on: date, seed: int) -> Selection:
    """A deep dive's sample drawn again from its recorded inputs, request, quotas, rules and seed, with every
    admitted case's outcome and reason (for `qaloop cycle explain`)."""
    request = DeepDiveRequest.model_validate(parameters["request"])
    audited = frozenset() if request.allow_reaudit else inputs.audited
    rules = SelectionRules.model_validate(parameters["rules"])
    return select_cases(
        admitted(inputs.cases, request), parameters["quotas"], rules, on, seed, audited=audited, explain=True
    )


def looked_into(
    engine: Engine, settings: Settings, concern: str, today: date, but_not: str | None = None
) -> str | None:
    """The deep dive that looks or looked into ``concern``: one still open, or one selected within
    ``deep_dives.concern_window_days`` before ``today`` (``but_not``: a deep dive that is not to count, the one
    being started). The store remembers, so a concern acted on never starts a second deep dive in the window,
    whatever becomes of the Prefect server's automation."""
    cycle = models.AuditCycle
    since = today - timedelta(days=settings.deep_dives.concern_window_days)
    with engine.connect() as connection:
        rows = connection.execute(
            select(cycle.cycle_ref, cycle.parameters, cycle.status, cycle.selection_date)
            .where(cycle.authority_id == authority_id(connection, settings), cycle.programme == "deep_dive")
            .order_by(cycle.selection_date.desc())
        ).all()
    for ref, parameters, status, selected_on in rows:
        if ref == but_not or ((parameters or {}).get("request") or {}).get("concern") != concern:
            continue
        if status != "closed" or selected_on >= since:
            return f"{ref} (selected {long_date(selected_on)})"
    return None


@dataclass(frozen=True)
class Concern:
    """Something a cycle's figures show below the line: a stratum (area and audit type) or an audit-tool
    question; ``key`` names it across cycles, ``request`` is the deep dive of similar cases it asks for."""

    key: str
    kind: str
    says: str
    share: float
    n: int
    request: DeepDiveRequest


def concerns(figures: CycleFigures, settings: Settings) -> list[Concern]:
    """The strata whose share good or better, and the questions whose share answered yes, fall below
    ``deep_dives.concern_below`` over at least ``deep_dives.concern_min_audits`` audits. Only a regular cycle
    raises concerns: a deep dive's findings are already the answer to one."""
    if not figures.regular:
        return []
    rules = settings.deep_dives
    code = {area.name: area.code for area in settings.authority.areas}
    authority = settings.authority.code
    found = []
    findings = figures.findings
    if len(findings):
        strata = findings.groupby(["area", "audit_type"])["good"].agg(["sum", "size"]).reset_index()
        for row in strata.itertuples():
            share = row.sum / row.size
            if row.size < rules.concern_min_audits or share >= rules.concern_below:
                continue
            label = settings.audit_type(row.audit_type).label
            says = (
                f"cycle {figures.cycle_ref}: {row.sum} of {row.size} {label} audits in {row.area} good or better "
                f"({share:.0%}, under {rules.concern_below:.0%})"
            )
            key = f"{authority}.stratum.{code[row.area]}.{row.audit_type}"
            request = DeepDiveRequest(
                theme=f"{label} in {row.area}", reason=says, audit_types=[row.audit_type],
                areas=[code[row.area]], sample_size=rules.sample_size, concern=key,
            )  # fmt: skip
            found.append(Concern(key, "stratum", says, share, int(row.size), request))
    for row in figures.questions.itertuples():
        if row.answered < rules.concern_min_audits or not row.yes_share < rules.concern_below:
            continue
        types = [t.id for t in settings.audit_types if t.tool == row.tool]
        says = (
            f"cycle {figures.cycle_ref}: question {row.question_id} of the {row.tool.replace('_', ' ')} tool answered "
            f"yes in {row.yes} of {row.answered} audits ({row.yes_share:.0%}, under {rules.concern_below:.0%}): "
            f"{row.question}"
        )
        key = f"{authority}.question.{row.tool}.{row.question_id}"
        request = DeepDiveRequest(
            theme=f"{row.tool.replace('_', ' ')} {row.question_id}", reason=says, audit_types=types,
            question=row.question_id, sample_size=rules.sample_size, concern=key,
        )  # fmt: skip
        found.append(Concern(key, "question", says, float(row.yes_share), int(row.answered), request))
    return found


def started_message(settings: Settings, request: DeepDiveRequest, drawn: DeepDiveDraw) -> Message:
    """The QA team's note that the deep dive has started: its theme, why, what was drawn, when audits are due."""
    return compose(
        settings,
        "deep_dive_started",
        key=(drawn.cycle_ref, "deep_dive_started"),
        to=[str(address) for address in settings.email.qa_team],
        subject=f"Deep dive {drawn.cycle_ref} started: {request.theme}",
        context={
            "cycle_ref": drawn.cycle_ref,
            "request": request,
            "drawn": drawn,
            "audit_due": long_date(drawn.dates.audit_due),
        },
    )
