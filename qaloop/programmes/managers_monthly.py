"""Managers' monthly audits (Coventry): every eligible manager audits a set number of cases each month, never
from a team they manage, drawn at random under the same rules as a regular cycle: a case audited before is
never drawn, a worker audited in each of the last N cycles is passed over, at most the configured cases per
worker, only cases with activity in the look-back window. Where a manager runs short, the rules relax in
the configured order, as for a stratum, and the draw says so.

The draw is reproducible: cases and managers are put in the order of a keyed hash of their reference and the
seed, whatever order they arrive in; managers then take turns, one case each a round.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from qaloop.allocation.auditors import AuditWindow, available_auditors
from qaloop.allocation.record import staff_frame
from qaloop.core.cycle_dates import cycle_dates
from qaloop.core.settings import SelectionRules, Settings
from qaloop.programmes.cycle_record import (
    Draw,
    SelectionInputs,
    default_seed,
    draw_outcome,
    record_selection,
    save_inputs,
    selection_inputs,
)
from qaloop.programmes.eligibility import eligibility, eligible, passes, relaxed_note, worker_cap
from qaloop.programmes.eligibility import reasons as why_not_drawn
from qaloop.programmes.readiness import NotReady, activity_gaps, history_gaps
from qaloop.programmes.selection import RULE_VERSION, Selection, StratumResult, random_keys
from qaloop.store.handles import authority_id, recorded_cycle


@dataclass(frozen=True)
class ManagersDraw:
    """The month's draw: ``drawn`` has case_ref, manager_id, team, worker_id, rank (the manager's nth case)
    and relaxed (rules relaxed to draw it, comma-separated); ``short`` the managers left with fewer cases than
    asked, and how many fewer."""

    seed: int
    rule_version: str
    drawn: pd.DataFrame
    short: dict[str, int]


def draw_for_managers(
    cases: pd.DataFrame,
    managers: Mapping[str, Iterable[str]],
    per_manager: int,
    rules: SelectionRules,
    as_of: date,
    seed: int,
    audited: Iterable[str] = (),
    recent_cycles: Sequence[Iterable[str]] = (),
) -> ManagersDraw:
    """Draw ``per_manager`` cases for each manager (staff id -> the teams they manage, whose cases they may not
    audit) from ``cases`` (case_ref, team, worker_id, last_activity_date)."""
    frame = pd.DataFrame(
        {
            "case_ref": cases["case_ref"].astype(str).to_numpy(),
            "team": cases["team"].astype(str).to_numpy(),
            "worker_id": cases["worker_id"].astype(str).to_numpy(),
            "key": random_keys(cases["case_ref"], seed),
        }
    )
    standing = eligibility(
        cases["case_ref"], cases["worker_id"], cases["last_activity_date"], rules, as_of, audited, recent_cycles
    )
    frame = pd.concat([frame, standing], axis=1)
    frame = frame[~frame["audited"]].sort_values(["key", "case_ref"], ignore_index=True)
    order = sorted(managers, key=lambda staff_id: (int(random_keys(pd.Series([staff_id]), seed)[0]), staff_id))
    excluded = {manager: frozenset(map(str, teams)) for manager, teams in managers.items()}
    taken: dict[str, int] = {}  # case_ref -> position in frame, for those drawn
    per_worker: dict[str, int] = {}
    counts = dict.fromkeys(order, 0)
    rows: list[tuple[str, str, str, str, int, str]] = []
    for rule, relaxed in passes(rules):
        if rule is not None and all(counts[m] >= per_manager for m in order):
            break
        cap = worker_cap(rules, relaxed)
        eligible_now = frame[eligible(frame, relaxed)]
        candidates = list(eligible_now[["case_ref", "team", "worker_id"]].itertuples(index=False, name=None))
        cursor = dict.fromkeys(order, 0)
        progress = True
        while progress:
            progress = False
            for manager in order:
                if counts[manager] >= per_manager:
                    continue
                found = _next_case(candidates, cursor, manager, excluded[manager], taken, per_worker, cap)
                if found is None:
                    continue
                case_ref, team, worker = found
                taken[case_ref] = len(rows)
                per_worker[worker] = per_worker.get(worker, 0) + 1
                counts[manager] += 1
                rows.append((case_ref, manager, team, worker, counts[manager], ",".join(relaxed)))
                progress = True
    drawn = pd.DataFrame(rows, columns=["case_ref", "manager_id", "team", "worker_id", "rank", "relaxed"])
    short = {m: per_manager - counts[m] for m in order if counts[m] < per_manager}
    return ManagersDraw(seed, RULE_VERSION, drawn, short)


def _next_case(
    candidates: list[tuple[str, str, str]],
    cursor: dict[str, int],
    manager: str,
    excluded: frozenset[str],
    taken: Mapping[str, int],
    per_worker: Mapping[str, int],
    cap: int | None,
) -> tuple[str, str, str] | None:
    """The manager's next case in key order that is free, not from their teams, and whose worker has room."""
    position = cursor[manager]
    while position < len(candidates):
        case_ref, team, worker = candidates[position]
        position += 1
        if case_ref in taken or team in excluded or (cap is not None and per_worker.get(worker, 0) >= cap):
            continue
        cursor[manager] = position
        return case_ref, team, worker
    cursor[manager] = position
    return None


