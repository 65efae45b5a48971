"""The audit tool workbook sent to an auditor: the case filled in, the type's questions, drop-down answers.

The sheet ``Audit`` holds, top to bottom: the case block (reference, audit type, cycle, auditor, due date,
and the allocation key that files the return), one row per question with an answer drop-down and room
for evidence, then the overall grade (a drop-down of the authority's scale), the escalation flag and the
feedback fields. The sheet ``Lists`` (hidden) holds the drop-down values.

The practitioner's self-reflection form is a smaller workbook (sheet ``Self-reflection``). The readers
here take either back as the auditor or practitioner returned it: the labels in column A find the
fields, so a row inserted by hand does not break reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation

from qaloop.core.outputs import save_workbook
from qaloop.core.settings import AuditTool, GradeScale

FEEDBACK_FIELDS = (
    ("completed_on", "Date completed"),
    ("grade", "Overall grade"),
    ("escalation", "Escalation needed? (Yes / No)"),
    ("escalation_details", "If yes: the concern and who you have told"),
    ("strengths", "Strengths of the practice"),
    ("learning_points", "Learning points"),
    ("to_reach_higher_grade", "What would have earned a higher grade"),
)
# Agreed actions to achieve good outcomes (Coventry): what, by whom (a staff id), by when; each becomes a
# corrective action owned by that member of staff.
ACTION_HEADINGS = ("Agreed action", "By whom (staff id)", "By when")
_HEADING = Font(bold=True, size=13)
_BOLD = Font(bold=True)
_INPUT = PatternFill("solid", fgColor="FFF7D6")
_WRAP = Alignment(wrap_text=True, vertical="top")
AUDIT_SHEET = "Audit"
REFLECTION_SHEET = "Self-reflection"
MODERATION_SHEET = "Moderation"
_DETAILS = {
    "Case reference": "case_ref",
    "Cycle": "cycle_ref",
    "Auditor (staff id)": "auditor_id",
    "Practitioner (staff id)": "practitioner_id",
    "Moderator (staff id)": "moderator_id",
}
MODERATION_FIELDS = (
    ("completed_on", "Date completed"),
    ("moderated_grade", "Your grade for this audit"),
    ("criteria_consistent", "Were the grading criteria applied consistently? (Yes / No)"),
    ("feedback_constructive", "Is the feedback supportive and constructive? (Yes / No)"),
    ("names_strengths", "Does the feedback name strengths? (Yes / No)"),
    ("names_learning", "Does the feedback name learning? (Yes / No)"),
    ("notes", "Notes for the auditor and the QA team"),
)


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
    audit.title = AUDIT_SHEET
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
        elif field == "completed_on":
            target.number_format = "dd/mm/yyyy"
    if tool.agreed_actions:
        actions_start = feedback_start + len(FEEDBACK_FIELDS) + 1
        for column, heading in enumerate(ACTION_HEADINGS, start=1):
            audit.cell(row=actions_start, column=column, value=heading).font = _BOLD
        for row in range(actions_start + 1, actions_start + 1 + tool.agreed_actions):
            for column in (1, 2, 3):
                audit.cell(row=row, column=column).fill = _INPUT
            audit.cell(row=row, column=1).alignment = _WRAP
            audit.cell(row=row, column=3).number_format = "dd/mm/yyyy"
    for column, width in zip("ABCDE", (16, 34, 70, 18, 50), strict=True):
        audit.column_dimensions[column].width = width
    path.parent.mkdir(parents=True, exist_ok=True)
    save_workbook(book, path)
    return path


@dataclass(frozen=True)
class ReflectionSheet:
    """What the self-reflection form is filled in with: references only."""

    case_ref: str
    audit_type_label: str
    cycle_ref: str
    practitioner_ref: str
    due: date


def write_reflection_workbook(path: Path, sheet: ReflectionSheet) -> Path:
    """Write the practitioner's self-reflection form for one allocation to ``path`` and return it."""
    book = Workbook()
    form = book.active
    form.title = REFLECTION_SHEET
    form["A1"] = f"Self-reflection: {sheet.audit_type_label}"
    form["A1"].font = _HEADING
    rows = [
        ("Case reference", sheet.case_ref),
        ("Audit type", sheet.audit_type_label),
        ("Cycle", sheet.cycle_ref),
        ("Practitioner (staff id)", sheet.practitioner_ref),
        ("Due", sheet.due),
        ("Date completed", None),
        ("Your reflection: what went well, what you would do differently, what would help you", None),
    ]
    for offset, (label, value) in enumerate(rows, start=3):
        form.cell(row=offset, column=1, value=label).font = _BOLD
        cell = form.cell(row=offset, column=2, value=value)
        if isinstance(value, date) or label == "Date completed":
            cell.number_format = "dd/mm/yyyy"
        if value is None:
            cell.fill = _INPUT
            cell.alignment = _WRAP
    form.column_dimensions["A"].width = 40
    form.column_dimensions["B"].width = 90
    form.row_dimensions[3 + len(rows) - 1].height = 200
    path.parent.mkdir(parents=True, exist_ok=True)
    save_workbook(book, path)
    return path


