"""The quarterly leadership QA report (Warwickshire 4.2-4.3: "quarterly performance reports should identify key
messages on quality"): the quarter's headlines on quality by business unit (area) and by quality standard from the
four sources of evidence (case records: the audits; people's experience: surveys and compliments; staff
experience; complaints and other organisational data: complaints, Ombudsman decisions, the key indicators), what is
strong and what must improve, the escalations raised in the quarter and what became of them, the corrective
actions and whether they were done on time, and the quarter's share of audits good or better against the earlier
quarters on a p-chart, so that a change is called a change only where it is special cause.

Quarters are the financial year's (April to June is Q1). The report for a quarter goes from ``quarterly_day`` of
the month after it, on a working day, until it has gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, exists, func, select

from qaloop.core.months import months_back
from qaloop.core.settings import Settings, not_applicable
from qaloop.core.working_days import is_working_day
from qaloop.governance.compendium import read_series
from qaloop.governance.escalations import register
from qaloop.governance.indicators import governance_of, stored_series
from qaloop.governance.register import (
    BETTER,
    SAME,
    WORSE,
    Action,
    actions_register,
    listed_for,
    measures_moved,
    register_frame,
)
from qaloop.messaging.compose import outbox_key
from qaloop.reporting.spc import ChartRules, PChart, p_chart
from qaloop.store import models
from qaloop.store.handles import authority_id
from qaloop.store.queries import returned_audits

QUARTERLY = "quarterly"
STAFF_EXPERIENCE = "No staff feedback source is configured: staff experience is not reported from qaloop's data."


@dataclass(frozen=True)
class Quarter:
    """A financial quarter: its label (2026-27 Q3), first and last days."""

    label: str
    start: date
    end: date


def quarter_of(day: date) -> Quarter:
    """The financial quarter ``day`` falls in."""
    year = day.year if day.month >= 4 else day.year - 1
    number = (day.month - 4) % 12 // 3 + 1
    first_month = 4 + (number - 1) * 3
    start = date(year + (first_month - 1) // 12, (first_month - 1) % 12 + 1, 1)
    following = date(start.year + (start.month + 2) // 12, (start.month + 2) % 12 + 1, 1)
    return Quarter(f"{year}-{(year + 1) % 100:02d} Q{number}", start, following - timedelta(days=1))


def quarters_back(quarter: Quarter, count: int) -> list[Quarter]:
    """The ``count`` quarters up to and including ``quarter``, oldest first."""
    found = [quarter]
    while len(found) < count:
        found.insert(0, quarter_of(found[0].start - timedelta(days=1)))
    return found


def quarterly_sent(engine: Engine, settings: Settings, quarter: Quarter) -> bool:
    """Whether the quarter's report is queued or sent (its email is in the outbox)."""
    key = outbox_key(settings, (QUARTERLY, quarter.label))
    with engine.connect() as connection:
        return bool(connection.scalar(select(exists().where(models.EmailOutbox.key == key))))


def quarterly_due(engine: Engine, settings: Settings, today: date) -> Quarter | None:
    """The quarter whose report goes ``today``: the one just ended, on a working day of the month after it from
    ``quarterly_day`` until it has gone; None on other days."""
    governance = governance_of(settings)
    ended = quarter_of(today.replace(day=1) - timedelta(days=1))
    if today.month != (ended.end.month % 12) + 1 or today.day < governance.quarterly_day or not is_working_day(today):
        return None
    return None if quarterly_sent(engine, settings, ended) else ended


@dataclass(frozen=True)
class StandardHeadline:
    """One quality standard's quarter from each source of its evidence (None where it names none of that source)."""

    standard: str
    title: str
    met: int | None  # audit answers meeting the standard, of ``answered``
    answered: int | None
    satisfied: int | None  # survey answers satisfied, of ``responses``
    responses: int | None
    complaints: int | None  # complaints on its themes, of which ``upheld``
    upheld: int | None
    indicators: tuple[str, ...]  # each of its indicators' reading for the quarter's last month
    chart: PChart | None  # its audit answers meeting it, quarter by quarter

    @property
    def share_met(self) -> float | None:
        return self.met / self.answered if self.answered else None


