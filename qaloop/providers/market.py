"""The market's figures for a month, read from the store: what the dashboard for commissioners and leadership and the
quality review panel's pack show.

Each provider's level is the one decided for the latest month up to the one shown (1 when never decided); the
month's proposals and decisions are as recorded. Intelligence is as known on the month's last day (ratings as they
stood, concerns, complaints and compliments in the last 12 months, improvement actions due by then); monitoring
overdue is as on the day the figures are read. The pack holds every provider at level 2 or 3 and every provider
whose proposal would move it, its evidence grouped under the Quality Outcomes Framework's five key questions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from qaloop.core.months import months_back
from qaloop.core.schema import CQC_KEY_QUESTIONS
from qaloop.core.settings import ProviderQuality, Settings
from qaloop.core.working_days import add_working_days
from qaloop.programmes.eligibility import look_back_cutoff
from qaloop.providers import monitoring
from qaloop.providers.record import (
    ProviderError,
    StoredProposal,
    month_end,
    quality_of,
    read_intelligence,
    recorded_proposals,
)
from qaloop.providers.thresholds import SIZE_UNITS, Intelligence, key_question_of
from qaloop.store import models
from qaloop.store.handles import authority_id

MONTHS_SHOWN = 12
CQC_OVERALL_ORDER = ("Outstanding", "Good", "Requires improvement", "Inadequate", "Not rated")


@dataclass(frozen=True)
class PackEntry:
    """One provider in the panel's pack: who, its level now and the one proposed, the evidence under each key
    question, its improvement plan's progress, its monitoring overdue, and the decision when one is recorded."""

    location_id: str
    name: str
    service_type: str
    size: str  # with its unit: "40 beds", "400 hours a week"
    area: str
    commissioned_by: str
    level_now: int  # before the month's decision
    proposed: int
    movement: str
    evidence: dict[str, list[str]]  # key question -> the CQC rating and the reasons under it
    actions: dict[str, int]  # total, completed, open, overdue
    overdue: list[str]
    decision: str | None


@dataclass(frozen=True)
class MarketFigures:
    """What the dashboard and the pack show for ``month``."""

    authority: str
    month: str
    on: date
    providers: pd.DataFrame  # location_id, name, service_type, size, area, commissioned_by, level, proposed, cqc
    levels_over_time: pd.DataFrame  # month, level 1, level 2, level 3
    concerns_per_size: pd.DataFrame  # location_id, service_type, size, concerns (safeguarding, 12 months)
    overdue: pd.DataFrame  # location_id, level, what, due, by
    pack: list[PackEntry] = field(default_factory=list)
    urgent: list[str] = field(default_factory=list)  # the urgent reviews raised in the month, in words


def pack_due(quality: ProviderQuality, today: date) -> date | None:
    """The panel meeting whose pack goes out ``today`` (``pack_working_days_before`` it), if any."""
    due = [meeting for meeting in quality.panel_meetings
           if add_working_days(meeting, -quality.pack_working_days_before) == today]  # fmt: skip
    return min(due, default=None)


def next_pack(quality: ProviderQuality, today: date) -> tuple[date, date] | None:
    """The next meeting after ``today`` and the day its pack goes out, if any is configured."""
    ahead = sorted(meeting for meeting in quality.panel_meetings if meeting > today)
    return (ahead[0], add_working_days(ahead[0], -quality.pack_working_days_before)) if ahead else None


