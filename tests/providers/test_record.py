"""A month's proposed levels recorded from the stored market with every reason and the rule version, recorded
once, explained again; the decisions on them recorded, never inferred; a month whose inputs are missing or
stale refused."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from checks.intake import take_in
from qaloop.core.schema import PROVIDER_INTELLIGENCE
from qaloop.core.settings import Deciders, Settings
from qaloop.providers import record
from qaloop.providers.thresholds import rule_version
from qaloop.store.engine import engine_from, upgrade
from tests.providers.market import with_market

TODAY = date(2026, 12, 2)


@pytest.fixture
def market(store_settings: Settings, tmp_path: Path) -> Settings:
    """The small market in the CQC and contract-log layouts, checked and stored."""
    settings = with_market(store_settings, tmp_path)
    upgrade(engine_from(settings))
    take_in(settings, PROVIDER_INTELLIGENCE, date(2026, 11, 30))
    return settings


def test_a_months_levels_are_proposed_from_the_market_with_their_reasons_and_recorded_once(market: Settings) -> None:
    engine = engine_from(market)
    placed = {each.location_id: each for each in record.propose_month(engine, market, "2026-11", TODAY)}
    assert {ref: each.proposal.level for ref, each in placed.items()} == {
        "1-1001": 1, "1-1002": 2, "1-1003": 3, "1-1004": 1, "1-1005": 2, "1-1006": 2
    }  # fmt: skip
    assert [reason.rule for reason in placed["1-1003"].proposal.reasons] == [
        "cqc_inadequate", "suspension_over_3_months", "advisory_or_suspension", "cqc_ri_some_areas",
        "cqc_warning_or_conditions",
    ]  # fmt: skip
    assert [reason.rule for reason in placed["1-1006"].proposal.reasons] == ["cqc_ri_some_areas", "returns_missing"]
    assert placed["1-1006"].proposal.reasons[1].says == (
        "monthly monitoring return missing 2 months running: 2026-09, 2026-10"
    )
    assert {ref for ref, each in placed.items() if each.movement == "up"} == {"1-1002", "1-1003", "1-1005", "1-1006"}
    assert not any(each.recorded_before for each in placed.values())
    # A second run (or a second worker) finds the month recorded and changes nothing.
    again = record.propose_month(engine, market, "2026-11", TODAY)
    assert all(each.recorded_before for each in again)
    assert {each.location_id: each.proposal for each in again} == {ref: each.proposal for ref, each in placed.items()}

    lines = record.explain(engine, market, "1-1003", "2026-11")
    assert lines[0].startswith(
        f"1-1003, 2026-11: proposed level 3 (major concerns), from level 1; rule version "
        f"{rule_version(market.provider_quality)}"
    )
    assert "  - cqc_inadequate (level 3): CQC overall rating Inadequate (published 2026-10-20)" in lines
    assert "Derived again from the stored intelligence with the same rules: the same level and reasons." in lines


def test_a_decision_is_recorded_once_with_who_and_why_and_jointly_where_jointly_commissioned(market: Settings) -> None:
    engine = engine_from(market)
    with pytest.raises(record.ProviderError, match="no level is proposed for 1-1002 for 2026-11"):
        record.decide(engine, market, "1-1002", "2026-11", 2, "QT-0001", "Panel agreed")
    record.propose_month(engine, market, "2026-11", TODAY)
    with pytest.raises(record.ProviderError, match="commissioned jointly with the ICB"):
        record.decide(engine, market, "1-1002", "2026-11", 2, "QT-0001", "Panel agreed: escalate to level 2")
    said = record.decide(
        engine, market, "1-1002", "2026-11", 2, "QT-0001", "Panel agreed: escalate to level 2", jointly_with="ICB-0042"
    )
    assert said.startswith("Decided: level 2 by QT-0001 jointly with ICB-0042 on ")
    with pytest.raises(record.ProviderError, match="already decided"):
        record.decide(engine, market, "1-1002", "2026-11", 1, "QT-0002", "Hold", jointly_with="ICB-0042")
    assert record.explain(engine, market, "1-1002", "2026-11")[-1] == said
    # A level-1 proposal of a service the council commissions alone is the team manager's to confirm.
    held = record.decide(engine, market, "1-1001", "2026-11", 1, "QT-0003", "No concerns: hold at level 1")
    assert "jointly" not in held


def test_a_month_not_over_or_with_a_stale_monitoring_log_is_refused(market: Settings) -> None:
    engine = engine_from(market)
    with pytest.raises(record.ProviderError, match="2026-12 is not over yet"):
        record.propose_month(engine, market, "2026-12", TODAY)
    # December's proposal needs November's returns; the log stored reaches only October.
    with pytest.raises(record.ProviderError, match="the monitoring returns log does not reach 2026-11"):
        record.propose_month(engine, market, "2026-12", date(2027, 1, 5))
    without = market.model_copy(update={"provider_quality": None})
    with pytest.raises(record.ProviderError, match="provider quality is not configured"):
        record.propose_month(engine, without, "2026-11", TODAY)


def test_a_panels_decisions_are_recorded_all_or_none(market: Settings) -> None:
    engine = engine_from(market)
    record.propose_month(engine, market, "2026-11", TODAY)
    decisions = [
        record.Decision("1-1003", 3, "Escalate to level 3"),
        record.Decision("1-1002", 2, "Hold at level 2"),  # jointly commissioned: the ICB's agreement is missing
    ]
    with pytest.raises(record.ProviderError, match="1-1002 is commissioned jointly with the ICB"):
        record.decide_all(engine, market, "2026-11", decisions, "QT-0001")
    assert not record.explain(engine, market, "1-1003", "2026-11")[-1].startswith("Decided")
    twice = [record.Decision("1-1003", 3, "Escalate"), record.Decision("1-1003", 2, "Hold")]
    with pytest.raises(record.ProviderError, match="already decided"):
        record.decide_all(engine, market, "2026-11", twice, "QT-0001")
    assert not record.explain(engine, market, "1-1003", "2026-11")[-1].startswith("Decided")


def test_a_provider_staying_at_level_1_is_the_team_managers_to_decide_any_other_the_panels(market: Settings) -> None:
    quality = market.provider_quality.model_copy(
        update={"deciders": Deciders(team_managers=["TM-0001"], panel=["QT-0001"])}
    )
    settings = market.model_copy(update={"provider_quality": quality})
    engine = engine_from(settings)
    record.propose_month(engine, settings, "2026-11", TODAY)
    with pytest.raises(record.ProviderError, match="is a team manager's to record, and QT-0001 is not among"):
        record.decide(engine, settings, "1-1001", "2026-11", 1, "QT-0001", "Hold at level 1")
    assert record.decide(engine, settings, "1-1001", "2026-11", 1, "TM-0001", "Hold at level 1").startswith(
        "Decided: level 1 by TM-0001"
    )
    # 1-1003 is proposed for level 3; 1-1004 for level 1, but escalating it is the panel's to do.
    with pytest.raises(record.ProviderError, match="is the quality review panel's to record, and TM-0001"):
        record.decide(engine, settings, "1-1003", "2026-11", 3, "TM-0001", "Escalate")
    with pytest.raises(record.ProviderError, match="1 proposed, 2 decided\\) is the quality review panel's"):
        record.decide(engine, settings, "1-1004", "2026-11", 2, "TM-0001", "Escalate on the serious concern")
    assert "by QT-0001" in record.decide(engine, settings, "1-1003", "2026-11", 3, "QT-0001", "Panel: escalate")
