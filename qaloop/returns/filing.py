"""Returned work from the drop folder: audits, self-reflections, moderations, corrective actions and service
review workbooks, read, checked, filed.

Each file is handled once: its content hash goes into the ledger with the filing, in one transaction, and
only then is the file moved to ``processed/`` (or ``quarantine/``). A run that stops between the two finds
the file in the ledger next time and just moves it. Rows that fail their checks are never filed: a
workbook that fails goes to quarantine whole, a CSV's failing rows go to a ``.rejected.csv`` beside it in
quarantine with the reasons, while its good rows are filed. A second, different return for an allocation
already filed is held for the QA team; the same return sent twice is recognised and left alone.

Any number of runs may read the drop folder at once (the hourly flow and a run started by hand): a run first
claims each file with an exclusive lock on it, which the system drops if the run dies, and leaves to another
run every file it cannot claim or that has gone by the time it holds the lock. A link is never followed (it
may point anywhere): it goes to quarantine unread.

The checks themselves (Great Expectations) are passed in by the caller as ``check``, so this module stays
plain Python; ``checks.returns.check_return_file`` is the one qaloop uses. The files waiting in the inbox
are checked together, each row keyed by ``row_key`` (the file's number and the row's key).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd
from sqlalchemy import Connection, Engine, select, update

from qaloop.core.outputs import write_csv
from qaloop.core.quoting import QUOTED_ROWS, brief, quoted_reasons, some_of
from qaloop.core.schema import SCHEMAS, Dataset
from qaloop.core.settings import Settings
from qaloop.governance.review_panels import file_review
from qaloop.messaging.compose import compose
from qaloop.messaging.outbox import Message, enqueue
from qaloop.returns.annotate import annotate
from qaloop.returns.reading import (
    RETURN_DATASETS,
    ReturnFile,
    parse_day,
    passed_over,
    passed_over_because,
    read_return_file,
)
from qaloop.sources.readers import SourceError, file_digest
from qaloop.store import models
from qaloop.store.lifecycle import AWAITING_AUDIT, complete_action, move_allocations, move_moderations

ACTOR = "qaloop returns"


@dataclass(frozen=True)
class Rejection:
    """Why rows of a file cannot be filed: each failing row's key and the rules it broke, and a summary."""

    reasons: dict[str, str]
    summary: str
    whole_file: bool = False


@dataclass
class FileOutcome:
    """What happened to one file."""

    name: str
    dataset: str | None
    status: str  # processed, quarantined, or already processed
    filed: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    already_filed: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    problem: str | None = None
    filed_returns: list[int] = field(default_factory=list)
    moved_to: Path | None = None

    def quoted_refusals(self) -> list[tuple[str, str]]:
        """Each refused row as a message quotes it, its key and why, neither long enough to fill the message."""
        return quoted_reasons(self.rejected)


Check = Callable[[ReturnFile, pd.DataFrame, Settings], Rejection | None]
FollowUp = Callable[[Connection, Settings, Dataset, list[int], date], list[Message]]


def ingest_files(
    engine: Engine, settings: Settings, paths: list[Path], today: date, check: Check, follow_up: FollowUp
) -> list[FileOutcome]:
    """Read, check and file each returned file, queue its follow-up emails, and move it out of the inbox.

    The files of each kind are checked together (one Great Expectations run, whatever their number), then
    filed one by one, each in its own transaction with its ledger entry. Files another run has claimed are left
    to it and are not in the outcomes.
    """
    with contextlib.ExitStack() as claims:
        links = {path: _quarantine_unread(engine, settings, path, today) for path in paths if path.is_symlink()}
        claimed = {path: handle for path in paths if path not in links and (handle := _claim(path, claims))}
        linked = {
            path: _quarantine_unread(engine, settings, path, today, handle)
            for path, handle in claimed.items()
            if os.fstat(handle.fileno()).st_nlink > 1
        }
        mine = {path: handle for path, handle in claimed.items() if path not in linked}
        filed = dict(zip(mine, _ingest_claimed(engine, settings, mine, today, check, follow_up), strict=True))
        done = links | linked | filed
        return [outcome for path in paths if (outcome := done.get(path)) is not None]


@dataclass(frozen=True)
class PassedOver:
    """A hidden or temporary file in the drop folder: never read, left where it is, and reported."""

    name: str
    why: str
    since: datetime


