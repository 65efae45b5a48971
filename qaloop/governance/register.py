"""The one actions register, as the reports read it: every action the council's QA owes, with its source (an audit's
corrective action, an escalation's outcome, a service performance review's panel, a commissioned provider's
service improvement plan), what it is about, its owner, due date and status, and where it names the key indicator
it is to improve, whether that indicator has moved since it opened; and how each source's items are named (a case
in its cycle, ``ESC-n``, ``SPR-<area>-<panel date>``, a provider by its CQC location id).

The council's own actions are rows of ``corrective_action``, chased on the corrective actions' ladder; a provider's
improvement actions stay in ``improvement_action`` as the provider tracker gives them (owed by a provider, not a
member of staff, and chased by ``provider-chasing``), and are read in beside them here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, select

from qaloop.core.months import months_back
from qaloop.core.settings import Settings
from qaloop.governance.compendium import read_series
from qaloop.governance.indicators import area_name, governance_of, stored_series
from qaloop.store import models
from qaloop.store.queries import allocated_cases


def review_reference(service_area: str, panel_on: date) -> str:
    """A service performance review's reference, as its workbook's cover, its emails and the register give it."""
    return f"SPR-{service_area}-{panel_on.isoformat()}"


@dataclass(frozen=True)
class Action:
    """One action in the register, whatever its source. ``number`` is the council's action number (a provider's
    action has its own reference instead); ``about`` names what it is for; ``team_id`` is an audit's case's team
    and ``service_area`` a review's, so that a service area's pack takes its own."""

    number: int | None
    source: str
    about: str
    what: str
    owner: str
    opened_on: date | None
    due: date
    status: str
    closed_on: date | None
    measure: str | None = None
    measure_area: str | None = None
    team_id: int | None = None
    service_area: str | None = None
    key: str = ""  # unique across sources: how ``measures_moved`` names it

    @property
    def done_on_time(self) -> bool | None:
        return None if self.closed_on is None else self.closed_on <= self.due


def actions_register(connection: Connection, authority: int) -> list[Action]:
    """Every action of the authority from each source, the council's in the order they were opened (by number),
    then the providers' by due date."""
    action, cycle, case, owner = models.CorrectiveAction, models.AuditCycle, models.CaseRecord, models.Staff
    escalation, review = models.Escalation, models.ServiceReview
    columns = (action.id, action.source, action.reason, action.description, owner.staff_ref.label("owner"),
               action.opened_at, action.due_date, action.status, action.closed_at, action.measure,
               action.measure_area)  # fmt: skip
    from_audits = connection.execute(
        select(*columns, case.case_ref, cycle.cycle_ref, case.team_id)
        .select_from(allocated_cases())
        .join(action, action.allocation_id == models.Allocation.id)
        .join(owner, owner.id == action.owner_id)
        .where(cycle.authority_id == authority)
    ).all()
    from_escalations = connection.execute(
        select(*columns, escalation.id.label("escalation"))
        .join(escalation, escalation.id == action.escalation_id)
        .join(owner, owner.id == action.owner_id)
        .where(escalation.authority_id == authority, action.source == "escalation")
    ).all()
    from_reviews = connection.execute(
        select(*columns, review.service_area, review.panel_on)
        .join(review, review.id == action.service_review_id)
        .join(owner, owner.id == action.owner_id)
        .where(review.authority_id == authority, action.source == "review")
    ).all()
    council = sorted(
        [_council(row, f"case {row.case_ref} (cycle {row.cycle_ref})", team_id=row.team_id) for row in from_audits]
        + [_council(row, f"ESC-{row.escalation}") for row in from_escalations]
        + [_council(row, f"service review {review_reference(row.service_area, row.panel_on)}",
                    service_area=row.service_area) for row in from_reviews],
        key=lambda item: item.number or 0,
    )  # fmt: skip
    improvement, provider = models.ImprovementAction, models.Provider
    from_providers = connection.execute(
        select(improvement.action_ref, improvement.due_on, improvement.completed_on, provider.location_id)
        .join(provider, provider.id == improvement.provider_id)
        .where(improvement.authority_id == authority)
        .order_by(improvement.due_on, improvement.action_ref)
    ).all()
    providers = [
        Action(None, "provider", f"provider {row.location_id}", f"service improvement plan action {row.action_ref}",
               row.location_id, None, row.due_on, "done" if row.completed_on else "open", row.completed_on,
               key=f"provider:{row.action_ref}")
        for row in from_providers
    ]  # fmt: skip
    return council + providers


