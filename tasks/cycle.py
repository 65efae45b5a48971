"""Tasks of the audit cycle: check and load the extracts, draw the sample, exclude cases, allocate auditors."""

from __future__ import annotations

from datetime import date

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_table_artifact,
)

from checks.cases import check_cases
from checks.runner import CheckReport, apply_policy, write_quarantine
from checks.staff import check_staff
from qaloop import allocation_record, cycle_record, loader, store
from qaloop.allocation import Assignment
from qaloop.cycles import CycleDates
from qaloop.schema import SCHEMAS, Dataset
from qaloop.settings import Settings
from qaloop.sources import file_digest, read_dataset
from tasks import NOT_CACHED, RETRY_IO


def _publish_check(report: CheckReport, key: str) -> None:
    create_markdown_artifact(markdown=f"```\n{report.describe()}\n```", key=key, description=f"{report.dataset} checks")
    if not report.ok:
        create_table_artifact(
            table=report.table(), key=f"{key}-failures", description=f"{report.dataset}: failing rows"
        )


@task(name="check and load the staff list and case extract", **RETRY_IO, **NOT_CACHED)
def check_and_load(settings: Settings, as_of: date) -> dict[str, int]:
    """Read both extracts, check them (Great Expectations), apply each policy, then store them.

    A failed check that the policy says stops raises CheckFailed before anything is written.
    """
    logger = get_run_logger()
    staff_text = read_dataset(settings, Dataset.STAFF, as_of)
    cases_text = read_dataset(settings, Dataset.CASES, as_of)
    staff_report, staff = check_staff(settings, staff_text)
    _publish_check(staff_report, "staff-checks")
    cases_report, cases = check_cases(settings, cases_text, staff_text, as_of)
    _publish_check(cases_report, "case-checks")
    for report in (staff_report, cases_report):
        (logger.info if report.ok else logger.warning)(report.describe())
    staff, _ = apply_policy(staff_report, staff, "staff_id", settings.check_policy(Dataset.STAFF))
    cases, quarantined = apply_policy(cases_report, cases, "case_ref", settings.check_policy(Dataset.CASES))
    if len(quarantined):
        kept = write_quarantine(
            cases_report, quarantined, "case_ref", settings.output_dir / "quarantine" / f"cases-{as_of}.csv"
        )
        logger.warning(
            "%d case row(s) set aside in quarantine (%s): %s",
            len(quarantined), kept, ", ".join(quarantined["case_ref"][:20]),
        )  # fmt: skip
    engine = store.engine_from(settings)
    counts = {}
    for dataset, frame in ((Dataset.STAFF, staff), (Dataset.CASES, cases)):
        source = settings.sources[dataset]
        path = getattr(source, "path", None)
        summary = loader.load_frame(
            engine, settings, dataset, frame[SCHEMAS[dataset].names], path, file_digest(path) if path else None
        )
        counts[dataset.value] = summary.rows
    counts["quarantined cases"] = len(quarantined)
    return counts


@task(name="draw the sample", **RETRY_IO, **NOT_CACHED)
def draw(settings: Settings, dates: CycleDates, seed: int | None) -> int:
    """Draw and record the cycle's sample (a cycle already drawn is kept) and publish it by stratum."""
    outcome = cycle_record.draw_cycle(store.engine_from(settings), settings, dates, seed)
    if outcome.selection is not None:
        relaxed = {}
        for relaxation in outcome.selection.relaxations:
            relaxed.setdefault(relaxation.stratum, []).append(f"{relaxation.rule} (+{relaxation.added})")
        create_table_artifact(
            key="sample-by-stratum",
            description=f"Cycle {dates.cycle_ref}: the sample by stratum (seed {outcome.selection.seed})",
            table=[
                {
                    "stratum": result.stratum,
                    "quota": result.quota,
                    "eligible": result.eligible,
                    "drawn": result.drawn,
                    "reserves": result.reserves,
                    "shortfall": result.shortfall,
                    "rules relaxed": ", ".join(relaxed.get(result.stratum, [])),
                }
                for result in outcome.selection.strata
            ],
        )
    else:
        get_run_logger().info("Cycle %s was already drawn; its recorded sample is kept.", dates.cycle_ref)
    return outcome.cycle_id


@task(name="exclude cases and replace them from reserves", **NOT_CACHED)
def exclude(settings: Settings, cycle_ref: str, exclusions: dict[str, str], actor: str) -> list[str]:
    """Replace each excluded case (reference -> reason) with its stratum's next reserve."""
    engine = store.engine_from(settings)
    return [
        allocation_record.move_allocation(engine, settings, cycle_ref, case_ref, reason=reason, actor=actor)
        for case_ref, reason in exclusions.items()
    ]


@task(name="allocate auditors", **RETRY_IO, **NOT_CACHED)
def allocate(settings: Settings, cycle_ref: str) -> list[Assignment]:
    """Allocate every selected case; publish allocations by auditor and by service manager."""
    assignments = allocation_record.allocate_cycle(store.engine_from(settings), settings, cycle_ref)
    if assignments:
        frame = pd.DataFrame([vars(a) for a in assignments])
        given = frame.dropna(subset=["auditor_id"])
        create_table_artifact(
            key="allocations-by-auditor",
            description=f"Cycle {cycle_ref}: cases per auditor",
            table=given.groupby("auditor_id").size().rename("cases").reset_index().to_dict("records"),
        )
        create_table_artifact(
            key="allocations-by-service-manager",
            description=f"Cycle {cycle_ref}: cases per service manager",
            table=frame.groupby("service_manager_id", dropna=False)
            .agg(cases=("case_ref", "size"), allocated=("auditor_id", "count"))
            .reset_index()
            .astype({"service_manager_id": str})
            .to_dict("records"),
        )
        waiting = frame[frame["auditor_id"].isna()]
        if len(waiting):
            create_table_artifact(
                key="cases-waiting-for-an-auditor",
                description=f"Cycle {cycle_ref}: cases no auditor could take",
                table=waiting[["case_ref", "note"]].to_dict("records"),
            )
    return assignments
