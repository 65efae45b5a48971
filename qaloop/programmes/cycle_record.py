"""A cycle's record in the store: its dates, seed and rules, its sample, and the inputs it was drawn from.

``selection_inputs`` gathers what a draw needs from the store; ``save_inputs`` keeps a copy of them beside
the cycle's outputs (with its hash in the store), so that ``explain_cycle`` can re-derive the sample later,
whatever has changed in the case system since, and show it is identical with each case's reason.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, func, select

from qaloop.core.cycle_dates import CycleDates
from qaloop.core.settings import SelectionRules, Settings
from qaloop.programmes.selection import DRAWN, RESERVE, Selection, select_cases, stratum_quotas
from qaloop.store import models
from qaloop.store.lifecycle import record_allocations

ACTOR = "qaloop selection"


class CycleError(Exception):
    """A cycle cannot be recorded or explained; the message says which and why."""


@dataclass(frozen=True)
class SelectionInputs:
    """Everything a draw reads: the cases (``case_ref``, ``area``, ``audit_type``, ``team``, ``worker_id``,
    ``last_activity_date``), the references already audited, and the workers audited in each earlier
    regular cycle, newest first."""

    cases: pd.DataFrame
    audited: frozenset[str]
    recent_cycles: tuple[frozenset[str], ...]


def authority_id(target: Engine | Connection, settings: Settings) -> int:
    """The store's id of the configured authority; CycleError if nothing has been loaded for it."""
    with target.connect() if isinstance(target, Engine) else contextlib.nullcontext(target) as connection:
        found = connection.scalar(select(models.Authority.id).where(models.Authority.code == settings.authority.code))
    if found is None:
        raise CycleError(f"nothing is loaded for {settings.authority.code}: run `qaloop load` first")
    return found


def selection_inputs(engine: Engine, settings: Settings, before: date) -> SelectionInputs:
    """The store's cases, audited references and recent cycles' workers, for a draw on ``before``."""
    authority = authority_id(engine, settings)
    case, area, team, staff = models.CaseRecord, models.Area, models.Team, models.Staff
    allocation, cycle = models.Allocation, models.AuditCycle
    with engine.connect() as connection:
        cases = pd.DataFrame(
            connection.execute(
                select(case.case_ref, area.code, case.audit_type, team.name, staff.staff_ref, case.last_activity_date)
                .join(area, area.id == case.area_id)
                .join(team, team.id == case.team_id)
                .join(staff, staff.id == case.worker_id)
                .where(case.authority_id == authority)
            ).all(),
            columns=["case_ref", "area", "audit_type", "team", "worker_id", "last_activity_date"],
        )
        audited_rows = connection.execute(
            select(case.case_ref, cycle.cycle_ref, cycle.selection_date, staff.staff_ref)
            .join(allocation, allocation.case_id == case.id)
            .join(cycle, cycle.id == allocation.cycle_id)
            .join(staff, staff.id == allocation.practitioner_id)
            .where(
                cycle.authority_id == authority,
                allocation.programme == "regular",
                allocation.status.in_(models.AUDITED_STATUSES),
            )
        ).all()
    audited = frozenset(row.case_ref for row in audited_rows)
    earlier = sorted({(row.selection_date, row.cycle_ref) for row in audited_rows if row.selection_date < before})
    workers = {ref: {row.staff_ref for row in audited_rows if row.cycle_ref == ref} for _, ref in earlier}
    recent = tuple(frozenset(workers[ref]) for _, ref in reversed(earlier))
    return SelectionInputs(cases, audited, recent)


