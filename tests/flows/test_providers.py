"""The provider-intelligence flow in real Prefect, on SQLite and PostgreSQL: the month's market checked and
stored, each provider's level proposed and recorded with the levels and movements published, once; a market
whose intelligence fails its checks stops the run with nothing of that dataset written, and the QA team told."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from prefect.artifacts import Artifact
from sqlalchemy import func, select

from flows.provider_intelligence import provider_intelligence
from qaloop.core.schema import Dataset
from qaloop.core.settings import Settings
from qaloop.store import models
from qaloop.store.engine import engine_from, upgrade
from tests.conftest import SmtpSink, write_config
from tests.providers.market import with_market

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