@dataclass(frozen=True)
class QuarterlyReport:
    """A quarter's report, every figure from the store."""

    authority: str
    quarter: Quarter
    audits: int
    good: int
    below_standard: int
    by_unit: pd.DataFrame  # area, audits, good, share_good, below_standard
    chart: PChart  # the share good or better over the quarters compared
    standards: list[StandardHeadline]
    survey_responses: int
    survey_satisfied: int
    compliments: int
    complaints: int
    complaints_upheld: int
    ombudsman: int
    short_questions: pd.DataFrame  # the questions most often short of the standard: question, short, answered
    outstanding: int
    escalations: pd.DataFrame
    actions: dict[str, int]
    register: pd.DataFrame  # the actions opened in the quarter or still open at its end

    @property
    def share_good(self) -> float | None:
        return self.good / self.audits if self.audits else None

    def strong(self) -> list[str]:
        """What is strong, in words, from the figures."""
        said = []
        if self.outstanding:
            said.append(f"{self.outstanding} audit(s) graded at the top of the scale")
        if self.compliments:
            said.append(f"{self.compliments} compliment(s) received")
        best = max((s for s in self.standards if s.share_met is not None), key=lambda s: s.share_met or 0, default=None)
        if best is not None and best.share_met is not None:
            said.append(f"standard {best.standard} ({best.title}): {best.share_met:.0%} of audit answers meet it")
        if self.chart.latest == "improvement":
            said.append(f"audits good or better: {self.chart.says}")
        better = self.register["moved its measure"].astype(str).str.startswith(BETTER).sum()
        if better:
            said.append(f"{better} action(s) whose measure has moved the right way since they opened")
        return said

    def improve(self) -> list[str]:
        """What must improve, in words, from the figures."""
        said = []
        if self.below_standard:
            said.append(f"{self.below_standard} audit(s) below standard")
        if self.chart.latest == "concern":
            said.append(f"audits good or better: {self.chart.says}")
        said += [f"question {row.question}: {row.short} in {row.short_count} of {row.answered} audit(s)"
                 for row in self.short_questions.head(3).itertuples()]  # fmt: skip
        if self.actions["overdue"]:
            said.append(f"{self.actions['overdue']} corrective action(s) open past their due date at the quarter's end")
        done = self.register[self.register["status"] == "done"]
        stuck = done["moved its measure"].astype(str).str.startswith((WORSE, SAME)).sum()
        if stuck:
            said.append(f"{stuck} action(s) done whose measure has not moved the right way")
        return said


def quarterly_report(engine: Engine, settings: Settings, quarter: Quarter) -> QuarterlyReport:
    """The report for ``quarter`` from the store."""
    governance = governance_of(settings)
    compared = quarters_back(quarter, governance.quarters_compared)
    with engine.connect() as connection:
        authority = authority_id(connection, settings)
        audits = _audits(connection, settings, authority, compared[0].start, quarter.end)
        every_answer = _answers(connection, settings, authority, compared[0].start, quarter.end)
        surveys = _between(connection, models.SurveyResponse, "responded_on", authority, quarter,
                           models.SurveyResponse.question, models.SurveyResponse.score)  # fmt: skip
        complaints = _between(connection, models.Complaint, "received_on", authority, quarter,
                              models.Complaint.theme, models.Complaint.outcome)  # fmt: skip
        compliments = _count(connection, models.Compliment, "received_on", authority, quarter)
        ombudsman = _count(connection, models.OmbudsmanDecision, "decided_on", authority, quarter)
        every_action = actions_register(connection, authority)
    listed = listed_for(every_action, quarter.start, quarter.end)
    in_register = register_frame(listed, measures_moved(engine, settings, listed, quarter.end))
    answers = every_answer[every_answer["quarter"] == quarter.label]
    scale = settings.grade_scale
    audits["quarter"] = audits["submitted_on"].map(lambda day: quarter_of(day).label)
    audits["good"] = audits["grade"].map(lambda grade: scale.rank(grade) >= scale.good_rank)
    now = audits[audits["quarter"] == quarter.label]
    rules = _rules(settings, settings.reports.good_share_target)
    chart = p_chart([(q.label, int(audits.loc[audits["quarter"] == q.label, "good"].sum()),
                      int((audits["quarter"] == q.label).sum())) for q in compared], rules=rules,
                    each="quarter")  # fmt: skip
    satisfied_from = settings.triangulation.satisfied_from
    return QuarterlyReport(
        authority=settings.authority.name,
        quarter=quarter,
        audits=len(now),
        good=int(now["good"].sum()),
        below_standard=int(now["grade"].map(scale.below_standard).sum()),
        by_unit=_by_unit(now, settings),
        chart=chart,
        standards=_standards(engine, settings, compared, every_answer, surveys, complaints),
        survey_responses=len(surveys),
        survey_satisfied=int((surveys["score"] >= satisfied_from).sum()),
        compliments=compliments,
        complaints=len(complaints),
        complaints_upheld=int(complaints["outcome"].isin(["upheld", "partly upheld"]).sum()),
        ombudsman=ombudsman,
        short_questions=_short_questions(answers),
        outstanding=int((now["grade"] == scale.labels[-1]).sum()),
        escalations=register(engine, settings, quarter.start, quarter.end)
        if governance.escalations
        else pd.DataFrame(columns=["escalation", "what", "about", "raised on", "status", "acknowledged by", "outcome"]),
        actions=_actions(every_action, quarter),
        register=in_register,
    )


