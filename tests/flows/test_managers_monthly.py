"""Managers' monthly audits end to end in real Prefect with a real SMTP server, on SQLite and PostgreSQL:
each manager is given their cases for the month, none from a team they manage, and told by email; the
month is drawn once, and can be drawn again from the record to show it is the same."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import aliased

from flows.managers_monthly import managers_monthly
from qaloop.allocation.record import staff_frame
from qaloop.core.settings import Settings
from qaloop.programmes.explain import explain_cycle
from qaloop.programmes.managers_monthly import managed_teams
from qaloop.store import models
from qaloop.store.engine import engine_from
from qaloop.store.handles import authority_id
from tests.conftest import SmtpSink, write_config

pytestmark = pytest.mark.slow  # whole flows in real Prefect

FIRST_OF_MONTH = date(2026, 12, 1)


def test_each_manager_gets_their_months_cases_from_other_teams(
    prefect_harness: None, county: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    config = str(write_config(county, tmp_path, smtp_server.port))
    summary = managers_monthly(config=config, today=FIRST_OF_MONTH)
    assert summary.cycle_ref == "2026-12-managers"
    engine = engine_from(county)
    auditor, case_team = aliased(models.Staff), aliased(models.Team)
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                auditor.staff_ref, auditor.role, case_team.name, models.Allocation.status, models.Allocation.programme
            )
            .join(models.AuditCycle, models.AuditCycle.id == models.Allocation.cycle_id)
            .join(auditor, auditor.id == models.Allocation.auditor_id)
            .join(models.CaseRecord, models.CaseRecord.id == models.Allocation.case_id)
            .join(case_team, case_team.id == models.CaseRecord.team_id)
            .where(models.AuditCycle.cycle_ref == summary.cycle_ref)
        ).all()
        managed = managed_teams(staff_frame(connection, authority_id(connection, county)))
    assert len(rows) == summary.allocated > 0
    assert {row.role for row in rows} <= {"team_manager", "service_manager"}
    assert {(row.status, row.programme) for row in rows} == {("notified", "managers_monthly")}
    per_manager: dict[str, int] = {}
    for row in rows:
        assert row.name not in managed[row.staff_ref]  # never a team they manage
        per_manager[row.staff_ref] = per_manager.get(row.staff_ref, 0) + 1
    assert set(per_manager.values()) == {county.selection.cases_per_manager}
    allocated = [m for m in smtp_server.messages if m["Subject"].startswith("Audit allocated: case")]
    assert len(allocated) == summary.allocated

    # Anyone can draw the month again from what is recorded, and see why each case was or was not drawn.
    explanation = explain_cycle(engine, county, summary.cycle_ref)
    assert explanation.identical, explanation.differences
    reasons = explanation.outcomes.set_index("case_ref")["reason"]
    assert (reasons.str.startswith("drawn for manager")).sum() == summary.allocated

    again = managers_monthly(config=config, today=date(2026, 12, 2))
    assert again.cycle_ref == summary.cycle_ref and again.allocated == 0 and again.emails_sent == 0