def save_inputs(inputs: SelectionInputs, folder: Path) -> tuple[Path, str]:
    """Write ``inputs`` under ``folder`` (compressed); returns the file and its SHA-256."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "selection-inputs.json.gz"
    cases = inputs.cases.assign(
        last_activity_date=pd.to_datetime(inputs.cases["last_activity_date"]).dt.strftime("%Y-%m-%d")
    )
    document = {
        "cases": {column: cases[column].tolist() for column in cases.columns},
        "audited": sorted(inputs.audited),
        "recent_cycles": [sorted(workers) for workers in inputs.recent_cycles],
    }
    payload = json.dumps(document, separators=(",", ":")).encode()
    path.write_bytes(gzip.compress(payload, mtime=0))
    return path, hashlib.sha256(payload).hexdigest()


def load_inputs(path: Path, expected_sha256: str) -> SelectionInputs:
    """The inputs saved by ``save_inputs``; CycleError if the file is gone or has been altered."""
    try:
        payload = gzip.decompress(path.read_bytes())
    except OSError as error:
        raise CycleError(f"the cycle's stored inputs cannot be read: {path}: {error}") from None
    if hashlib.sha256(payload).hexdigest() != expected_sha256:
        raise CycleError(f"the cycle's stored inputs at {path} have been altered since the draw")
    document = json.loads(payload)
    cases = pd.DataFrame(document["cases"])
    cases["last_activity_date"] = pd.to_datetime(cases["last_activity_date"])
    return SelectionInputs(
        cases,
        frozenset(document["audited"]),
        tuple(frozenset(workers) for workers in document["recent_cycles"]),
    )


def record_selection(
    engine: Engine,
    settings: Settings,
    dates: CycleDates,
    selection: Selection,
    quotas: dict[str, int],
    inputs_file: Path,
    inputs_sha256: str,
    programme: str = "regular",
    extra: dict[str, Any] | None = None,
    reasons: dict[str, str] | None = None,
    auditors: dict[str, str] | None = None,
    rules: SelectionRules | None = None,
) -> int:
    """Store a cycle (regular, or a deep dive) and its sample (drawn cases as ``selected``, reserves ranked)
    in one transaction.

    The cycle keeps its seed, rule version, rules, quotas, where its inputs are, and ``extra`` (a deep
    dive's request); ``reasons`` notes why particular cases were allowed (a deep dive's re-audits);
    ``auditors`` gives cases their auditor at once (a manager's monthly audits: case -> staff id); ``rules``
    are the rules the draw used when not the configured ones (a deep dive's). Returns the cycle's id.
    CycleError if the cycle is already recorded.
    """
    authority = authority_id(engine, settings)
    parameters: dict[str, Any] = {
        "quotas": quotas,
        "rules": (rules or settings.selection).model_dump(mode="json"),
        "inputs_file": str(inputs_file),
        "inputs_sha256": inputs_sha256,
        "relaxations": [vars(r) for r in selection.relaxations],
        **(extra or {}),
    }
    reasons = reasons or {}
    with engine.begin() as connection:
        exists = connection.scalar(
            select(models.AuditCycle.id).where(
                models.AuditCycle.authority_id == authority, models.AuditCycle.cycle_ref == dates.cycle_ref
            )
        )
        if exists is not None:
            raise CycleError(f"cycle {dates.cycle_ref} is already recorded")
        cycle_id = connection.execute(
            models.AuditCycle.__table__.insert()
            .values(
                authority_id=authority,
                programme=programme,
                status="selected",
                seed=selection.seed,
                rule_version=selection.rule_version,
                parameters=parameters,
                **vars(dates),
            )
            .returning(models.AuditCycle.id)
        ).scalar_one()
        taken = pd.concat([selection.drawn.assign(kind=DRAWN), selection.reserves.assign(kind=RESERVE)])
        case_ids = dict(
            connection.execute(
                select(models.CaseRecord.case_ref, models.CaseRecord.id).where(
                    models.CaseRecord.authority_id == authority,
                    models.CaseRecord.case_ref.in_(taken["case_ref"].tolist()),
                )
            ).all()
        )
        staff_ids = dict(
            connection.execute(
                select(models.Staff.staff_ref, models.Staff.id).where(models.Staff.authority_id == authority)
            ).all()
        )
        rows = [
            {
                "cycle_id": cycle_id,
                "case_id": case_ids[row.case_ref],
                "programme": programme,
                "stratum": row.stratum,
                "status": "selected" if row.kind == DRAWN else "reserve",
                "reserve_rank": None if row.kind == DRAWN else int(row.rank),
                "practitioner_id": staff_ids[row.worker_id],
                "auditor_id": staff_ids[auditors[row.case_ref]] if row.case_ref in (auditors or {}) else None,
                "reason": "; ".join(
                    why
                    for why in (
                        f"drawn after relaxing {row.relaxed}" if row.relaxed else None,
                        reasons.get(row.case_ref),
                    )
                    if why
                )
                or None,
            }
            for row in taken.itertuples()
        ]
        record_allocations(connection, rows, ACTOR)
    return cycle_id


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
        # Imported here: the managers' month is recorded through this module.
        from qaloop.programmes.managers_monthly import rederive_month

        drawn, outcomes = rederive_month(inputs, parameters, recorded.selection_date, recorded.seed)
        return _compared(cycle_ref, was, {(ref, "selected") for ref in drawn}, outcomes)
    if recorded.programme == "deep_dive":
        # Imported here: a deep dive is recorded through this module.
        from qaloop.programmes.deep_dive import rederive_deep_dive

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


def default_seed(settings: Settings, cycle_ref: str) -> int:
    """The seed a cycle uses unless one is given: derived from the authority and the cycle, so re-runs agree."""
    digest = hashlib.sha256(f"{settings.authority.code}/{cycle_ref}".encode()).hexdigest()
    return int(digest[:12], 16)


def stored_dates(engine: Engine, settings: Settings, cycle_ref: str) -> CycleDates:
    """The dates recorded with ``cycle_ref``; CycleError if the cycle is not recorded."""
    cycle = models.AuditCycle
    with engine.connect() as connection:
        row = connection.execute(
            select(
                cycle.selection_date,
                cycle.allocation_date,
                cycle.self_reflection_due,
                cycle.audit_due,
                cycle.moderation_due,
                cycle.close_date,
            ).where(cycle.authority_id == authority_id(connection, settings), cycle.cycle_ref == cycle_ref)  # fmt: skip
        ).first()
    if row is None:
        raise CycleError(f"cycle {cycle_ref} is not recorded for {settings.authority.code}")
    return CycleDates(cycle_ref, *row)


def recorded_cycle(engine: Engine, settings: Settings, cycle_ref: str) -> int | None:
    """The id of ``cycle_ref`` if it is recorded, else None."""
    cycle = models.AuditCycle
    with engine.connect() as connection:
        return connection.scalar(
            select(cycle.id).where(cycle.authority_id == authority_id(engine, settings), cycle.cycle_ref == cycle_ref)
        )


def latest_cycle_ref(engine: Engine, settings: Settings) -> str:
    """The reference of the most recently selected cycle that is not closed; CycleError if there is none."""
    cycle = models.AuditCycle
    with engine.connect() as connection:
        ref = connection.scalar(
            select(cycle.cycle_ref)
            .where(cycle.authority_id == authority_id(engine, settings), cycle.status != "closed")
            .order_by(cycle.selection_date.desc())
            .limit(1)
        )
    if ref is None:
        raise CycleError("no cycle is open: draw one with `qaloop cycle draw`")
    return ref


@dataclass(frozen=True)
class Draw:
    """The outcome of drawing a cycle: its id, whether this call drew it, and the draw when it did."""

    cycle_id: int
    drawn_now: bool
    selection: Selection | None


def draw_cycle(engine: Engine, settings: Settings, dates: CycleDates, seed: int | None = None) -> Draw:
    """Draw and record the sample of the cycle with ``dates``; a cycle already recorded is left as it is.

    Quotas follow ``calendar.type_shares``, or the eligible caseload of each area when none are set.
    """
    existing = recorded_cycle(engine, settings, dates.cycle_ref)
    if existing is not None:
        return Draw(existing, drawn_now=False, selection=None)
    inputs = selection_inputs(engine, settings, dates.selection_date)
    cutoff = pd.Timestamp(dates.selection_date) - pd.DateOffset(months=settings.selection.look_back_months)
    population = inputs.cases[
        (pd.to_datetime(inputs.cases["last_activity_date"]) >= cutoff) & ~inputs.cases["case_ref"].isin(inputs.audited)
    ]
    quotas = stratum_quotas(
        population,
        [area.code for area in settings.authority.areas],
        [audit_type.id for audit_type in settings.audit_types],
        settings.calendar.audits_per_area,
        settings.calendar.type_shares,
    )
    seed = default_seed(settings, dates.cycle_ref) if seed is None else seed
    selection = select_cases(
        inputs.cases,
        quotas,
        settings.selection,
        dates.selection_date,
        seed,
        audited=inputs.audited,
        recent_cycles=inputs.recent_cycles,
    )
    path, digest = save_inputs(inputs, settings.output_dir / "cycles" / dates.cycle_ref)
    cycle_id = record_selection(engine, settings, dates, selection, quotas, path, digest)
    return Draw(cycle_id, drawn_now=True, selection=selection)
