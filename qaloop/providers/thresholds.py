"""The threshold rules' arithmetic: from a market's intelligence on a day to each provider's proposed level and
every reason for it.

A provider meeting no rule is proposed for level 1 (no or minor concerns); otherwise for the highest level of
the rules it meets, each cited with its figures. Every rule only looks at the provider's own intelligence,
except ``concerns_above_expected``, which sets its concerns beside the rate of the authority's *other*
services of the same type (so that a provider's own concerns never lower the bar it is judged against), with
the exact Poisson limits the triangulation uses.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date

import pandas as pd

from qaloop.core.schema import CQC_KEY_QUESTIONS
from qaloop.core.settings import (
    ActionsOverdueRule,
    ConcernsAboveExpectedRule,
    ContractNoticeRule,
    CqcEnforcementRule,
    CqcKeyQuestionsRule,
    CqcOverallRule,
    ProviderQuality,
    RepeatedConcernsRule,
    ReturnsMissingRule,
    ThresholdRule,
)
from qaloop.programmes.eligibility import look_back_cutoff
from qaloop.reporting.funnels import exact_limits

LEVELS = {1: "no or minor concerns", 2: "moderate concerns", 3: "major concerns"}
_NOTICES = {
    "default": "contract default notice",
    "further default": "further contract default notice",
    "advisory": "advisory notice",
    "placement suspension": "placement suspension",
}
SIZE_UNITS = {
    "care_home": "beds",
    "nursing_home": "beds",
    "home_care": "hours a week",
    "supported_living": "hours a week",
}


@dataclass(frozen=True)
class Intelligence:
    """A market's intelligence, each frame in its dataset's canonical columns (dates as Timestamps), every row
    naming a provider by ``location_id``."""

    providers: pd.DataFrame  # location_id, name, service_type, size, area, commissioned_by, ...
    ratings: pd.DataFrame  # location_id, domain, rating, published_on
    enforcement: pd.DataFrame  # location_id, action_ref, action, served_on
    concerns: pd.DataFrame  # location_id, concern_ref, concern, raised_on, serious
    returns: pd.DataFrame  # location_id, month, received_on
    notices: pd.DataFrame  # location_id, notice_ref, notice, served_on, ends_on
    actions: pd.DataFrame  # location_id, action_ref, due_on, completed_on


@dataclass(frozen=True)
class Reason:
    """One rule a provider meets: the rule's id, the level it supports, and what it found, in words."""

    rule: str
    level: int
    says: str


@dataclass(frozen=True)
class Proposal:
    """A provider's proposed level on a day, and every rule behind it (none for level 1)."""

    location_id: str
    level: int
    reasons: tuple[Reason, ...]


def rule_version(quality: ProviderQuality) -> str:
    """The rules' fingerprint, stored with each proposal: the same rules give the same version. Where the pack shows
    a rule's evidence (its key question) changes no level, so is not part of it."""
    rules = json.dumps(
        [rule.model_dump(mode="json", exclude={"key_question"}) for rule in quality.rules], sort_keys=True
    )
    return "thresholds-" + hashlib.sha256(rules.encode()).hexdigest()[:12]


def key_question_of(rule: ThresholdRule) -> str:
    """The key question the panel pack shows ``rule``'s evidence under (see ``_Threshold.key_question``)."""
    if rule.key_question:
        return str(rule.key_question)
    if isinstance(rule, CqcEnforcementRule):
        return "Safe"
    if isinstance(rule, ConcernsAboveExpectedRule | RepeatedConcernsRule):
        return "Safe" if rule.concern == "safeguarding" else "Effective"
    return "Well-led"


def propose(intelligence: Intelligence, quality: ProviderQuality, as_of: date) -> dict[str, Proposal]:
    """Each provider's proposed level on ``as_of`` from the intelligence known by then, by ``location_id``."""
    found: dict[str, list[Reason]] = {str(ref): [] for ref in intelligence.providers["location_id"]}
    day = pd.Timestamp(as_of)
    # The ratings as they stood on the day, worked out once for every rule that reads them.
    on_the_day = replace(intelligence, ratings=_latest_ratings(intelligence, day))
    for rule in quality.rules:
        for ref, says in _MEETS[rule.kind](rule, on_the_day, day).items():
            if ref in found:
                found[ref].append(Reason(rule.id, rule.level, says))
    return {
        ref: Proposal(ref, max((r.level for r in reasons), default=1), tuple(sorted(reasons, key=_most_serious)))
        for ref, reasons in found.items()
    }


