"""The record of the commissioned market's levels: each month's proposed levels read from the stored
intelligence and kept with their reasons and rule version, the decisions people make on them, and a proposal
explained again.

A month's proposals are derived from the intelligence known on its last day, once the month is over; they are
recorded once (a second run, or two at once, finds them recorded and changes nothing). A decision is never
inferred: it is recorded with who made it, when and why, once per provider and month, jointly with the ICB where
the service is jointly commissioned.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Boolean, Connection, Engine, Select, String, cast, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from qaloop.core.months import last_month
from qaloop.core.settings import (
    ConcernsAboveExpectedRule,
    CqcKeyQuestionsRule,
    CqcOverallRule,
    ProviderQuality,
    RepeatedConcernsRule,
    ReturnsMissingRule,
    Settings,
)
from qaloop.core.templates import long_date
from qaloop.programmes.eligibility import look_back_cutoff
from qaloop.providers.thresholds import LEVELS, Intelligence, Proposal, Reason, propose, rule_version
from qaloop.store import models
from qaloop.store.handles import authority_id


class ProviderError(Exception):
    """A month's levels cannot be proposed, explained or decided; the message says which and why."""


@dataclass(frozen=True)
class Placed:
    """A provider's proposal for a month beside its level now (the last decided, 1 when never decided)."""

    location_id: str
    current_level: int
    proposal: Proposal
    recorded_before: bool

    @property
    def movement(self) -> str:
        """'up', 'down' or 'same': where the proposal would move the provider."""
        level = self.proposal.level
        return "up" if level > self.current_level else "down" if level < self.current_level else "same"


def month_end(month: str) -> date:
    """The last day of ``month`` (YYYY-MM); ProviderError when it is not a month so written."""
    try:
        year, number = (int(part) for part in month.split("-"))
        return date(year, number, calendar.monthrange(year, number)[1])
    except ValueError:
        raise ProviderError(f"{month!r} is not a month written YYYY-MM, e.g. 2026-11") from None


def quality_of(settings: Settings) -> ProviderQuality:
    if settings.provider_quality is None:
        raise ProviderError("provider quality is not configured: add `provider_quality:` to the configuration")
    return settings.provider_quality


def _all(query: Select[Any]) -> Select[Any]:
    return query


def read_intelligence(connection: Connection, authority: int, as_of: date, quality: ProviderQuality) -> Intelligence:
    """The authority's stored providers and the intelligence ``quality``'s rules read on ``as_of``, in the
    datasets' canonical columns: of the CQC ratings, each provider's latest in each domain published by the day;
    of the concerns, those raised in the longest window a rule on concerns looks back over; of the monthly
    returns, those due by the day from the last one received by then; the rest whole. (A region's five years are
    millions of rows, most of which no rule reads.)"""
    provider = models.Provider
    locations = dict(  # the store's provider id -> the CQC location id
        connection.execute(select(provider.id, provider.location_id).where(provider.authority_id == authority)).all()
    )

    def frame(model: type, columns: list[str], narrowed: Callable[[Select[Any]], Select[Any]] = _all) -> pd.DataFrame:
        table = model.__table__  # type: ignore[attr-defined]
        # Dates as the text both databases write them (ISO 8601) and parsed by pandas at once: turning each
        # into a Python date first costs more than the query itself on a region's five years.
        selected = [cast(table.c[c], String) if c.endswith("_on") else table.c[c] for c in columns]
        query = (
            select(table.c.provider_id, *selected)
            .join(provider, provider.id == table.c.provider_id)
            .where(provider.authority_id == authority)
        )
        query = narrowed(query)
        result = pd.DataFrame(_fetched(connection, query), columns=["provider_id", *columns])
        result.insert(0, "location_id", result.pop("provider_id").map(locations).astype(object))
        for column in columns:
            if column.endswith("_on"):  # the datasets' dates
                result[column] = pd.to_datetime(result[column], format="ISO8601")
            elif isinstance(table.c[column].type, Boolean):  # SQLite's driver gives 0 and 1
                result[column] = result[column].astype("boolean")
        return result

    providers = pd.DataFrame(
        connection.execute(
            select(provider.location_id, provider.name, provider.service_type, provider.size, provider.commissioned_by)
            .where(provider.authority_id == authority)
            .order_by(provider.location_id)
        ).all(),
        columns=["location_id", "name", "service_type", "size", "commissioned_by"],
    )
    return Intelligence(
        providers=providers,
        ratings=frame(models.CqcRating, ["domain", "rating", "published_on"], _latest_published_by(as_of)),
        enforcement=frame(models.CqcEnforcement, ["action_ref", "action", "served_on"]),
        concerns=frame(
            models.ProviderConcern, ["concern_ref", "concern", "raised_on", "serious"], _raised_since(as_of, quality)
        ),
        returns=frame(models.MonitoringReturn, ["month", "received_on"], _due_since_last_received(as_of)),
        notices=frame(models.ContractNotice, ["notice_ref", "notice", "served_on", "ends_on"]),
        actions=frame(models.ImprovementAction, ["action_ref", "due_on", "completed_on"]),
    )


