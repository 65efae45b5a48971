"""`qaloop check`: what a council's configured sources would give its next cycle, with nothing written to its
store. The sources go the one way in (``checks.intake``) into a scratch SQLite store that is thrown away
afterwards; the next cycle is then drawn and allocated there exactly as the flow would, so the outcome is
the flow's own, refusals included.

The report says, per dataset, how many rows would load and how many would be set aside and why; what the
draw depends on and whether it holds; per stratum, the quota, the cases eligible and the cases drawn; the
workers the repeat rule blocks; the history's cycles; and per area the staff who could audit and the cases
no one could take. Each problem comes with what to change.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import func, select

from checks.intake import take_in
from checks.outcomes import CheckFailed, CheckReport, EvidenceFailed
from qaloop.allocation.record import allocate_cycle
from qaloop.core.cycle_dates import CycleDates, cycle_dates, next_selection_date
from qaloop.core.quoting import first_lines
from qaloop.core.roles import Role
from qaloop.core.schema import EXTRACTS, Dataset
from qaloop.core.settings import Settings
from qaloop.programmes.cycle_record import draw_cycle, selection_inputs
from qaloop.programmes.eligibility import blocked_workers
from qaloop.programmes.readiness import NotReady
from qaloop.reporting.render import render_report
from qaloop.sources.loading import LoadError
from qaloop.sources.readers import SourceError
from qaloop.store import models
from qaloop.store.engine import engine_from, upgrade
from qaloop.store.handles import CycleError


@dataclass(frozen=True)
class DatasetOutcome:
    """What loading one dataset would do: rows read and kept, rows set aside by each check, or why it stops."""

    dataset: str
    rows: int = 0
    would_load: int = 0
    failed_checks: list[tuple[str, int]] = field(default_factory=list)
    stopped: str | None = None

    @property
    def set_aside(self) -> int:
        return self.rows - self.would_load


@dataclass(frozen=True)
class CheckOutcome:
    """Everything `qaloop check` found, for the terminal and the HTML report."""

    authority: str
    on: date
    cycle_ref: str
    datasets: list[DatasetOutcome]
    not_ready: list[str] = field(default_factory=list)
    strata: list[dict[str, object]] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    history: list[dict[str, object]] = field(default_factory=list)
    areas: list[dict[str, object]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the next cycle would run: every dataset loads, and the draw has what it depends on."""
        return not self.not_ready and not any(outcome.stopped for outcome in self.datasets)

    def lines(self) -> list[tuple[str, str]]:
        """What was found, line by line as `qaloop check` and the check-setup flow say it, each with its weight:
        "ok", "warn" (rows set aside) or "stop" (the cycle would not run)."""
        found = [(f"{self.authority}: cycle {self.cycle_ref}, selected {self.on}", "ok")]
        for dataset in self.datasets:
            if dataset.stopped:
                found.append((f"  {dataset.dataset:<14} stops, nothing would load:", "stop"))
                found.append(("    " + dataset.stopped.replace("\n", "\n    "), "ok"))
                continue
            found.append((f"  {dataset.dataset:<14} {dataset.rows:>9,} rows, {dataset.would_load:,} would load", "ok"))
            found += [(f"  {'':<14} {rows:>9,} set aside: {says}", "warn") for says, rows in dataset.failed_checks]
        found += [(f"  not ready: {reason}", "stop") for reason in self.not_ready]
        if self.strata:
            short = [s for s in self.strata if s["short"]]
            found.append((
                f"  {len(self.strata)} strata, {sum(int(s['drawn']) for s in self.strata)} cases drawn"
                + (f"; {len(short)} short of their quota" if short else ""),
                "ok",
            ))  # fmt: skip
            found.append((f"  {len(self.blocked)} worker(s) passed over by the repeat rule", "ok"))
            for area in self.areas:
                who = f"{area['auditors']} staff may audit, {area['waiting']} case(s) no one could take"
                found.append((f"  {area['area']}: {who}", "ok"))
        return found


def check_authority(settings: Settings, on: date | None = None) -> CheckOutcome:
    """Take the configured sources in, draw and allocate the cycle due on or after ``on`` (default today), all
    in a scratch store; report what happened. Nothing is written to the configured store or outputs."""
    dates = cycle_dates(settings.calendar, next_selection_date(settings.calendar, on or date.today()))
    with tempfile.TemporaryDirectory(prefix="qaloop-check-") as folder:
        scratch = settings.model_copy(
            update={
                "database_url": SecretStr(f"sqlite:///{Path(folder) / 'check.db'}"),
                "output_dir": Path(folder) / "output",
            }
        )
        engine = engine_from(scratch)
        try:
            upgrade(engine)
            datasets = _take_in(scratch, dates.selection_date)
            outcome = CheckOutcome(settings.authority.name, dates.selection_date, dates.cycle_ref, datasets)
            if any(d.stopped for d in datasets if d.dataset in (Dataset.STAFF.value, Dataset.CASES.value)):
                return outcome
            return _draw(scratch, outcome, dates)
        finally:
            engine.dispose()  # its folder is about to go