def _most_serious(reason: Reason) -> tuple[int, str]:
    return -reason.level, reason.rule


def _day(value: pd.Timestamp) -> str:
    return value.date().isoformat()


def _known_by(frame: pd.DataFrame, column: str, as_of: pd.Timestamp) -> pd.DataFrame:
    """The rows of ``frame`` dated on or before ``as_of`` (intelligence from after the day does not count)."""
    return frame[frame[column] <= as_of]


def _latest_ratings(intel: Intelligence, as_of: pd.Timestamp) -> pd.DataFrame:
    """Each provider's rating in each domain as it stood on ``as_of``: the latest published by then (a newer
    rating replaces an older one; one published after the day does not count yet)."""
    known = _known_by(intel.ratings, "published_on", as_of).sort_values("published_on")
    return known.drop_duplicates(["location_id", "domain"], keep="last")


def _cqc_overall(rule: CqcOverallRule, intel: Intelligence, as_of: pd.Timestamp) -> dict[str, str]:
    ratings = intel.ratings  # as they stood on the day (see ``propose``)
    hit = ratings[(ratings["domain"] == "Overall") & ratings["rating"].isin(rule.ratings)]
    return {
        str(row.location_id): f"CQC overall rating {row.rating} (published {_day(row.published_on)})"
        for row in hit.itertuples()
    }


def _cqc_key_questions(rule: CqcKeyQuestionsRule, intel: Intelligence, as_of: pd.Timestamp) -> dict[str, str]:
    ratings = intel.ratings  # as they stood on the day (see ``propose``)
    hit = ratings[ratings["domain"].isin(CQC_KEY_QUESTIONS) & ratings["rating"].isin(rule.ratings)]
    counts = hit.groupby("location_id").size()
    hit = hit[hit["location_id"].map(counts) >= rule.at_least].sort_values(["location_id", "domain"])
    which = (hit["domain"] + " " + hit["rating"]).groupby(hit["location_id"]).agg(", ".join)
    return {
        str(ref): f"{counts[ref]} of {len(CQC_KEY_QUESTIONS)} CQC key questions rated so: {said}"
        for ref, said in which.items()
    }


def _cqc_enforcement(rule: CqcEnforcementRule, intel: Intelligence, as_of: pd.Timestamp) -> dict[str, str]:
    served = _known_by(intel.enforcement, "served_on", as_of)
    hit = served[
        served["action"].isin(rule.actions) & (served["served_on"] >= look_back_cutoff(as_of, rule.within_months))
    ]
    said = {}
    for ref, rows in hit.sort_values("served_on").groupby("location_id", sort=True):
        actions = "; ".join(f"{row.action} served {_day(row.served_on)}" for row in rows.itertuples())
        said[str(ref)] = f"CQC enforcement in the last {rule.within_months} months: {actions}"
    return said


def _concerns_in_window(intel: Intelligence, concern: str, months: int, as_of: pd.Timestamp) -> pd.Series:
    """Each provider's count of ``concern`` concerns raised in the ``months`` up to ``as_of`` (0 for none)."""
    concerns = _known_by(intel.concerns, "raised_on", as_of)
    window = concerns[(concerns["concern"] == concern) & (concerns["raised_on"] > look_back_cutoff(as_of, months))]
    counts = window.groupby("location_id").size()
    return counts.reindex(intel.providers["location_id"].astype(str), fill_value=0)


def _concerns_above_expected(
    rule: ConcernsAboveExpectedRule, intel: Intelligence, as_of: pd.Timestamp
) -> dict[str, str]:
    counts = _concerns_in_window(intel, rule.concern, rule.within_months, as_of)
    market = intel.providers.assign(location_id=intel.providers["location_id"].astype(str))
    market = market.assign(count=counts.to_numpy())
    said = {}
    for service_type, same_type in market.groupby("service_type", sort=True):
        total_count, total_size = int(same_type["count"].sum()), float(same_type["size"].sum())
        for row in same_type.itertuples():
            others_size = total_size - row.size
            if row.size <= 0 or others_size <= 0:
                continue  # nothing of its kind to set it beside
            rate = (total_count - row.count) / others_size
            _, upper = exact_limits("poisson", float(row.size), rate, rule.confidence)
            if row.count > upper:
                unit = SIZE_UNITS.get(str(service_type), "units")
                said[row.location_id] = (
                    f"{row.count} {rule.concern} concerns in {rule.within_months} months, where a "
                    f"{str(service_type).replace('_', ' ')} of {row.size} {unit} would have {row.size * rate:.1f} at "
                    f"the rate of the authority's other {str(service_type).replace('_', ' ')}s; above the "
                    f"{rule.confidence:.0%} exact Poisson limit of {upper}"
                )
    return said


