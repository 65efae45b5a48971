"""Benchmark: a morning's chasing with 50,000 open items across about 5,000 staff.

Generates an authority of about 5,000 staff, stores them and 25,000 of its cases, and gives every case
an allocation in one of ten cycles whose due dates fall around the chasing day, so each allocation owes an
audit and a self-reflection (50,000 open items) at every rung of the ladder. Then times `chasing.chase`:
reading the open work, choosing each item's step, building one email per person and the QA team's
summary, and writing them to the outbox with the steps taken. The target: under 10 s. Run with
``.venv/bin/python bench/chase.py [--cases N] [--allocations N]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date, timedelta

import numpy as np
from common import peak_mb, scratch_settings
from sqlalchemy import func, select

from qaloop.core.schema import SCHEMAS, Dataset
from qaloop.core.working_days import add_working_days
from qaloop.demo.synthetic import generate
from qaloop.returns.chasing import chase
from qaloop.sources.loading import load_frame
from qaloop.sources.readers import typed
from qaloop.store import models
from qaloop.store.engine import engine_from, upgrade

TODAY = date(2027, 3, 10)  # a Wednesday


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=900_000, help="sizes the staff: 900,000 cases give ~5,000")
    parser.add_argument("--allocations", type=int, default=25_000, help="each owes an audit and a self-reflection")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = scratch_settings(folder)
        authority = generate(settings, as_of=TODAY - timedelta(days=30), cases=args.cases)
        engine = engine_from(settings)
        upgrade(engine)
        staff = authority[Dataset.STAFF]
        cases = authority[Dataset.CASES].sample(args.allocations, random_state=1)
        for dataset, frame in ((Dataset.STAFF, staff), (Dataset.CASES, cases)):
            load_frame(engine, settings, dataset, typed(frame[SCHEMAS[dataset].names].astype("string"), dataset))
        allocate_everything(engine, settings)
        with engine.connect() as connection:
            people = connection.scalar(select(func.count()).select_from(models.Staff))
        print(f"{people:,} staff, {args.allocations:,} allocations open: {2 * args.allocations:,} open items")

        started = time.perf_counter()
        outcome = chase(engine, settings, TODAY)
        seconds = time.perf_counter() - started
        print(f"{'chase (read, choose steps, build, queue)':<44} {seconds:7.2f} s   (target 10)")
        print(f"{'  steps taken today':<44} {outcome.reminders:>10,}")
        print(f"{'  emails built and queued':<44} {outcome.emails_queued:>10,}")
        print(f"{'  emails built per second':<44} {outcome.emails_queued / seconds:10,.0f}")
        print(f"peak RSS {peak_mb():,.0f} MB")


def allocate_everything(engine: object, settings: object) -> None:
    """Ten cycles with due dates around TODAY, and every stored case allocated in one of them."""
    rng = np.random.default_rng(1)
    with engine.begin() as connection:  # type: ignore[attr-defined]
        authority = connection.scalar(select(models.Authority.id))
        staff = connection.execute(select(models.Staff.id, models.Staff.role, models.Staff.line_manager_id)).all()
        managers = [s.id for s in staff if s.role == "service_manager"]
        auditors = [s.id for s in staff if s.role in ("senior_practitioner", "team_manager")]
        case_rows = connection.execute(select(models.CaseRecord.id, models.CaseRecord.worker_id)).all()
        cycles = []
        for index, offset in enumerate(range(-8, 8, 2)):  # due dates from 8 working days ago to 6 ahead
            audit_due = add_working_days(TODAY, offset)
            cycles.append(
                connection.execute(
                    models.AuditCycle.__table__.insert().values(
                        authority_id=authority,
                        cycle_ref=f"2027-B{index}",
                        status="notified",
                        selection_date=audit_due - timedelta(days=30),
                        allocation_date=audit_due - timedelta(days=26),
                        self_reflection_due=add_working_days(audit_due, -5),
                        audit_due=audit_due,
                        moderation_due=audit_due + timedelta(days=14),
                        close_date=audit_due + timedelta(days=21),
                        programme="regular",
                        created_at=models.utcnow(),
                    )
                ).inserted_primary_key[0]
            )
        dues = {
            cycle: connection.execute(
                select(models.AuditCycle.audit_due, models.AuditCycle.self_reflection_due).where(
                    models.AuditCycle.id == cycle
                )
            ).one()
            for cycle in cycles
        }
        rows = []
        for case_id, worker_id in case_rows:
            cycle = cycles[int(rng.integers(len(cycles)))]
            auditor = auditors[int(rng.integers(len(auditors)))]
            if auditor == worker_id:
                auditor = auditors[(auditors.index(auditor) + 1) % len(auditors)]
            rows.append(
                {
                    "cycle_id": cycle,
                    "case_id": case_id,
                    "programme": "regular",
                    "stratum": "bench",
                    "status": "notified",
                    "practitioner_id": worker_id,
                    "auditor_id": auditor,
                    "service_manager_id": managers[int(rng.integers(len(managers)))],
                    "audit_due": dues[cycle].audit_due,
                    "self_reflection_due": dues[cycle].self_reflection_due,
                    "updated_at": models.utcnow(),
                }
            )
        connection.execute(models.Allocation.__table__.insert(), rows)


if __name__ == "__main__":
    main()