def _rules(settings: Settings, target: float | None) -> ChartRules:
    return ChartRules(run=settings.reports.spc_run, min_points=settings.reports.spc_min_points, target=target)


def _audits(connection: Any, settings: Settings, authority: int, start: date, end: date) -> pd.DataFrame:
    audit, cycle, case, area = models.AuditReturn, models.AuditCycle, models.CaseRecord, models.Area
    rows = connection.execute(
        select(audit.id.label("return_id"), audit.submitted_on, audit.grade, area.name.label("area"))
        .select_from(returned_audits())
        .join(area, area.id == case.area_id)
        .where(cycle.authority_id == authority, audit.status == "filed", audit.submitted_on.between(start, end))
    ).all()
    return pd.DataFrame(rows, columns=["return_id", "submitted_on", "grade", "area"])


def _answers(connection: Any, settings: Settings, authority: int, start: date, end: date) -> pd.DataFrame:
    """The audit answers returned from ``start`` to ``end``, each with its quarter and whether it meets the standard
    (not applicable: left out)."""
    audit, answer, cycle, case = models.AuditReturn, models.AuditAnswer, models.AuditCycle, models.CaseRecord
    rows = connection.execute(
        select(answer.question_id, answer.answer, case.audit_type, audit.submitted_on)
        .select_from(returned_audits())
        .join(answer, answer.return_id == audit.id)
        .where(cycle.authority_id == authority, audit.status == "filed", audit.submitted_on.between(start, end))
    ).all()  # fmt: skip
    found = []
    for question_id, given, audit_type, submitted_on in rows:
        tool = settings.tool_for(audit_type)
        question = next((q for q in tool.questions if q.id == question_id), None)
        if question is None or not_applicable(given):
            continue
        short = tool.short_answer(question)
        found.append(
            (quarter_of(submitted_on).label, question_id, question.aspect, question.text, given != short, short)
        )
    return pd.DataFrame(found, columns=["quarter", "question_id", "aspect", "question", "meets", "short"])


def _between(connection: Any, model: Any, column: str, authority: int, quarter: Quarter, *columns: Any) -> pd.DataFrame:
    day = getattr(model, column)
    rows = connection.execute(
        select(*columns).where(model.authority_id == authority, day.between(quarter.start, quarter.end))
    ).all()
    return pd.DataFrame(rows, columns=[c.key for c in columns])


def _count(connection: Any, model: Any, column: str, authority: int, quarter: Quarter) -> int:
    day = getattr(model, column)
    return int(
        connection.scalar(
            select(func.count())
            .select_from(model)
            .where(model.authority_id == authority, day.between(quarter.start, quarter.end))
        )
    )


