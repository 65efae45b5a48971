"""The provider-intelligence flow in real Prefect, on SQLite and PostgreSQL: the month's market checked and
stored, each provider's level proposed and recorded with the levels and movements published, once; the panel's
decisions given through the run's pause form (resumed through the API) and recorded; a market whose
intelligence fails its checks stops the run with nothing of that dataset written, and the QA team told. A major
concern (a CQC notice to cancel) emails the panel at once, and its provider-urgent-review run sends the panel the
level the rules give today, once. A working morning's chasing asks a provider for what it owes once per step
and tells the quality team what monitoring is overdue. The panel's pack and the dashboard go out the configured
working days before the panel meets, once."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from prefect.artifacts import Artifact
from sqlalchemy import func, select

from checks.intake import take_in
from flows.provider_chasing import provider_chasing
from flows.provider_intelligence import provider_intelligence
from flows.provider_review_pack import provider_review_pack
from flows.provider_urgent_review import provider_urgent_review
from qaloop.core.schema import PROVIDER_INTELLIGENCE, Dataset
from qaloop.core.settings import Settings
from qaloop.providers import record
from qaloop.store import models
from qaloop.store.engine import engine_from, upgrade
from tests.conftest import SmtpSink, write_config
from tests.prefect_server import paused_run
from tests.providers.market import CANCEL_NOTICE, with_market

pytestmark = pytest.mark.slow  # whole flows in real Prefect


def test_the_months_levels_are_proposed_recorded_and_published_once(
    prefect_harness: None, store_settings: Settings, tmp_path: Path
) -> None:
    settings = with_market(store_settings, tmp_path)
    upgrade(engine_from(settings))
    config = str(write_config(settings, tmp_path))
    first = provider_intelligence(config=config, today=date(2026, 12, 2))
    assert first.month == "2026-11"
    assert first.rows_stored["providers"] == 6
    assert first.levels == {1: 2, 2: 3, 3: 1}
    assert first.moving == ["1-1002", "1-1003", "1-1005", "1-1006"]
    published = Artifact.get("provider-levels")
    assert published is not None
    assert "- 1-1003: up from level 1 to 3 (cqc_inadequate" in str(published.data)
    again = provider_intelligence(config=config, today=date(2026, 12, 3))
    assert set(again.rows_stored.values()) == {0}
    assert again.levels == first.levels
    with engine_from(settings).connect() as connection:
        assert connection.scalar(select(func.count()).select_from(models.LevelProposal)) == 6


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_intelligence_failing_its_checks_stops_the_run_and_tells_the_qa_team(
    prefect_harness: None, store_settings: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    settings = with_market(store_settings, tmp_path)
    upgrade(engine_from(settings))
    path = settings.sources[Dataset.PROVIDER_CONCERNS].path
    concerns = pd.read_csv(path, dtype=str)
    concerns.loc[0, "CQC Location"] = "1-7777"
    concerns.to_csv(path, index=False)
    config = str(write_config(settings, tmp_path, smtp_server.port))
    state = provider_intelligence(config=config, today=date(2026, 12, 2), return_state=True)
    assert state.is_failed()
    with engine_from(settings).connect() as connection:
        assert connection.scalar(select(func.count()).select_from(models.ProviderConcern)) == 0
        assert connection.scalar(select(func.count()).select_from(models.LevelProposal)) == 0
    [alert] = smtp_server.messages
    body = alert.get_body(preferencelist=("plain",)).get_content()
    assert "location_id (the source's 'CQC Location') is not a service in the provider list" in body
    assert "SG-1" in body


def test_the_panels_decisions_are_given_in_the_runs_form_and_recorded(
    prefect_harness: None, store_settings: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    from prefect.flow_runs import resume_flow_run

    settings = with_market(store_settings, tmp_path)
    panel = settings.provider_quality.model_copy(update={"panel": ["quality.panel@qaloop-demo.example"]})
    settings = settings.model_copy(update={"provider_quality": panel})
    upgrade(engine_from(settings))
    config = str(write_config(settings, tmp_path, smtp_server.port))
    outcome: list = []
    runner = threading.Thread(
        target=lambda: outcome.append(
            provider_intelligence(config=config, today=date(2026, 12, 2), panel_decisions=True)
        )
    )
    runner.start()
    run_id = paused_run()
    # The panel is told, with the run's address.
    [asked] = smtp_server.messages
    assert asked["To"] == "quality.panel@qaloop-demo.example"
    assert asked["Subject"] == "qaloop: the providers' levels for 2026-11 wait for the panel's decisions"
    body = asked.get_body(preferencelist=("plain",)).get_content()
    assert "Hello quality review panel," in body and f"/runs/flow-run/{run_id}" in body
    assert "6 commissioned provider(s) for 2026-11 are proposed, 4 of them a move up or down" in body
    # A provider not proposed this month, or a decision without a reason, is refused against the form: the run
    # stays paused.
    for mistake in (
        [{"location_id": "1-9999", "level": 2, "reason": "escalate"}],
        [{"location_id": "1-1003", "level": 3, "reason": " "}],
    ):
        with pytest.raises(RuntimeError, match="Cannot resume this run"):
            resume_flow_run(run_id, run_input={"decisions": mistake, "decided_by": "QT-0001"})
        assert paused_run() == run_id
    resume_flow_run(
        run_id,
        run_input={
            "decisions": [
                {"location_id": "1-1003", "level": 3, "reason": "Panel: escalate to level 3"},
                {"location_id": "1-1002", "level": 2, "reason": "Panel: level 2", "jointly_with": "ICB-0042"},
            ],
            "decided_by": "QT-0001",
        },
    )
    runner.join(timeout=120)
    [summary] = outcome
    assert summary.decided == ["1-1003", "1-1002"]
    said = record.explain(engine_from(settings), settings, "1-1002", "2026-11")[-1]
    assert said.startswith("Decided: level 2 by QT-0001 jointly with ICB-0042 on ")
    published = Artifact.get("provider-decisions-2026-11")
    assert published is not None and "1-1003: Decided: level 3 by QT-0001" in str(published.data)


def test_a_cqc_notice_to_cancel_emails_the_panel_at_once_and_its_urgent_review_sends_the_pack_once(
    prefect_harness: None, store_settings: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    settings = with_market(store_settings, tmp_path, CANCEL_NOTICE)
    panel = settings.provider_quality.model_copy(update={"panel": ["quality.panel@qaloop-demo.example"]})
    settings = settings.model_copy(update={"provider_quality": panel})
    upgrade(engine_from(settings))
    config = str(write_config(settings, tmp_path, smtp_server.port))
    first = provider_intelligence(config=config, today=date(2026, 11, 28))
    assert first.urgent == ["1-1004 concern SG-9", "1-1005 cqc_enforcement ENF-2"]
    assert sorted(m["Subject"] for m in smtp_server.messages) == [
        "Urgent review of 1-1004 (Willow Care at Home): serious safeguarding",
        "Urgent review of 1-1005 (Birch View): cqc cancellation",
    ]
    assert {m["To"] for m in smtp_server.messages} == {"quality.panel@qaloop-demo.example"}
    published = Artifact.get("provider-urgent")
    assert published is not None and "notice of proposal to cancel (ENF-2)" in str(published.data)

    review = provider_urgent_review("1-1005", "cqc_enforcement", "ENF-2", config=config, today=date(2026, 11, 28))
    assert (review.level_now, review.level_by_rules) == (1, 3)
    pack = smtp_server.messages[-1]
    assert pack["Subject"] == "Urgent review of 1-1005 (Birch View): the level the rules give today"
    assert (
        "cqc_cancellation (level 3): CQC enforcement in the last 12 months" in pack.get_body(("plain",)).get_content()
    )
    shown = Artifact.get("provider-urgent-review-1-1005")
    assert shown is not None and "Level the threshold rules give today: **3**" in str(shown.data)
    # The run started again (the trigger, a retry) sends nothing more; the next provider run raises nothing new
    # and finds only the other cause still waiting for its review.
    provider_urgent_review("1-1005", "cqc_enforcement", "ENF-2", config=config, today=date(2026, 11, 28))
    assert provider_intelligence(config=config, today=date(2026, 11, 30)).urgent == []
    assert len(smtp_server.messages) == 3
    waiting = Artifact.get("provider-urgent")
    assert (
        waiting is not None and "ENF-2" not in str(waiting.data) and "earlier, review not yet sent" in str(waiting.data)
    )


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_an_urgent_review_of_a_cause_never_raised_stops_and_tells_the_qa_team(
    prefect_harness: None, store_settings: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    settings = with_market(store_settings, tmp_path)
    upgrade(engine_from(settings))
    take_in(settings, PROVIDER_INTELLIGENCE, date(2026, 11, 30))
    config = str(write_config(settings, tmp_path, smtp_server.port))
    state = provider_urgent_review("1-1001", "concern", "SG-404", config=config, return_state=True)
    assert state.is_failed()
    [alert] = smtp_server.messages
    assert "no urgent review of 1-1001 was raised by concern SG-404" in alert.get_body(("plain",)).get_content()


def test_a_working_mornings_chasing_asks_providers_once_per_step_and_tells_the_quality_team(
    prefect_harness: None, store_settings: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    settings = with_market(store_settings, tmp_path)
    quality = settings.provider_quality.model_copy(
        update={"monitoring_since": date(2026, 4, 1), "quality_team": ["provider.quality@qaloop-demo.example"]}
    )
    settings = settings.model_copy(update={"provider_quality": quality})
    upgrade(engine_from(settings))
    config = str(write_config(settings, tmp_path, smtp_server.port))
    first = provider_chasing(config=config, today=date(2026, 12, 3))
    assert first.rows_stored["monitoring_activities"] == 7
    assert (first.steps, first.overdue, first.emails_sent) == (3, 4, 2)
    by_to = {m["To"]: m for m in smtp_server.messages}
    assert set(by_to) == {"quality+1006@care-provider.example", "provider.quality@qaloop-demo.example"}
    asked = by_to["quality+1006@care-provider.example"].get_body(("plain",)).get_content()
    assert "For 1-1006, we are waiting for:" in asked and "annual self assessment" in asked
    summary = by_to["provider.quality@qaloop-demo.example"].get_body(("plain",)).get_content()
    assert "the monthly monitoring return for October 2026, due Tuesday 10 November 2026" in summary
    table = Artifact.get("provider-monitoring-overdue")
    assert table is not None and "1-1002" in str(table.data) and "quality team" in str(table.data)
    # A second run the same morning, and the weekend, send nothing more.
    again = provider_chasing(config=config, today=date(2026, 12, 3))
    assert (again.steps, again.emails_sent) == (0, 0)
    assert provider_chasing(config=config, today=date(2026, 12, 5)).steps == 0
    assert len(smtp_server.messages) == 2


def test_the_panel_pack_goes_out_the_configured_working_days_before_its_meeting_once(
    prefect_harness: None, store_settings: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    settings = with_market(store_settings, tmp_path)
    quality = settings.provider_quality.model_copy(
        update={
            "panel": ["quality.panel@qaloop-demo.example"],
            "dashboard_to": ["commissioners@qaloop-demo.example"],
            "panel_meetings": [date(2026, 12, 15)],
        }
    )
    settings = settings.model_copy(update={"provider_quality": quality})
    upgrade(engine_from(settings))
    config = str(write_config(settings, tmp_path, smtp_server.port))
    provider_intelligence(config=config, today=date(2026, 12, 2))
    # Five working days before Tuesday 15 December is Tuesday 8 December: the day before, nothing goes.
    assert provider_review_pack(config=config, today=date(2026, 12, 7)).meeting is None
    sent = provider_review_pack(config=config, today=date(2026, 12, 8))
    assert (sent.meeting, sent.month, sent.emails_sent) == (date(2026, 12, 15), "2026-11", 2)
    by_to = {m["To"]: m for m in smtp_server.messages}
    pack = by_to["quality.panel@qaloop-demo.example"]
    assert pack["Subject"] == (
        "Quality review panel pack, 2026-11 for the meeting on Tuesday 15 December 2026: 4 provider(s)"
    )
    assert sorted(part.get_filename() for part in pack.iter_attachments()) == [
        "panel-pack-2026-11.html", "panel-pack-2026-11.xlsx",
    ]  # fmt: skip
    assert "market-dashboard-2026-11.html" in {
        part.get_filename() for part in by_to["commissioners@qaloop-demo.example"].iter_attachments()
    }
    shown = Artifact.get("provider-pack-2026-11")
    assert shown is not None and "- 1-1003: level 1, proposed 3" in str(shown.data)
    assert provider_review_pack(config=config, today=date(2026, 12, 8)).emails_sent == 0  # once
    assert len(smtp_server.messages) == 2