@dataclass(frozen=True)
class ReturnedWorkbook:
    """A returned workbook as text: ``fields`` in the canonical names of its dataset, and for an audit
    ``answers`` as (question id, answer, evidence) and any agreed ``actions``."""

    kind: str  # "audit", "self_reflection" or "moderation"
    fields: dict[str, str | None]
    answers: tuple[tuple[str, str | None, str | None], ...]
    actions: tuple[tuple[str | None, str | None, str | None], ...] = ()  # agreed actions: what, by whom, by when


# More rows than any form qaloop sends (its longest, the audit tool, has under two hundred): a workbook with
# more is not one of its forms, and is not read on.
FORM_ROWS = 1_000
_FORM_COLUMNS = 5  # label, value, grade, answer, evidence: nothing further right is read


def read_returned_workbook(source: Path | BinaryIO) -> ReturnedWorkbook:
    """Read a returned audit tool or self-reflection form, streaming it (read-only, values only); ValueError
    when it is neither or has more than ``FORM_ROWS`` rows, OSError or zipfile.BadZipFile when it cannot be
    opened."""
    book = load_workbook(source, read_only=True, data_only=True)
    try:
        for name, read in (
            (AUDIT_SHEET, _read_audit),
            (REFLECTION_SHEET, _read_reflection),
            (MODERATION_SHEET, _read_moderation),
        ):
            if name in book.sheetnames:
                return read(form_rows(book[name]))
        raise ValueError(
            f"not an audit tool, self-reflection form or moderation form (sheets: {', '.join(book.sheetnames)})"
        )
    finally:
        book.close()


def form_rows(sheet: Any, width: int = _FORM_COLUMNS) -> list[tuple[Any, ...]]:
    """The sheet's first ``width`` columns, row by row, each padded to that width (a streamed row ends at its last
    filled cell); ValueError past ``FORM_ROWS`` rows."""
    sheet.reset_dimensions()  # the sheet's own claim about its size is not trusted
    rows = []
    for row in sheet.iter_rows(max_col=width, values_only=True):
        if len(rows) == FORM_ROWS:
            raise ValueError(f"more than {FORM_ROWS:,} rows: not a form qaloop sends")
        rows.append(tuple(row) + (None,) * (width - len(row)))
    return rows


def cell_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d")
    text = str(value).strip()
    return text or None


def _read_audit(rows: list[tuple[Any, ...]]) -> ReturnedWorkbook:
    fields: dict[str, str | None] = {}
    answers = []
    feedback = {field for field, _ in FEEDBACK_FIELDS}
    actions = []
    in_questions = in_actions = False
    for row in rows:
        first = cell_text(row[0])
        if first in _DETAILS:
            fields[_DETAILS[first]] = cell_text(row[1])
        elif first == "Question":
            in_questions = True
        elif first == ACTION_HEADINGS[0]:
            in_actions = True
        elif in_actions:
            action = (first, cell_text(row[1]), cell_text(row[2]))
            if any(action):
                actions.append(action)
        elif in_questions and first and first not in feedback:
            answers.append((first, cell_text(row[3]), cell_text(row[4])))
        elif first in feedback:
            in_questions = False
            fields[first] = cell_text(row[2])
    return ReturnedWorkbook("audit", fields, tuple(answers), tuple(actions))