def report_passed_over(engine: Engine, settings: Settings, now: datetime) -> list[PassedOver]:
    """The hidden and temporary files in the drop folder; the QA team is emailed once about each that has lain
    there a day (a workbook open in Excel keeps its ``~$`` file only while it is open)."""
    found, messages = [], []
    for path in passed_over(settings):
        try:
            status = path.lstat()
        except FileNotFoundError:
            continue
        since = datetime.fromtimestamp(status.st_mtime, tz=UTC)
        left = PassedOver(path.name, passed_over_because(path) or "", since)
        found.append(left)
        if now - since >= timedelta(days=1):
            identity = hashlib.sha256(f"{path.name}:{status.st_size}:{status.st_mtime_ns}".encode()).hexdigest()
            messages.append(
                compose(
                    settings,
                    "passed_over",
                    key=("returns", "passed over", identity[:32]),
                    to=[str(address) for address in settings.email.qa_team],
                    subject=f"A file in the returns drop folder is not read: {left.name}",
                    context={"file": brief(left.name, 120), "why": left.why, "since": since},
                )
            )
    if messages:
        with engine.begin() as connection:
            enqueue(connection, messages)
    return found


def _quarantine_unread(
    engine: Engine, settings: Settings, path: Path, today: date, hard_link: BinaryIO | None = None
) -> FileOutcome | None:
    """A link in the drop folder is never followed (it may point anywhere), nor a file with other names (a hard
    link: its content may belong anywhere else): the name in the drop folder goes to quarantine unread, taken
    with one atomic rename (None if another run took it first), and the QA team is told."""
    if hard_link is None:
        problem = f"{path.name}: a link, not a file in the drop folder: not read"
    else:
        problem = f"{path.name}: a file with other names elsewhere (a hard link), not a file of its own: not read"
    try:
        if hard_link is None:
            identity = f"link:{os.readlink(path)}"
        else:
            status = os.fstat(hard_link.fileno())
            identity = f"hard link:{status.st_dev}:{status.st_ino}"
        target = _free(settings.returns.quarantine / today.isoformat() / path.name)
        os.rename(path, target)
    except FileNotFoundError:
        return None
    target.with_name(target.name + ".why.txt").write_text(problem + "\n")
    digest = hashlib.sha256(identity.encode()).hexdigest()
    outcome = _record_unreadable(engine, settings, path.name, target, digest, problem)
    outcome.moved_to = target
    return outcome


