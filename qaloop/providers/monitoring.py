"""Monitoring by level: what each provider owes or is owed on a day, and the chasing of what providers owe.

A provider's level is the one last decided (1 when never decided). Each configured requirement
(``provider_quality.monitoring``) applies at its levels, counted from when the provider came to them (the first day
of the month after the decision that began its unbroken run at those levels; ``monitoring_since`` when the run
reaches back before any decision): one of its activities every ``every_months`` from the last one, or once within
``within_weeks``. A requirement that cannot be reckoned (never met, and no day to count from) is said, never taken
as met.

Providers owe their monthly monitoring returns (due on ``returns_due_day`` of the following month; a row of the log
with no day received), the open actions of their service improvement plans while at level 2 or 3, and the
requirements they do themselves (a self-assessment). Each is chased up its ladder (``provider_quality.reminders``,
in working days, the latest step reached only, each step once per item and due date however many runs reach it, the
same ladder rule the audits' chasing uses): one email per provider per day with everything it is to hear about, and
the quality team's one daily summary of what is overdue, what was escalated to it, and what could not be sent or
reckoned. A monitoring log that does not reach the last month whose return is due is stale: no return is chased from
it (a provider who sent one would be chased for it), and the summary says why.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from qaloop.core.settings import MonitoringRequirement, ProviderQuality, ProviderStep, Settings
from qaloop.core.templates import long_date
from qaloop.core.working_days import is_working_day, working_days_late
from qaloop.messaging.compose import compose
from qaloop.messaging.outbox import Message, enqueue
from qaloop.providers.record import month_end, quality_of
from qaloop.returns.chasing import latest_step_reached
from qaloop.store import models
from qaloop.store.handles import authority_id

KINDS = ("monitoring_return", "improvement_action", "requirement")


@dataclass(frozen=True)
class Owed:
    """One thing due from a provider, or from the quality team about it, on a day: which, in words, when due,
    and who does it."""

    location_id: str
    provider_id: int
    kind: str  # one of KINDS
    item_id: int  # the return's, the action's, or (a requirement) the provider's id
    ref: str  # the return's month, the action's reference, or the requirement's id
    what: str
    due: date
    by: str  # "provider" or "quality_team"

    @property
    def item_kind(self) -> str:
        """The item's kind as the chase steps record it (a requirement by its id)."""
        return f"requirement:{self.ref}" if self.kind == "requirement" else self.kind


@dataclass(frozen=True)
class Monitoring:
    """The market's monitoring on a day: everything owed, and what could not be reckoned and why."""

    on: date
    owed: list[Owed]
    cannot_tell: list[str]
    levels: dict[str, int]  # each provider's level now, by location

    def overdue(self) -> list[Owed]:
        return sorted((each for each in self.owed if each.due < self.on), key=lambda each: (each.due, each.location_id))


def _month_words(month: str) -> str:
    return f"{pd.Timestamp(month + '-01'):%B %Y}"


def _plus_months(day: date, months: int) -> date:
    return (pd.Timestamp(day) + pd.DateOffset(months=months)).date()


def return_due(month: str, quality: ProviderQuality) -> date:
    """When the monthly monitoring return for ``month`` (YYYY-MM) is due: ``returns_due_day`` of the next month."""
    return _plus_months(date.fromisoformat(month + "-01"), 1).replace(day=quality.returns_due_day)


def last_return_due(today: date, quality: ProviderQuality) -> str:
    """The latest month whose monitoring return is due by ``today``."""
    month = pd.Period(today, freq="M") - 1
    if return_due(str(month), quality) > today:
        month -= 1
    return str(month)


def _level_runs(connection: Connection, authority: int) -> dict[int, list[tuple[int, date]]]:
    """Each decided provider's decisions, latest first: (level, the day it applies from). A decision on a month's
    level applies from the first day of the next month, when the panel that makes it meets, whatever day it was
    typed in, so that what is due is derived again the same from the record."""
    decision, provider = models.LevelDecision, models.Provider
    runs: dict[int, list[tuple[int, date]]] = defaultdict(list)
    query = (
        select(decision.provider_id, decision.level, decision.month)
        .join(provider, provider.id == decision.provider_id)
        .where(provider.authority_id == authority)
        .order_by(decision.provider_id, decision.month.desc())
    )
    for provider_id, level, month in connection.execute(query):
        runs[provider_id].append((level, month_end(month) + timedelta(days=1)))
    return runs


def _since(decisions: list[tuple[int, date]], levels: list[int], quality: ProviderQuality) -> tuple[date | None, bool]:
    """When the provider came to ``levels`` and has stayed there, and whether that is a decision's day: the day
    the first decision of its latest unbroken run at them applies from; or, when the run reaches back before any
    decision (an undecided provider is at level 1), ``monitoring_since``, the programme's start."""
    since = None
    for level, applies_from in decisions:
        if level not in levels:
            return since, True
        since = applies_from
    if 1 in levels:
        return quality.monitoring_since, False
    return since, True


