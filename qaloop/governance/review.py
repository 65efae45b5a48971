"""The six-monthly service performance review's workbook (Coventry, Appendix 2), written and read back: one sheet
per lens (independent, provider, professional and citizen challenge), each of the template's judgement areas a row
with its Evidence pre-filled from what qaloop knows (the indicators evidence for the lens, the commissioned
providers' levels and concerns, the audits, corrective actions, complaints, compliments and surveys of the six
months) and its Comments, Judgement (I, RI, G or O) and Actions identified, each action with its owner (a staff id)
and date, left for the head of service; then the key summary points for the service's staff and the panel's sheet:
its input and the actions it takes away, each with an owner and a date.

Audits, complaints, compliments and surveys are the service area's teams' (``governance.service_areas.*.teams``),
or the whole service's where no teams are given, and the workbook says so; the indicators are the service area's
where the KPI return breaks them down, else the whole service's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy import Connection, Engine, func, select

from qaloop.core.months import months_back
from qaloop.core.outputs import file_in, save_workbook
from qaloop.core.settings import Settings
from qaloop.governance.compendium import read_series
from qaloop.governance.indicators import GovernanceError, area_name, governance_of, stored_series
from qaloop.governance.register import REGISTER_COLUMNS, actions_register, listed_for, measures_moved, register_frame
from qaloop.providers.record import decided_levels_before
from qaloop.returns.workbooks import cell_text, form_rows
from qaloop.store import models
from qaloop.store.handles import authority_id
from qaloop.store.queries import allocated_cases, returned_audits

JUDGEMENTS = models.REVIEW_JUDGEMENTS
# Appendix 2's four lenses: the sheet, its question, and its judgement areas in the template's order.
LENSES = {
    "independent": ("1 Independent challenge", "What is our performance data and analysis telling us?", (
        "Performance on key indicators from dashboards / monthly reports", "Workloads / staffing / caseloads",
        "Reports from external agencies (where available)", "Capacity to improve")),
    "provider": ("2 Provider challenge", "How are our providers performing? Are we commissioning the right things and "
                 "getting good service outcomes from commissioned services?", (
        "Provider performance / issues", "Placement sufficiency",
        "Quality / impact / outcomes of commissioned services",
        "Quality of partner contribution to the service being offered by the LA", "Capacity to improve")),
    "professional": ("3 Professional challenge", "What are we finding from our own reviews / knowledge and feedback "
                     "from others?", (
        "Results of structured case file audit activity", "Results of dip sampling / other audit activity",
        "Results of observed practice", "Feedback received from other professionals / multi-agency audits",
        "Relevant learning from serious case reviews", "Capacity to improve")),
    "citizen": ("4 Citizen challenge", "What are those we are working to help telling us?", (
        "Engagement of children / young people in service", "Engagement of families / parents / carers in service",
        "Direct feedback from children / young people", "Direct feedback from parents / families",
        "Complaints / compliments received", "Results of any relevant surveys", "Capacity to improve")),
}  # fmt: skip
# Where each source's evidence goes: the first judgement area of its lens, unless named here.
_AUDITS = ("professional", "Results of structured case file audit activity")
_FEEDBACK = ("citizen", "Complaints / compliments received")
_SURVEYS = ("citizen", "Results of any relevant surveys")
_PROVIDERS = ("provider", "Provider performance / issues")
HEADINGS = ("Judgement area", "Comments", "Evidence", "Judgement (I, RI, G, O)", "Actions identified",
            "Action owner (staff id)", "Action by when", "Action's measure (indicator id)")  # fmt: skip
ACTION_HEADINGS = ("Action to be taken away", "By whom (staff id)", "By when", "Its measure (indicator id)")
PANEL_ACTION_ROWS = 12
WHOLE_SERVICE_NOTE = "whole service: no teams are given for this service area (governance.service_areas)"
REFERENCE_LABEL = "Review reference (do not change)"
SUMMARY_SHEET, PANEL_SHEET, ACTIONS_SHEET = "5 Key summary points", "6 Panel", "Actions register"
_BOLD, _WRAP = Font(bold=True), Alignment(wrap_text=True, vertical="top")
_INPUT = PatternFill("solid", fgColor="FFF2CC")


@dataclass(frozen=True)
class ReviewPeriod:
    """The six months a review looks back on, ending with ``end``'s month."""

    start: date
    end: date

    @property
    def label(self) -> str:
        return f"{self.start:%B %Y} to {self.end:%B %Y}"


