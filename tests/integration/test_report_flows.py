"""The triangulation and cycle-report flows in real Prefect with a real SMTP server: the QA team's monthly
triangulation email, and a closed cycle's reports written, kept and sent once, on its close date."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from flows.cycle_report import cycle_report
from flows.triangulation import triangulation
from qaloop import models
from qaloop.settings import Settings
from qaloop.store import engine_from
from tests.conftest import CYCLE, SmtpSink, write_config

ONLY_SQLITE = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


@ONLY_SQLITE
def test_the_months_triangulation_reaches_the_qa_team_once(
    prefect_harness: None, closed: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    config = str(write_config(closed, tmp_path, smtp_server.port))
    with engine_from(closed).begin() as connection:  # the cycle's earlier emails are not this test's
        connection.execute(models.EmailOutbox.__table__.update().values(status="sent"))
    first = triangulation(config=config, today=date(2026, 12, 4))
    assert first.window == "Sep 2026 to Nov 2026"
    assert first.rows_stored == {"complaints": 0, "ombudsman": 0, "compliments": 0, "surveys": 0}  # loaded before
    assert first.emails_sent == 1
    [message] = smtp_server.messages
    assert message["To"] == "practice.quality@qaloop-demo.example"
    assert message["Subject"].startswith("Triangulation, Sep 2026 to Nov 2026:")
    assert [part.get_filename() for part in message.iter_attachments()] == ["triangulation-2026-09-to-2026-11.xlsx"]
    assert triangulation(config=config, today=date(2026, 12, 4)).emails_sent == 0


@ONLY_SQLITE
def test_a_cycle_is_reported_on_its_close_date_and_only_once(
    prefect_harness: None,
    closed: Settings,
    smtp_server: SmtpSink,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QALOOP_REPORTS__PSEUDONYM_KEY", "flow-test-key")
    config = str(write_config(closed, tmp_path, smtp_server.port))
    engine = engine_from(closed)
    with engine.begin() as connection:
        connection.execute(models.EmailOutbox.__table__.update().values(status="sent"))
        close_date = connection.scalar(select(models.AuditCycle.close_date).where(models.AuditCycle.cycle_ref == CYCLE))
    assert cycle_report(config=config, today=date(2027, 1, 29)).reports == {}  # not yet closed
    done = cycle_report(config=config, today=close_date)
    assert list(done.reports) == [CYCLE]
    assert all(Path(path).is_file() for path in done.reports[CYCLE])
    assert done.emails_sent == 2 + len(closed.authority.areas) + 1  # summary, highlights, areas, workshop
    assert any("workshop dataset" in message["Subject"] for message in smtp_server.messages)
    again = cycle_report(config=config, today=close_date)
    assert again.reports == {} and again.emails_sent == 0
    assert len(smtp_server.messages) == done.emails_sent