def _latest_published_by(as_of: date) -> Callable[[Select[Any]], Select[Any]]:
    """``cqc_rating`` rows narrowed to each provider's latest in each domain published by ``as_of``."""
    ratings = models.CqcRating
    latest = (
        select(ratings.provider_id, ratings.domain, func.max(ratings.published_on).label("published_on"))
        .where(ratings.published_on <= as_of)
        .group_by(ratings.provider_id, ratings.domain)
        .subquery()
    )

    def narrowed(query: Select[Any]) -> Select[Any]:
        return query.join(
            latest,
            (latest.c.provider_id == ratings.provider_id)
            & (latest.c.domain == ratings.domain)
            & (latest.c.published_on == ratings.published_on),
        )

    return narrowed


def _raised_since(as_of: date, quality: ProviderQuality) -> Callable[[Select[Any]], Select[Any]]:
    """``provider_concern`` rows narrowed to those raised in the longest window a rule on concerns reads (none
    when no rule reads concerns)."""
    windows = [
        rule.within_months
        for rule in quality.rules
        if isinstance(rule, ConcernsAboveExpectedRule | RepeatedConcernsRule)
    ]
    since = look_back_cutoff(as_of, max(windows)).date() if windows else as_of

    def narrowed(query: Select[Any]) -> Select[Any]:
        return query.where(models.ProviderConcern.raised_on > since)

    return narrowed


def _due_since_last_received(as_of: date) -> Callable[[Select[Any]], Select[Any]]:
    """``monitoring_return`` rows narrowed to the months due by ``as_of`` (those before its month) from each
    provider's last one received by the day."""
    returns = models.MonitoringReturn
    due = returns.month < f"{as_of:%Y-%m}"
    last = (
        select(returns.provider_id, func.max(returns.month).label("month"))
        .where(due, returns.received_on <= as_of)
        .group_by(returns.provider_id)
        .subquery()
    )

    def narrowed(query: Select[Any]) -> Select[Any]:
        return query.outerjoin(last, last.c.provider_id == returns.provider_id).where(
            due, returns.month >= func.coalesce(last.c.month, "")
        )

    return narrowed


def _fetched(connection: Connection, query: Select[Any]) -> list[tuple[Any, ...]]:
    """The rows of ``query`` as the database driver gives them, in the connection's transaction: a region's five
    years of intelligence is millions of rows, and making each a SQLAlchemy row first costs more than the query.
    Only for queries whose parameters are the store's own integers (rendered in the SQL)."""
    sql = str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql)
        return cursor.fetchall()
    finally:
        cursor.close()


def refuse_missing_inputs(intel: Intelligence, quality: ProviderQuality, as_of: date) -> None:
    """A rule whose input is missing or stale refuses to run on ``as_of``: no providers; no CQC ratings where a
    rule reads them; a monitoring log that does not yet reach the last month whose return was due by the day."""
    if intel.providers.empty:
        raise ProviderError("no providers are stored: load the provider list first (`qaloop load providers`)")
    kinds = {type(rule) for rule in quality.rules}
    if kinds & {CqcOverallRule, CqcKeyQuestionsRule} and intel.ratings.empty:
        raise ProviderError(
            f"no CQC rating published by {long_date(as_of)} is stored, and rules read them: load the CQC directory "
            "first (`qaloop load cqc_ratings`)"
        )
    due = last_month(as_of)
    if ReturnsMissingRule in kinds and not (intel.returns["month"] >= due).any():
        latest = intel.returns["month"].max() if len(intel.returns) else "none"
        raise ProviderError(
            f"the monitoring returns log does not reach {due}, the last month whose return was due by "
            f"{long_date(as_of)} (its latest month: {latest}); load the month's log first "
            "(`qaloop load monitoring_returns`)"
        )


def decided_levels_before(connection: Connection, authority: int, month: str) -> dict[str, int]:
    """Each provider's level decided for the latest month before ``month`` (providers never decided: absent)."""
    decision, provider = models.LevelDecision, models.Provider
    latest = (
        select(decision.provider_id, func.max(decision.month).label("month"))
        .where(decision.month < month)
        .group_by(decision.provider_id)
        .subquery()
    )
    query = (
        select(provider.location_id, decision.level)
        .join(decision, decision.provider_id == provider.id)
        .join(latest, (latest.c.provider_id == decision.provider_id) & (latest.c.month == decision.month))
        .where(provider.authority_id == authority)
    )
    return dict(connection.execute(query).all())