def review_period(end: date) -> ReviewPeriod:
    """The six whole months ending with the month of ``end``."""
    first = months_back(f"{end:%Y-%m}", 6)[0]
    following = (end.replace(day=1) + timedelta(days=32)).replace(day=1)
    return ReviewPeriod(date.fromisoformat(f"{first}-01"), following - timedelta(days=1))


def review_evidence(
    engine: Engine, settings: Settings, service_area: str, period: ReviewPeriod
) -> dict[str, dict[str, list[str]]]:
    """For each lens and judgement area, the lines of evidence qaloop holds for ``period``."""
    governance = governance_of(settings)
    if service_area not in governance.service_areas:
        raise GovernanceError(
            f"no service area {service_area!r} is configured (governance.service_areas: "
            f"{', '.join(governance.service_areas) or 'none'})"
        )
    evidence: dict[str, dict[str, list[str]]] = {lens: {area: [] for area in areas} for lens, (_, _, areas) in
                                                LENSES.items()}  # fmt: skip
    month = f"{period.end:%Y-%m}"
    months = months_back(month, governance.months_charted)
    found = {(s.indicator, s.service_area): s for s in stored_series(engine, settings, months).series}
    for indicator, definition in governance.indicators.items():
        series = found.get((indicator, service_area)) or found.get((indicator, ""))
        if series is None:
            line = f"{indicator} {definition.title}: no figure stored"
        else:
            reading = read_series(settings, series, months)
            value = reading.chart.shown(reading.latest.value) if reading.latest else "no figure"
            line = (f"{indicator} {definition.title} ({area_name(governance, series.service_area)}): {value} in "
                    f"{month}, {reading.against_target}; {reading.chart.variation or reading.chart.says}")  # fmt: skip
        evidence[definition.lens][LENSES[definition.lens][2][0]].append(line)
    with engine.connect() as connection:
        authority = authority_id(connection, settings)
        scope = _Scope.of(connection, settings, authority, service_area)
        evidence[_AUDITS[0]][_AUDITS[1]] += _audit_lines(connection, settings, scope, period)
        complaints, upheld, compliments = _feedback(connection, scope, period)
        evidence[_FEEDBACK[0]][_FEEDBACK[1]].append(
            f"{complaints} complaint(s), {upheld} upheld in whole or part; {compliments} compliment(s) ({scope.says})"
        )
        answers, satisfied = _surveys(connection, settings, scope, period)
        evidence[_SURVEYS[0]][_SURVEYS[1]].append(
            f"{satisfied} of {answers} survey answer(s) satisfied (scored {settings.triangulation.satisfied_from} or "
            f"more) ({scope.says})"
        )
        if settings.provider_quality is not None:
            evidence[_PROVIDERS[0]][_PROVIDERS[1]] += _provider_lines(connection, authority, period)
    return evidence


def service_actions(engine: Engine, settings: Settings, service_area: str, period: ReviewPeriod) -> pd.DataFrame:
    """The service area's part of the one actions register for ``period``: its teams' audits' corrective actions
    (every team's where it names none), its own reviews' actions, and the escalations' actions measured on it; each
    opened in the period or still open at its end, with whether its measure has moved."""
    with engine.connect() as connection:
        authority = authority_id(connection, settings)
        scope = _Scope.of(connection, settings, authority, service_area)
        every = actions_register(connection, authority)
    mine = [
        item for item in listed_for(every, period.start, period.end)
        if (item.source == "audit" and (scope.team_ids is None or item.team_id in scope.team_ids))
        or (item.source == "review" and item.service_area == service_area)
        or (item.source == "escalation" and item.measure_area == service_area)
    ]  # fmt: skip
    return register_frame(mine, measures_moved(engine, settings, mine, period.end))


@dataclass(frozen=True)
class _Scope:
    """Whose evidence a review counts: the service area's teams, or (``team_ids`` None) the whole service's."""

    authority: int
    team_ids: tuple[int, ...] | None
    says: str

    @classmethod
    def of(cls, connection: Connection, settings: Settings, authority: int, service_area: str) -> _Scope:
        teams = governance_of(settings).service_areas[service_area].teams
        if not teams:
            return cls(authority, None, WHOLE_SERVICE_NOTE)
        found = dict(connection.execute(
            select(models.Team.name, models.Team.id).where(models.Team.authority_id == authority,
                                                          models.Team.name.in_(teams))
        ).all())  # fmt: skip
        missing = [team for team in teams if team not in found]
        if missing:
            raise GovernanceError(
                f"governance.service_areas.{service_area}.teams: {', '.join(map(repr, missing))} not in the staff "
                "list's teams: load the staff list, or correct the configuration"
            )
        return cls(authority, tuple(found.values()), f"the teams {', '.join(teams)}")

    def where(self, model: Any) -> list[Any]:
        """The conditions that keep ``model``'s rows (which have authority_id and team_id) to the scope."""
        kept = [model.authority_id == self.authority]
        return kept if self.team_ids is None else [*kept, model.team_id.in_(self.team_ids)]


