"""Reading returned work as it arrives in the drop folder: the audit, self-reflection, moderation and service
performance review workbooks qaloop sent out, and CSV exports of forms and of corrective actions, each turned
into a ``ReturnFile`` of canonical rows (``qaloop.core.schema``), whatever the file's own layout; and which files
are waiting."""

from __future__ import annotations

import contextlib
import os
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import BinaryIO

import pandas as pd
from openpyxl import load_workbook

from qaloop.core.quoting import brief
from qaloop.core.schema import Dataset
from qaloop.core.settings import Settings
from qaloop.governance.review import ReturnedReview, is_review_workbook, read_review_workbook
from qaloop.returns.workbooks import read_returned_workbook
from qaloop.sources.readers import SourceError, canonical, plain

RETURN_DATASETS = (
    Dataset.AUDIT_RETURNS,
    Dataset.SELF_REFLECTIONS,
    Dataset.ACTION_RETURNS,
    Dataset.MODERATION_RETURNS,
    Dataset.REVIEW_RETURNS,
)
_WORKBOOK_DATASETS = {
    "audit": Dataset.AUDIT_RETURNS,
    "self_reflection": Dataset.SELF_REFLECTIONS,
    "moderation": Dataset.MODERATION_RETURNS,
}
DATE_FORMAT = "%d/%m/%Y"
_MEGABYTE = 1024 * 1024
_ANSWER_COLUMNS = ["case_ref", "question_id", "answer", "evidence"]
ACTION_COLUMNS = ["case_ref", "action", "by_whom", "by_when"]
JUDGEMENT_COLUMNS = ["review_ref", "lens", "area", "judgement", "comments"]


def _no_actions() -> pd.DataFrame:
    return pd.DataFrame(columns=ACTION_COLUMNS, dtype="string")


@dataclass(frozen=True)
class ReturnFile:
    """One returned file as canonical text: ``rows`` in its dataset's columns, an audit's ``answers`` long,
    and its agreed ``actions`` (case_ref, action, by_whom, by_when) where the audit tool has them."""

    path: Path
    dataset: Dataset
    rows: pd.DataFrame
    answers: pd.DataFrame  # a review's: its judgement areas (JUDGEMENT_COLUMNS)
    actions: pd.DataFrame = field(default_factory=_no_actions)  # keyed by the dataset's key (case_ref, review_ref)


def read_return_file(path: Path, opened: BinaryIO, settings: Settings) -> ReturnFile:
    """Read a returned workbook or CSV export from ``opened`` (the claimed file at ``path``); SourceError
    (naming the file) when it is neither, is unreadable whatever is wrong inside it (a renamed zip, a broken
    part), is over the drop folder's limits (``returns.max_file_megabytes``, ``max_expanded_megabytes``,
    ``max_rows``), or is a macro-enabled workbook. Nothing over a limit is read further than needed to know.

    A CSV is recognised by its columns: ``grade`` for audits, ``reflection`` for self-reflections,
    ``action_id`` for corrective actions. An audit CSV gives each question's answer in a column named after
    the question's id, and its evidence, optionally, in ``<id> evidence``.
    """
    limits = settings.returns
    suffix = path.suffix.lower()
    if suffix == ".xlsm":
        raise SourceError(f"{path.name}: a macro-enabled workbook is refused; save it as .xlsx and send it again")
    if suffix not in (".xlsx", ".csv"):
        raise SourceError(f"{path.name}: not a workbook (.xlsx) or a CSV export (.csv)")
    size = os.fstat(opened.fileno()).st_size
    if size > limits.max_file_megabytes * _MEGABYTE:
        raise SourceError(
            f"{path.name}: {size / _MEGABYTE:,.1f} MB, over the drop folder's limit of {limits.max_file_megabytes:g} MB"
            " (returns.max_file_megabytes): not read"
        )
    opened.seek(0)
    if suffix == ".xlsx":
        try:
            _within_expanded_limit(path, opened, limits.max_expanded_megabytes)
            opened.seek(0)
            return _without_control_characters(_from_workbook(path, opened))
        except SourceError:
            raise
        except Exception as error:  # noqa: BLE001  # whatever is wrong inside it, it is this file's alone
            said = brief(str(error).splitlines()[0], 200) if str(error) else type(error).__name__
            raise SourceError(f"{path.name}: not a readable workbook ({said})") from None
    try:
        raw = pd.read_csv(opened, dtype=str, keep_default_na=False, na_values=[""], nrows=limits.max_rows + 1)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise SourceError(f"{path.name}: not a readable file ({brief(str(error).splitlines()[0], 200)})") from None
    if len(raw) > limits.max_rows:
        raise SourceError(
            f"{path.name}: more than {limits.max_rows:,} rows, the drop folder's limit for one export "
            "(returns.max_rows): not read; split it"
        )
    raw.columns = [str(column).strip() for column in raw.columns]
    try:
        return _without_control_characters(_from_csv(path, raw, settings))
    except ValueError as error:
        raise SourceError(f"{path.name}: {brief(str(error), 500)}") from None


def _within_expanded_limit(path: Path, opened: BinaryIO, megabytes: float) -> None:
    """SourceError when the workbook's parts unzip to more than ``megabytes`` (a zip bomb unzips to far more).

    The sizes are those the archive declares; Python's zip reader never gives more than a part declares, so a
    part that lies is cut short and fails its checksum rather than filling the memory.
    """
    with zipfile.ZipFile(opened) as archive:
        expanded = sum(part.file_size for part in archive.infolist())
    if expanded > megabytes * _MEGABYTE:
        raise SourceError(
            f"{path.name}: unzips to {expanded / _MEGABYTE:,.0f} MB, over the drop folder's limit of {megabytes:g} MB"
            " (returns.max_expanded_megabytes): not read"
        )