def _council(row: Any, about: str, **where: Any) -> Action:
    return Action(
        row.id, row.source, about, row.description or row.reason.replace("_", " "), row.owner,
        _day(row.opened_at), row.due_date, row.status, _day(row.closed_at), row.measure, row.measure_area,
        key=f"action:{row.id}", **where,
    )  # fmt: skip


def _day(moment: datetime | None) -> date | None:
    return None if moment is None else moment.date()


def listed_for(actions: list[Action], start: date, end: date) -> list[Action]:
    """The actions a report for ``start`` to ``end`` lists: those opened in it (a provider's: due in it), and those
    still open at its end, whenever opened."""
    return [
        item for item in actions
        if (item.opened_on or item.due) <= end
        and (start <= (item.opened_on or item.due) or item.closed_on is None or item.closed_on > end)
    ]  # fmt: skip


REGISTER_COLUMNS = ["action", "source", "about", "what", "owner", "opened on", "due", "status", "done on time",
                    "measure", "moved its measure"]  # fmt: skip


def register_frame(actions: list[Action], moved: dict[str, str] | None = None) -> pd.DataFrame:
    """The register as a table people read: each action with what it is about, whether it was done on time, and
    (``moved``, by the action's key) whether the measure it is to improve has moved since it opened."""
    moved = moved or {}
    return pd.DataFrame(
        [
            [item.number if item.number is not None else item.key.split(":", 1)[1], item.source, item.about,
             item.what, item.owner, item.opened_on, item.due, item.status, item.done_on_time, item.measure or "",
             moved.get(item.key, "")]
            for item in actions
        ],
        columns=REGISTER_COLUMNS,
    )  # fmt: skip


# What an action's measure did, in a word, from the month before it opened to the latest month.
BETTER, WORSE, SAME = "better", "worse", "unchanged"


def measures_moved(engine: Engine, settings: Settings, actions: list[Action], until: date) -> dict[str, str]:
    """For each action with a measure (by its key), whether its indicator has moved since the action opened: its
    figure for the last month before it opened beside its latest figure up to ``until``'s month, better, worse or
    unchanged by the indicator's polarity, with the latest figure's SPC reading (Making Data Count); or why it
    cannot be said."""
    measured = [item for item in actions if item.measure and item.opened_on]
    if not measured:
        return {}
    governance = governance_of(settings)
    months = months_back(f"{until:%Y-%m}", governance.months_charted)
    found = {(series.indicator, series.service_area): series for series in stored_series(engine, settings,
                                                                                           months).series}  # fmt: skip
    said = {}
    for item in measured:
        series = found.get((item.measure, item.measure_area or "")) or found.get((item.measure, ""))
        if item.measure not in governance.indicators or series is None:
            said[item.key] = f"{item.measure}: no figure stored"
            continue
        opened = f"{item.opened_on:%Y-%m}"
        before = [month for month in months if month < opened and month in series.figures]
        since = [month for month in months if month >= opened and month in series.figures]
        if not before or not since:
            said[item.key] = f"{item.measure}: no figure {'before it opened' if not before else 'since it opened'}"
            continue
        reading = read_series(settings, series, months[: months.index(since[-1]) + 1])
        first, last = series.figures[before[-1]].value, series.figures[since[-1]].value
        higher = series.definition.polarity == "higher is better"
        word = SAME if last == first else BETTER if (last > first) == higher else WORSE
        said[item.key] = (
            f"{word}: {item.measure} ({area_name(governance, series.service_area)}) {reading.chart.shown(first)} in "
            f"{before[-1]}, {reading.chart.shown(last)} in {since[-1]}; {reading.chart.variation or reading.chart.says}"
        )
    return said
