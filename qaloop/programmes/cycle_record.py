"""A cycle's record in the store: its dates, seed and rules, its sample, and the inputs it was drawn from.

``selection_inputs`` gathers what a draw needs from the store; ``save_inputs`` keeps a copy of them beside
the cycle's outputs (with its hash in the store), so that ``qaloop.programmes.explain`` can re-derive the
sample later, whatever has changed in the case system since, and show it is identical with each case's reason.
``record_selection`` stores any programme's sample; ``draw_cycle`` draws a regular cycle.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, delete, func, select

from qaloop.core.cycle_dates import CycleDates
from qaloop.core.settings import SelectionRules, Settings
from qaloop.messaging.compose import outbox_key
from qaloop.programmes.eligibility import eligibility
from qaloop.programmes.readiness import NotReady, draw_gaps, extract_gaps, history_gaps
from qaloop.programmes.selection import DRAWN, RESERVE, Selection, select_cases, stratum_quotas
from qaloop.store import models
from qaloop.store.handles import CycleError, CycleHandle, authority_id, cycle_handle, recorded_cycle
from qaloop.store.lifecycle import record_allocations

ACTOR = "qaloop selection"


@dataclass(frozen=True)
class SelectionInputs:
    """Everything a draw reads: the cases (``case_ref``, ``area``, ``audit_type``, ``team``, ``worker_id``,
    ``last_activity_date``), the references already audited, and the workers audited in each earlier
    regular cycle, newest first; and those cycles' selection dates (what the readiness checks read; not kept
    with the saved inputs)."""

    cases: pd.DataFrame
    audited: frozenset[str]
    recent_cycles: tuple[frozenset[str], ...]
    audited_cycles: tuple[date, ...] = ()


def selection_inputs(engine: Engine, settings: Settings, before: date) -> SelectionInputs:
    """The store's cases (but those whose latest row was set aside by its checks), audited references and
    recent cycles' workers, for a draw on ``before``."""
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
                .where(case.authority_id == authority, case.set_aside.is_(None))
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
        past = models.PastAudit
        audited_rows += connection.execute(  # past audits of cases closed since
            select(past.case_ref, cycle.cycle_ref, cycle.selection_date, past.worker_ref.label("staff_ref"))
            .join(cycle, cycle.id == past.cycle_id)
            .where(past.authority_id == authority)
        ).all()
    audited = frozenset(row.case_ref for row in audited_rows)
    earlier = sorted({(row.selection_date, row.cycle_ref) for row in audited_rows if row.selection_date < before})
    workers = {ref: {row.staff_ref for row in audited_rows if row.cycle_ref == ref} for _, ref in earlier}
    recent = tuple(frozenset(workers[ref]) for _, ref in reversed(earlier))
    return SelectionInputs(cases, audited, recent, tuple(day for day, _ in reversed(earlier)))


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
        rows = _allocation_rows(connection, authority, cycle_id, programme, selection, reasons, auditors or {})
        record_allocations(connection, rows, ACTOR)
    return cycle_id


def _allocation_rows(
    connection: Connection,
    authority: int,
    cycle_id: int,
    programme: str,
    selection: Selection,
    reasons: dict[str, str],
    auditors: dict[str, str],
) -> list[dict[str, Any]]:
    """The allocation rows of a sample: drawn cases selected, reserves ranked, each with why it was allowed."""
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
    return [
        {
            "cycle_id": cycle_id,
            "case_id": case_ids[row.case_ref],
            "programme": programme,
            "stratum": row.stratum,
            "status": "selected" if row.kind == DRAWN else "reserve",
            "reserve_rank": None if row.kind == DRAWN else int(row.rank),
            "practitioner_id": staff_ids[row.worker_id],
            "auditor_id": staff_ids[auditors[row.case_ref]] if row.case_ref in auditors else None,
            "reason": "; ".join(
                why
                for why in (f"drawn after relaxing {row.relaxed}" if row.relaxed else None, reasons.get(row.case_ref))
                if why
            )
            or None,
        }
        for row in taken.itertuples()
    ]


def default_seed(settings: Settings, cycle_ref: str) -> int:
    """The seed a cycle uses unless one is given: derived from the authority and the cycle, so re-runs agree."""
    digest = hashlib.sha256(f"{settings.authority.code}/{cycle_ref}".encode()).hexdigest()
    return int(digest[:12], 16)


