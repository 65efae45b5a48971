"""ingest-returns and chase-deadlines as flows in real Prefect, with a real SMTP server."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from flows.chase_deadlines import chase_deadlines
from flows.ingest_returns import ingest_returns
from qaloop.core.settings import Settings
from qaloop.returns.workbooks import complete_audit_workbook
from tests.conftest import SmtpSink, write_config

pytestmark = pytest.mark.slow  # whole flows in real Prefect


def test_returns_are_filed_and_deadlines_chased_by_the_flows(
    prefect_harness: None, notified: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    config = str(write_config(notified, tmp_path, smtp_server.port))
    [sent, *_] = sorted((notified.output_dir / "cycles" / "2026-09" / "workbooks").glob("* audit tool.xlsx"))
    complete_audit_workbook(
        sent, notified.returns.inbox / "back.xlsx", grade="Requires improvement", completed_on=date(2027, 1, 5)
    )
    (notified.returns.inbox / "junk.csv").write_text("nothing,useful\n1,2\n")

    assert ingest_returns(config=config, today=date(2027, 1, 1)).files == 0  # a bank holiday: it waits
    summary = ingest_returns(config=config, today=date(2027, 1, 6))
    assert (summary.files, summary.filed, summary.quarantined_files) == (2, 1, 1)
    subjects = [message["Subject"] for message in smtp_server.messages]
    case_ref = sent.name.split(" ")[0]
    assert any(s.startswith(f"Audit feedback: case {case_ref}") for s in subjects)
    assert any(s.startswith("Corrective action") and case_ref in s for s in subjects)
    assert any("junk.csv" in s for s in subjects)  # the QA team hears which file could not be read

    before = len(smtp_server.messages)
    assert chase_deadlines(config=config, today=date(2027, 1, 1)).reminders == 0
    chased = chase_deadlines(config=config, today=date(2027, 1, 6))
    assert chased.reminders > 0 and chased.emails_sent == len(smtp_server.messages) - before
    assert chase_deadlines(config=config, today=date(2027, 1, 6)).emails_sent == 0  # a re-run sends nothing
    assert not any(
        case_ref in message["Subject"] or f"audit of case {case_ref}" in message.get_body(("plain",)).get_content()
        for message in smtp_server.messages[before:]
    )  # the returned audit is not chased
