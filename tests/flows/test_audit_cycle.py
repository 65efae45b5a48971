"""The audit-cycle flow in real Prefect, with a real SMTP server, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pandas as pd
import pytest
from prefect.artifacts import Artifact
from sqlalchemy import func, select

from flows.audit_cycle import audit_cycle
from qaloop.core.cycle_dates import cycle_dates
from qaloop.core.schema import Dataset
from qaloop.core.settings import Settings
from qaloop.store import models
from qaloop.store.engine import engine_from
from tests.conftest import NEXT_CYCLE, SmtpSink, write_config
from tests.history import forget_cycles
from tests.mail import assert_each_person_got_their_message, assert_no_staff_name_appears
from tests.prefect_server import paused_run

pytestmark = pytest.mark.slow  # whole flows in real Prefect


def test_a_cycle_runs_end_to_end_and_a_rerun_sends_nothing_new(
    prefect_harness: None, county: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    config = str(write_config(county, tmp_path, smtp_server.port))
    summary = audit_cycle(config=config, selection_date=NEXT_CYCLE)
    assert summary.cycle_ref == "2026-09" and summary.allocated == 60 and summary.waiting_for_an_auditor == 0
    assert summary.emails_sent == summary.emails_queued == len(smtp_server.messages) > 120
    assert summary.cases_loaded == 4_000 and summary.cases_quarantined == 0
    assert_each_person_got_their_message(county, cycle_dates(county.calendar, NEXT_CYCLE), smtp_server.messages)
    assert_no_staff_name_appears(county, smtp_server.messages)

    again = audit_cycle(config=config, selection_date=NEXT_CYCLE)
    assert (again.emails_queued, again.emails_sent, again.allocated) == (0, 0, 0)  # this run did nothing...
    assert again.allocated_in_cycle == 60  # ...to a cycle that holds 60
    assert again.emails_delivered_in_cycle == summary.emails_delivered_in_cycle == summary.emails_sent
    assert len(smtp_server.messages) == summary.emails_sent
    with engine_from(county).connect() as connection:
        cycles = connection.scalar(
            select(func.count()).select_from(models.AuditCycle).where(models.AuditCycle.cycle_ref == "2026-09")
        )
    assert cycles == 1

    sample = Artifact.get("cycle-sample-by-stratum")
    assert sample is not None and "MID|care_act_review" in str(sample.data)


# The discarding itself is a store test on both databases (tests/programmes/test_cycle_record.py).
@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_dry_run_draws_and_allocates_then_keeps_nothing_and_sends_nothing(
    prefect_harness: None, county: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    config = str(write_config(county, tmp_path, smtp_server.port))
    summary = audit_cycle(config=config, selection_date=NEXT_CYCLE, dry_run=True)
    assert summary.allocated == 60 and summary.emails_queued == 0 and summary.stopped.startswith("dry run: drawn")
    assert smtp_server.messages == []
    sample = Artifact.get("cycle-sample-by-stratum")
    assert sample is not None and "2026-09" in str(sample.description)  # the QA team can see what it drew
    with engine_from(county).connect() as connection:
        # Nothing of it counts as audited, is chased, or would stop a history load or the real run.
        assert connection.scalar(select(func.count()).select_from(models.AuditCycle).where(
            models.AuditCycle.cycle_ref == "2026-09")) == 0  # fmt: skip
        assert connection.scalar(select(func.count()).select_from(models.Allocation).where(
            models.Allocation.status != "closed")) == 0  # fmt: skip
    real = audit_cycle(config=config, selection_date=NEXT_CYCLE)
    assert real.allocated == 60 and real.emails_sent == real.emails_queued > 0


def test_a_bad_staff_list_stops_the_cycle_before_anything_is_written(
    prefect_harness: None, county: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
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
        kinds = connection.scalars(select(models.EmailOutbox.kind)).all()
    # Nothing of the cycle was written or sent: the one email is the QA team's alert that the run failed.
    assert kinds == ["run_failed"]
    [alert] = smtp_server.messages
    assert alert["Subject"].startswith("qaloop: the audit-cycle run demo-county 2026-09 failed")
    assert "role is not one of" in alert.get_body(("plain",)).get_content()


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)  # the store plays no part
def test_a_run_whose_configuration_cannot_be_read_is_named_and_alerted_once(
    prefect_harness: None, county: Settings, smtp_server: SmtpSink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.client.orchestration import get_client

    # The worker's own configuration (QALOOP_CONFIG) is what the alert goes by when the run's cannot be read.
    monkeypatch.setenv("QALOOP_CONFIG", str(write_config(county, tmp_path, smtp_server.port)))
    state = audit_cycle(config=str(tmp_path / "mistyped.yaml"), selection_date=NEXT_CYCLE, return_state=True)
    assert state.is_failed()
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    assert run.name == "audit-cycle (configuration not readable)"  # not a random name
    [alert] = smtp_server.messages
    assert alert["Subject"] == f"qaloop: the audit-cycle run {run.name} failed"
    body = alert.get_body(("plain",)).get_content()
    assert f"configuration file {tmp_path / 'mistyped.yaml'} not found" in body
    assert f"/runs/flow-run/{run.id}" in body


def test_a_cycle_without_its_audit_history_stops_and_tells_the_qa_team(
    prefect_harness: None, county: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    forget_cycles(county)  # as when the history file could not be loaded
    state = audit_cycle(
        config=str(write_config(county, tmp_path, smtp_server.port)), selection_date=NEXT_CYCLE, return_state=True
    )
    assert state.is_failed()
    with engine_from(county).connect() as connection:
        assert connection.scalar(select(func.count()).select_from(models.AuditCycle)) == 0
        assert connection.scalars(select(models.EmailOutbox.kind)).all() == ["run_failed"]
    [alert] = smtp_server.messages  # nothing sent to auditors or practitioners: only the QA team's alert
    body = alert.get_body(("plain",)).get_content()
    assert "Cycle 2026-09 was not drawn" in body and "the store holds no audit history" in body
    refusal = Artifact.get("cycle-not-drawn")
    assert refusal is not None and "the store holds no audit history" in str(refusal.data)


def test_bad_case_rows_within_the_allowed_share_go_to_a_quarantine_file_and_the_cycle_goes_on(
    prefect_harness: None, county: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    cases_file = county.sources[Dataset.CASES].path
    cases = pd.read_csv(cases_file, dtype=str, keep_default_na=False)
    cases.loc[5, "Worker ID"] = "E999999"
    cases.to_csv(cases_file, index=False)
    bad_ref = cases.loc[5, "Case Reference"]

    summary = audit_cycle(
        config=str(write_config(county, tmp_path, smtp_server.port)), selection_date=NEXT_CYCLE, dry_run=True
    )
    assert summary.cases_quarantined == 1 and summary.allocated == 60
    quarantine = pd.read_csv(county.output_dir / "quarantine" / f"cases-{NEXT_CYCLE}.csv", dtype=str)
    assert quarantine["case_ref"].tolist() == [bad_ref]
    assert quarantine["failed_checks"].tolist() == ["worker_id (the source's 'Worker ID') is not in the staff list"]


# Prefect's pause and resume; the replacement from reserves is a store test on both databases
# (tests/allocation/test_record.py).
@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_qa_team_approves_in_the_ui_and_an_excluded_case_is_replaced(
    prefect_harness: None, county: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    from prefect.flow_runs import resume_flow_run

    config = str(write_config(county, tmp_path, smtp_server.port))
    outcome: list = []
    # Retried, as the QA team retries a failed run from the UI.
    retried = audit_cycle.with_options(retries=2, retry_delay_seconds=0)  # a resume counts as a run
    runner = threading.Thread(
        target=lambda: outcome.append(retried(config=config, selection_date=NEXT_CYCLE, approval=True))
    )
    runner.start()
    run_id = paused_run()
    # The QA team is told, with the run's address, and nothing else is sent before approval.
    [asked] = smtp_server.messages
    assert asked["Subject"] == "qaloop: cycle 2026-09 waits for your approval"
    assert f"/runs/flow-run/{run_id}" in asked.get_body(preferencelist=("plain",)).get_content()
    # The run publishes the sample the form offers: each drawn case with its stratum, worker and reserve.
    sample = pd.DataFrame(json.loads(Artifact.get("cycle-2026-09-sample-to-approve").data))
    assert len(sample) == 60 and list(sample.columns) == [
        "case_ref",
        "stratum",
        "worker_id",
        "why_drawn",
        "first_reserve",
    ]
    assert (sample["why_drawn"] != "").all()  # a case drawn with every rule kept says so
    excluded = sample.loc[sample["first_reserve"] != "", "case_ref"].iloc[0]
    # A mistyped reference, or a case left out without a reason, is refused by the server against the form:
    # the run stays paused.
    for mistake in ([{"case_ref": "CR-MISTYPED", "reason": "case closed"}], [{"case_ref": excluded, "reason": " "}]):
        with pytest.raises(RuntimeError, match="Cannot resume this run"):
            resume_flow_run(run_id, run_input={"approve": True, "exclude": mistake})
        assert paused_run() == run_id
    resume_flow_run(
        run_id,
        run_input={
            "approve": True,
            "exclude": [{"case_ref": excluded, "reason": "case closed"}],
            "approved_by": "QA lead",
        },
    )
    runner.join(timeout=120)
    [summary] = outcome
    assert summary.allocated == 60 and len(summary.excluded) == 1
    assert summary.excluded[0].startswith(f"case {excluded} replaced by reserve")
    assert not any(excluded in message["Subject"] for message in smtp_server.messages[1:])
    with engine_from(county).connect() as connection:
        status = connection.scalar(
            select(models.Allocation.status)
            .join(models.CaseRecord, models.CaseRecord.id == models.Allocation.case_id)
            .where(models.CaseRecord.case_ref == excluded)
        )
    assert status == "replaced"