def _requirement_owed(
    requirement: MonitoringRequirement,
    provider: Any,
    decisions: list[tuple[int, date]],
    done: list[tuple[str, date]],
    quality: ProviderQuality,
    today: date,
) -> Owed | str | None:
    """What ``requirement`` asks of the provider on ``today``: an Owed, None when nothing is owed (met, or its
    levels do not apply), or why it cannot be reckoned."""
    level = decisions[0][0] if decisions else 1
    if level not in requirement.levels:
        return None
    since, by_decision = _since(decisions, requirement.levels, quality)
    kinds = set(requirement.activities)
    days = [day for activity, day in done if activity in kinds and day <= today]
    owed = Owed(
        provider.location_id, provider.id, "requirement", provider.id, requirement.id,
        requirement.id.replace("_", " "), today, requirement.by,
    )  # fmt: skip
    if requirement.within_weeks is not None:
        if since is None:
            return f"{provider.location_id}: {requirement.id} cannot be reckoned: no day it came to its level is known"
        if any(day >= since for day in days):
            return None
        return replace(owed, due=since + timedelta(weeks=requirement.within_weeks))
    assert requirement.every_months is not None
    last = max(days, default=None)
    # Coming to a level starts its requirements afresh (a monthly meeting is due a month after escalation, whatever
    # came before); the programme's start only stands in for an activity never recorded.
    counted_from = max(d for d in (last, since) if d) if by_decision and since else last or since
    if counted_from is None:
        return (
            f"{provider.location_id}: {requirement.id} cannot be reckoned: none is recorded and "
            "provider_quality.monitoring_since is not set"
        )
    return replace(owed, due=_plus_months(counted_from, requirement.every_months))


def monitoring_on(connection: Connection, authority: int, quality: ProviderQuality, today: date) -> Monitoring:
    """Everything owed on ``today``: each provider's requirements at its level, its monthly returns not received,
    and its improvement actions open while at level 2 or 3."""
    provider = models.Provider
    providers = connection.execute(
        select(provider.id, provider.location_id)
        .where(provider.authority_id == authority)
        .order_by(provider.location_id)
    ).all()
    runs = _level_runs(connection, authority)
    activity = models.MonitoringActivity
    done: dict[int, list[tuple[str, date]]] = defaultdict(list)
    for provider_id, kind, day in connection.execute(
        select(activity.provider_id, activity.activity, activity.done_on).where(activity.authority_id == authority)
    ):
        done[provider_id].append((kind, day))
    levels = {each.location_id: (runs[each.id][0][0] if runs.get(each.id) else 1) for each in providers}
    owed: list[Owed] = []
    cannot_tell: list[str] = []
    for each in providers:
        for requirement in quality.monitoring:
            found = _requirement_owed(requirement, each, runs.get(each.id, []), done[each.id], quality, today)
            if isinstance(found, Owed):
                owed.append(found)
            elif isinstance(found, str):
                cannot_tell.append(found)
    owed += _returns_owed(connection, authority, quality, today, cannot_tell)
    owed += _actions_owed(connection, authority, levels)
    return Monitoring(today, owed, cannot_tell, levels)


def read_monitoring(engine: Engine, settings: Settings, today: date) -> Monitoring:
    """``monitoring_on`` for the configured authority (what `qaloop provider monitoring` prints)."""
    quality = quality_of(settings)
    with engine.connect() as connection:
        return monitoring_on(connection, authority_id(connection, settings), quality, today)


def _returns_owed(
    connection: Connection, authority: int, quality: ProviderQuality, today: date, cannot_tell: list[str]
) -> list[Owed]:
    returns, provider = models.MonitoringReturn, models.Provider
    rows = connection.execute(
        select(provider.location_id, provider.id, returns.id, returns.month, returns.received_on)
        .join(provider, provider.id == returns.provider_id)
        .where(provider.authority_id == authority)
    ).all()
    due_month = last_return_due(today, quality)
    if not any(month >= due_month for *_, month, _received in rows):
        latest = max((month for *_, month, _received in rows), default="none")
        cannot_tell.append(
            f"monthly returns are not chased: the monitoring returns log does not reach {due_month}, the last month "
            f"whose return was due by {long_date(today)} (its latest month: {latest}); a provider who sent one "
            "would be chased for it"
        )
        return []
    return [
        Owed(location_id, provider_id, "monitoring_return", return_id, month,
             f"the monthly monitoring return for {_month_words(month)}", return_due(month, quality), "provider")
        for location_id, provider_id, return_id, month, received in rows
        if received is None
    ]  # fmt: skip


def _actions_owed(connection: Connection, authority: int, levels: dict[str, int]) -> list[Owed]:
    actions, provider = models.ImprovementAction, models.Provider
    rows = connection.execute(
        select(provider.location_id, provider.id, actions.id, actions.action_ref, actions.due_on)
        .join(provider, provider.id == actions.provider_id)
        .where(actions.authority_id == authority, actions.completed_on.is_(None))
    ).all()
    return [
        Owed(location_id, provider_id, "improvement_action", action_id, ref,
             f"improvement plan action {ref}", due_on, "provider")
        for location_id, provider_id, action_id, ref, due_on in rows
        if levels.get(location_id, 1) >= 2
    ]  # fmt: skip


