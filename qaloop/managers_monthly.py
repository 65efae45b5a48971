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

import pandas as pd

from qaloop.selection import RULE_VERSION, blocked_workers, random_keys
from qaloop.settings import SelectionRules


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
    cutoff = pd.Timestamp(as_of) - pd.DateOffset(months=rules.look_back_months)
    frame["in_window"] = (pd.to_datetime(cases["last_activity_date"]) >= cutoff).to_numpy()
    frame["blocked"] = frame["worker_id"].isin(blocked_workers(recent_cycles, rules.worker_repeat_cycles))
    frame = frame[~frame["case_ref"].isin(set(audited))].sort_values(["key", "case_ref"], ignore_index=True)
    order = sorted(managers, key=lambda staff_id: (int(random_keys(pd.Series([staff_id]), seed)[0]), staff_id))
    excluded = {manager: frozenset(map(str, teams)) for manager, teams in managers.items()}
    taken: dict[str, int] = {}  # case_ref -> position in frame, for those drawn
    per_worker: dict[str, int] = {}
    counts = dict.fromkeys(order, 0)
    rows: list[tuple[str, str, str, str, int, str]] = []
    relaxed: list[str] = []
    for step in [None, *rules.relaxation_order]:
        if step is not None:
            if all(counts[m] >= per_manager for m in order):
                break
            relaxed.append(step)
        eligible = frame
        if "look_back" not in relaxed:
            eligible = eligible[eligible["in_window"]]
        if "worker_repeat" not in relaxed:
            eligible = eligible[~eligible["blocked"]]
        cap = None if "cases_per_worker" in relaxed else rules.cases_per_worker
        candidates = list(eligible[["case_ref", "team", "worker_id"]].itertuples(index=False, name=None))
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