def managed_teams(staff: pd.DataFrame) -> dict[str, set[str]]:
    """Each member of staff's own team and the teams of everyone below them in the line (canonical staff
    columns ``staff_id``, ``team``, ``line_manager_id``)."""
    reports: dict[str, list[str]] = {}
    for staff_id, manager in zip(staff["staff_id"], staff["line_manager_id"], strict=True):
        if isinstance(manager, str):
            reports.setdefault(manager, []).append(staff_id)
    team = dict(zip(staff["staff_id"], staff["team"], strict=True))
    managed = {}
    for staff_id in staff["staff_id"]:
        teams, below, seen = set(), [staff_id], set()
        while below:
            current = below.pop()
            if current in seen:
                continue  # a loop in bad data
            seen.add(current)
            if isinstance(team.get(current), str):
                teams.add(team[current])
            below += reports.get(current, [])
        managed[staff_id] = teams
    return managed


def month_ref(today: date) -> str:
    """The reference of the managers' audits of ``today``'s month, e.g. 2027-03-managers."""
    return f"{today:%Y-%m}-managers"


def draw_managers_month(engine: Engine, settings: Settings, today: date, seed: int | None = None) -> Draw:
    """Draw and record this month's managers' audits, each case given to the manager it was drawn for; a month
    already recorded is kept. The managers are the staff in ``selection.manager_roles`` who may audit (active,
    not on leave while the audits are open). NotReady, with nothing recorded, when the repeat rules' history
    or a fresh extract is missing, no manager can audit, or no case can be drawn for any of them."""
    dates = cycle_dates(settings.calendar, today, ref=month_ref(today))
    if recorded_cycle(engine, settings, dates.cycle_ref) is not None:
        return draw_outcome(engine, settings, dates.cycle_ref, None)
    inputs = selection_inputs(engine, settings, today)
    with engine.connect() as connection:
        staff = staff_frame(connection, authority_id(connection, settings))
    able = available_auditors(staff, AuditWindow(dates.allocation_date, dates.audit_due))
    roles = {role.value for role in settings.selection.manager_roles}
    teams = managed_teams(staff)
    managers = {staff_id: teams[staff_id] for staff_id in able.loc[able["role"].isin(roles), "staff_id"]}
    seed = default_seed(settings, dates.cycle_ref) if seed is None else seed
    per_manager = settings.selection.cases_per_manager
    gaps = history_gaps(settings, inputs.audited_cycles, today) + activity_gaps(settings, inputs.cases, today)
    if not managers:
        gaps.append(
            f"no one can audit this month: no active member of staff in selection.manager_roles "
            f"({', '.join(sorted(roles))}) is free from {dates.allocation_date} to {dates.audit_due}"
        )
    if gaps:
        raise NotReady(dates.cycle_ref, gaps, what="The managers' month")
    month = draw_for_managers(
        inputs.cases, managers, per_manager, settings.selection, today, seed, inputs.audited, inputs.recent_cycles
    )
    if month.drawn.empty:
        raise NotReady(
            dates.cycle_ref,
            [f"no case could be drawn for any of the {len(managers)} manager(s), even with the rules relaxed"],
            what="The managers' month",
        )
    drawn = month.drawn.assign(stratum="manager|" + month.drawn["manager_id"])
    counts = drawn.groupby("manager_id").size()
    selection = Selection(
        seed=seed,
        rule_version=month.rule_version,
        drawn=drawn[["case_ref", "stratum", "worker_id", "rank", "relaxed"]],
        reserves=pd.DataFrame(columns=["case_ref", "stratum", "worker_id", "rank", "relaxed"]),
        strata=[
            StratumResult(f"manager|{m}", per_manager, len(inputs.cases), int(counts.get(m, 0)), 0) for m in managers
        ],
        relaxations=[],
    )
    path, digest = save_inputs(inputs, settings.output_dir / "cycles" / dates.cycle_ref)
    record_selection(
        engine, settings, dates, selection, {f"manager|{m}": per_manager for m in managers}, path, digest,
        programme="managers_monthly", extra={"managers": {m: sorted(t) for m, t in managers.items()}},
        auditors=dict(zip(drawn["case_ref"], drawn["manager_id"], strict=True)),
    )  # fmt: skip
    return draw_outcome(engine, settings, dates.cycle_ref, selection)


def rederive_month(
    inputs: SelectionInputs, parameters: Mapping[str, Any], on: date, seed: int
) -> tuple[set[str], pd.DataFrame]:
    """A managers' month drawn again from its recorded inputs, managers, quota, rules and seed: the cases
    drawn, and every case's outcome and reason (case_ref, stratum, outcome, reason)."""
    rules = SelectionRules.model_validate(parameters["rules"])
    per_manager = next(iter(parameters["quotas"].values()), 0)
    month = draw_for_managers(
        inputs.cases, parameters["managers"], per_manager, rules, on, seed, inputs.audited, inputs.recent_cycles
    )
    drawn = month.drawn.set_index("case_ref")
    standing = eligibility(
        inputs.cases["case_ref"], inputs.cases["worker_id"], inputs.cases["last_activity_date"], rules, on,
        inputs.audited, inputs.recent_cycles,
    )  # fmt: skip
    why = why_not_drawn(
        standing, rules, on, "every manager who may audit its team had their cases from cases ranked before it"
    )
    rows = []
    for case, reason in zip(inputs.cases.itertuples(), why, strict=True):
        if case.case_ref in drawn.index:
            taken = drawn.loc[case.case_ref]
            reason = f"drawn for manager {taken['manager_id']} as their case {taken['rank']}"
            rows.append(
                (case.case_ref, f"manager|{taken['manager_id']}", "drawn", reason + relaxed_note(taken["relaxed"]))
            )
            continue
        rows.append((case.case_ref, "", "not drawn", reason))
    return set(drawn.index), pd.DataFrame(rows, columns=["case_ref", "stratum", "outcome", "reason"])