def propose_month(engine: Engine, settings: Settings, month: str, today: date) -> list[Placed]:
    """Propose and record each provider's level for ``month`` (over by ``today``) from the stored intelligence;
    the proposals recorded before for the month are kept as they are. ProviderError says why it cannot run."""
    quality = quality_of(settings)
    as_of = month_end(month)
    if as_of >= today:
        raise ProviderError(f"{month} is not over yet: its levels are proposed from {as_of + pd.Timedelta(days=1)}")
    version = rule_version(quality)
    with engine.begin() as connection:
        authority = authority_id(connection, settings)
        intel = read_intelligence(connection, authority, as_of, quality)
        refuse_missing_inputs(intel, quality, as_of)
        proposals = propose(intel, quality, as_of)
        current = decided_levels_before(connection, authority, month)
        ids = _provider_ids(connection, authority)
        insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
        rows = [
            {
                "provider_id": ids[ref],
                "month": month,
                "level": proposal.level,
                "current_level": current.get(ref, 1),
                "reasons": [vars(reason) for reason in proposal.reasons],
                "rule_version": version,
            }
            for ref, proposal in proposals.items()
        ]
        before = set(
            connection.scalars(select(models.LevelProposal.provider_id).where(models.LevelProposal.month == month))
        )
        if rows:
            statement = insert(models.LevelProposal.__table__).on_conflict_do_nothing(
                index_elements=["provider_id", "month"]
            )
            connection.execute(statement, rows)
        recorded = recorded_proposals(connection, authority, month)
    return [Placed(ref, stored.current_level, stored.proposal, ids[ref] in before) for ref, stored in recorded.items()]


@dataclass(frozen=True)
class StoredProposal:
    """A provider's proposal for a month as recorded: the level it stood at then, the proposal, its rules' version
    and when it was made."""

    current_level: int
    proposal: Proposal
    rule_version: str
    proposed_at: datetime


def _provider_ids(connection: Connection, authority: int) -> dict[str, int]:
    provider = models.Provider
    return dict(
        connection.execute(select(provider.location_id, provider.id).where(provider.authority_id == authority)).all()
    )


def recorded_proposals(
    connection: Connection, authority: int, month: str, location_id: str | None = None
) -> dict[str, StoredProposal]:
    """The proposals recorded for ``month`` (one provider's, with ``location_id``), by location."""
    proposal, provider = models.LevelProposal, models.Provider
    query = (
        select(
            provider.location_id,
            proposal.level,
            proposal.current_level,
            proposal.reasons,
            proposal.rule_version,
            proposal.proposed_at,
        )
        .join(provider, provider.id == proposal.provider_id)
        .where(provider.authority_id == authority, proposal.month == month)
        .order_by(provider.location_id)
    )
    if location_id is not None:
        query = query.where(provider.location_id == location_id)
    return {
        ref: StoredProposal(current, Proposal(ref, level, tuple(Reason(**reason) for reason in reasons)), version, at)
        for ref, level, current, reasons, version, at in connection.execute(query)
    }


def explain(engine: Engine, settings: Settings, location_id: str, month: str) -> list[str]:
    """A provider's recorded proposal for ``month`` in plain lines: the level, every reason, the rule version,
    whether deriving it again from the store now gives the same, and the decision when one is recorded."""
    quality = quality_of(settings)
    with engine.connect() as connection:
        authority = authority_id(connection, settings)
        stored = recorded_proposals(connection, authority, month, location_id).get(location_id)
        if stored is None:
            raise ProviderError(f"no level is proposed for {location_id} for {month}: run `qaloop provider propose`")
        intel = read_intelligence(connection, authority, month_end(month), quality)
        decision = _decision(connection, authority, location_id, month)
    proposal = stored.proposal
    lines = [
        f"{location_id}, {month}: proposed level {proposal.level} ({LEVELS[proposal.level]}), from level "
        f"{stored.current_level}; rule version {stored.rule_version}, proposed {stored.proposed_at:%Y-%m-%d %H:%M}",
    ]
    lines += [f"  - {reason.rule} (level {reason.level}): {reason.says}" for reason in proposal.reasons]
    if not proposal.reasons:
        lines.append("  - no threshold rule is met")
    again = propose(intel, quality, month_end(month)).get(location_id)
    if rule_version(quality) != stored.rule_version:
        lines.append(f"The rules have changed since (now {rule_version(quality)}): derived again they would give:")
    elif again == proposal:
        lines.append("Derived again from the stored intelligence with the same rules: the same level and reasons.")
    else:
        lines.append("Derived again with the same rules, the intelligence stored since gives:")
    if again is not None and again != proposal:
        lines.append(f"  level {again.level}: " + ("; ".join(r.rule for r in again.reasons) or "no rule met"))
    if decision is not None:
        lines.append(decision)
    return lines


