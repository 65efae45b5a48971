"""Returned audits, self-reflections and actions through the drop folder, on SQLite and PostgreSQL: every
check of a return, once-only filing, quarantine, held duplicates, and the follow-up each filing queues."""

from __future__ import annotations

import os
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
from openpyxl import load_workbook
from sqlalchemy import func, select

from checks.returns import check_return_file
from qaloop.core.settings import Settings
from qaloop.returns.filing import FileOutcome, ingest_files, report_passed_over
from qaloop.returns.follow_up import action_due, follow_up
from qaloop.returns.reading import inbox_files
from qaloop.returns.workbooks import complete_audit_workbook, complete_reflection_workbook
from qaloop.store import models
from qaloop.store.engine import engine_from

TODAY = date(2027, 1, 8)
DONE = date(2027, 1, 6)


def sent_workbooks(settings: Settings, kind: str = "audit tool") -> list[Path]:
    return sorted((settings.output_dir / "cycles" / "2026-09" / "workbooks").glob(f"* {kind}.xlsx"))


def ingest(settings: Settings, path: Path) -> FileOutcome:
    [outcome] = ingest_files(engine_from(settings), settings, [path], TODAY, check_return_file, follow_up)
    return outcome


def inbox(settings: Settings, name: str) -> Path:
    return settings.returns.inbox / name


def filed_returns(settings: Settings) -> list[tuple[str, str]]:
    with engine_from(settings).connect() as connection:
        return connection.execute(
            select(models.CaseRecord.case_ref, models.AuditReturn.status)
            .join(models.Allocation, models.Allocation.id == models.AuditReturn.allocation_id)
            .join(models.CaseRecord, models.CaseRecord.id == models.Allocation.case_id)
            .where(models.AuditReturn.source_file_id.is_not(None))  # filed from a returned file
            .where(
                models.Allocation.cycle_id.in_(
                    select(models.AuditCycle.id).where(models.AuditCycle.cycle_ref == "2026-09")
                )
            )
            .order_by(models.CaseRecord.case_ref)
        ).all()


def outbox(settings: Settings, kind: str) -> list[models.EmailOutbox]:
    with engine_from(settings).connect() as connection:
        return connection.execute(select(models.EmailOutbox).where(models.EmailOutbox.kind == kind)).all()


def case_of(workbook: Path) -> str:
    return workbook.name.split(" ")[0]


def test_a_returned_workbook_is_filed_once_with_its_feedback(notified: Settings) -> None:
    sent = sent_workbooks(notified)[0]
    returned = complete_audit_workbook(sent, inbox(notified, "audit.xlsx"), grade="Good", completed_on=DONE)
    outcome = ingest(notified, returned)
    assert (outcome.status, outcome.filed, outcome.rejected) == ("processed", [case_of(sent)], {})
    assert not returned.exists() and outcome.moved_to and outcome.moved_to.parent.parent == notified.returns.processed
    assert filed_returns(notified) == [(case_of(sent), "filed")]
    [feedback] = outbox(notified, "feedback")
    assert case_of(sent) in feedback.subject and "Good" in feedback.subject and feedback.cc  # the line manager

    again = complete_audit_workbook(sent, inbox(notified, "audit again.xlsx"), grade="Good", completed_on=DONE)
    book = load_workbook(again)
    book["Audit"]["H1"] = "sent again from another mailbox"  # another file, the same return
    book.save(again)
    assert ingest(notified, again).already_filed == [case_of(sent)]
    outcome_moved = outcome.moved_to
    outcome_moved.rename(inbox(notified, "audit.xlsx"))  # the very same file dropped again
    assert ingest(notified, inbox(notified, "audit.xlsx")).status == "already processed"
    assert filed_returns(notified) == [(case_of(sent), "filed")] and len(outbox(notified, "feedback")) == 1