def _take_in(settings: Settings, as_of: date) -> list[DatasetOutcome]:
    wanted = [dataset for dataset in EXTRACTS if dataset in settings.sources]
    groups = [[d for d in wanted if d in (Dataset.STAFF, Dataset.CASES)], *([d] for d in wanted[2:])]
    outcomes: list[DatasetOutcome] = []
    reports: dict[str, CheckReport] = {}
    for group in [g for g in groups if g]:
        try:
            taken = take_in(settings, group, as_of, on_report=lambda report: reports.update({report.dataset: report}))
        except (CheckFailed, EvidenceFailed, SourceError, LoadError, CycleError) as refusal:
            outcomes += [DatasetOutcome(d.value, stopped=first_lines(str(refusal))) for d in group]
            continue
        for intake in taken:
            report = reports.get(intake.dataset.value)
            failed = [(f.says, len(set(f.keys))) for f in report.failures] if report is not None else []
            outcomes.append(DatasetOutcome(intake.dataset.value, intake.rows, intake.stored, failed))
    return outcomes


def _draw(settings: Settings, outcome: CheckOutcome, dates: CycleDates) -> CheckOutcome:
    engine = engine_from(settings)
    inputs = selection_inputs(engine, settings, dates.selection_date)
    blocked = sorted(blocked_workers(inputs.recent_cycles, settings.selection.worker_repeat_cycles))
    history = _history(settings)
    try:
        drawn = draw_cycle(engine, settings, dates)
    except NotReady as refusal:
        return _with(outcome, not_ready=refusal.reasons, blocked=blocked, history=history)
    assert drawn.selection is not None  # a scratch store has no recorded cycle to keep
    assignments = allocate_cycle(engine, settings, dates.cycle_ref)
    area_of = dict(
        zip(drawn.selection.drawn["case_ref"], drawn.selection.drawn["stratum"].str.split("|").str[0], strict=True)
    )
    strata = [
        {"stratum": s.stratum, "quota": s.quota, "eligible": s.eligible, "drawn": s.drawn, "short": s.shortfall}
        for s in drawn.selection.strata
    ]
    waiting: dict[str, int] = {}
    for assignment in assignments:
        if assignment.auditor_id is None:
            area = area_of.get(assignment.case_ref, "?")
            waiting[area] = waiting.get(area, 0) + 1
    areas = [
        {"area": f"{area.code} ({area.name})", "auditors": count, "waiting": waiting.get(area.code, 0)}
        for area, count in _auditors_by_area(settings)
    ]
    return _with(outcome, strata=strata, blocked=blocked, history=history, areas=areas)


def _with(outcome: CheckOutcome, **found: object) -> CheckOutcome:
    return CheckOutcome(**{**vars(outcome), **found})  # type: ignore[arg-type]


def _history(settings: Settings) -> list[dict[str, object]]:
    """The history's cycles, oldest first, with their audits (of open cases and of cases closed since)."""
    cycle, allocation, past = models.AuditCycle, models.Allocation, models.PastAudit
    with engine_from(settings).connect() as connection:
        open_cases = dict(
            connection.execute(
                select(cycle.cycle_ref, func.count(allocation.id))
                .join(allocation, allocation.cycle_id == cycle.id)
                .group_by(cycle.cycle_ref)
            ).all()
        )
        closed = dict(
            connection.execute(
                select(cycle.cycle_ref, func.count(past.id))
                .join(past, past.cycle_id == cycle.id)
                .group_by(cycle.cycle_ref)
            ).all()
        )
        cycles = connection.execute(select(cycle.cycle_ref, cycle.selection_date).order_by(cycle.selection_date)).all()
    return [
        {"cycle": ref, "selected": day, "audits": open_cases.get(ref, 0) + closed.get(ref, 0)} for ref, day in cycles
    ]


def _auditors_by_area(settings: Settings) -> list[tuple[object, int]]:
    """Each configured area with the active staff in it who may audit."""
    may_audit = [role.value for role in Role if role.can_audit]
    staff, area = models.Staff, models.Area
    with engine_from(settings).connect() as connection:
        counts = dict(
            connection.execute(
                select(area.code, func.count(staff.id))
                .join(staff, staff.area_id == area.id)
                .where(staff.active.is_(True), staff.role.in_(may_audit))
                .group_by(area.code)
            ).all()
        )
    return [(each, counts.get(each.code, 0)) for each in settings.authority.areas]


def write_report(outcome: CheckOutcome, path: Path, checked_on: date | None = None) -> Path:
    """The outcome as a self-contained HTML page at ``path``; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    context = {"title": "Is the data ready for the next cycle?", "o": outcome, "checked_on": checked_on or date.today()}
    path.write_text(render_report("check", context), encoding="utf-8")
    return path