def _claim(path: Path, claims: contextlib.ExitStack) -> BinaryIO | None:
    """The file at ``path``, opened (never through a link) and locked for this run until ``claims`` closes;
    None if it is not a regular file, another run holds it, or it has been moved since."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:  # gone, or made a link since the folder was listed (the next run quarantines it)
        return None
    handle = claims.enter_context(os.fdopen(descriptor, "rb"))
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        return None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return None
    try:  # the run that held it before may have filed it and moved it on, and a new file taken its name
        return handle if os.lstat(path).st_ino == os.fstat(descriptor).st_ino else None
    except FileNotFoundError:
        return None


def _ingest_claimed(
    engine: Engine, settings: Settings, claimed: dict[Path, BinaryIO], today: date, check: Check, follow_up: FollowUp
) -> list[FileOutcome]:
    """File the claimed files, read from the handles claimed (so what is read is what was claimed)."""
    outcomes: dict[Path, FileOutcome] = {}
    readable: dict[Dataset, list[tuple[Path, str, ReturnFile]]] = {}
    for path, opened in claimed.items():
        digest = file_digest(opened)
        with engine.connect() as connection:
            earlier = connection.scalar(
                select(models.SourceFile.id)
                .where(models.SourceFile.content_hash == digest, models.SourceFile.status == "processed")
                .where(models.SourceFile.dataset.in_([d.value for d in RETURN_DATASETS]))
            )
        if earlier is not None:
            # Filed before: never again. A quarantined file dropped again is examined again, as something
            # else may have been put right since (a substitute recorded, a case moved).
            outcomes[path] = FileOutcome(
                path.name, None, "already processed", moved_to=_move(path, settings, "processed", today)
            )
            continue
        try:
            returned = read_return_file(path, opened, settings)
        except SourceError as error:
            outcomes[path] = _quarantine_unreadable(engine, settings, path, digest, str(error), today)
            continue
        if returned.rows.empty:
            problem = f"{path.name}: the file has no rows"
            outcomes[path] = _quarantine_unreadable(engine, settings, path, digest, problem, today)
            continue
        readable.setdefault(returned.dataset, []).append((path, digest, returned))
    for dataset, files in readable.items():
        with engine.connect() as connection:
            annotated = [annotate(connection, settings, returned, today) for _, _, returned in files]
        key = SCHEMAS[dataset].key[0]
        combined = ReturnFile(
            Path("(waiting files)"),
            dataset,
            pd.concat([_keyed(frame, number, key) for number, frame in enumerate(annotated)], ignore_index=True),
            pd.concat(
                [_keyed(returned.answers, number, key) for number, (_, _, returned) in enumerate(files)],
                ignore_index=True,
            ),
            pd.concat(
                [_keyed(returned.actions, number, key) for number, (_, _, returned) in enumerate(files)],
                ignore_index=True,
            ),
        )
        rejection = check(combined, combined.rows, settings)
        for number, ((path, digest, returned), frame) in enumerate(zip(files, annotated, strict=True)):
            mine = {
                row_key.split(":", 1)[1]: why
                for row_key, why in (rejection.reasons if rejection else {}).items()
                if row_key.split(":", 1)[0] == str(number)
            }
            outcomes[path] = _file_one(
                engine, settings, path, digest, returned, frame, mine, rejection, today, follow_up
            )
    return [outcomes[path] for path in claimed]


def _keyed(frame: pd.DataFrame, number: int, key: str) -> pd.DataFrame:
    """``frame`` with ``row_key``: the file's number and the row's key, unique across the files checked."""
    if frame.empty:  # an export's answers and actions: none, whatever their columns
        return frame.assign(row_key=pd.Series(dtype="string"))
    return frame.assign(row_key=str(number) + ":" + frame[key].astype("string").fillna("(blank)"))


def _file_one(
    engine: Engine,
    settings: Settings,
    path: Path,
    digest: str,
    returned: ReturnFile,
    annotated: pd.DataFrame,
    reasons: dict[str, str],
    rejection: Rejection | None,
    today: date,
    follow_up: FollowUp,
) -> FileOutcome:
    key = SCHEMAS[returned.dataset].key[0]
    outcome = FileOutcome(path.name, returned.dataset.value, "processed")
    problem = None
    if reasons:
        outcome.rejected = reasons
        problem = "\n".join(some_of([f"{ref}: {why}" for ref, why in outcome.quoted_refusals()], QUOTED_ROWS))
    elif rejection is not None and rejection.whole_file:
        outcome.rejected = {"(whole file)": rejection.summary}
        problem = rejection.summary
    outcome.problem = problem
    failing = annotated[key].astype(str).isin(reasons)
    good = annotated.iloc[0:0] if rejection is not None and rejection.whole_file else annotated[~failing]
    with engine.begin() as connection:
        if not len(good):
            outcome.status = "quarantined"
        ledger_id = _ledger(connection, returned.dataset.value, path, digest, len(good), outcome.status, problem)
        if len(good):
            _file(connection, returned, good, ledger_id, outcome)
        messages = follow_up(connection, settings, returned.dataset, outcome.filed_returns, today)
        messages += _qa_team_notices(settings, outcome, digest)
        enqueue(connection, messages)
    if outcome.status == "quarantined":
        outcome.moved_to = _move(path, settings, "quarantine", today, why=problem)
    else:
        outcome.moved_to = _move(path, settings, "processed", today)
        if outcome.rejected:
            rejected = returned.rows[returned.rows[key].astype(str).isin(outcome.rejected)]
            target = _free(settings.returns.quarantine / today.isoformat() / f"{path.stem}.rejected.csv")
            write_csv(rejected.assign(failed_checks=rejected[key].astype(str).map(outcome.rejected)), target)
    return outcome


def _ledger(
    connection: Connection, dataset: str, path: Path, digest: str, rows: int, status: str, message: str | None
) -> int:
    """Record the file in the ledger (over its earlier quarantined entry, if any); returns the entry's id."""
    values = {
        "path": str(path),
        "size_bytes": path.lstat().st_size,  # a link's own size: it is never followed
        "rows": rows,
        "status": status,
        "message": message,
        "processed_at": models.utcnow(),
    }
    table = models.SourceFile
    earlier = connection.scalar(select(table.id).where(table.dataset == dataset, table.content_hash == digest))
    if earlier is not None:
        connection.execute(update(table).where(table.id == earlier).values(**values))
        return earlier
    return connection.execute(
        table.__table__.insert().values(dataset=dataset, content_hash=digest, **values)
    ).inserted_primary_key[0]