def _without_control_characters(returned: ReturnFile) -> ReturnFile:
    """Every text of a return (its fields, answers and evidence, agreed actions) without control characters."""

    def cleaned(frame: pd.DataFrame) -> pd.DataFrame:
        text = [c for c in frame.columns if frame[c].dtype == object or isinstance(frame[c].dtype, pd.StringDtype)]
        return frame.assign(**{column: plain(frame[column]) for column in text}) if text else frame

    return ReturnFile(
        returned.path, returned.dataset, cleaned(returned.rows), cleaned(returned.answers), cleaned(returned.actions)
    )


def _from_workbook(path: Path, opened: BinaryIO) -> ReturnFile:
    book = load_workbook(opened, read_only=True)
    sheets = book.sheetnames
    book.close()
    opened.seek(0)
    if is_review_workbook(sheets):
        return _from_review(path, read_review_workbook(opened))
    returned = read_returned_workbook(opened)
    dataset = _WORKBOOK_DATASETS[returned.kind]
    rows = canonical(pd.DataFrame([returned.fields]), dataset, {}, origin=path.name)
    case_ref = rows["case_ref"].iloc[0]
    answers = pd.DataFrame(
        [(case_ref, *answer) for answer in returned.answers], columns=_ANSWER_COLUMNS, dtype="string"
    )
    actions = pd.DataFrame([(case_ref, *action) for action in returned.actions], columns=ACTION_COLUMNS, dtype="string")
    return ReturnFile(path, dataset, rows, answers, actions)


def _from_review(path: Path, returned: ReturnedReview) -> ReturnFile:
    rows = canonical(pd.DataFrame([returned.fields]), Dataset.REVIEW_RETURNS, {}, origin=path.name)
    reference = rows["review_ref"].iloc[0]
    judgements = pd.DataFrame(
        [(reference, *judgement) for judgement in returned.judgements], columns=JUDGEMENT_COLUMNS, dtype="string"
    )
    actions = pd.DataFrame(
        [(reference, *action) for action in returned.actions],
        columns=["review_ref", *ACTION_COLUMNS[1:], "measure"],
        dtype="string",
    )
    return ReturnFile(path, Dataset.REVIEW_RETURNS, rows, judgements, actions)


def _from_csv(path: Path, raw: pd.DataFrame, settings: Settings) -> ReturnFile:
    if "moderated_grade" in raw.columns:
        dataset = Dataset.MODERATION_RETURNS
    elif "grade" in raw.columns:
        dataset = Dataset.AUDIT_RETURNS
    elif "reflection" in raw.columns:
        dataset = Dataset.SELF_REFLECTIONS
    elif "action_id" in raw.columns:
        dataset = Dataset.ACTION_RETURNS
    else:
        raise SourceError(
            f"{path.name}: not an audit, self-reflection, corrective action or moderation export: it has "
            f"no 'grade', 'reflection', 'action_id' or 'moderated_grade' column (the columns found are "
            f"{brief(', '.join(map(repr, raw.columns)), 300)})"
        )
    rows = canonical(raw, dataset, {}, origin=path.name)
    answers = pd.DataFrame(columns=_ANSWER_COLUMNS, dtype="string")
    if dataset is Dataset.AUDIT_RETURNS:
        questions = {question.id for tool in settings.audit_tools.values() for question in tool.questions}
        asked = [column for column in raw.columns if column in questions]
        long = pd.concat(
            [
                pd.DataFrame(
                    {
                        "case_ref": rows["case_ref"],
                        "question_id": question,
                        "answer": raw[question],
                        "evidence": raw.get(f"{question} evidence"),
                    }
                )
                for question in asked
            ]
            or [answers]
        )
        answers = long[_ANSWER_COLUMNS].astype("string")
    return ReturnFile(path, dataset, rows, answers)


def parse_day(text: object) -> date | None:
    """A returned day, written as in the workbooks (dd/mm/yyyy) or ISO; None when it is neither."""
    value = str(text).strip() if text is not None and not pd.isna(text) else ""
    for form in (DATE_FORMAT, "%Y-%m-%d"):
        try:
            return datetime.strptime(value, form).date()
        except ValueError:
            continue
    return None


def inbox_files(settings: Settings) -> list[Path]:
    """The files waiting in the drop folder, oldest first (hidden and temporary files passed over: see
    ``passed_over``)."""
    return [path for path in _listed(settings) if not passed_over_because(path)]


def passed_over(settings: Settings) -> list[Path]:
    """Hidden and temporary files in the drop folder, which are never read (``passed_over_because`` says why)."""
    return [path for path in _listed(settings) if passed_over_because(path)]


def passed_over_because(path: Path) -> str | None:
    """Why a file in the drop folder is not read (a hidden file, or a temporary one an application keeps while
    the workbook is open), or None when it is read."""
    if path.name.startswith("~$"):
        return "a temporary file (Excel keeps one while a workbook is open); never read"
    if path.name.startswith("."):
        return "a hidden file (its name starts with a dot); never read: if it is a return, rename it"
    return None


def _listed(settings: Settings) -> list[Path]:
    inbox = settings.returns.inbox
    if not inbox.is_dir():
        return []
    listed = []
    for path in inbox.iterdir():
        with contextlib.suppress(FileNotFoundError):  # filed by another run since the folder was listed
            if path.is_file() or path.is_symlink():
                listed.append((path.lstat().st_mtime, path.name, path))
    return [path for *_, path in sorted(listed)]