def test_a_different_second_return_is_held_for_the_qa_team(notified: Settings) -> None:
    sent = sent_workbooks(notified)[1]
    ingest(notified, complete_audit_workbook(sent, inbox(notified, "first.xlsx"), grade="Good", completed_on=DONE))
    second = ingest(
        notified, complete_audit_workbook(sent, inbox(notified, "second.xlsx"), grade="Outstanding", completed_on=DONE)
    )
    assert second.held == [case_of(sent)]
    assert sorted(filed_returns(notified)) == [(case_of(sent), "filed"), (case_of(sent), "held")]
    [notice] = outbox(notified, "returns_problem")
    assert "second.xlsx" in notice.subject and case_of(sent) in notice.text_body


def test_below_standard_opens_an_action_and_an_escalation_reaches_three_people_at_once(notified: Settings) -> None:
    first, second = sent_workbooks(notified)[2:4]
    ingest(
        notified,
        complete_audit_workbook(first, inbox(notified, "ri.xlsx"), grade="Requires improvement", completed_on=DONE),
    )
    ingest(
        notified,
        complete_audit_workbook(
            second, inbox(notified, "esc.xlsx"), grade="Adequate", completed_on=DONE, escalation="No safeguarding plan"
        ),
    )
    with engine_from(notified).connect() as connection:
        actions = connection.execute(
            select(models.CorrectiveAction.reason, models.CorrectiveAction.due_date, models.Staff.role)
            .join(models.Staff, models.Staff.id == models.CorrectiveAction.owner_id)
            .order_by(models.CorrectiveAction.id)
        ).all()
    assert [(a.reason, a.role) for a in actions] == [("below_standard", "team_manager"), ("escalation", "team_manager")]
    assert actions[0].due_date == date(2027, 2, 28) == action_due(notified, DONE)  # the end of the month after
    [opened] = outbox(notified, "corrective_action")
    assert case_of(first) in opened.subject and opened.cc  # the service manager, to confirm
    [academy] = outbox(notified, "workforce_development")
    assert academy.recipients == ["academy@example.org"]
    [escalated] = outbox(notified, "escalation")
    assert len(escalated.recipients) == 3 and notified.qa_lead in escalated.recipients
    assert "No safeguarding plan" in escalated.text_body


def test_a_late_self_reflection_goes_to_the_line_manager_beside_the_audit(notified: Settings) -> None:
    audit = sent_workbooks(notified)[4]
    ingest(notified, complete_audit_workbook(audit, inbox(notified, "a.xlsx"), grade="Good", completed_on=DONE))
    form = next(p for p in sent_workbooks(notified, "self-reflection") if case_of(p) == case_of(audit))
    outcome = ingest(
        notified, complete_reflection_workbook(form, inbox(notified, "r.xlsx"), completed_on=DONE, reflection="I would")
    )
    assert outcome.filed == [case_of(audit)]
    [message] = outbox(notified, "reflection_for_manager")
    assert "I would" in message.text_body and "Good" in message.text_body


def _csv_of_returns(settings: Settings, workbooks: list[Path]) -> pd.DataFrame:
    from qaloop.returns.workbooks import read_returned_workbook

    rows = []
    for sent in workbooks:
        filled = complete_audit_workbook(sent, sent.with_name("filled.xlsx"), grade="Good", completed_on=DONE)
        returned = read_returned_workbook(filled)
        rows.append(returned.fields | {question: answer for question, answer, _ in returned.answers})
    frame = pd.DataFrame(rows)
    frame["completed_on"] = DONE.strftime("%d/%m/%Y")
    return frame