def market_figures(engine: Engine, settings: Settings, month: str, today: date) -> MarketFigures:
    """The figures for ``month`` (its levels proposed first), with monitoring overdue as on ``today``;
    ProviderError when the month's levels are not proposed yet."""
    quality = quality_of(settings)
    as_of = month_end(month)
    provider, decision, area = models.Provider, models.LevelDecision, models.Area
    with engine.connect() as connection:
        authority = authority_id(connection, settings)
        proposals = recorded_proposals(connection, authority, month)
        if not proposals:
            raise ProviderError(
                f"no level is proposed for {month}: run `qaloop provider propose {month}` (or provider-intelligence) "
                "first"
            )
        listed = pd.DataFrame(
            connection.execute(
                select(provider.id, provider.location_id, provider.name, provider.service_type, provider.size,
                       area.name, provider.commissioned_by)
                .join(area, area.id == provider.area_id)
                .where(provider.authority_id == authority)
                .order_by(provider.location_id)
            ).all(),
            columns=["provider_id", "location_id", "name", "service_type", "size", "area", "commissioned_by"],
        )  # fmt: skip
        decided = pd.DataFrame(
            connection.execute(
                select(decision.provider_id, decision.month, decision.level, decision.decided_by, decision.jointly_with)
                .join(provider, provider.id == decision.provider_id)
                .where(provider.authority_id == authority, decision.month <= month)
            ).all(),
            columns=["provider_id", "month", "level", "decided_by", "jointly_with"],
        )
        intel = read_intelligence(connection, authority, as_of, quality)
        feedback = models.ProviderFeedback
        heard = pd.DataFrame(
            connection.execute(
                select(provider.location_id, feedback.feedback, feedback.upheld)
                .join(provider, provider.id == feedback.provider_id)
                .where(
                    provider.authority_id == authority,
                    feedback.received_on > look_back_cutoff(as_of, 12).date(),
                    feedback.received_on <= as_of,
                )
            ).all(),
            columns=["location_id", "feedback", "upheld"],
        )
        found = monitoring.monitoring_on(connection, authority, quality, today)
        urgent = connection.execute(
            select(provider.location_id, models.UrgentReview.says)
            .join(provider, provider.id == models.UrgentReview.provider_id)
            .where(
                provider.authority_id == authority,
                models.UrgentReview.occurred_on >= as_of.replace(day=1),
                models.UrgentReview.occurred_on <= as_of,
            )
            .order_by(models.UrgentReview.occurred_on)
        ).all()
    ids = dict(zip(listed["provider_id"], listed["location_id"], strict=True))
    decided["location_id"] = decided["provider_id"].map(ids)

    def levels_in(shown: str) -> pd.Series:
        known = decided[decided["month"] <= shown].sort_values("month").groupby("location_id")["level"].last()
        return listed["location_id"].map(known).fillna(1).astype(int)

    ratings = intel.ratings
    overall = ratings[ratings["domain"] == "Overall"].set_index("location_id")["rating"]
    providers = listed.drop(columns="provider_id").assign(
        level=levels_in(month).to_numpy(),
        proposed=listed["location_id"].map({ref: stored.proposal.level for ref, stored in proposals.items()}),
        cqc=listed["location_id"].map(overall).fillna("Not rated"),
    )
    over_time = pd.DataFrame(
        [
            {"month": shown, **{f"level {level}": int((levels_in(shown) == level).sum()) for level in (1, 2, 3)}}
            for shown in months_back(month, MONTHS_SHOWN)
        ]
    )
    since = look_back_cutoff(as_of, 12)
    concerns = intel.concerns
    recent = concerns[(concerns["concern"] == "safeguarding") & (concerns["raised_on"] > since)]
    per_size = listed[["location_id", "service_type", "size"]].assign(
        concerns=listed["location_id"].map(recent.groupby("location_id").size()).fillna(0).astype(int).to_numpy()
    )
    overdue = pd.DataFrame(
        [
            {"location_id": owed.location_id, "level": found.levels.get(owed.location_id, 1), "what": owed.what,
             "due": owed.due, "by": owed.by.replace("_", " ")}
            for owed in found.overdue()
        ],
        columns=["location_id", "level", "what", "due", "by"],
    )  # fmt: skip
    this_month = decided[decided["month"] == month].set_index("location_id")
    pack = [
        _pack_entry(row, proposals[row.location_id], intel, heard, overdue, this_month, quality, as_of)
        for row in providers.itertuples(index=False)
        if row.location_id in proposals and _for_the_panel(proposals[row.location_id])
    ]
    pack.sort(key=lambda entry: (-max(entry.level_now, entry.proposed), entry.location_id))
    return MarketFigures(
        authority=settings.authority.name,
        month=month,
        on=today,
        providers=providers,
        levels_over_time=over_time,
        concerns_per_size=per_size,
        overdue=overdue,
        pack=pack,
        urgent=[f"{ref}: {says}" for ref, says in urgent],
    )


def _day(day: date | pd.Timestamp) -> str:
    return f"{day.day} {day:%B %Y}"


def _for_the_panel(stored: StoredProposal) -> bool:
    """Whether the panel decides on the provider this month: at level 2 or 3 before it, or proposed to move."""
    return stored.current_level >= 2 or stored.proposal.level != stored.current_level


def _pack_entry(
    row: Any,
    stored: StoredProposal,
    intel: Intelligence,
    heard: pd.DataFrame,
    overdue: pd.DataFrame,
    this_month: pd.DataFrame,
    quality: ProviderQuality,
    as_of: date,
) -> PackEntry:
    """``row`` (a provider of ``MarketFigures.providers``) as the pack shows it."""
    ref = row.location_id
    questions = {rule.id: key_question_of(rule) for rule in quality.rules}
    evidence: dict[str, list[str]] = {question: [] for question in CQC_KEY_QUESTIONS}
    rated = intel.ratings[intel.ratings["location_id"] == ref].set_index("domain")
    for question in CQC_KEY_QUESTIONS:
        if question in rated.index:
            published = rated.loc[question, "published_on"]
            evidence[question].append(f"CQC: {rated.loc[question, 'rating']} (published {_day(published)})")
    for reason in stored.proposal.reasons:
        question = questions.get(reason.rule, "Well-led")
        evidence[question].append(f"{reason.rule} (level {reason.level}): {reason.says}")
    about = heard[heard["location_id"] == ref]
    complaints = about[about["feedback"] == "complaint"]
    if len(complaints):
        upheld = int(complaints["upheld"].fillna(False).astype(bool).sum())
        evidence["Responsive"].append(f"{len(complaints)} complaint(s) in 12 months, {upheld} upheld")
    if compliments := int((about["feedback"] == "compliment").sum()):
        evidence["Caring"].append(f"{compliments} compliment(s) in 12 months")
    actions = intel.actions[intel.actions["location_id"] == ref]
    completed = actions["completed_on"].notna() & (actions["completed_on"] <= pd.Timestamp(as_of))
    late = ~completed & (actions["due_on"] < pd.Timestamp(as_of))
    decided = this_month.loc[ref] if ref in this_month.index else None
    level, now = stored.proposal.level, stored.current_level
    return PackEntry(
        location_id=ref, name=row.name, service_type=row.service_type.replace("_", " "),
        size=f"{int(row.size):,} {SIZE_UNITS.get(row.service_type, 'units')}", area=row.area,
        commissioned_by=row.commissioned_by, level_now=now, proposed=level,
        movement="up" if level > now else "down" if level < now else "same",
        evidence=evidence,
        actions={"total": len(actions), "completed": int(completed.sum()), "open": int((~completed).sum()),
                 "overdue": int(late.sum())},
        overdue=[f"{each.what}, due {_day(each.due)}" for each in overdue[overdue.location_id == ref].itertuples()],
        decision=None if decided is None else (
            f"level {decided['level']} by {decided['decided_by']}"
            + (f" jointly with {decided['jointly_with']}" if decided["jointly_with"] else "")
        ),
    )  # fmt: skip
