"""What a regular cycle's draw depends on, verified before anything is recorded.

The repeat rules read the audit history; the look-back window reads the extract's activity dates; the quotas
read the areas and audit types the extract holds. When one of them is missing or stale the draw would still
produce a sample, silently wrong (previously audited cases, repeat-blocked workers, an area with no audits),
so the cycle refuses instead and says what to load or change.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import pandas as pd

from qaloop.core.settings import Settings
from qaloop.programmes.eligibility import look_back_cutoff
from qaloop.programmes.selection import Selection
from qaloop.store.handles import CycleError


class NotReady(CycleError):
    """The cycle's (or deep dive's) draw depends on something that does not hold; nothing was drawn or
    recorded."""

    def __init__(self, cycle_ref: str, reasons: list[str], what: str = "Cycle") -> None:
        super().__init__(
            f"{what} {cycle_ref} was not drawn (nothing was recorded or sent):\n"
            + "\n".join(f"  - {reason}" for reason in reasons)
        )
        self.reasons = reasons


def no_history(settings: Settings, audited_cycles: Iterable[date], before: date) -> list[str]:
    """Why a draw on ``before`` cannot tell which cases were audited before: the store holds no audit history
    although the programme had cycles before ``before`` (its first cycle is ``calendar.first_cycle``, else
    ``calendar.anchor``); else nothing."""
    calendar, repeat = settings.calendar, settings.selection.worker_repeat_cycles
    if any(True for _ in audited_cycles) or before - timedelta(weeks=calendar.cadence_weeks) < (
        calendar.first_cycle or calendar.anchor
    ):
        return []
    return [
        "the store holds no audit history, so the repeat rules (never the same case twice, never a worker "
        f"audited in each of the last {repeat} cycles) cannot be applied: load the audit history "
        "(`qaloop load audit_history`), or, if this is the programme's first cycle, set "
        f"calendar.first_cycle to its selection date ({before})"
    ]


def history_gaps(settings: Settings, audited_cycles: Iterable[date], before: date) -> list[str]:
    """What is missing from the audit history for a draw on ``before``.

    The worker-repeat rule needs each of the last ``worker_repeat_cycles`` cycles: one recorded cycle with
    audits in each of as many cadence periods before ``before``, except periods that start before the
    programme's first cycle (``calendar.first_cycle``, else ``calendar.anchor``), where none is expected.
    """
    calendar, repeat = settings.calendar, settings.selection.worker_repeat_cycles
    cadence = timedelta(weeks=calendar.cadence_weeks)
    first = calendar.first_cycle or calendar.anchor
    recorded = sorted(set(audited_cycles))
    expected = [
        (before - (i + 1) * cadence, before - i * cadence) for i in range(repeat) if before - (i + 1) * cadence >= first
    ]
    if missing := no_history(settings, recorded, before):
        return missing
    return [
        f"no audited cycle is recorded with a selection date from {start} to {end - timedelta(days=1)}: the "
        f"worker-repeat rule needs each of the last {repeat} cycles; load the audit history that covers it"
        for start, end in expected
        if not any(start <= day < end for day in recorded)
    ]


def activity_gaps(settings: Settings, cases: pd.DataFrame, before: date) -> list[str]:
    """What the stored case extract lacks for any draw on ``before`` under the look-back window: cases, and
    activity recent enough."""
    if not len(cases):
        return ["the store holds no case: load the case extract (`qaloop load cases`)"]
    cutoff = look_back_cutoff(before, settings.selection.look_back_months)
    newest = pd.to_datetime(cases["last_activity_date"]).max()
    if pd.isna(newest) or newest < cutoff:
        shown = "none" if pd.isna(newest) else newest.date().isoformat()
        return [
            f"the newest activity in the case extract ({shown}) is before the look-back window starts "
            f"({cutoff.date()}, {settings.selection.look_back_months} months before {before}): the extract is "
            "stale or its activity dates were not read; export it again or check the activity date's mapping"
        ]
    return []


def extract_gaps(settings: Settings, cases: pd.DataFrame, before: date) -> list[str]:
    """What the stored case extract lacks for a regular cycle's draw on ``before``: cases, recent activity, each
    configured area and audit type."""
    problems = activity_gaps(settings, cases, before)
    if not len(cases):
        return problems
    cutoff = look_back_cutoff(before, settings.selection.look_back_months)
    present_types = set(cases["audit_type"])
    for audit_type in settings.audit_types:
        if audit_type.id not in present_types:
            problems.append(
                f"audit type {audit_type.id} is configured but no case in the extract has it: check how the "
                "source's case types map to audit types, or remove it from audit_types"
            )
    in_window = cases[pd.to_datetime(cases["last_activity_date"]) >= cutoff]
    for area in settings.authority.areas:
        if not (in_window["area"] == area.code).any():
            problems.append(
                f"area {area.code} ({area.name}) has no case with activity since {cutoff.date()}: it would get no "
                "audits; check the extract's area and activity date columns"
            )
    return problems


def draw_gaps(selection: Selection) -> list[str]:
    """The strata given a quota from which no case could be drawn, even with every rule relaxed."""
    return [
        f"stratum {result.stratum} has a quota of {result.quota} but no eligible case, even with the rules "
        "relaxed: check the extract for that area and audit type, or its share in calendar.type_shares"
        for result in selection.strata
        if result.quota > 0 and result.drawn == 0
    ]