def _decision(connection: Connection, authority: int, location_id: str, month: str) -> str | None:
    decision, provider = models.LevelDecision, models.Provider
    row = connection.execute(
        select(decision.level, decision.decided_by, decision.jointly_with, decision.decided_at, decision.reason)
        .join(provider, provider.id == decision.provider_id)
        .where(provider.authority_id == authority, provider.location_id == location_id, decision.month == month)
    ).first()
    if row is None:
        return None
    level, by, jointly, at, reason = row
    joint = f" jointly with {jointly}" if jointly else ""
    return f"Decided: level {level} by {by}{joint} on {at:%Y-%m-%d}: {reason}"


@dataclass(frozen=True)
class Decision:
    """A decision on one provider's level for a month: the level, and why, as the minutes record it."""

    location_id: str
    level: int
    reason: str
    jointly_with: str | None = None


def decide(
    engine: Engine,
    settings: Settings,
    location_id: str,
    month: str,
    level: int,
    decided_by: str,
    reason: str,
    jointly_with: str | None = None,
) -> str:
    """Record the decision on a provider's level for ``month`` (proposed first); returns it in words (see
    ``decide_all``)."""
    [said] = decide_all(engine, settings, month, [Decision(location_id, level, reason, jointly_with)], decided_by)
    return said


def decide_all(engine: Engine, settings: Settings, month: str, decisions: list[Decision], decided_by: str) -> list[str]:
    """Record ``decisions`` on providers' levels for ``month``, made by ``decided_by``, all or none; returns each
    in words.

    ProviderError, with nothing recorded, when a provider has no proposal for the month, when a jointly
    commissioned service's decision names no one of the ICB it was agreed with, when a reason is blank, when a
    provider is decided twice, or when its month's decision is already recorded.
    """
    if not decided_by.strip():
        raise ProviderError("a decision needs who made it")
    with engine.begin() as connection:
        authority = authority_id(connection, settings)
        for decision in decisions:
            _record_decision(connection, authority, month, decision, decided_by.strip(), settings.provider_quality)
        return [_decision(connection, authority, each.location_id, month) or "" for each in decisions]


def _refuse_wrong_decider(
    location_id: str, stored: StoredProposal, level: int, by: str, quality: ProviderQuality | None
) -> None:
    """A provider that stays at level 1 is the team manager's to decide; any other, the panel's (see Deciders)."""
    if quality is None or quality.deciders is None:
        return
    for_the_panel = max(stored.proposal.level, stored.current_level, level) >= 2
    allowed = quality.deciders.panel if for_the_panel else quality.deciders.team_managers
    if by not in allowed:
        whose = "the quality review panel's" if for_the_panel else "a team manager's"
        raise ProviderError(
            f"{location_id}: this decision (level {stored.current_level} now, {stored.proposal.level} proposed, "
            f"{level} decided) is {whose} to record, and {by} is not among provider_quality.deciders."
            f"{'panel' if for_the_panel else 'team_managers'}"
        )


def _record_decision(
    connection: Connection, authority: int, month: str, decision: Decision, by: str, quality: ProviderQuality | None
) -> None:
    location_id = decision.location_id
    if decision.level not in LEVELS:
        raise ProviderError(f"{location_id}: level {decision.level} is not a threshold level (1, 2 or 3)")
    if not decision.reason.strip():
        raise ProviderError(f"{location_id}: a decision needs its reason")
    provider = connection.execute(
        select(models.Provider.id, models.Provider.commissioned_by).where(
            models.Provider.authority_id == authority, models.Provider.location_id == location_id
        )
    ).first()
    stored = recorded_proposals(connection, authority, month, location_id).get(location_id)
    if provider is None or stored is None:
        raise ProviderError(f"no level is proposed for {location_id} for {month}: run `qaloop provider propose`")
    _refuse_wrong_decider(location_id, stored, decision.level, by, quality)
    if provider.commissioned_by == "joint" and not (decision.jointly_with or "").strip():
        raise ProviderError(
            f"{location_id} is commissioned jointly with the ICB: name who at the ICB agreed the decision "
            "(--jointly-with)"
        )
    decided = _decision(connection, authority, location_id, month)
    if decided is not None:
        raise ProviderError(f"{location_id}, {month} is already decided. {decided}")
    try:  # no savepoint: the refusal below rolls the whole transaction back (SQLite's driver would commit one)
        connection.execute(
            models.LevelDecision.__table__.insert().values(
                provider_id=provider.id,
                month=month,
                level=decision.level,
                decided_by=by,
                reason=decision.reason.strip(),
                jointly_with=(decision.jointly_with or "").strip() or None,
            )
        )
    except IntegrityError:  # decided at the same moment by another session
        raise ProviderError(f"{location_id}, {month} was decided at the same moment by someone else") from None
