"""The commissioned market's datasets, read in the layouts CQC and councils publish: checked by Great
Expectations, bad rows named by row and reason with nothing of their dataset written, the CQC directory's
rows about other councils' locations and population groups counted and left out, each file stored once."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from checks.intake import take_in
from checks.outcomes import CheckFailed, EvidenceFailed
from qaloop.core.schema import PROVIDER_INTELLIGENCE, Dataset
from qaloop.core.settings import Settings
from qaloop.sources.loading import LoadError
from qaloop.sources.readers import SourceError
from qaloop.store import models
from qaloop.store.engine import engine_from, upgrade
from tests.providers.market import PROVIDERS, with_market

AS_OF = date(2026, 11, 30)


def _count(settings: Settings, model: type) -> int:
    with engine_from(settings).connect() as connection:
        return connection.scalar(select(func.count()).select_from(model))


@pytest.fixture
def market(store_settings: Settings, tmp_path: Path) -> Settings:
    settings = with_market(store_settings, tmp_path)
    upgrade(engine_from(settings))
    return settings


@pytest.fixture
def market_on_sqlite(settings: Settings, tmp_path: Path) -> Settings:
    settings = with_market(settings, tmp_path)
    upgrade(engine_from(settings))
    return settings


def _spoil(settings: Settings, dataset: Dataset, row: int, column: str, value: str) -> None:
    path = settings.sources[dataset].path
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[row, column] = value
    frame.to_csv(path, index=False)


def test_the_market_is_stored_from_the_cqc_directory_and_the_councils_logs_once(market: Settings) -> None:
    taken = {intake.dataset: intake for intake in take_in(market, PROVIDER_INTELLIGENCE, AS_OF)}
    assert set(taken) == set(PROVIDER_INTELLIGENCE)
    assert taken[Dataset.PROVIDERS].new == len(PROVIDERS) == _count(market, models.Provider)
    # Six locations' overall and five key question ratings; the other councils' locations and a population
    # group's row are counted and left out, not refused.
    assert taken[Dataset.CQC_RATINGS].new == 36 == _count(market, models.CqcRating)
    assert taken[Dataset.CQC_RATINGS].left_out == (
        "2 row(s) about 2 location(s) not in the provider list",
        "1 row(s) rating a service or population group, not the location",
    )
    assert _count(market, models.ProviderConcern) == 5
    assert _count(market, models.MonitoringReturn) == 18
    assert _count(market, models.MonitoringActivity) == 7
    with engine_from(market).connect() as connection:
        upheld = dict(
            connection.execute(select(models.ProviderFeedback.feedback_ref, models.ProviderFeedback.upheld)).all()
        )
    assert upheld == {"CMP-1": True, "CMP-2": False, "CPL-1": None, "CPL-2": None}
    with engine_from(market).connect() as connection:
        joint = connection.execute(
            select(models.Provider.service_type, models.Provider.commissioned_by, models.Provider.lead_organisation)
            .where(models.Provider.location_id == "1-1002")
        ).one()  # fmt: skip
        serious = connection.scalar(
            select(models.ProviderConcern.serious).where(models.ProviderConcern.concern_ref == "SG-9")
        )
    assert tuple(joint) == ("nursing_home", "joint", "council")
    assert serious is True
    again = take_in(market, PROVIDER_INTELLIGENCE, AS_OF)
    assert all(intake.already_loaded for intake in again)


def test_bad_rows_are_named_by_row_and_reason_and_nothing_of_their_dataset_is_written(
    market_on_sqlite: Settings,
) -> None:
    settings = market_on_sqlite
    _spoil(settings, Dataset.CQC_RATINGS, 13, "Latest Rating", "Needs improvement")  # 1-1003's Safe
    _spoil(settings, Dataset.PROVIDER_CONCERNS, 0, "CQC Location", "1-7777")
    _spoil(settings, Dataset.CONTRACT_NOTICES, 0, "Lifted", "01/04/2026")  # before it was served, 01/05/2026
    with pytest.raises(EvidenceFailed) as failed:
        take_in(settings, PROVIDER_INTELLIGENCE, AS_OF)
    message = str(failed.value)
    assert (
        "rating (the source's 'Latest Rating') is not one of: Outstanding, Good, Requires improvement, Inadequate, "
        "Insufficient evidence to rate: 1 row(s): 1-1003 / Safe (values: Needs improvement)"
    ) in message
    assert (
        "location_id (the source's 'CQC Location') is not a service in the provider list: 1 row(s): SG-1 "
        "(values: 1-7777)"
    ) in message
    assert "ends_on (the source's 'Lifted') is before served_on: 1 row(s): CN-1" in message
    assert _count(settings, models.CqcRating) == 0
    assert _count(settings, models.ProviderConcern) == 0
    assert _count(settings, models.ContractNotice) == 0
    # The datasets that passed are stored; the others, corrected at source, come in on the next run.
    assert {intake.dataset for intake in failed.value.loaded} == {
        Dataset.PROVIDERS, Dataset.CQC_ENFORCEMENT, Dataset.MONITORING_RETURNS, Dataset.IMPROVEMENT_ACTIONS,
        Dataset.MONITORING_ACTIVITIES, Dataset.PROVIDER_FEEDBACK,
    }  # fmt: skip
    _spoil(settings, Dataset.CQC_RATINGS, 13, "Latest Rating", "Inadequate")
    _spoil(settings, Dataset.PROVIDER_CONCERNS, 0, "CQC Location", "1-1002")
    _spoil(settings, Dataset.CONTRACT_NOTICES, 0, "Lifted", "")
    retaken = {intake.dataset: intake for intake in take_in(settings, PROVIDER_INTELLIGENCE, AS_OF)}
    assert retaken[Dataset.PROVIDERS].already_loaded
    assert not retaken[Dataset.CQC_RATINGS].already_loaded
    assert _count(settings, models.CqcRating) == 36


def test_a_visits_log_with_an_unknown_activity_or_a_visit_not_yet_made_is_refused_by_row(
    market_on_sqlite: Settings,
) -> None:
    settings = market_on_sqlite
    _spoil(settings, Dataset.MONITORING_ACTIVITIES, 1, "Activity", "Coffee morning")
    _spoil(settings, Dataset.MONITORING_ACTIVITIES, 2, "Date", "05/01/2027")
    with pytest.raises(EvidenceFailed) as failed:
        take_in(settings, PROVIDER_INTELLIGENCE, AS_OF)
    message = str(failed.value)
    assert "activity is not one of: announced visit, unannounced visit, annual contact" in message
    assert "MV-2 (values: Coffee morning)" in message
    assert "done_on (the source's 'Date') is in the future or before 1990: 1 row(s): MV-3" in message
    assert _count(settings, models.MonitoringActivity) == 0


def test_a_provider_list_with_a_contact_that_is_no_address_stops_the_market_without_showing_it(
    market_on_sqlite: Settings,
) -> None:
    settings = market_on_sqlite
    _spoil(settings, Dataset.PROVIDERS, 2, "Contact Email", "Mrs Jane Smith, manager")
    with pytest.raises(CheckFailed) as failed:
        take_in(settings, PROVIDER_INTELLIGENCE, AS_OF)
    message = str(failed.value)
    assert "contact_email (the source's 'Contact Email') is not an email address: 1 row(s): 1-1003" in message
    assert "Jane Smith" not in message
    assert _count(settings, models.Provider) == 0


def test_a_cqc_directory_with_a_changed_column_is_refused_naming_it(market_on_sqlite: Settings) -> None:
    path = market_on_sqlite.sources[Dataset.CQC_RATINGS].path
    pd.read_csv(path, dtype=str).rename(columns={"Latest Rating": "Current Rating"}).to_csv(path, index=False)
    with pytest.raises(SourceError, match=r"missing column\(s\) 'rating' \(mapped from 'Latest Rating'\)"):
        take_in(market_on_sqlite, [Dataset.PROVIDERS, Dataset.CQC_RATINGS], AS_OF)
    assert _count(market_on_sqlite, models.CqcRating) == 0


def test_intelligence_without_a_provider_list_is_refused_with_nothing_written(market_on_sqlite: Settings) -> None:
    with pytest.raises(LoadError, match="no provider list has been loaded"):
        take_in(market_on_sqlite, [Dataset.PROVIDER_CONCERNS], AS_OF)
    assert _count(market_on_sqlite, models.ProviderConcern) == 0


def test_a_provider_list_naming_no_lead_for_a_joint_service_stops_everything(market_on_sqlite: Settings) -> None:
    _spoil(market_on_sqlite, Dataset.PROVIDERS, 1, "Lead Commissioner", "")  # 1-1002, commissioned jointly
    with pytest.raises(CheckFailed) as failed:
        take_in(market_on_sqlite, PROVIDER_INTELLIGENCE, AS_OF)
    assert (
        "lead_organisation (the source's 'Lead Commissioner') is blank for a jointly commissioned service: "
        "1 row(s): 1-1002"
    ) in str(failed.value)
    assert _count(market_on_sqlite, models.Provider) == 0
    assert _count(market_on_sqlite, models.CqcRating) == 0