def _repeated_concerns(rule: RepeatedConcernsRule, intel: Intelligence, as_of: pd.Timestamp) -> dict[str, str]:
    counts = _concerns_in_window(intel, rule.concern, rule.within_months, as_of)
    return {
        str(ref): f"{count} {rule.concern} concerns in {rule.within_months} months ({rule.at_least} or more)"
        for ref, count in counts.items()
        if count >= rule.at_least
    }


def _returns_missing(rule: ReturnsMissingRule, intel: Intelligence, as_of: pd.Timestamp) -> dict[str, str]:
    # A month's return is due once the month is over; one received after the day is missing on the day.
    due = intel.returns[intel.returns["month"] < f"{as_of:%Y-%m}"]
    missing = due["received_on"].isna() | (due["received_on"] > as_of)
    latest_first = due.assign(missing=missing).sort_values(["location_id", "month"], ascending=[True, False])
    # The months missing running back from the last one due: those before any month that was received.
    received_since = (~latest_first["missing"]).astype(int).groupby(latest_first["location_id"]).cumsum()
    running = latest_first[received_since == 0]
    counts = running.groupby("location_id").size()
    running = running[running["location_id"].map(counts) >= rule.months_running].sort_values(["location_id", "month"])
    months = running.groupby("location_id")["month"].agg(", ".join)
    return {
        str(ref): f"monthly monitoring return missing {counts[ref]} months running: {listed}"
        for ref, listed in months.items()
    }


def _actions_overdue(rule: ActionsOverdueRule, intel: Intelligence, as_of: pd.Timestamp) -> dict[str, str]:
    actions = intel.actions
    late = as_of - pd.Timedelta(days=rule.overdue_days)
    open_on_the_day = actions["completed_on"].isna() | (actions["completed_on"] > as_of)
    overdue = actions[open_on_the_day & (actions["due_on"] < late)]
    said = {}
    for ref, rows in overdue.groupby("location_id", sort=True):
        if len(rows) >= rule.at_least:
            said[str(ref)] = (
                f"{len(rows)} improvement plan action(s) more than {rule.overdue_days} days overdue "
                f"(the oldest due {_day(rows['due_on'].min())})"
            )
    return said


def _contract_notice(rule: ContractNoticeRule, intel: Intelligence, as_of: pd.Timestamp) -> dict[str, str]:
    served = _known_by(intel.notices, "served_on", as_of)
    in_place = served[served["notice"].isin(rule.notices) & (served["ends_on"].isna() | (served["ends_on"] > as_of))]
    if rule.longer_than_months is not None:
        in_place = in_place[in_place["served_on"] < look_back_cutoff(as_of, rule.longer_than_months)]
    said = {}
    for ref, rows in in_place.sort_values("served_on").groupby("location_id", sort=True):
        longer = f" (more than {rule.longer_than_months} months)" if rule.longer_than_months else ""
        notices = "; ".join(f"{_NOTICES[row.notice]} in place since {_day(row.served_on)}" for row in rows.itertuples())
        said[str(ref)] = notices + longer
    return said


_MEETS: dict[str, Callable[[ThresholdRule, Intelligence, pd.Timestamp], dict[str, str]]] = {
    "cqc_overall": _cqc_overall,  # type: ignore[dict-item]
    "cqc_key_questions": _cqc_key_questions,  # type: ignore[dict-item]
    "cqc_enforcement": _cqc_enforcement,  # type: ignore[dict-item]
    "concerns_above_expected": _concerns_above_expected,  # type: ignore[dict-item]
    "repeated_concerns": _repeated_concerns,  # type: ignore[dict-item]
    "returns_missing": _returns_missing,  # type: ignore[dict-item]
    "actions_overdue": _actions_overdue,  # type: ignore[dict-item]
    "contract_notice": _contract_notice,  # type: ignore[dict-item]
}
