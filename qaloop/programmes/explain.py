"""Explaining a recorded draw: re-derive any programme's sample (a regular cycle, a deep dive, a managers'
month) from the inputs, seed and rules kept with it, compare it with what was recorded, and give every case's
outcome and reason. This is how anyone shows a sample was drawn fairly, whatever has changed since."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, func, select

from qaloop.core.settings import SelectionRules, Settings
from qaloop.programmes.cycle_record import load_inputs
from qaloop.programmes.deep_dive import rederive_deep_dive
from qaloop.programmes.managers_monthly import rederive_month
from qaloop.programmes.selection import select_cases
from qaloop.store import models
from qaloop.store.handles import CycleError, authority_id


@dataclass(frozen=True)
class Explanation:
    """A re-derived sample beside the recorded one: whether they match, and every case's outcome and reason."""

    cycle_ref: str
    identical: bool
    differences: list[str]
    outcomes: pd.DataFrame


def explain_cycle(engine: Engine, settings: Settings, cycle_ref: str) -> Explanation:
    """Re-derive ``cycle_ref``'s sample from its stored inputs, seed and rules, and compare with the record."""
    authority = authority_id(engine, settings)
    cycle = models.AuditCycle
    with engine.connect() as connection:
        recorded = connection.execute(
            select(cycle.id, cycle.seed, cycle.parameters, cycle.selection_date, cycle.programme).where(
                cycle.authority_id == authority, cycle.cycle_ref == cycle_ref
            )
        ).one_or_none()
        if recorded is None or recorded.seed is None:
            raise CycleError(f"cycle {cycle_ref} has no recorded draw to explain")
        first_status = (
            select(models.AllocationEvent.allocation_id, func.min(models.AllocationEvent.id).label("first"))
            .group_by(models.AllocationEvent.allocation_id)
            .subquery()
        )
        original = connection.execute(
            select(models.CaseRecord.case_ref, models.AllocationEvent.to_status)
            .join(models.Allocation, models.Allocation.case_id == models.CaseRecord.id)
            .join(first_status, first_status.c.allocation_id == models.Allocation.id)
            .join(models.AllocationEvent, models.AllocationEvent.id == first_status.c.first)
            .where(models.Allocation.cycle_id == recorded.id)
        ).all()
    parameters = recorded.parameters
    inputs = load_inputs(Path(parameters["inputs_file"]), parameters["inputs_sha256"])
    was = {(ref, status) for ref, status in original}
    if recorded.programme == "managers_monthly":
        drawn, outcomes = rederive_month(inputs, parameters, recorded.selection_date, recorded.seed)
        return _compared(cycle_ref, was, {(ref, "selected") for ref in drawn}, outcomes)
    if recorded.programme == "deep_dive":
        again = rederive_deep_dive(inputs, parameters, recorded.selection_date, recorded.seed)
    else:
        again = select_cases(
            inputs.cases,
            parameters["quotas"],
            SelectionRules.model_validate(parameters["rules"]),
            recorded.selection_date,
            recorded.seed,
            audited=inputs.audited,
            recent_cycles=inputs.recent_cycles,
            explain=True,
        )
    now = {(ref, "selected") for ref in again.drawn["case_ref"]} | {
        (ref, "reserve") for ref in again.reserves["case_ref"]
    }
    assert again.outcomes is not None
    return _compared(cycle_ref, was, now, again.outcomes)


def _compared(
    cycle_ref: str, was: set[tuple[str, str]], now: set[tuple[str, str]], outcomes: pd.DataFrame
) -> Explanation:
    differences = [f"recorded as {status} but not re-derived so: {ref}" for ref, status in sorted(was - now)]
    differences += [f"re-derived as {status} but not recorded so: {ref}" for ref, status in sorted(now - was)]
    return Explanation(cycle_ref, not differences, differences, outcomes)


def reason_counts(outcomes: pd.DataFrame) -> pd.Series:
    """How many cases each reason covers, most first, with each stratum's own figures taken out of the reason
    ("the 41st in its stratum" counts as "in its stratum")."""
    return outcomes["reason"].str.replace(r" \d+ in its stratum.*", " in its stratum", regex=True).value_counts()
