"""Monitoring by level on the small market (its visits log in the council's own headings): what each level needs
and whether it is happening, counted from the programme's start or from the decision that brought the provider
to its level; what providers owe chased up their ladders once per step, by two runs at once too; the quality
team's summary of what is overdue, escalated, unsent or cannot be reckoned; a stale monitoring log chases no
return."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from checks.intake import take_in
from qaloop.core.schema import PROVIDER_INTELLIGENCE
from qaloop.core.settings import Settings
from qaloop.providers import monitoring, record
from qaloop.store import models
from qaloop.store.engine import engine_from, upgrade
from qaloop.store.handles import authority_id
from tests.at_once import at_once
from tests.providers.market import with_market

THURSDAY = date(2026, 12, 3)


@pytest.fixture
def market(store_settings: Settings, tmp_path: Path) -> Settings:
    """The small market, checked and stored, with monitoring by level counted from 1 April 2026."""
    settings = with_market(store_settings, tmp_path)
    quality = settings.provider_quality.model_copy(
        update={"monitoring_since": date(2026, 4, 1), "quality_team": ["provider.quality@qaloop-demo.example"]}
    )
    settings = settings.model_copy(update={"provider_quality": quality})
    upgrade(engine_from(settings))
    take_in(settings, PROVIDER_INTELLIGENCE, date(2026, 11, 30))
    return settings


def owed_on(settings: Settings, today: date) -> monitoring.Monitoring:
    with engine_from(settings).connect() as connection:
        return monitoring.monitoring_on(
            connection, authority_id(connection, settings), settings.provider_quality, today
        )


def by_ref(found: monitoring.Monitoring) -> dict[tuple[str, str], date]:
    return {(owed.location_id, owed.ref): owed.due for owed in found.owed}


def test_every_provider_at_level_1_owes_an_annual_visit_and_self_assessment_and_its_returns(market: Settings) -> None:
    found = owed_on(market, THURSDAY)
    due = by_ref(found)
    # From the last one recorded; for a provider with none, from the programme's start.
    assert due[("1-1002", "annual_visit_or_contact")] == date(2026, 11, 1)  # announced visit 1 November 2025
    assert due[("1-1004", "annual_visit_or_contact")] == date(2027, 4, 1)  # none recorded
    assert due[("1-1006", "annual_self_assessment")] == date(2026, 11, 20)
    assert due[("1-1003", "annual_self_assessment")] == date(2027, 4, 1)
    # 1-1006's September and October returns are not received: due on the 10th of the month after.
    assert due[("1-1006", "2026-09")] == date(2026, 10, 10) and due[("1-1006", "2026-10")] == date(2026, 11, 10)
    # Nobody is at level 2 or 3 yet: no level's own requirement applies, and no improvement action is chased.
    assert {owed.kind for owed in found.owed} == {"requirement", "monitoring_return"}
    assert not any(owed.ref in ("unannounced_visit", "contract_monitoring_meeting") for owed in found.owed)
    assert [(owed.location_id, owed.ref) for owed in found.overdue()] == [
        ("1-1006", "2026-09"), ("1-1002", "annual_visit_or_contact"), ("1-1006", "2026-10"),
        ("1-1006", "annual_self_assessment"),
    ]  # fmt: skip
    assert found.cannot_tell == []


def test_a_provider_brought_to_a_level_owes_what_it_needs_from_the_month_after_the_decision(market: Settings) -> None:
    engine = engine_from(market)
    record.propose_month(engine, market, "2026-11", date(2026, 12, 2))
    record.decide(engine, market, "1-1002", "2026-11", 2, "QT-0001", "Panel: level 2", jointly_with="ICB-0042")
    record.decide(engine, market, "1-1003", "2026-11", 3, "QT-0001", "Panel: level 3")
    due = by_ref(owed_on(market, THURSDAY))
    # An unannounced visit within 6 weeks of 1 December (the one on 5 November came before: it does not count),
    # and at level 3 a contract monitoring meeting a month on.
    assert due[("1-1002", "unannounced_visit")] == date(2027, 1, 12)
    assert due[("1-1003", "unannounced_visit")] == date(2027, 1, 12)
    assert due[("1-1003", "contract_monitoring_meeting")] == date(2027, 1, 1)
    assert ("1-1002", "contract_monitoring_meeting") not in due
    # At level 2 the improvement plan's open actions are owed (SIP-2 is completed).
    assert due[("1-1002", "SIP-1")] == date(2026, 10, 1) and due[("1-1002", "SIP-3")] == date(2026, 12, 7)
    assert ("1-1002", "SIP-2") not in due


def test_a_requirement_with_nothing_to_count_from_is_said_never_taken_as_met(market: Settings) -> None:
    quality = market.provider_quality.model_copy(update={"monitoring_since": None})
    found = owed_on(market.model_copy(update={"provider_quality": quality}), THURSDAY)
    assert (
        "1-1004: annual_visit_or_contact cannot be reckoned: none is recorded and provider_quality.monitoring_since "
        "is not set"
    ) in found.cannot_tell
    assert ("1-1002", "annual_visit_or_contact") in by_ref(found)  # counted from its last visit as before


def outbox(settings: Settings) -> dict[str, tuple[list[str], str, str]]:
    with engine_from(settings).connect() as connection:
        rows = connection.execute(
            select(models.EmailOutbox.key, models.EmailOutbox.recipients, models.EmailOutbox.subject,
                   models.EmailOutbox.text_body)
        ).all()  # fmt: skip
    return {key: (recipients, subject, text) for key, recipients, subject, text in rows}


def test_what_providers_owe_is_chased_once_per_step_and_the_quality_team_told_what_is_overdue(
    market: Settings,
) -> None:
    engine = engine_from(market)
    chased = monitoring.chase_providers(engine, market, THURSDAY)
    # 1-1006's self-assessment is 9 working days late (the step 5 after, to the provider); its two returns are
    # past the step 10 after: escalated to the quality team.
    assert chased.steps == 3 and chased.emails_queued == 2
    emails = outbox(market)
    [(to, subject, text)] = [value for key, value in emails.items() if "provider-chase" in key]
    assert to == ["quality+1006@care-provider.example"]
    assert subject == "Quality monitoring: 1 item(s) for 1-1006, Thursday 3 December 2026"
    assert "annual self assessment: due Friday 20 November 2026, 9 working day(s) late" in text
    [(to, subject, text)] = [value for key, value in emails.items() if "provider-overdue" in key]
    assert to == ["provider.quality@qaloop-demo.example"]
    assert subject == "Provider monitoring overdue, Thursday 3 December 2026: 4 item(s)"
    assert "1-1002 (level 1): annual visit or contact, due Sunday 1 November 2026" in text
    escalated = text.split("Escalated to you today")[1]
    assert "1-1006: the monthly monitoring return for September 2026" in escalated
    assert "1-1006: the monthly monitoring return for October 2026" in escalated
    # The same day again (a second run) takes nothing and queues nothing; the next working day takes only the
    # step it reaches (the self-assessment's step 10, to the quality team); nobody is chased at the weekend.
    again = monitoring.chase_providers(engine, market, THURSDAY)
    assert (again.steps, again.emails_queued) == (0, 0)
    friday = monitoring.chase_providers(engine, market, date(2026, 12, 4))
    assert friday.steps == 1
    assert not any("provider-chase/2026-12-04" in key for key in outbox(market))
    assert monitoring.chase_providers(engine, market, date(2026, 12, 5)).monitoring is None
    with engine.connect() as connection:
        steps = connection.execute(select(models.ProviderChaseStep.item_kind, models.ProviderChaseStep.step_days)).all()
    assert sorted(steps) == [
        ("monitoring_return", 10), ("monitoring_return", 10),
        ("requirement:annual_self_assessment", 5), ("requirement:annual_self_assessment", 10),
    ]  # fmt: skip


def test_two_chasers_at_once_take_each_step_once(market: Settings) -> None:
    results = at_once(lambda: monitoring.chase_providers(engine_from(market), market, THURSDAY))
    assert sorted(result.steps for result in results) == [0, 3]
    with engine_from(market).connect() as connection:
        assert connection.scalar(select(func.count()).select_from(models.ProviderChaseStep)) == 3
    assert len(outbox(market)) == 2


def test_a_provider_without_an_address_and_a_stale_monitoring_log_are_told_to_the_quality_team(
    market: Settings,
) -> None:
    engine = engine_from(market)
    with engine.begin() as connection:
        connection.execute(
            update(models.Provider).where(models.Provider.location_id == "1-1006").values(contact_email=None)
        )
    monitoring.chase_providers(engine, market, THURSDAY)
    emails = outbox(market)
    assert not any("provider-chase" in key for key in emails)
    [(_, _, text)] = emails.values()
    assert "Not sent to the provider (no contact_email in the provider list)" in text
    assert "1-1006: annual self assessment, due Friday 20 November 2026" in text.split("Not sent to the provider")[1]
    # On 11 December November's returns are due (the 10th) and the log stops at October: no return is chased.
    stale = monitoring.chase_providers(engine, market, date(2026, 12, 11))
    assert stale.monitoring is not None
    assert not any(owed.kind == "monitoring_return" for owed in stale.monitoring.owed)
    [said] = stale.monitoring.cannot_tell
    assert said.startswith("monthly returns are not chased: the monitoring returns log does not reach 2026-11")
