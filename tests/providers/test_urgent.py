"""Urgent reviews: a major concern about a provider (a CQC notice of proposal to cancel, a safeguarding concern
flagged serious) raised once per cause with the panel's email queued beside it, however many runs see it or run
at once; an older history, a concern not flagged serious, or an action that is no trigger raises none; the review
sets the cause beside the level now and the level the rules give on the day, or says why the rules cannot run."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from checks.intake import take_in
from qaloop.core.schema import PROVIDER_INTELLIGENCE
from qaloop.core.settings import ProviderQuality, Settings, UrgentConcern
from qaloop.providers import record, urgent
from qaloop.store import models
from qaloop.store.engine import engine_from, upgrade
from tests.at_once import at_once
from tests.providers.market import CANCEL_NOTICE, with_market

LATE_NOVEMBER = date(2026, 11, 28)


@pytest.fixture
def market(store_settings: Settings, tmp_path: Path) -> Settings:
    """The small market, with CQC's notice of proposal to cancel 1-1005's registration (28 November) beside the
    serious safeguarding concern at 1-1004 (15 November), checked and stored."""
    settings = with_market(store_settings, tmp_path, CANCEL_NOTICE)
    upgrade(engine_from(settings))
    take_in(settings, PROVIDER_INTELLIGENCE, date(2026, 11, 30))
    return settings


def queued(settings: Settings) -> list[tuple[str, str]]:
    with engine_from(settings).connect() as connection:
        return list(connection.execute(select(models.EmailOutbox.key, models.EmailOutbox.subject)).all())


def test_each_major_concern_raises_one_urgent_review_with_the_panels_email(market: Settings) -> None:
    engine = engine_from(market)
    raised = urgent.raise_urgent(engine, market, LATE_NOVEMBER)
    assert [(cause.location_id, cause.cause_ref, cause.trigger) for cause in raised] == [
        ("1-1004", "SG-9", "serious_safeguarding"),
        ("1-1005", "ENF-2", "cqc_cancellation"),
    ]  # the warning notice (ENF-1) and the safeguarding concern not flagged serious (SG-1) are no trigger
    assert raised[1].says == "CQC served a notice of proposal to cancel (ENF-2) on Saturday 28 November 2026"
    assert raised[0].says == ("a safeguarding concern flagged serious (SG-9) was raised on Sunday 15 November 2026")
    emails = dict(queued(market))
    first, second = (urgent.urgent_message(market, cause).key for cause in raised)
    assert emails == {
        first: "Urgent review of 1-1004 (Willow Care at Home): serious safeguarding",
        second: "Urgent review of 1-1005 (Birch View): cqc cancellation",
    }
    # Every later run (the monthly one, a second worker) finds them raised: nothing more is recorded or queued,
    # and both wait for their review until it has gone to the panel.
    assert urgent.raise_urgent(engine, market, date(2026, 11, 30)) == []
    assert len(queued(market)) == 2
    assert urgent.awaiting_review(engine, market) == raised
    urgent.mark_reviewed(engine, market, raised[0])
    assert urgent.awaiting_review(engine, market) == raised[1:]


def test_a_history_loaded_for_the_first_time_raises_only_what_is_recent(market: Settings) -> None:
    # On 10 December the cancel notice is 12 days old, the serious safeguarding concern 25: only the first is an
    # alarm (provider_quality.urgent_within_days, 14); the older one is for the monthly levels.
    raised = urgent.raise_urgent(engine_from(market), market, date(2026, 12, 10))
    assert [cause.cause_ref for cause in raised] == ["ENF-2"]
    # A trigger that takes any safeguarding concern, serious or not, within a longer window finds SG-1 too.
    wider = market.provider_quality.model_copy(
        update={
            "urgent": [
                UrgentConcern(id="any_safeguarding", kind="concern", concerns=["safeguarding"], serious_only=False)
            ],
            "urgent_within_days": 90,
        }
    )
    settings = market.model_copy(update={"provider_quality": wider})
    assert [cause.cause_ref for cause in urgent.raise_urgent(engine_from(settings), settings, date(2026, 12, 10))] == [
        "SG-1", "SG-9",
    ]  # fmt: skip


def test_two_runs_at_once_raise_each_cause_once(market: Settings) -> None:
    results = at_once(lambda: urgent.raise_urgent(engine_from(market), market, LATE_NOVEMBER))
    assert sorted(cause.cause_ref for found in results for cause in found) == ["ENF-2", "SG-9"]
    with engine_from(market).connect() as connection:
        assert connection.scalar(select(func.count()).select_from(models.UrgentReview)) == 2
    assert len(queued(market)) == 2


def test_the_review_sets_the_cause_beside_the_level_now_and_the_level_the_rules_give_today(market: Settings) -> None:
    engine = engine_from(market)
    urgent.raise_urgent(engine, market, LATE_NOVEMBER)
    with pytest.raises(record.ProviderError, match="no urgent review of 1-1001 was raised by concern SG-9"):
        urgent.review(engine, market, "1-1001", "concern", "SG-9", LATE_NOVEMBER)
    # On 28 November the monitoring log reaches October, the last month due: the rules give 1-1005 level 3 (the
    # notice itself, and three quality concerns for level 2) while it stands at level 1, never decided.
    review = urgent.review(engine, market, "1-1005", "cqc_enforcement", "ENF-2", LATE_NOVEMBER)
    assert review.level_now == 1 and review.rules_refused is None
    assert review.by_rules is not None and review.by_rules.level == 3
    assert [reason.rule for reason in review.by_rules.reasons] == ["cqc_cancellation", "repeated_quality_concerns"]
    message = urgent.review_message(market, review)
    assert "Its level now: 1 (no or minor concerns)" in message.text
    assert "The level the threshold rules give on Saturday 28 November 2026: 3 (major concerns), a move up." in (
        message.text
    )
    # In December the log does not reach November: the rules refuse to give a level, and the pack says why.
    stale = urgent.review(engine, market, "1-1005", "cqc_enforcement", "ENF-2", date(2026, 12, 3))
    assert stale.by_rules is None and stale.rules_refused is not None
    assert "does not reach 2026-11" in stale.rules_refused
    assert "The threshold rules cannot give a level on Thursday 3 December 2026: the monitoring returns log" in (
        urgent.review_message(market, stale).text
    )


def test_urgent_trigger_ids_must_be_unique() -> None:
    trigger = {"id": "serious", "kind": "concern", "concerns": ["safeguarding"]}
    with pytest.raises(ValueError, match="trigger ids must be unique"):
        ProviderQuality.model_validate({"urgent": [trigger, trigger]})
