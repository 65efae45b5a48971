"""The triangulation and cycle-report flows in real Prefect with a real SMTP server: the QA team's monthly
triangulation email, a closed cycle's reports written, kept and sent once, on its close date, and the concerns its
figures show raised as events to start deep dives, except where one is already looking."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from prefect.artifacts import Artifact
from sqlalchemy import select

from flows.cycle_report import cycle_report
from flows.triangulation import triangulation
from qaloop.core.settings import Settings
from qaloop.programmes.deep_dive import DeepDiveRequest, draw_deep_dive
from qaloop.store import models
from qaloop.store.engine import engine_from
from tests.conftest import CYCLE, SmtpSink, write_config

pytestmark = pytest.mark.slow  # whole flows in real Prefect

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
    [attached] = list(message.iter_attachments())
    assert attached.get_filename() == "triangulation-2026-09-to-2026-11.xlsx"
    # The email and the workbook say how each measure was judged and what a signal means.
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "share of audits good or better: exact binomial limits, signals concern when below the lower limit" in body
    assert "never flagged" in body
    sheets = pd.read_excel(io.BytesIO(attached.get_content()), sheet_name=None)
    assert {"Flagged", "Teams", "Areas", "Themes", "Method"} <= set(sheets)
    assert set(sheets["Method"]["method"]) >= {"exact binomial limits", "exact Poisson limits"}
    assert "too_few" in sheets["Teams"].columns
    assert triangulation(config=config, today=date(2026, 12, 4)).emails_sent == 0


@ONLY_SQLITE
def test_a_cycle_is_reported_on_its_close_date_and_only_once(
    prefect_harness: None,
    closed: Settings,
    smtp_server: SmtpSink,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QALOOP_REPORTS__PSEUDONYM_KEY", "flow-test-key-a1B2c3D4e5F6g7H8i9J0")
    monkeypatch.setenv("QALOOP_REPORTS__LINK_BASE", "https://intranet.council.example/quality-assurance/")
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
    # The reports are a click away in the Prefect UI: a link to each report and data pack where they are published.
    summary = Artifact.get(f"summary-{CYCLE}")
    assert summary is not None and summary.type == "markdown"  # a link artifact is shown as markdown
    base = "https://intranet.council.example/quality-assurance"
    assert f"({base}/cycles/{CYCLE}/reports/summary-{CYCLE}.html)" in summary.data
    assert f"({base}/cycles/{CYCLE}/reports/summary-{CYCLE}-data.xlsx)" in Artifact.get(f"summary-{CYCLE}-data").data
    headlines = Artifact.get(f"cycle-report-{CYCLE}").data
    assert "Completion:" in headlines and f"{base}/cycles/{CYCLE}/reports/area-NE-{CYCLE}.html" in headlines
    again = cycle_report(config=config, today=close_date)
    assert again.reports == {} and again.emails_sent == 0
    assert len(smtp_server.messages) == done.emails_sent


def _shares_from_the_store(settings: Settings) -> tuple[dict[str, tuple[int, int]], dict[str, tuple[int, int]]]:
    """(good, audits) by area code and audit type, and (yes, answered) by tool and question, counted afresh."""
    codes = {area.name: area.code for area in settings.authority.areas}
    with engine_from(settings).connect() as connection:
        audits = connection.execute(
            select(models.Area.name, models.CaseRecord.audit_type, models.AuditReturn.grade)
            .join(models.Allocation, models.Allocation.id == models.AuditReturn.allocation_id)
            .join(models.AuditCycle, models.AuditCycle.id == models.Allocation.cycle_id)
            .join(models.CaseRecord, models.CaseRecord.id == models.Allocation.case_id)
            .join(models.Area, models.Area.id == models.CaseRecord.area_id)
            .where(models.AuditCycle.cycle_ref == CYCLE, models.AuditReturn.status == "filed")
        ).all()
        answers = connection.execute(
            select(models.CaseRecord.audit_type, models.AuditAnswer.question_id, models.AuditAnswer.answer)
            .join(models.AuditReturn, models.AuditReturn.id == models.AuditAnswer.return_id)
            .join(models.Allocation, models.Allocation.id == models.AuditReturn.allocation_id)
            .join(models.AuditCycle, models.AuditCycle.id == models.Allocation.cycle_id)
            .join(models.CaseRecord, models.CaseRecord.id == models.Allocation.case_id)
            .where(models.AuditCycle.cycle_ref == CYCLE)
        ).all()
    strata: dict[str, tuple[int, int]] = {}
    for area, audit_type, grade in audits:
        key = f"demo-county.stratum.{codes[area]}.{audit_type}"
        good, n = strata.get(key, (0, 0))
        strata[key] = (good + (grade in ("Good", "Outstanding")), n + 1)
    questions: dict[str, tuple[int, int]] = {}
    for audit_type, question, answer in answers:
        key = f"demo-county.question.{closed_tool(settings, audit_type)}.{question}"
        yes, n = questions.get(key, (0, 0))
        questions[key] = (yes + (answer == "Yes"), n + 1)
    return strata, questions


def closed_tool(settings: Settings, audit_type: str) -> str:
    return settings.audit_type(audit_type).tool


@ONLY_SQLITE
def test_a_reports_concerns_start_deep_dives_unless_one_is_already_looking(
    prefect_harness: None,
    closed: Settings,
    smtp_server: SmtpSink,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QALOOP_DEEP_DIVES__CONCERN_BELOW", "0.7")
    monkeypatch.setenv("QALOOP_DEEP_DIVES__CONCERN_MIN_AUDITS", "3")
    config = str(write_config(closed, tmp_path, smtp_server.port))
    strata, questions = _shares_from_the_store(closed)
    below = {key for key, (hits, n) in {**strata, **questions}.items() if n >= 3 and hits / n < 0.7}
    assert any(".stratum." in key for key in below) and any(".question." in key for key in below)
    looked_into = sorted(below)[0]
    settings = closed.model_copy(update={"deep_dives": closed.deep_dives.model_copy(update={"concern_below": 0.7})})
    draw_deep_dive(
        engine_from(closed), settings,
        DeepDiveRequest(theme="already looking", concern=looked_into, sample_size=2), date(2027, 1, 28),
    )  # fmt: skip
    done = cycle_report(config=config, cycle_ref=CYCLE, today=date(2027, 2, 1))
    assert sorted(done.concerns) == sorted(below - {looked_into})