@dataclass(frozen=True)
class ProviderChase:
    """What a day's chasing of providers did: the steps taken, the emails queued, and the monitoring it read."""

    steps: int
    emails_queued: int
    monitoring: Monitoring | None  # None: not a working day


def _ladder(quality: ProviderQuality, kind: str) -> list[ProviderStep]:
    return getattr(quality.reminders, kind)


def quality_team(settings: Settings) -> list[str]:
    """The provider quality team's addresses (the QA team's when none are configured)."""
    quality = quality_of(settings)
    return [str(address) for address in quality.quality_team or settings.email.qa_team]


def chase_providers(engine: Engine, settings: Settings, today: date) -> ProviderChase:
    """Take today's steps of every provider's ladders, queue one email per provider and the quality team's
    summary, and record the steps, in one transaction; a step taken before (this run again, or another at the
    same time) is not taken again. Nobody is chased on a weekend or bank holiday."""
    quality = quality_of(settings)
    if not is_working_day(today):
        return ProviderChase(0, 0, None)
    with engine.begin() as connection:
        authority = authority_id(connection, settings)
        monitoring = monitoring_on(connection, authority, quality, today)
        addresses = dict(
            connection.execute(
                select(models.Provider.location_id, models.Provider.contact_email).where(
                    models.Provider.authority_id == authority
                )
            ).all()
        )
        insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
        taken: list[tuple[Owed, ProviderStep]] = []
        for owed in monitoring.owed:
            if owed.by != "provider":
                continue
            step = latest_step_reached(owed.due, _ladder(quality, owed.kind), today)
            if step is None:
                continue
            statement = (
                insert(models.ProviderChaseStep.__table__)
                .values(
                    provider_id=owed.provider_id, item_kind=owed.item_kind, item_id=owed.item_id, due_on=owed.due,
                    step_days=step.days, notified=step.notify, sent_on=today,
                )
                .on_conflict_do_nothing(index_elements=["item_kind", "item_id", "due_on", "step_days"])
                .returning(models.ProviderChaseStep.id)
            )  # fmt: skip
            if connection.execute(statement).first() is not None:
                taken.append((owed, step))
        messages = provider_messages(settings, taken, addresses, today)
        messages += summary_message(settings, monitoring, taken, addresses, today)
        queued = enqueue(connection, messages)
    return ProviderChase(len(taken), queued, monitoring)


def _entry(owed: Owed, today: date) -> dict[str, Any]:
    late = working_days_late(owed.due, today) if owed.due < today else 0
    return {"location_id": owed.location_id, "what": owed.what, "due": long_date(owed.due), "late": late}


def provider_messages(
    settings: Settings, taken: list[tuple[Owed, ProviderStep]], addresses: dict[str, str | None], today: date
) -> list[Message]:
    """One email to each provider with an address about everything it is to hear about today."""
    by_provider: dict[str, list[Owed]] = defaultdict(list)
    for owed, step in taken:
        if step.notify == "provider" and addresses.get(owed.location_id):
            by_provider[owed.location_id].append(owed)
    return [
        compose(
            settings,
            "provider_chase",
            key=("provider-chase", today, location_id),
            to=[str(addresses[location_id])],
            subject=f"Quality monitoring: {len(items)} item(s) for {location_id}, {long_date(today)}",
            context={
                "location_id": location_id,
                "items": [_entry(owed, today) for owed in sorted(items, key=lambda each: each.due)],
            },
        )
        for location_id, items in sorted(by_provider.items())
    ]


def summary_message(
    settings: Settings,
    monitoring: Monitoring,
    taken: list[tuple[Owed, ProviderStep]],
    addresses: dict[str, str | None],
    today: date,
) -> list[Message]:
    """The quality team's one daily summary (none when there is nothing to say): what is overdue, by provider;
    what was escalated to it today; what the provider could not be sent (no address); what cannot be reckoned."""
    overdue = [
        _entry(owed, today) | {"level": monitoring.levels.get(owed.location_id, 1)} for owed in monitoring.overdue()
    ]
    escalated = [_entry(owed, today) for owed, step in taken if step.notify == "quality_team"]
    unsent = [
        _entry(owed, today) for owed, step in taken if step.notify == "provider" and not addresses.get(owed.location_id)
    ]
    if not (overdue or escalated or unsent or monitoring.cannot_tell):
        return []
    return [
        compose(
            settings,
            "provider_overdue",
            key=("provider-overdue", today),
            to=quality_team(settings),
            subject=f"Provider monitoring overdue, {long_date(today)}: {len(overdue)} item(s)",
            context={
                "overdue": overdue,
                "escalated": escalated,
                "unsent": unsent,
                "cannot_tell": monitoring.cannot_tell,
            },
        )
    ]