def _provider_lines(connection: Connection, authority: int, period: ReviewPeriod) -> list[str]:
    levels = decided_levels_before(connection, authority, f"{period.end + timedelta(days=1):%Y-%m}")
    counts = {level: sum(1 for decided in levels.values() if decided == level) for level in (1, 2, 3)}
    concern = models.ProviderConcern
    raised = connection.execute(
        select(concern.serious).where(concern.authority_id == authority,
                                      concern.raised_on.between(period.start, period.end))
    ).scalars().all()  # fmt: skip
    return [
        f"commissioned providers by threshold level decided by {period.end:%B %Y}: level 1 {counts[1]}, level 2 "
        f"{counts[2]}, level 3 {counts[3]}",
        f"{len(raised)} concern(s) about providers raised, {sum(bool(serious) for serious in raised)} serious",
    ]


def _audit_lines(connection: Connection, settings: Settings, scope: _Scope, period: ReviewPeriod) -> list[str]:
    audit, cycle, case = models.AuditReturn, models.AuditCycle, models.CaseRecord
    in_scope = [cycle.authority_id == scope.authority]
    if scope.team_ids is not None:
        in_scope.append(case.team_id.in_(scope.team_ids))
    grades = connection.execute(
        select(audit.grade)
        .select_from(returned_audits())
        .where(*in_scope, audit.status == "filed", audit.submitted_on.between(period.start, period.end))
    ).scalars().all()  # fmt: skip
    scale = settings.grade_scale
    good = sum(scale.rank(grade) >= scale.good_rank for grade in grades)
    below = sum(scale.below_standard(grade) for grade in grades)
    action = models.CorrectiveAction
    actions = connection.execute(
        select(action.status, func.count())
        .select_from(allocated_cases())
        .join(action, action.allocation_id == models.Allocation.id)
        .where(*in_scope, func.date(action.opened_at).between(period.start, period.end))
        .group_by(action.status)
    ).all()
    counted = dict(actions)
    return [
        f"{len(grades)} case file audit(s) returned: {good} good or better, {below} below standard ({scope.says})",
        f"corrective actions opened: {sum(counted.values())} ({counted.get('done', 0)} done, {counted.get('open', 0)} "
        "open)",
    ]


def _feedback(connection: Connection, scope: _Scope, period: ReviewPeriod) -> tuple[int, int, int]:
    complaint, compliment = models.Complaint, models.Compliment
    outcomes = (
        connection.execute(
            select(complaint.outcome).where(
                *scope.where(complaint), complaint.received_on.between(period.start, period.end)
            )
        )
        .scalars()
        .all()
    )
    compliments = connection.scalar(
        select(func.count())
        .select_from(compliment)
        .where(*scope.where(compliment), compliment.received_on.between(period.start, period.end))
    )
    return len(outcomes), sum(o in ("upheld", "partly upheld") for o in outcomes), int(compliments)


def _surveys(connection: Connection, settings: Settings, scope: _Scope, period: ReviewPeriod) -> tuple[int, int]:
    survey = models.SurveyResponse
    scores = (
        connection.execute(
            select(survey.score).where(*scope.where(survey), survey.responded_on.between(period.start, period.end))
        )
        .scalars()
        .all()
    )
    return len(scores), sum(score >= settings.triangulation.satisfied_from for score in scores)


@dataclass(frozen=True)
class ReviewSheet:
    """What a review's workbook is sent with: its reference (which files the return), the head of service's staff
    id, the panel's date and when it is due back."""

    reference: str
    head_of_service: str
    panel_on: date
    due_on: date