def test_each_check_of_a_return_names_the_file_and_rows_and_only_good_rows_are_filed(notified: Settings) -> None:
    workbooks = sent_workbooks(notified)[5:12]
    frame = _csv_of_returns(notified, workbooks)
    refs = frame["case_ref"].tolist()
    first_question = next(
        column for column in frame.columns if column not in ("case_ref", "cycle_ref") and frame[column].eq("Yes").all()
    )
    frame.loc[0, "case_ref"] = "CR-NOT-A-CASE"  # unknown allocation
    frame.loc[1, "auditor_id"] = "E000001"  # not the auditor
    frame.loc[2, first_question] = None  # a required question unanswered
    frame.loc[3, "grade"] = "Brilliant"  # off the scale
    frame.loc[4, "completed_on"] = "01/01/2030"  # in the future
    path = inbox(notified, "export.csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)

    outcome = ingest(notified, path)
    assert outcome.status == "processed" and sorted(outcome.filed) == sorted(refs[5:])
    assert outcome.rejected["CR-NOT-A-CASE"] == "there is no open allocation of this case in this cycle"
    assert outcome.rejected[refs[1]] == "auditor_id is neither the allocated auditor nor a recorded substitute"
    assert outcome.rejected[refs[2]] == "a required question is not answered"
    assert outcome.rejected[refs[3]].startswith("grade is not on the scale")
    assert outcome.rejected[refs[4]] == "completed_on is in the future"
    assert sorted(ref for ref, _ in filed_returns(notified)) == sorted(refs[5:])
    [notice] = outbox(notified, "returns_problem")
    assert "export.csv" in notice.subject and all(ref in notice.text_body for ref in ["CR-NOT-A-CASE", *refs[1:5]])
    [rejected] = list(notified.returns.quarantine.rglob("export.rejected.csv"))
    kept = pd.read_csv(rejected, dtype=str)
    assert sorted(kept["case_ref"]) == sorted(["CR-NOT-A-CASE", *refs[1:5]]) and "failed_checks" in kept.columns


def test_an_unreadable_or_failing_workbook_is_quarantined_whole_and_nothing_is_filed(notified: Settings) -> None:
    broken = inbox(notified, "broken.xlsx")
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_bytes(b"PK\x03\x04 this is not really a workbook")
    outcome = ingest(notified, broken)
    assert outcome.status == "quarantined" and "broken.xlsx: not a readable workbook" in (outcome.problem or "")
    assert outcome.moved_to and outcome.moved_to.exists() and outcome.moved_to.with_name("broken.xlsx.why.txt").exists()

    sent = sent_workbooks(notified)[12]
    bad = complete_audit_workbook(sent, inbox(notified, "bad.xlsx"), grade="Superb", completed_on=DONE)
    outcome = ingest(notified, bad)
    assert outcome.status == "quarantined" and outcome.rejected[case_of(sent)].startswith("grade is not on the scale")
    assert filed_returns(notified) == []
    with engine_from(notified).connect() as connection:
        assert connection.scalar(select(func.count()).select_from(models.AuditAnswer)) == 0
    assert len(outbox(notified, "returns_problem")) == 2


def test_files_waiting_together_are_checked_together_and_a_case_twice_in_one_export_is_refused(
    notified: Settings,
) -> None:
    first, second = sent_workbooks(notified)[13:15]
    one = complete_audit_workbook(first, inbox(notified, "one.xlsx"), grade="Good", completed_on=DONE)
    other = complete_audit_workbook(first, inbox(notified, "other.xlsx"), grade="Adequate", completed_on=DONE)
    frame = _csv_of_returns(notified, [second, second])
    export = inbox(notified, "twice.csv")
    frame.to_csv(export, index=False)
    outcomes = ingest_files(engine_from(notified), notified, [one, other, export], TODAY, check_return_file, follow_up)
    assert [(o.name, o.filed, o.held) for o in outcomes[:2]] == [
        ("one.xlsx", [case_of(first)], []),
        ("other.xlsx", [], [case_of(first)]),
    ]
    assert outcomes[2].status == "quarantined"
    assert outcomes[2].rejected == {case_of(second): "case_ref appears more than once"}


def _staff(settings: Settings, role: str, *, besides: tuple[str, ...] = ()) -> str:
    with engine_from(settings).connect() as connection:
        return connection.scalar(
            select(models.Staff.staff_ref)
            .where(models.Staff.role == role, models.Staff.staff_ref.not_in(besides))
            .order_by(models.Staff.staff_ref)
            .limit(1)
        )


def test_a_recorded_substitute_may_return_the_audit_and_no_one_else(notified: Settings, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli.main import app
    from tests.conftest import write_config

    config = str(write_config(notified, tmp_path))
    sent = sent_workbooks(notified)[15]
    book = load_workbook(sent)
    auditor = next(row[1].value for row in book["Audit"].iter_rows() if row[0].value == "Auditor (staff id)")
    stand_in = _staff(notified, "team_manager", besides=(auditor,))
    practitioner = _staff(notified, "practitioner")

    def returned_by(staff_ref: str, name: str) -> Path:
        path = complete_audit_workbook(sent, inbox(notified, name), grade="Good", completed_on=DONE)
        filled = load_workbook(path)
        for row in filled["Audit"].iter_rows():
            if row[0].value == "Auditor (staff id)":
                row[1].value = staff_ref
        filled.save(path)
        return path

    refused = ingest(notified, returned_by(stand_in, "early.xlsx"))
    assert refused.rejected == {case_of(sent): "auditor_id is neither the allocated auditor nor a recorded substitute"}
    cli = CliRunner()
    result = cli.invoke(
        app, ["allocation", "substitute", "2026-09", case_of(sent), practitioner, "--reason", "x", "-c", config]
    )
    assert result.exit_code == 1 and "cannot audit" in result.output
    result = cli.invoke(
        app,
        ["allocation", "substitute", "2026-09", case_of(sent), stand_in, "--reason", "auditor on leave", "-c", config],
    )
    assert result.exit_code == 0, result.output
    assert ingest(notified, returned_by(stand_in, "later.xlsx")).filed == [case_of(sent)]


def test_corrective_actions_close_by_command_or_by_returned_export(notified: Settings, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli.main import app
    from tests.conftest import write_config

    config = str(write_config(notified, tmp_path))
    for index, sent in enumerate(sent_workbooks(notified)[16:18]):
        ingest(
            notified,
            complete_audit_workbook(
                sent, inbox(notified, f"ri{index}.xlsx"), grade="Requires improvement", completed_on=DONE
            ),
        )
    with engine_from(notified).connect() as connection:
        first, second = connection.scalars(
            select(models.CorrectiveAction.id).order_by(models.CorrectiveAction.id)
        ).all()
    cli = CliRunner()
    result = cli.invoke(
        app, ["action", "close", str(first), "--evidence", "case reviewed with the worker", "-c", config]
    )
    assert result.exit_code == 0 and f"corrective action {first} closed" in result.output
    result = cli.invoke(app, ["action", "close", str(first), "--evidence", "again", "-c", config])
    assert result.exit_code == 1 and "already done" in result.output

    export = inbox(notified, "actions.csv")
    pd.DataFrame(
        {"action_id": [second, first], "completed_on": ["07/01/2027"] * 2, "evidence": ["plan updated", "twice"]}
    ).to_csv(export, index=False)
    outcome = ingest(notified, export)
    assert outcome.filed == [str(second)]
    assert outcome.rejected == {str(first): "action_id is not an open corrective action"}
    with engine_from(notified).connect() as connection:
        statuses = connection.execute(select(models.CorrectiveAction.status, models.CorrectiveAction.evidence)).all()
    assert sorted(statuses) == [("done", "case reviewed with the worker (closed by QA team)"), ("done", "plan updated")]


def test_control_characters_in_returned_text_are_taken_out_before_it_is_stored(notified: Settings) -> None:
    # A NUL and an escape pasted into free text: PostgreSQL refuses a NUL, and no workbook can hold either.
    [workbook] = sent_workbooks(notified)[15:16]
    frame = _csv_of_returns(notified, [workbook])
    frame["learning_points"] = "Record the\x00 visit\x1b[31m on the day.\nAnd the call."
    export = inbox(notified, "pasted.csv")
    export.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(export, index=False)
    assert ingest(notified, export).filed == [case_of(workbook)]
    with engine_from(notified).connect() as connection:
        stored = connection.scalar(
            select(models.AuditReturn.learning_points).where(models.AuditReturn.source_file_id.is_not(None))
        )
    assert stored == "Record the visit[31m on the day.\nAnd the call."


def test_a_file_that_is_not_what_its_name_says_is_quarantined_alone_and_the_rest_are_filed(
    notified: Settings,
) -> None:
    import zipfile

    renamed = inbox(notified, "photos.xlsx")  # a zip of something else, renamed
    renamed.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(renamed, "w") as archive:
        archive.writestr("holiday.txt", "not a workbook")
    sent = sent_workbooks(notified)[16]
    macro = inbox(notified, "with macros.xlsm")
    complete_audit_workbook(sent, macro, grade="Good", completed_on=DONE)
    good = complete_audit_workbook(sent, inbox(notified, "audit.xlsx"), grade="Good", completed_on=DONE)
    outcomes = ingest_files(
        engine_from(notified), notified, [renamed, macro, good], TODAY, check_return_file, follow_up
    )
    assert [o.status for o in outcomes] == ["quarantined", "quarantined", "processed"]
    assert "photos.xlsx: not a readable workbook" in (outcomes[0].problem or "")
    assert "macro-enabled" in (outcomes[1].problem or "")
    assert outcomes[2].filed == [case_of(sent)]


def test_a_link_in_the_drop_folder_is_never_followed(notified: Settings, tmp_path: Path) -> None:
    # A link to a file elsewhere (here a completed audit, which would file if it were read).
    sent, other = sent_workbooks(notified)[17:19]
    elsewhere = complete_audit_workbook(sent, tmp_path / "elsewhere.xlsx", grade="Good", completed_on=DONE)
    link = inbox(notified, "link.xlsx")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(elsewhere)
    good = complete_audit_workbook(other, inbox(notified, "audit.xlsx"), grade="Good", completed_on=DONE)
    outcomes = ingest_files(engine_from(notified), notified, [link, good], TODAY, check_return_file, follow_up)
    assert [o.status for o in outcomes] == ["quarantined", "processed"]
    assert "link.xlsx: a link, not a file in the drop folder: not read" in (outcomes[0].problem or "")
    assert filed_returns(notified) == [(case_of(other), "filed")]  # the linked audit was not filed
    assert elsewhere.exists() and outcomes[0].moved_to and outcomes[0].moved_to.is_symlink()


def _with_limits(settings: Settings, **limits: object) -> Settings:
    return settings.model_copy(update={"returns": settings.returns.model_copy(update=limits)})


def test_files_over_the_drop_folders_limits_are_quarantined_unread_and_the_rest_are_filed(notified: Settings) -> None:
    limited = _with_limits(notified, max_file_megabytes=1, max_expanded_megabytes=2, max_rows=3)
    inbox(notified, "").mkdir(parents=True, exist_ok=True)
    bomb = inbox(notified, "bomb.xlsx")  # a few kilobytes that unzip to 3 MB (a real bomb unzips to terabytes)
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (3 * 1024 * 1024))
    heavy = inbox(notified, "heavy.csv")
    heavy.write_text("grade\n" + "Good\n" * 300_000)  # 1.4 MB
    many = inbox(notified, "many.csv")
    _csv_of_returns(notified, sent_workbooks(notified)[0:4]).to_csv(many, index=False)
    long = complete_audit_workbook(
        sent_workbooks(notified)[4], inbox(notified, "long.xlsx"), grade="Good", completed_on=DONE
    )
    book = load_workbook(long)
    for number in range(1_100):
        book["Audit"].append([f"pasted row {number}"])
    book.save(long)
    sent = sent_workbooks(notified)[5]
    good = complete_audit_workbook(sent, inbox(notified, "audit.xlsx"), grade="Good", completed_on=DONE)

    outcomes = ingest_files(
        engine_from(limited), limited, [bomb, heavy, many, long, good], TODAY, check_return_file, follow_up
    )
    assert [o.status for o in outcomes] == ["quarantined"] * 4 + ["processed"]
    problems = [o.problem or "" for o in outcomes[:4]]
    assert "bomb.xlsx: unzips to 3 MB, over the drop folder's limit of 2 MB" in problems[0]
    assert "heavy.csv: 1.4 MB, over the drop folder's limit of 1 MB" in problems[1]
    assert "many.csv: more than 3 rows" in problems[2]
    assert "long.xlsx: not a readable workbook (more than 1,000 rows: not a form qaloop sends)" in problems[3]
    assert filed_returns(notified) == [(case_of(sent), "filed")]
    assert len(outbox(notified, "returns_problem")) == 4


def test_a_hard_link_in_the_drop_folder_is_never_read(notified: Settings, tmp_path: Path) -> None:
    # A second name for a file that belongs elsewhere (here a completed audit, which would file if it were read).
    sent = sent_workbooks(notified)[6]
    elsewhere = complete_audit_workbook(sent, tmp_path / "elsewhere.xlsx", grade="Good", completed_on=DONE)
    inbox(notified, "").mkdir(parents=True, exist_ok=True)
    linked = inbox(notified, "linked.xlsx")
    os.link(elsewhere, linked)
    [outcome] = ingest_files(engine_from(notified), notified, [linked], TODAY, check_return_file, follow_up)
    assert outcome.status == "quarantined" and "a hard link" in (outcome.problem or "")
    assert filed_returns(notified) == [] and elsewhere.exists() and not linked.exists()


def test_hidden_and_temporary_files_are_reported_and_the_qa_team_told_once_after_a_day(notified: Settings) -> None:
    inbox(notified, "").mkdir(parents=True, exist_ok=True)
    hidden = inbox(notified, ".audit.xlsx")
    complete_audit_workbook(sent_workbooks(notified)[7], hidden, grade="Good", completed_on=DONE)
    lock = inbox(notified, "~$audit.xlsx")
    lock.write_bytes(b"owner")
    assert inbox_files(notified) == []
    now = datetime.now(UTC)
    engine = engine_from(notified)
    left = report_passed_over(engine, notified, now)
    assert sorted(file.name for file in left) == [".audit.xlsx", "~$audit.xlsx"]
    assert "hidden file" in next(f.why for f in left if f.name == ".audit.xlsx")
    assert outbox(notified, "passed_over") == []  # not yet a day: Excel may still have the workbook open
    report_passed_over(engine, notified, now + timedelta(days=1, minutes=1))
    report_passed_over(engine, notified, now + timedelta(days=2))
    told = outbox(notified, "passed_over")
    assert sorted(message.subject for message in told) == [
        "A file in the returns drop folder is not read: .audit.xlsx",
        "A file in the returns drop folder is not read: ~$audit.xlsx",
    ]
    assert hidden.exists() and lock.exists() and filed_returns(notified) == []


def test_a_message_about_a_file_quotes_a_few_of_its_refused_rows(notified: Settings) -> None:
    frame = _csv_of_returns(notified, sent_workbooks(notified)[8:9])
    frame = pd.concat([frame] * 30, ignore_index=True)
    frame["case_ref"] = [f"CR-NOT-{number:03d}-" + "x" * 500 for number in range(30)]
    export = inbox(notified, "export.csv")
    export.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(export, index=False)
    outcome = ingest(notified, export)
    assert outcome.status == "quarantined" and len(outcome.rejected) == 30
    lines = (outcome.problem or "").splitlines()
    assert len(lines) == 11 and lines[-1] == "... and 20 more" and all(len(line) < 400 for line in lines)
    [notice] = outbox(notified, "returns_problem")
    assert "and 20 more row(s)" in notice.text_body and len(notice.text_body) < 8_000