def _read_reflection(rows: list[tuple[Any, ...]]) -> ReturnedWorkbook:
    fields: dict[str, str | None] = {}
    for row in rows:
        first = cell_text(row[0])
        if first in _DETAILS:
            fields[_DETAILS[first]] = cell_text(row[1])
        elif first == "Date completed":
            fields["completed_on"] = cell_text(row[1])
        elif first and first.startswith("Your reflection"):
            fields["reflection"] = cell_text(row[1])
    return ReturnedWorkbook("self_reflection", fields, ())


def complete_audit_workbook(
    sent: Path,
    returned: Path,
    *,
    grade: str,
    completed_on: date,
    answer: str = "Yes",
    answers: Mapping[str, str] | None = None,
    skip: tuple[str, ...] = (),
    escalation: str | None = None,
    strengths: str = "Clear, well-structured recording of the person's views.",
    learning_points: str = "Record the rationale for decisions more fully.",
    to_reach_higher_grade: str = "Evidence of impact for the person.",
    actions: tuple[tuple[str, str, date | str], ...] = (),
) -> Path:
    """Fill in a sent audit tool as an auditor would (every question but ``skip`` answered as ``answers`` says
    by question id, else ``answer``, and
    the agreed ``actions`` as what, by whom, by when) and save it to ``returned``: the demo's simulated
    auditors, and the tests', use it."""
    book = load_workbook(sent)
    sheet = book[AUDIT_SHEET]
    values = {
        "completed_on": completed_on,
        "grade": grade,
        "escalation": "Yes" if escalation else "No",
        "escalation_details": escalation,
        "strengths": strengths,
        "learning_points": learning_points,
        "to_reach_higher_grade": to_reach_higher_grade,
    }
    in_questions = in_actions = False
    to_write = list(actions)
    for row in sheet.iter_rows():
        first = cell_text(row[0].value)
        if first == "Question":
            in_questions = True
        elif first == ACTION_HEADINGS[0]:
            in_questions, in_actions = False, True
        elif in_actions and to_write:
            row[0].value, row[1].value, row[2].value = to_write.pop(0)
        elif first in values:
            in_questions = False
            row[2].value = values[first]
        elif in_questions and first and first not in skip:
            row[3].value = (answers or {}).get(first, answer)
    returned.parent.mkdir(parents=True, exist_ok=True)
    save_workbook(book, returned)
    return returned


def complete_reflection_workbook(sent: Path, returned: Path, *, completed_on: date, reflection: str) -> Path:
    """Fill in a sent self-reflection form as a practitioner would and save it to ``returned``."""
    book = load_workbook(sent)
    for row in book[REFLECTION_SHEET].iter_rows():
        first = cell_text(row[0].value)
        if first == "Date completed":
            row[1].value = completed_on
        elif first and first.startswith("Your reflection"):
            row[1].value = reflection
    returned.parent.mkdir(parents=True, exist_ok=True)
    save_workbook(book, returned)
    return returned


@dataclass(frozen=True)
class ModerationSheet:
    """What the moderation form is filled in with: the audit as the auditor returned it, by reference."""

    case_ref: str
    audit_type_label: str
    cycle_ref: str
    auditor_ref: str
    moderator_ref: str
    due: date
    grade: str
    answers: tuple[tuple[str, str, str | None], ...]  # question id, question text, answer
    feedback: tuple[tuple[str, str | None], ...]  # label, text