@dataclass(frozen=True)
class Draw:
    """The outcome of drawing a cycle: the cycle, whether this call drew it, and the draw when it did."""

    cycle: CycleHandle
    drawn_now: bool
    selection: Selection | None

    @property
    def cycle_id(self) -> int:
        return self.cycle.cycle_id


def draw_outcome(engine: Engine, settings: Settings, cycle_ref: str, selection: Selection | None) -> Draw:
    """The outcome of a draw of ``cycle_ref``: drawn now when there is a ``selection``, else found recorded."""
    return Draw(cycle_handle(engine, settings, cycle_ref), selection is not None, selection)


def draw_cycle(engine: Engine, settings: Settings, dates: CycleDates, seed: int | None = None) -> Draw:
    """Draw and record the sample of the cycle with ``dates``; a cycle already recorded is left as it is.

    Quotas follow ``calendar.type_shares``, or the eligible caseload of each area when none are set.
    NotReady, with nothing recorded, when what the draw depends on does not hold (see ``readiness``).
    """
    if recorded_cycle(engine, settings, dates.cycle_ref) is not None:
        return draw_outcome(engine, settings, dates.cycle_ref, None)
    inputs = selection_inputs(engine, settings, dates.selection_date)
    gaps = history_gaps(settings, inputs.audited_cycles, dates.selection_date)
    if gaps := gaps + extract_gaps(settings, inputs.cases, dates.selection_date):
        raise NotReady(dates.cycle_ref, gaps)
    # Quotas follow the caseload the rules allow before any relaxation (a worker's repeat aside).
    cases = inputs.cases
    standing = eligibility(
        cases["case_ref"], cases["worker_id"], cases["last_activity_date"], settings.selection, dates.selection_date,
        inputs.audited,
    )  # fmt: skip
    population = cases[(standing["in_window"] & ~standing["audited"]).to_numpy()]
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
    if gaps := draw_gaps(selection):
        raise NotReady(dates.cycle_ref, gaps)
    path, digest = save_inputs(inputs, settings.output_dir / "cycles" / dates.cycle_ref)
    record_selection(engine, settings, dates, selection, quotas, path, digest)
    return draw_outcome(engine, settings, dates.cycle_ref, selection)


# What a dry run leaves that it may take back: a draw and its allocation, nothing sent, filed or chased yet.
_REHEARSED = {"cycle": ("selected", "allocated"), "allocation": ("selected", "reserve", "allocated", "replaced")}


def discard_rehearsal(engine: Engine, settings: Settings, cycle: CycleHandle) -> int:
    """Remove a dry run's draw: the cycle, its allocations and their history, and its saved inputs, so that
    nothing of it counts as audited, is chased, or stops a later draw or history load. Returns how many
    allocations went. CycleError, with nothing removed, if anything of the cycle has gone further (an email
    queued for it, an allocation notified, a return filed)."""
    allocation, event = models.Allocation, models.AllocationEvent
    with engine.begin() as connection:
        status = connection.scalar(select(models.AuditCycle.status).where(models.AuditCycle.id == cycle.cycle_id))
        further = connection.scalar(
            select(func.count())
            .select_from(allocation)
            .where(allocation.cycle_id == cycle.cycle_id, allocation.status.not_in(_REHEARSED["allocation"]))
        )
        queued = connection.scalar(
            select(func.count())
            .select_from(models.EmailOutbox)
            .where(models.EmailOutbox.key.like(f"{outbox_key(settings, [cycle.cycle_ref])}/%"))
        )
        if status not in _REHEARSED["cycle"] or further or queued:
            raise CycleError(f"cycle {cycle.cycle_ref} has gone further than a dry run: it is kept as it is")
        ids = select(allocation.id).where(allocation.cycle_id == cycle.cycle_id).scalar_subquery()
        connection.execute(delete(event).where(event.allocation_id.in_(ids)))
        removed = connection.execute(delete(allocation).where(allocation.cycle_id == cycle.cycle_id)).rowcount
        connection.execute(delete(models.AuditCycle).where(models.AuditCycle.id == cycle.cycle_id))
    (settings.output_dir / "cycles" / cycle.cycle_ref / "selection-inputs.json.gz").unlink(missing_ok=True)
    return removed