def _actions(register: list[Action], quarter: Quarter) -> dict[str, int]:
    """The council's actions in the register opened in the quarter, those done and done on time, and every action
    (a provider's too) open past its due date at the quarter's end, whenever opened."""
    kept = [item for item in register if item.status != "cancelled"]
    opened = [item for item in kept if item.opened_on and quarter.start <= item.opened_on <= quarter.end]
    done = [item for item in opened if item.status == "done"]
    overdue = [
        item for item in kept
        if item.due < quarter.end and (item.opened_on or item.due) <= quarter.end
        and (item.closed_on is None or item.closed_on > quarter.end)
    ]  # fmt: skip
    return {
        "opened": len(opened),
        "done": len(done),
        "done on time": sum(1 for item in done if item.done_on_time),
        "overdue": len(overdue),
    }


def _by_unit(now: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    scale = settings.grade_scale
    rows = []
    for area in [area.name for area in settings.authority.areas]:
        mine = now[now["area"] == area]
        rows.append({
            "area": area, "audits": len(mine), "good": int(mine["good"].sum()),
            "share_good": mine["good"].mean() if len(mine) else None,
            "below_standard": int(mine["grade"].map(scale.below_standard).sum()),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=["area", "audits", "good", "share_good", "below_standard"])


def _short_questions(answers: pd.DataFrame) -> pd.DataFrame:
    """The questions most often answered short of the standard, most first."""
    columns = ["question_id", "question", "short", "short_count", "answered"]
    if answers.empty:
        return pd.DataFrame(columns=columns)
    grouped = answers.groupby(["question_id", "question", "short"])["meets"].agg(
        short_count=lambda meets: int((~meets).sum()), answered="size"
    )
    table = grouped.reset_index()
    return table[table["short_count"] > 0].sort_values(["short_count", "question_id"], ascending=[False, True])[columns]


def _standards(
    engine: Engine,
    settings: Settings,
    compared: list[Quarter],
    every_answer: pd.DataFrame,
    surveys: pd.DataFrame,
    complaints: pd.DataFrame,
) -> list[StandardHeadline]:
    """Each standard's quarter from each source it names, its audit answers also on a p-chart over the quarters."""
    governance = governance_of(settings)
    quarter = compared[-1]
    month = f"{quarter.end:%Y-%m}"
    months = months_back(month, governance.months_charted)
    series = {(s.indicator, s.service_area): s for s in stored_series(engine, settings, months).series}
    headlines = []
    for standard_id, standard in governance.standards.items():
        evidence = standard.evidence
        named = every_answer["question_id"].isin(evidence.questions) | every_answer["aspect"].isin(evidence.aspects)
        history = every_answer[named]
        said = history[history["quarter"] == quarter.label] if (evidence.questions or evidence.aspects) else None
        chart = None if said is None else p_chart(
            [(q.label, int(history.loc[history["quarter"] == q.label, "meets"].sum()),
              int((history["quarter"] == q.label).sum())) for q in compared], rules=_rules(settings, None),
            each="quarter",
        )  # fmt: skip
        surveyed = surveys[surveys["question"].isin(evidence.survey_questions)] if evidence.survey_questions else None
        themed = complaints[complaints["theme"].isin(evidence.complaint_themes)] if evidence.complaint_themes else None
        readings = []
        for indicator in evidence.indicators:
            stored = series.get((indicator, ""))
            if stored is None:
                readings.append(f"{indicator}: no figure stored for the whole service")
                continue
            reading = read_series(settings, stored, months)
            value = reading.chart.shown(reading.latest.value) if reading.latest else f"no figure for {month}"
            readings.append(f"{indicator} {stored.definition.title}: {value}, {reading.against_target}; "
                            f"{reading.chart.variation or reading.chart.says}")  # fmt: skip
        headlines.append(
            StandardHeadline(
                standard_id, standard.title,
                None if said is None else int(said["meets"].sum()), None if said is None else len(said),
                None if surveyed is None else int((surveyed["score"] >= settings.triangulation.satisfied_from).sum()),
                None if surveyed is None else len(surveyed),
                None if themed is None else len(themed),
                None if themed is None else int(themed["outcome"].isin(["upheld", "partly upheld"]).sum()),
                tuple(readings), chart,
            )
        )  # fmt: skip
    return headlines
