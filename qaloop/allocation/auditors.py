"""Allocation: give each selected case its area's service manager and an auditor, fairly and within the rules.

The rules: the auditor is a senior practitioner or above, active and not on leave
during the audit window, never the case's worker, nor the worker's line manager, nor in the case's team;
each auditor has a capacity per cycle; load is balanced. Auditors come from the case's own area where one
is free, else from another area (and the allocation says so). A case no one can take is reported with the
reason, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from qaloop.core.roles import Role


@dataclass(frozen=True)
class Assignment:
    """One case's allocation, or why it could not be allocated (``auditor_id`` is None then)."""

    case_ref: str
    service_manager_id: str | None
    auditor_id: str | None
    note: str


@dataclass(frozen=True)
class AuditWindow:
    """The days an auditor must be available: from allocation to the audit's due date."""

    start: date
    end: date


def available_auditors(staff: pd.DataFrame, window: AuditWindow) -> pd.DataFrame:
    """The staff who may audit in ``window``: senior practitioner or above, active, not on leave in it.

    ``staff`` has the canonical staff columns (``qaloop.schema``) with leave dates as dates or timestamps.
    """
    can_audit = staff["role"].map(lambda role: Role(role).can_audit)
    active = staff["active"].fillna(True).astype(bool)
    leave_start = pd.to_datetime(staff["leave_start"])
    leave_end = pd.to_datetime(staff["leave_end"]).fillna(leave_start)
    on_leave = (
        leave_start.notna() & (leave_start <= pd.Timestamp(window.end)) & (leave_end >= pd.Timestamp(window.start))
    )
    return staff[can_audit & active & ~on_leave]


def service_manager_for(worker_id: str, area: str, by_id: pd.DataFrame) -> str | None:
    """The service manager above ``worker_id`` in the line, else the first service manager of ``area``.

    ``by_id`` is the staff list indexed by ``staff_id``.
    """
    current = worker_id
    for _ in range(len(by_id)):  # walk up the line; the bound guards against a loop in bad data
        manager = by_id["line_manager_id"].get(current)
        if manager is None or pd.isna(manager) or manager not in by_id.index:
            break
        if by_id.at[manager, "role"] == Role.SERVICE_MANAGER:
            return str(manager)
        current = manager
    in_area = by_id[(by_id["role"] == Role.SERVICE_MANAGER) & (by_id["area"] == area)]
    return str(sorted(in_area.index)[0]) if len(in_area) else None


def allocate(
    cases: pd.DataFrame,
    staff: pd.DataFrame,
    window: AuditWindow,
    capacity: int,
    seed: int,
    existing_load: dict[str, int] | None = None,
) -> list[Assignment]:
    """Allocate ``cases`` (``case_ref``, ``area``, ``team``, ``worker_id``) to auditors from ``staff``.

    Cases are taken in reference order; each goes to the eligible auditor with the least load so far
    (``existing_load`` counts audits they already hold this cycle), ties broken by a seeded random order so
    the same people are not always first. ``area`` is matched against the staff list's area by code or name
    as given. Returns one Assignment per case, in the order of ``cases``.
    """
    staff = staff.astype(object).where(staff.notna(), None)  # one kind of blank: None compares plainly
    auditors = available_auditors(staff, window).sort_values("staff_id", ignore_index=True)
    ids = auditors["staff_id"].to_numpy(dtype=object)
    teams = auditors["team"].to_numpy(dtype=object)
    areas = auditors["area"].to_numpy(dtype=object)
    load = np.array([(existing_load or {}).get(auditor, 0) for auditor in ids], dtype=np.int64)
    tie_break = np.random.default_rng(seed).permutation(len(ids))
    by_id = staff.set_index("staff_id")
    managers = by_id["line_manager_id"]
    team_area = staff.dropna(subset=["team"]).drop_duplicates("team").set_index("team")["area"]

    assignments: dict[str, Assignment] = {}
    for case in cases.sort_values("case_ref").itertuples(index=False):
        home_area = team_area.get(case.team, case.area)
        service_manager = service_manager_for(case.worker_id, home_area, by_id)
        worker_manager = managers.get(case.worker_id)
        allowed = (ids != case.worker_id) & (ids != worker_manager) & (teams != case.team) & (load < capacity)
        home = allowed & (areas == home_area)
        pool = home if home.any() else allowed
        if not pool.any():
            note = (
                f"no auditor is free: every senior practitioner or above who is active, not on leave and outside "
                f"team {case.team} already has {capacity} audit(s) or is the worker's line manager"
            )
            assignments[case.case_ref] = Assignment(case.case_ref, service_manager, None, note)
            continue
        candidates = np.flatnonzero(pool)
        best = candidates[np.lexsort((tie_break[candidates], load[candidates]))[0]]
        load[best] += 1
        note = "" if home.any() else "auditor from another area: none free in the case's own area"
        assignments[case.case_ref] = Assignment(case.case_ref, service_manager, str(ids[best]), note)
    return [assignments[ref] for ref in cases["case_ref"]]
