"""Benchmark: every report of one cycle of a 1,000,000-case authority with 8 past cycles.

Generates and stores the authority (cases, staff, 8 past cycles of 480 audits, a year of complaints,
compliments, Ombudsman decisions and survey answers), draws and allocates the next cycle (Essex: 120
audits per area), and files a return with every audit-tool question answered for each allocated case,
straight into the store. Then times `cycle_report.build_reports`: the figures, the triangulation, the
summary, highlights and four area reports with their data packs, and the workshop dataset. The target:
under 15 s. Run with ``.venv/bin/python bench/report.py [--cases N]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date

import numpy as np
from common import peak_mb, scratch_settings
from pydantic import SecretStr
from sqlalchemy import select, update

from checks.intake import take_in
from qaloop.allocation.record import allocate_cycle
from qaloop.core.cycle_dates import cycle_dates, next_selection_date
from qaloop.core.schema import EXTRACTS
from qaloop.core.settings import Settings
from qaloop.demo.synthetic import generate, write_extracts
from qaloop.programmes.cycle_record import draw_cycle
from qaloop.reporting.cycle_close import build_reports
from qaloop.store import models
from qaloop.store.engine import Engine, engine_from, upgrade

AS_OF = date(2026, 11, 22)


def file_returns(engine: Engine, settings: Settings, cycle_ref: str) -> int:
    """A filed return, graded at random with every question answered, for each allocated case of the cycle."""
    rng = np.random.default_rng(5)
    labels = settings.grade_scale.labels
    allocation, case = models.Allocation, models.CaseRecord
    with engine.begin() as connection:
        rows = connection.execute(
            select(allocation.id, allocation.auditor_id, allocation.audit_due, case.audit_type)
            .join(case, case.id == allocation.case_id)
            .join(models.AuditCycle, models.AuditCycle.id == allocation.cycle_id)
            .where(models.AuditCycle.cycle_ref == cycle_ref, allocation.status == "allocated")
        ).all()
        for row in rows:
            grade = labels[int(rng.integers(0, len(labels)))]
            return_id = connection.execute(
                models.AuditReturn.__table__.insert().values(
                    allocation_id=row.id,
                    auditor_id=row.auditor_id,
                    submitted_on=row.audit_due,
                    grade=grade,
                    strengths="Clear recording of the person's views.",
                    learning_points="Record the rationale.",
                )  # fmt: skip
            ).inserted_primary_key[0]
            connection.execute(
                models.AuditAnswer.__table__.insert(),
                [
                    {"return_id": return_id, "question_id": question.id, "answer": str(rng.choice(["Yes", "No"]))}
                    for question in settings.tool_for(row.audit_type).questions
                ],
            )
        connection.execute(update(allocation).where(allocation.id.in_([r.id for r in rows])).values(status="submitted"))
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = scratch_settings(folder, audits_per_area=120)
        settings = settings.model_copy(
            update={"reports": settings.reports.model_copy(update={"pseudonym_key": SecretStr("bench")})}
        )
        started = time.perf_counter()
        write_extracts(generate(settings, as_of=AS_OF, cases=args.cases), settings)
        engine = engine_from(settings)
        upgrade(engine)
        take_in(settings, EXTRACTS, AS_OF)
        dates = cycle_dates(settings.calendar, next_selection_date(settings.calendar, AS_OF))
        draw_cycle(engine, settings, dates)
        allocate_cycle(engine, settings, dates.cycle_ref)
        filed = file_returns(engine, settings, dates.cycle_ref)
        print(f"{args.cases:,} cases, 8 past cycles, {filed} audits filed in cycle {dates.cycle_ref}")
        print(f"(setting up took {time.perf_counter() - started:.0f} s; not counted)")

        started = time.perf_counter()
        built = build_reports(engine, settings, dates.cycle_ref, dates.close_date)
        seconds = time.perf_counter() - started
        print(f"{'all reports, data packs, workshop dataset':<44} {seconds:6.2f} s   peak RSS {peak_mb():6.0f} MB")
        print(f"{len(built.reports)} reports over {len(built.figures.cycles)} cycles; target under 15 s")


if __name__ == "__main__":
    main()
