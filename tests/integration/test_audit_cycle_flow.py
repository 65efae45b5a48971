"""The audit-cycle flow in real Prefect, with a real SMTP server, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from prefect.artifacts import Artifact
from sqlalchemy import func, select

from flows.audit_cycle import audit_cycle
from qaloop import models
from qaloop.loader import LOAD_ORDER, load_dataset
from qaloop.settings import Settings
from qaloop.store import engine_from, upgrade
from qaloop.synthetic import generate, write_extracts
from tests.conftest import NEXT_CYCLE, SmtpSink, write_config


@pytest.fixture
def county(store_settings: Settings) -> Settings:
    """A 4,000-case county with its history loaded, auditing 15 cases per area."""
    settings = store_settings.model_copy(
        update={"calendar": store_settings.calendar.model_copy(update={"audits_per_area": 15})}
    )
    write_extracts(generate(settings, as_of=date(2026, 11, 22), seed=51, cases=4_000), settings)
    engine = engine_from(settings)
    upgrade(engine)
    for dataset in LOAD_ORDER:
        load_dataset(engine, settings, dataset)
    return settings


def test_a_cycle_runs_end_to_end_and_a_rerun_sends_nothing_new(
    prefect_harness: None, county: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    config = str(write_config(county, tmp_path, smtp_server.port))
    summary = audit_cycle(config=config, selection_date=NEXT_CYCLE)
    assert summary.cycle_ref == "2026-09" and summary.allocated == 60 and summary.waiting_for_an_auditor == 0
    assert summary.emails_sent == summary.emails_queued == len(smtp_server.messages) > 120
    assert summary.cases_loaded == 4_000 and summary.cases_quarantined == 0

    again = audit_cycle(config=config, selection_date=NEXT_CYCLE)
    assert (again.emails_queued, again.emails_sent, again.allocated) == (0, 0, 0)
    assert len(smtp_server.messages) == summary.emails_sent
    with engine_from(county).connect() as connection:
        cycles = connection.scalar(
            select(func.count()).select_from(models.AuditCycle).where(models.AuditCycle.cycle_ref == "2026-09")
        )
    assert cycles == 1

    sample = Artifact.get("sample-by-stratum")
    assert sample is not None and "MID|care_act_review" in str(sample.data)


def test_a_dry_run_allocates_but_sends_nothing(
    prefect_harness: None, county: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    summary = audit_cycle(
        config=str(write_config(county, tmp_path, smtp_server.port)), selection_date=NEXT_CYCLE, dry_run=True
    )
    assert summary.allocated == 60 and summary.emails_queued == 0 and summary.stopped == "dry run: no email queued"
    assert smtp_server.messages == []


def test_a_bad_staff_list_stops_the_cycle_before_anything_is_written(
    prefect_harness: None, county: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    import pandas as pd

    from qaloop.schema import Dataset

    staff_file = county.sources[Dataset.STAFF].path
    staff = pd.read_excel(staff_file, sheet_name="Staff", dtype=str)
    staff.loc[3, "Role"] = "wizard"
    staff.to_excel(staff_file, sheet_name="Staff", index=False)
    with pytest.raises(Exception, match="role is not one of"):
        audit_cycle(config=str(write_config(county, tmp_path, smtp_server.port)), selection_date=NEXT_CYCLE)
    with engine_from(county).connect() as connection:
        assert (
            connection.scalar(
                select(func.count()).select_from(models.AuditCycle).where(models.AuditCycle.cycle_ref == "2026-09")
            )
            == 0
        )
        assert connection.scalar(select(func.count()).select_from(models.EmailOutbox)) == 0
    assert smtp_server.messages == []