def _quarantine_unreadable(
    engine: Engine, settings: Settings, path: Path, digest: str, problem: str, today: date
) -> FileOutcome:
    outcome = _record_unreadable(engine, settings, path.name, path, digest, problem)
    outcome.moved_to = _move(path, settings, "quarantine", today, why=problem)
    return outcome


def _record_unreadable(
    engine: Engine, settings: Settings, name: str, where: Path, digest: str, problem: str
) -> FileOutcome:
    """A file nothing could be read from, in the ledger (as it lies at ``where``), with the QA team's notice."""
    outcome = FileOutcome(name, None, "quarantined", problem=problem, rejected={"(whole file)": problem})
    with engine.begin() as connection:
        _ledger(connection, "unreadable_return", where, digest, 0, "quarantined", problem)
        enqueue(connection, _qa_team_notices(settings, outcome, digest))
    return outcome


def _file(
    connection: Connection, returned: ReturnFile, good: pd.DataFrame, source_file_id: int, outcome: FileOutcome
) -> None:
    """File the good rows: new returns filed, different second returns held, identical ones left alone."""
    if returned.dataset is Dataset.ACTION_RETURNS:
        for row in good.itertuples():
            complete_action(connection, int(row.action_id), row.evidence)
            outcome.filed.append(str(row.action_id))
        return
    if returned.dataset is Dataset.REVIEW_RETURNS:
        staff = dict(connection.execute(select(models.Staff.staff_ref, models.Staff.id)).all())
        for row in good.itertuples():
            mine = returned.answers["review_ref"] == row.review_ref
            actions = returned.actions[returned.actions["review_ref"] == row.review_ref]
            review_id = file_review(connection, row, returned.answers[mine], actions, source_file_id, staff)
            if review_id is None:
                outcome.already_filed.append(row.review_ref)
                continue
            outcome.filed.append(row.review_ref)
            outcome.filed_returns.append(review_id)
        return
    if returned.dataset is Dataset.MODERATION_RETURNS:
        for row in good.itertuples():
            move_moderations(
                connection,
                [int(row.moderation_id)],
                "submitted",
                moderated_grade=row.moderated_grade,
                criteria_consistent=bool(row.criteria_consistent),
                feedback_constructive=bool(row.feedback_constructive),
                names_strengths=bool(row.names_strengths),
                names_learning=bool(row.names_learning),
                notes=_blank(row.notes),
                submitted_on=row.completed_on.date(),
                source_file_id=source_file_id,
            )
            allocation_id = connection.scalar(
                select(models.AuditReturn.allocation_id)
                .join(models.Moderation, models.Moderation.return_id == models.AuditReturn.id)
                .where(models.Moderation.id == int(row.moderation_id))
            )
            move_allocations(
                connection, [allocation_id], "moderated", actor=ACTOR, only_from=("submitted", "moderation")
            )
            outcome.filed.append(row.case_ref)
            outcome.filed_returns.append(int(row.moderation_id))
        return
    staff = dict(connection.execute(select(models.Staff.staff_ref, models.Staff.id)).all())
    table = models.AuditReturn if returned.dataset is Dataset.AUDIT_RETURNS else models.SelfReflection
    for row in good.itertuples():
        allocation_id = int(row.allocation_id)
        values = _return_values(returned, row, staff)
        existing = connection.execute(
            select(table).where(table.allocation_id == allocation_id, table.status == "filed")
        ).first()
        if existing is not None:
            if _same(connection, returned, existing, values, row.case_ref):
                outcome.already_filed.append(row.case_ref)
                continue
            status = "held"
            outcome.held.append(row.case_ref)
        else:
            status = "filed"
            outcome.filed.append(row.case_ref)
        inserted = connection.execute(
            table.__table__.insert().values(
                allocation_id=allocation_id, status=status, source_file_id=source_file_id, **values
            )
        ).inserted_primary_key[0]
        if returned.dataset is Dataset.AUDIT_RETURNS:
            answers = returned.answers[returned.answers["case_ref"] == row.case_ref]
            if len(answers):
                connection.execute(
                    models.AuditAnswer.__table__.insert(),
                    [
                        {
                            "return_id": inserted,
                            "question_id": a.question_id,
                            "answer": a.answer,
                            "evidence": _blank(a.evidence),
                        }
                        for a in answers.itertuples()
                        if not pd.isna(a.answer)
                    ],
                )
            if status == "filed":
                move_allocations(connection, [allocation_id], "submitted", actor=ACTOR, only_from=AWAITING_AUDIT)
                _open_agreed_actions(connection, returned, row, allocation_id, inserted, staff)
        if status == "filed":
            outcome.filed_returns.append(inserted)