def write_moderation_workbook(path: Path, sheet: ModerationSheet, scale: GradeScale) -> Path:
    """Write a practice lead's moderation form for one audit, pre-filled with the audit, and return it."""
    book = Workbook()
    form = book.active
    form.title = MODERATION_SHEET
    lists = book.create_sheet("Lists")
    lists.sheet_state = "hidden"
    for row, value in enumerate(scale.labels, start=1):
        lists.cell(row=row, column=1, value=value)
    for row, value in enumerate(["Yes", "No"], start=1):
        lists.cell(row=row, column=2, value=value)
    form["A1"] = f"Moderation: {sheet.audit_type_label}, case {sheet.case_ref}"
    form["A1"].font = _HEADING
    details = [
        ("Case reference", sheet.case_ref),
        ("Audit type", sheet.audit_type_label),
        ("Cycle", sheet.cycle_ref),
        ("Auditor (staff id)", sheet.auditor_ref),
        ("Moderator (staff id)", sheet.moderator_ref),
        ("Moderation due", sheet.due),
        ("The auditor's grade", sheet.grade),
    ]
    row = 3
    for label, value in details:
        form.cell(row=row, column=1, value=label).font = _BOLD
        cell = form.cell(row=row, column=2, value=value)
        if isinstance(value, date):
            cell.number_format = "dd/mm/yyyy"
        row += 1
    row += 1
    form.cell(row=row, column=1, value="The audit as returned").font = _BOLD
    for question_id, text, answer in sheet.answers:
        row += 1
        form.cell(row=row, column=1, value=question_id).font = Font(color="888888", size=9)
        form.cell(row=row, column=2, value=text).alignment = _WRAP
        form.cell(row=row, column=3, value=answer)
    for label, text in sheet.feedback:
        row += 1
        form.cell(row=row, column=1, value=label).font = Font(color="888888", size=9)
        form.cell(row=row, column=2, value=text).alignment = _WRAP
    row += 2
    form.cell(row=row, column=1, value="Your moderation").font = _HEADING
    grade_check = DataValidation(type="list", formula1=f"=Lists!$A$1:$A${len(scale.labels)}", allow_blank=True)
    yes_no = DataValidation(type="list", formula1="=Lists!$B$1:$B$2", allow_blank=True)
    form.add_data_validation(grade_check)
    form.add_data_validation(yes_no)
    for field, label in MODERATION_FIELDS:
        row += 1
        form.cell(row=row, column=1, value=field).font = Font(color="888888", size=9)
        form.cell(row=row, column=2, value=label).font = _BOLD
        target = form.cell(row=row, column=3)
        target.fill = _INPUT
        target.alignment = _WRAP
        if field == "moderated_grade":
            grade_check.add(target)
        elif field == "completed_on":
            target.number_format = "dd/mm/yyyy"
        elif field != "notes":
            yes_no.add(target)
    for column, width in zip("ABC", (24, 70, 40), strict=True):
        form.column_dimensions[column].width = width
    path.parent.mkdir(parents=True, exist_ok=True)
    save_workbook(book, path)
    return path


def _read_moderation(rows: list[tuple[Any, ...]]) -> ReturnedWorkbook:
    fields: dict[str, str | None] = {}
    wanted = {field for field, _ in MODERATION_FIELDS}
    for row in rows:
        first = cell_text(row[0])
        if first in _DETAILS:
            fields[_DETAILS[first]] = cell_text(row[1])
        elif first in wanted:
            fields[first] = cell_text(row[2])
    return ReturnedWorkbook("moderation", fields, ())


def complete_moderation_workbook(
    sent: Path,
    returned: Path,
    *,
    grade: str,
    completed_on: date,
    consistent: bool = True,
    constructive: bool = True,
    notes: str = "A fair grade, well evidenced.",
) -> Path:
    """Fill in a sent moderation form as a practice lead would and save it to ``returned``."""
    book = load_workbook(sent)
    answers = {
        "completed_on": completed_on,
        "moderated_grade": grade,
        "criteria_consistent": "Yes" if consistent else "No",
        "feedback_constructive": "Yes" if constructive else "No",
        "names_strengths": "Yes",
        "names_learning": "Yes" if constructive else "No",
        "notes": notes,
    }
    for row in book[MODERATION_SHEET].iter_rows():
        first = cell_text(row[0].value)
        if first in answers:
            row[2].value = answers[first]
    returned.parent.mkdir(parents=True, exist_ok=True)
    save_workbook(book, returned)
    return returned


def auditors_grade(moderation_form: Path) -> str:
    """The auditor's grade shown on a moderation form."""
    for row in load_workbook(moderation_form)[MODERATION_SHEET].iter_rows(values_only=True):
        if row and row[0] == "The auditor's grade":
            return str(row[1])
    raise ValueError(f"{moderation_form.name}: no auditor's grade on the form")