def write_review_workbook(
    engine: Engine, settings: Settings, service_area: str, period_end: date, sheet: ReviewSheet | None = None
) -> Path:
    """Write the review workbook of ``service_area`` for the six months ending with ``period_end``'s month under
    ``output_dir/governance/reviews`` (for the review ``sheet`` when it is being sent); returns where."""
    governance = governance_of(settings)
    period = review_period(period_end)
    evidence = review_evidence(engine, settings, service_area, period)
    book = Workbook()
    cover = book.active
    cover.title = "Service area"
    cover.append(["SERVICE PERFORMANCE REVIEW - to be completed and reviewed every six months"])
    cover["A1"].font = _BOLD
    sent = (
        [(REFERENCE_LABEL, sheet.reference), ("Head of service (staff id)", sheet.head_of_service),
         ("Due back", sheet.due_on), ("Date completed", None)]
        if sheet else []
    )  # fmt: skip
    for label, value in (
        ("Service Area", governance.service_areas[service_area].name),
        ("Performance period being considered", period.label),
        ("Date of review panel", sheet.panel_on if sheet else None),
        *sent,
        ("Key outcomes required from this service area", None),
        ("Key population data (size of cohorts, proportion of wider population, relevant demographic summaries etc)",
         None),
    ):  # fmt: skip
        cover.append([label, value])
        cell = cover.cell(row=cover.max_row, column=2)
        if isinstance(value, date) or label == "Date completed":
            cell.number_format = "dd/mm/yyyy"
        if value is None:
            cell.fill = _INPUT
    cover.column_dimensions["A"].width = 60
    cover.column_dimensions["B"].width = 50
    for lens, (sheet_name, question, areas) in LENSES.items():
        lens_sheet = book.create_sheet(sheet_name)
        lens_sheet.append([f"{sheet_name} - {question}"])
        lens_sheet["A1"].font = _BOLD
        lens_sheet.append(list(HEADINGS))
        for cell in lens_sheet[2]:
            cell.font = _BOLD
        judgement = DataValidation(type="list", formula1=f'"{",".join(JUDGEMENTS)}"', allow_blank=True)
        judgement.error = "Judge I (inadequate), RI (requires improvement), G (good) or O (outstanding)."
        lens_sheet.add_data_validation(judgement)
        for area in areas:
            lens_sheet.append([area, None, "\n".join(evidence[lens][area]) or None, None, None, None, None, None])
            row = lens_sheet.max_row
            for column in (1, 2, 3, 5):
                lens_sheet.cell(row=row, column=column).alignment = _WRAP
            for column in (2, 4, 5, 6, 7, 8):
                lens_sheet.cell(row=row, column=column).fill = _INPUT
            lens_sheet.cell(row=row, column=7).number_format = "dd/mm/yyyy"
            judgement.add(lens_sheet.cell(row=row, column=4))
        for column, width in zip("ABCDEFGH", (40, 50, 70, 14, 40, 16, 14, 16), strict=True):
            lens_sheet.column_dimensions[column].width = width
    register = book.create_sheet(ACTIONS_SHEET)
    register.append(
        [
            f"The actions register for this service area, opened in the period or still open ({period.label})"
            ": each action's source, what it is about, owner, due date, status and whether its measure moved"
        ]
    )
    register["A1"].font = _BOLD
    register.append(REGISTER_COLUMNS)
    for cell in register[2]:
        cell.font = _BOLD
    for values in service_actions(engine, settings, service_area, period).itertuples(index=False):
        register.append(list(values))
    summary = book.create_sheet(SUMMARY_SHEET)
    summary.append(["Key summary points for communication to all members of the service being reviewed"])
    panel = book.create_sheet(PANEL_SHEET)
    panel.append(["Input from panel, actions to be taken away, comments, areas for improvement etc."])
    for text_sheet in (summary, panel):
        text_sheet["A1"].font = _BOLD
        text_sheet.append([None])
        text_sheet["A2"].fill = _INPUT
        text_sheet["A2"].alignment = _WRAP
        text_sheet.column_dimensions["A"].width = 100
    panel.append([None])
    panel.append(list(ACTION_HEADINGS))
    for cell in panel[4]:
        cell.font = _BOLD
    for _ in range(PANEL_ACTION_ROWS):
        panel.append([None, None, None, None])
        for column in (1, 2, 3, 4):
            panel.cell(row=panel.max_row, column=column).fill = _INPUT
        panel.cell(row=panel.max_row, column=3).number_format = "dd/mm/yyyy"
    for column, width in zip("BCD", (20, 14, 20), strict=True):
        panel.column_dimensions[column].width = width
    folder = settings.output_dir / "governance" / "reviews"
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"service-review-{service_area}-{period.end:%Y-%m}" + (f"-{sheet.reference}" if sheet else "")
    return save_workbook(book, file_in(folder, stem, ".xlsx"))