def _open_agreed_actions(
    connection: Connection, returned: ReturnFile, row: Any, allocation_id: int, return_id: int, staff: dict[str, int]
) -> None:
    """Each agreed action of a filed audit becomes a corrective action owned by its "by whom" (the checks have
    made sure of the staff id and the date)."""
    agreed = returned.actions[returned.actions["case_ref"] == row.case_ref]
    for action in agreed.itertuples():
        connection.execute(
            models.CorrectiveAction.__table__.insert().values(
                allocation_id=allocation_id, return_id=return_id, reason="agreed_action", description=action.action,
                owner_id=staff[str(action.by_whom).strip()], due_date=parse_day(action.by_when), status="open",
                opened_at=models.utcnow(),
            )
        )  # fmt: skip


def _return_values(returned: ReturnFile, row: Any, staff: dict[str, int]) -> dict[str, Any]:
    completed = row.completed_on.date()
    if returned.dataset is Dataset.SELF_REFLECTIONS:
        return {"practitioner_id": staff[row.practitioner_id], "submitted_on": completed, "reflection": row.reflection}
    return {
        "auditor_id": staff[row.auditor_id],
        "submitted_on": completed,
        "grade": row.grade,
        "escalation": bool(row.escalation) if not pd.isna(row.escalation) else False,
        "escalation_details": _blank(row.escalation_details),
        "strengths": _blank(row.strengths),
        "learning_points": _blank(row.learning_points),
        "to_reach_higher_grade": _blank(row.to_reach_higher_grade),
    }


def _blank(value: Any) -> Any:
    return None if value is None or pd.isna(value) else value


def _same(connection: Connection, returned: ReturnFile, existing: Any, values: dict[str, Any], case_ref: str) -> bool:
    """Whether a return matches the one already filed (the same file content sent again)."""
    if any(getattr(existing, name) != value for name, value in values.items()):
        return False
    if returned.dataset is not Dataset.AUDIT_RETURNS:
        return True
    stored = set(
        connection.execute(
            select(models.AuditAnswer.question_id, models.AuditAnswer.answer).where(
                models.AuditAnswer.return_id == existing.id
            )
        ).all()
    )
    answers = returned.answers[(returned.answers["case_ref"] == case_ref) & returned.answers["answer"].notna()]
    return stored == set(zip(answers["question_id"], answers["answer"], strict=True))


def _qa_team_notices(settings: Settings, outcome: FileOutcome, digest: str) -> list[Message]:
    """The QA team's email about a file that could not be filed in full, or a return held as a second one."""
    if not outcome.rejected and not outcome.held:
        return []

    subject = f"Returned file {outcome.name}: " + (
        f"{len(outcome.rejected)} row(s) not filed" if outcome.rejected else f"{len(outcome.held)} return(s) held"
    )
    context = {
        "cycle_ref": "returns",
        "file": outcome.name,
        "status": outcome.status,
        "filed": some_of([brief(ref) for ref in outcome.filed], QUOTED_ROWS),
        "held": some_of([brief(ref) for ref in outcome.held], QUOTED_ROWS),
        "rejected": outcome.quoted_refusals()[:QUOTED_ROWS],
        "more_rejected": max(0, len(outcome.rejected) - QUOTED_ROWS),
    }
    return [
        compose(
            settings,
            "returns_problem",
            key=("returns", digest[:32], "qa-team"),
            to=[str(address) for address in settings.email.qa_team],
            subject=subject,
            context=context,
        )
    ]


def _move(path: Path, settings: Settings, where: str, today: date, why: str | None = None) -> Path:
    folder = (settings.returns.processed if where == "processed" else settings.returns.quarantine) / today.isoformat()
    target = _free(folder / path.name)
    shutil.move(path, target)
    if why:
        target.with_name(target.name + ".why.txt").write_text(why + "\n")
    return target


def _free(target: Path) -> Path:
    """``target``, or a numbered name beside it if a file of that name is already there."""
    target.parent.mkdir(parents=True, exist_ok=True)
    candidate, number = target, 1
    while candidate.exists():
        number += 1
        candidate = target.with_name(f"{target.stem} ({number}){target.suffix}")
    return candidate
