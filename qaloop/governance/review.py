"""The six-monthly service performance review's workbook (Coventry, Appendix 2): one sheet per lens (independent,
provider, professional and citizen challenge), each of the template's judgement areas a row with its Evidence
pre-filled from what qaloop knows (the indicators evidence for the lens, the audits, corrective actions,
complaints, compliments and surveys of the six months) and its Comments, Judgement (I, RI, G or O) and Actions
identified left for the head of service; then the key summary points for the team and the panel's input.

Audits, complaints and surveys are the whole service's (they are not yet mapped to service areas), and the
workbook says so; the indicators are the service area's where the KPI return breaks them down, else the whole
service's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy import Connection, Engine, func, select

from qaloop.core.months import months_back
from qaloop.core.outputs import file_in, save_workbook
from qaloop.core.settings import Settings
from qaloop.governance.compendium import read_series
from qaloop.governance.indicators import GovernanceError, area_name, governance_of, stored_series
from qaloop.store import models
from qaloop.store.handles import authority_id
from qaloop.store.queries import allocated_cases, returned_audits

JUDGEMENTS = ("I", "RI", "G", "O")  # inadequate, requires improvement, good, outstanding
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
HEADINGS = ("Judgement area", "Comments", "Evidence", "Judgement (I, RI, G, O)", "Actions identified")
WHOLE_SERVICE_NOTE = "whole service: audits, complaints and surveys are not yet mapped to service areas"
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
        evidence[_AUDITS[0]][_AUDITS[1]] += _audit_lines(connection, settings, authority, period)
        complaints, upheld, compliments = _feedback(connection, authority, period)
        evidence[_FEEDBACK[0]][_FEEDBACK[1]].append(
            f"{complaints} complaint(s), {upheld} upheld in whole or part; {compliments} compliment(s) "
            f"({WHOLE_SERVICE_NOTE})"
        )
        answers, satisfied = _surveys(connection, settings, authority, period)
        evidence[_SURVEYS[0]][_SURVEYS[1]].append(
            f"{satisfied} of {answers} survey answer(s) satisfied (scored {settings.triangulation.satisfied_from} or "
            f"more) ({WHOLE_SERVICE_NOTE})"
        )
    return evidence


def _audit_lines(connection: Connection, settings: Settings, authority: int, period: ReviewPeriod) -> list[str]:
    audit, cycle = models.AuditReturn, models.AuditCycle
    grades = connection.execute(
        select(audit.grade)
        .select_from(returned_audits())
        .where(cycle.authority_id == authority, audit.status == "filed", audit.submitted_on.between(period.start,
                                                                                                  period.end))
    ).scalars().all()  # fmt: skip
    scale = settings.grade_scale
    good = sum(scale.rank(grade) >= scale.good_rank for grade in grades)
    below = sum(scale.below_standard(grade) for grade in grades)
    action = models.CorrectiveAction
    actions = connection.execute(
        select(action.status, func.count())
        .select_from(allocated_cases())
        .join(action, action.allocation_id == models.Allocation.id)
        .where(cycle.authority_id == authority, func.date(action.opened_at).between(period.start, period.end))
        .group_by(action.status)
    ).all()
    counted = dict(actions)
    return [
        f"{len(grades)} case file audit(s) returned: {good} good or better, {below} below standard "
        f"({WHOLE_SERVICE_NOTE})",
        f"corrective actions opened: {sum(counted.values())} ({counted.get('done', 0)} done, {counted.get('open', 0)} "
        "open)",
    ]


def _feedback(connection: Connection, authority: int, period: ReviewPeriod) -> tuple[int, int, int]:
    complaint, compliment = models.Complaint, models.Compliment
    outcomes = (
        connection.execute(
            select(complaint.outcome).where(
                complaint.authority_id == authority, complaint.received_on.between(period.start, period.end)
            )
        )
        .scalars()
        .all()
    )
    compliments = connection.scalar(
        select(func.count())
        .select_from(compliment)
        .where(compliment.authority_id == authority, compliment.received_on.between(period.start, period.end))
    )
    return len(outcomes), sum(o in ("upheld", "partly upheld") for o in outcomes), int(compliments)


def _surveys(connection: Connection, settings: Settings, authority: int, period: ReviewPeriod) -> tuple[int, int]:
    survey = models.SurveyResponse
    scores = connection.execute(
        select(survey.score).where(survey.authority_id == authority, survey.responded_on.between(period.start,
                                                                                                period.end))
    ).scalars().all()  # fmt: skip
    return len(scores), sum(score >= settings.triangulation.satisfied_from for score in scores)


def write_review_workbook(engine: Engine, settings: Settings, service_area: str, period_end: date) -> Path:
    """Write the review workbook of ``service_area`` for the six months ending with ``period_end``'s month under
    ``output_dir/governance/reviews``; returns where."""
    governance = governance_of(settings)
    period = review_period(period_end)
    evidence = review_evidence(engine, settings, service_area, period)
    book = Workbook()
    cover = book.active
    cover.title = "Service area"
    cover.append(["SERVICE PERFORMANCE REVIEW - to be completed and reviewed every six months"])
    cover["A1"].font = _BOLD
    for label, value in (
        ("Service Area", governance.service_areas[service_area].name),
        ("Performance period being considered", period.label),
        ("Date of review panel", None),
        ("Key outcomes required from this service area", None),
        ("Key population data (size of cohorts, proportion of wider population, relevant demographic summaries etc)",
         None),
    ):  # fmt: skip
        cover.append([label, value])
        if value is None:
            cover.cell(row=cover.max_row, column=2).fill = _INPUT
    cover.column_dimensions["A"].width = 60
    cover.column_dimensions["B"].width = 50
    for lens, (sheet_name, question, areas) in LENSES.items():
        sheet = book.create_sheet(sheet_name)
        sheet.append([f"{sheet_name} - {question}"])
        sheet["A1"].font = _BOLD
        sheet.append(list(HEADINGS))
        for cell in sheet[2]:
            cell.font = _BOLD
        judgement = DataValidation(type="list", formula1=f'"{",".join(JUDGEMENTS)}"', allow_blank=True)
        judgement.error = "Judge I (inadequate), RI (requires improvement), G (good) or O (outstanding)."
        sheet.add_data_validation(judgement)
        for area in areas:
            sheet.append([area, None, "\n".join(evidence[lens][area]) or None, None, None])
            row = sheet.max_row
            for column in (1, 2, 3, 5):
                sheet.cell(row=row, column=column).alignment = _WRAP
            for column in (2, 4, 5):
                sheet.cell(row=row, column=column).fill = _INPUT
            judgement.add(sheet.cell(row=row, column=4))
        for column, width in zip("ABCDE", (40, 50, 70, 14, 40), strict=True):
            sheet.column_dimensions[column].width = width
    for title, says in (
        ("5 Key summary points", "Key summary points for communication to all members of the service being reviewed"),
        ("6 Panel", "Input from panel, actions to be taken away, comments, areas for improvement etc."),
    ):
        sheet = book.create_sheet(title)
        sheet.append([says])
        sheet["A1"].font = _BOLD
        sheet.append([None])
        sheet["A2"].fill = _INPUT
        sheet.column_dimensions["A"].width = 100
    folder = settings.output_dir / "governance" / "reviews"
    folder.mkdir(parents=True, exist_ok=True)
    return save_workbook(book, file_in(folder, f"service-review-{service_area}-{period.end:%Y-%m}", ".xlsx"))
