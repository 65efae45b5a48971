"""Urgent reviews: a major concern about a provider brings the quality review panel forward.

The configured triggers (``provider_quality.urgent``; Herefordshire's: CQC serving a notice of proposal or of
decision to cancel, a safeguarding concern flagged serious) are read against the stored intelligence. Each cause,
a CQC enforcement action or a concern known by its reference, raises one urgent review, recorded once however
many runs find it, and the panel's email is queued in the same transaction, so the record and the email go
together or not at all. Only causes dated within ``urgent_within_days`` of the day raise one: a history loaded
for the first time is for the monthly levels, not an alarm.

The urgent review itself (``review``) sets the cause beside the provider's level now and the level the threshold
rules give on the day, with every reason, for the panel to decide on; when the rules cannot run on the day (an
input missing or stale) it says why instead of giving a level, and the panel still hears of the cause.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Select, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from qaloop.core.settings import ProviderQuality, Settings, UrgentConcern, UrgentEnforcement, UrgentTrigger
from qaloop.core.templates import long_date
from qaloop.messaging.alerts import panel_recipients
from qaloop.messaging.compose import compose
from qaloop.messaging.outbox import Message, enqueue
from qaloop.providers.record import (
    ProviderError,
    decided_levels_before,
    quality_of,
    read_intelligence,
    refuse_missing_inputs,
)
from qaloop.providers.thresholds import LEVELS, Proposal, propose
from qaloop.store import models
from qaloop.store.handles import authority_id
from qaloop.store.models import utcnow


@dataclass(frozen=True)
class UrgentCause:
    """One major concern about a provider: what it is (a CQC enforcement action or a concern, by its reference),
    the trigger it meets, when it happened, and the words the panel reads."""

    location_id: str
    provider_name: str
    cause: str
    cause_ref: str
    trigger: str
    occurred_on: date
    says: str


def major_concerns(connection: Connection, authority: int, quality: ProviderQuality, today: date) -> list[UrgentCause]:
    """The stored causes that meet one of ``quality``'s urgent triggers, dated within its window up to
    ``today``, each once (the first trigger it meets), oldest first."""
    since = today - timedelta(days=quality.urgent_within_days)
    found: dict[tuple[str, str, str], UrgentCause] = {}
    for trigger in quality.urgent:
        for cause in _meeting(connection, authority, trigger, since, today):
            found.setdefault((cause.location_id, cause.cause, cause.cause_ref), cause)
    return sorted(found.values(), key=lambda cause: (cause.occurred_on, cause.location_id, cause.cause_ref))


def _meeting(
    connection: Connection, authority: int, trigger: UrgentTrigger, since: date, today: date
) -> list[UrgentCause]:
    provider = models.Provider
    if isinstance(trigger, UrgentEnforcement):
        action = models.CqcEnforcement
        rows = connection.execute(
            select(provider.location_id, provider.name, action.action_ref, action.action, action.served_on)
            .join(provider, provider.id == action.provider_id)
            .where(
                provider.authority_id == authority,
                action.action.in_(trigger.actions),
                action.served_on > since,
                action.served_on <= today,
            )
        ).all()
        return [
            UrgentCause(ref, name, "cqc_enforcement", action_ref, trigger.id, served,
                        f"CQC served a {kind} ({action_ref}) on {long_date(served)}")
            for ref, name, action_ref, kind, served in rows
        ]  # fmt: skip
    assert isinstance(trigger, UrgentConcern)
    concern = models.ProviderConcern
    query = (
        select(provider.location_id, provider.name, concern.concern_ref, concern.concern, concern.raised_on)
        .join(provider, provider.id == concern.provider_id)
        .where(
            provider.authority_id == authority,
            concern.concern.in_(trigger.concerns),
            concern.raised_on > since,
            concern.raised_on <= today,
        )
    )
    if trigger.serious_only:
        query = query.where(concern.serious.is_(True))
    flagged = " flagged serious" if trigger.serious_only else ""
    return [
        UrgentCause(ref, name, "concern", concern_ref, trigger.id, raised,
                    f"a {kind} concern{flagged} ({concern_ref}) was raised on {long_date(raised)}")
        for ref, name, concern_ref, kind, raised in connection.execute(query).all()
    ]  # fmt: skip


def raise_urgent(engine: Engine, settings: Settings, today: date) -> list[UrgentCause]:
    """Record each major concern not recorded before and queue the panel's email about it, in one transaction;
    returns the causes this call raised (none when another run, or an earlier one, raised them)."""
    quality = quality_of(settings)
    with engine.begin() as connection:
        authority = authority_id(connection, settings)
        ids = dict(
            connection.execute(
                select(models.Provider.location_id, models.Provider.id).where(models.Provider.authority_id == authority)
            ).all()
        )
        insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
        raised = []
        for cause in major_concerns(connection, authority, quality, today):
            statement = (
                insert(models.UrgentReview.__table__)
                .values(
                    provider_id=ids[cause.location_id],
                    cause=cause.cause,
                    cause_ref=cause.cause_ref,
                    trigger=cause.trigger,
                    occurred_on=cause.occurred_on,
                    says=cause.says,
                )
                .on_conflict_do_nothing(index_elements=["provider_id", "cause", "cause_ref"])
                .returning(models.UrgentReview.id)  # a row only when this call inserted it (rowcount is not portable)
            )
            if connection.execute(statement).first() is not None:
                raised.append(cause)
        enqueue(connection, [urgent_message(settings, cause) for cause in raised])
    return raised


def urgent_message(settings: Settings, cause: UrgentCause) -> Message:
    """The panel's email about one major concern, sent at once: which provider, what happened, and that an
    urgent review has started."""
    recipients, greeting = panel_recipients(settings)
    return compose(
        settings,
        "provider_urgent",
        key=_alarm_parts(cause),
        to=recipients,
        subject=f"Urgent review of {cause.location_id} ({cause.provider_name}): {cause.trigger.replace('_', ' ')}",
        context={"greeting": greeting, "cause": cause},
    )


def _alarm_parts(cause: UrgentCause) -> tuple[str, ...]:
    return ("provider-urgent", cause.location_id, cause.cause, cause.cause_ref)


def _recorded_causes(authority: int) -> Select[Any]:
    provider, urgent = models.Provider, models.UrgentReview
    return (
        select(
            provider.location_id, provider.name, urgent.cause, urgent.cause_ref, urgent.trigger, urgent.occurred_on,
            urgent.says,
        )
        .join(provider, provider.id == urgent.provider_id)
        .where(provider.authority_id == authority)
    )  # fmt: skip


def awaiting_review(engine: Engine, settings: Settings) -> list[UrgentCause]:
    """The urgent reviews raised whose review has not yet been sent to the panel, oldest first: those raised now,
    and any an earlier run raised but could not start."""
    with engine.connect() as connection:
        authority = authority_id(connection, settings)
        query = _recorded_causes(authority).where(models.UrgentReview.reviewed_at.is_(None))
        rows = connection.execute(query.order_by(models.UrgentReview.id)).all()
    return [UrgentCause(*row) for row in rows]


def mark_reviewed(engine: Engine, settings: Settings, cause: UrgentCause) -> None:
    """Record that the urgent review of ``cause`` went to the panel (a later run starts no other)."""
    urgent = models.UrgentReview
    with engine.begin() as connection:
        provider_id = select(models.Provider.id).where(
            models.Provider.authority_id == authority_id(connection, settings),
            models.Provider.location_id == cause.location_id,
        )
        connection.execute(
            update(urgent)
            .where(
                urgent.provider_id == provider_id.scalar_subquery(),
                urgent.cause == cause.cause,
                urgent.cause_ref == cause.cause_ref,
                urgent.reviewed_at.is_(None),
            )
            .values(reviewed_at=utcnow())
        )


@dataclass(frozen=True)
class UrgentReview:
    """An urgent review of one provider: the recorded cause, the level decided last (1 when never decided),
    and the level the threshold rules give on the day with every reason, or why they cannot run."""

    cause: UrgentCause
    raised_at: datetime
    level_now: int
    by_rules: Proposal | None
    rules_refused: str | None
    on: date


def review(
    engine: Engine, settings: Settings, location_id: str, cause: str, cause_ref: str, today: date
) -> UrgentReview:
    """The urgent review raised for ``location_id`` by ``cause`` ``cause_ref``, read on ``today``;
    ProviderError when no such urgent review was raised."""
    quality = quality_of(settings)
    urgent = models.UrgentReview
    with engine.connect() as connection:
        authority = authority_id(connection, settings)
        found = connection.execute(
            _recorded_causes(authority)
            .add_columns(urgent.raised_at)
            .where(models.Provider.location_id == location_id, urgent.cause == cause, urgent.cause_ref == cause_ref)
        ).one_or_none()
        if found is None:
            raise ProviderError(
                f"no urgent review of {location_id} was raised by {cause} {cause_ref}: urgent reviews are raised "
                "by the provider runs from the stored intelligence (provider_quality.urgent)"
            )
        *recorded, raised_at = found
        level_now = decided_levels_before(connection, authority, f"{today:%Y-%m}").get(location_id, 1)
        intelligence = read_intelligence(connection, authority, today, quality)
    try:
        refuse_missing_inputs(intelligence, quality, today)
    except ProviderError as refused:
        by_rules, rules_refused = None, str(refused)
    else:
        by_rules, rules_refused = propose(intelligence, quality, today)[location_id], None
    return UrgentReview(
        UrgentCause(*recorded),
        raised_at, level_now, by_rules, rules_refused, today,
    )  # fmt: skip


def review_message(settings: Settings, urgent: UrgentReview) -> Message:
    """The panel's pack for one urgent review (sent once per cause): the cause, the level now, and the level
    the threshold rules give on the day with every reason."""
    recipients, greeting = panel_recipients(settings)
    cause = urgent.cause
    return compose(
        settings,
        "provider_urgent_review",
        key=("provider-urgent-review", *_alarm_parts(cause)[1:]),
        to=recipients,
        subject=f"Urgent review of {cause.location_id} ({cause.provider_name}): the level the rules give today",
        context={"greeting": greeting, "urgent": urgent, "levels": LEVELS, "on": long_date(urgent.on)},
    )
