"""The audit tool workbook sent to an auditor: the case filled in, the type's questions, drop-down answers.

The sheet ``Audit`` holds, top to bottom: the case block (reference, audit type, cycle, auditor, due date,
and the allocation key that files the return), one row per question with an answer drop-down and room
for evidence, then the overall grade (a drop-down of the authority's scale), the escalation flag and the
feedback fields. The sheet ``Lists`` (hidden) holds the drop-down values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation

from qaloop.settings import AuditTool, GradeScale

FEEDBACK_FIELDS = (
    ("grade", "Overall grade"),
    ("escalation", "Escalation needed? (Yes / No)"),
    ("escalation_details", "If yes: the concern and who you have told"),
    ("strengths", "Strengths of the practice"),
    ("learning_points", "Learning points"),
    ("to_reach_higher_grade", "What would have earned a higher grade"),
)
_HEADING = Font(bold=True, size=13)
_BOLD = Font(bold=True)
_INPUT = PatternFill("solid", fgColor="FFF7D6")
_WRAP = Alignment(wrap_text=True, vertical="top")


@dataclass(frozen=True)
class AuditSheet:
    """What the workbook is filled in with: references only, never a person's name."""

    allocation_key: str
    case_ref: str
    audit_type_label: str
    cycle_ref: str
    auditor_ref: str
    audit_due: date


def write_audit_workbook(path: Path, sheet: AuditSheet, tool: AuditTool, scale: GradeScale) -> Path:
    """Write the pre-filled audit tool for one allocation to ``path`` and return it."""
    book = Workbook()
    audit = book.active
    audit.title = "Audit"
    lists = book.create_sheet("Lists")
    lists.sheet_state = "hidden"
    answers = sorted({answer for question in tool.questions for answer in (question.answers or tool.answers)})
    for row, value in enumerate(answers, start=1):
        lists.cell(row=row, column=1, value=value)
    for row, value in enumerate(scale.labels, start=1):
        lists.cell(row=row, column=2, value=value)
    for row, value in enumerate(["Yes", "No"], start=1):
        lists.cell(row=row, column=3, value=value)

    audit["A1"] = f"Audit tool: {sheet.audit_type_label}"
    audit["A1"].font = _HEADING
    details = [
        ("Case reference", sheet.case_ref),
        ("Audit type", sheet.audit_type_label),
        ("Cycle", sheet.cycle_ref),
        ("Auditor (staff id)", sheet.auditor_ref),
        ("Audit due", sheet.audit_due),
        ("Allocation key (do not change)", sheet.allocation_key),
    ]
    for offset, (label, value) in enumerate(details, start=3):
        audit.cell(row=offset, column=1, value=label).font = _BOLD
        cell = audit.cell(row=offset, column=2, value=value)
        if isinstance(value, date):
            cell.number_format = "dd/mm/yyyy"

    header_row = 3 + len(details) + 1
    for column, heading in enumerate(["Question", "Quality aspect", "Question text", "Answer", "Evidence"], start=1):
        audit.cell(row=header_row, column=column, value=heading).font = _BOLD
    answer_check = DataValidation(type="list", formula1=f"=Lists!$A$1:$A${len(answers)}", allow_blank=True)
    answer_check.error = "Choose one of the listed answers."
    audit.add_data_validation(answer_check)
    aspect_titles = {aspect.id: aspect.title for aspect in tool.aspects}
    for row, question in enumerate(tool.questions, start=header_row + 1):
        audit.cell(row=row, column=1, value=question.id)
        audit.cell(row=row, column=2, value=aspect_titles[question.aspect])
        audit.cell(row=row, column=3, value=question.text).alignment = _WRAP
        for column in (4, 5):
            audit.cell(row=row, column=column).fill = _INPUT
        answer_check.add(audit.cell(row=row, column=4))

    grade_check = DataValidation(type="list", formula1=f"=Lists!$B$1:$B${len(scale.labels)}", allow_blank=True)
    yes_no = DataValidation(type="list", formula1="=Lists!$C$1:$C$2", allow_blank=True)
    for validation in (grade_check, yes_no):
        audit.add_data_validation(validation)
    feedback_start = header_row + len(tool.questions) + 2
    for row, (field, label) in enumerate(FEEDBACK_FIELDS, start=feedback_start):
        audit.cell(row=row, column=1, value=field).font = Font(color="888888", size=9)
        audit.cell(row=row, column=2, value=label).font = _BOLD
        target = audit.cell(row=row, column=3)
        target.fill = _INPUT
        target.alignment = _WRAP
        if field == "grade":
            grade_check.add(target)
        elif field == "escalation":
            yes_no.add(target)
    for column, width in zip("ABCDE", (16, 34, 70, 18, 50), strict=True):
        audit.column_dimensions[column].width = width
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path