@dataclass(frozen=True)
class ReturnedReview:
    """A review workbook as returned, as text: the cover's fields, each judgement area's (lens, area, judgement,
    comments), and every action with its owner, date and measure (a lens sheet's prefixed with its judgement
    area)."""

    fields: dict[str, str | None]
    judgements: tuple[tuple[str, str, str | None, str | None], ...]
    actions: tuple[tuple[str | None, str | None, str | None, str | None], ...]


def is_review_workbook(sheet_names: list[str]) -> bool:
    """Whether a workbook with these sheets is a service performance review's."""
    return all(sheet in sheet_names for sheet, _, _ in LENSES.values()) and PANEL_SHEET in sheet_names


def read_review_workbook(source: Path | BinaryIO) -> ReturnedReview:
    """Read a returned review workbook (read-only, values only); ValueError when it is not one qaloop sent."""
    book = load_workbook(source, read_only=True, data_only=True)
    try:
        if not is_review_workbook(book.sheetnames) or "Service area" not in book.sheetnames:
            raise ValueError(f"not a service performance review workbook (sheets: {', '.join(book.sheetnames)})")
        cover = {cell_text(row[0]): row[1] for row in form_rows(book["Service area"], 2)}
        fields = {
            "review_ref": cell_text(cover.get(REFERENCE_LABEL)),
            "head_of_service_id": cell_text(cover.get("Head of service (staff id)")),
            "completed_on": cell_text(cover.get("Date completed")),
            "summary_points": cell_text(_cell(book[SUMMARY_SHEET], 2, 0)),
            "panel_input": cell_text(_cell(book[PANEL_SHEET], 2, 0)),
        }
        judgements, actions = [], []
        for lens, (sheet_name, _, areas) in LENSES.items():
            for row in form_rows(book[sheet_name], len(HEADINGS))[2:]:
                area = cell_text(row[0])
                if area not in areas:
                    continue
                judgements.append((lens, area, cell_text(row[3]), cell_text(row[1])))
                action = (cell_text(row[4]), cell_text(row[5]), cell_text(row[6]), cell_text(row[7]))
                if any(action):
                    actions.append((f"{area}: {action[0]}" if action[0] else None, *action[1:]))
        panel_actions = [
            action for row in form_rows(book[PANEL_SHEET], 4)[4:]
            if any(action := (cell_text(row[0]), cell_text(row[1]), cell_text(row[2]), cell_text(row[3])))
        ]  # fmt: skip
        fields["panel_record"] = "yes" if fields["panel_input"] or panel_actions else "no"
        return ReturnedReview(fields, tuple(judgements), tuple(actions + panel_actions))
    finally:
        book.close()


def _cell(sheet: Any, row: int, column: int) -> Any:
    rows = form_rows(sheet, column + 1)
    return rows[row - 1][column] if len(rows) >= row else None


def complete_review_workbook(
    sent: Path,
    returned: Path,
    *,
    completed_on: date,
    judgement: str = "G",
    judgements: dict[str, str] | None = None,
    comments: str = "Steady progress; pressures in hospital discharge.",
    actions: dict[str, tuple[str | None, ...]] | None = None,
    summary_points: str | None = None,
    panel_input: str | None = None,
    panel_actions: tuple[tuple[object, ...], ...] = (),
) -> Path:
    """Fill in a sent review workbook as a head of service (and, with ``panel_input`` or ``panel_actions``, the
    panel) would: every judgement area judged as ``judgements`` says by its name, else ``judgement``, with
    ``comments``; ``actions`` by judgement area as (what, owner, by when[, measure]), and the panel's likewise; then
    save it to ``returned``. The demo's
    simulated heads of service, and the tests', use it."""
    book = load_workbook(sent)
    cover = book["Service area"]
    for row in cover.iter_rows(min_row=2):
        if cell_text(row[0].value) == "Date completed":
            row[1].value = completed_on
    for sheet_name, _, areas in LENSES.values():
        for row in book[sheet_name].iter_rows(min_row=3):
            area = cell_text(row[0].value)
            if area not in areas:
                continue
            row[1].value = comments
            row[3].value = (judgements or {}).get(area, judgement)
            if actions and area in actions:
                for offset, value in enumerate(actions[area]):
                    row[4 + offset].value = value
    book[SUMMARY_SHEET]["A2"] = summary_points
    panel = book[PANEL_SHEET]
    panel["A2"] = panel_input
    for number, action in enumerate(panel_actions, start=5):
        for column, value in enumerate(action, start=1):
            panel.cell(row=number, column=column, value=value)
    returned.parent.mkdir(parents=True, exist_ok=True)
    save_workbook(book, returned)
    return returned
