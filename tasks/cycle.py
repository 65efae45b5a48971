"""Tasks of the audit cycle: check and load the extracts, draw, approve, allocate, queue and send the emails."""

from __future__ import annotations

from datetime import date

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NONE
from prefect.states import State

from checks.cases import check_cases
from checks.runner import CheckFailed, CheckReport, apply_policy
from checks.staff import check_staff
from qaloop import allocation_record, cycle_messages, cycle_record, loader, outbox, store
from qaloop.allocation import Assignment
from qaloop.cycle_record import CycleError
from qaloop.cycles import CycleDates
from qaloop.loader import LoadError
from qaloop.schema import SCHEMAS, Dataset
from qaloop.settings import Settings
from qaloop.sources import SourceError, file_digest, read_dataset

# Settings and frames are not hashed for caching: they are large and the steps are not pure anyway.
_STEP = {"cache_policy": NONE}
# Bad data or a broken rule will not mend itself between attempts: only I/O failures are retried.
_WILL_NOT_MEND = (CheckFailed, SourceError, LoadError, CycleError)


def _worth_retrying(task: object, task_run: object, state: State) -> bool:
    return not isinstance(state.result(raise_on_failure=False), _WILL_NOT_MEND)


_RETRY = {"retries": 2, "retry_delay_seconds": 10, "retry_condition_fn": _worth_retrying}


def _publish_check(report: CheckReport, key: str) -> None:
    create_markdown_artifact(markdown=f"```\n{report.describe()}\n```", key=key, description=f"{report.dataset} checks")
    if not report.ok:
        create_table_artifact(
            table=report.table(), key=f"{key}-failures", description=f"{report.dataset}: failing rows"
        )


@task(name="check and load the staff list and case extract", **_RETRY, **_STEP)
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
        logger.warning(
            "%d case row(s) set aside in quarantine: %s", len(quarantined), ", ".join(quarantined["case_ref"][:20])
        )
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


@task(name="draw the sample", **_RETRY, **_STEP)
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


@task(name="exclude cases and replace them from reserves", **_STEP)
def exclude(settings: Settings, cycle_ref: str, exclusions: dict[str, str], actor: str) -> list[str]:
    """Replace each excluded case (reference -> reason) with its stratum's next reserve."""
    engine = store.engine_from(settings)
    return [
        allocation_record.move_allocation(engine, settings, cycle_ref, case_ref, reason=reason, actor=actor)
        for case_ref, reason in exclusions.items()
    ]


@task(name="allocate auditors", **_RETRY, **_STEP)
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


@task(name="queue the emails", **_RETRY, **_STEP)
def queue_emails(settings: Settings, cycle_ref: str) -> int:
    """Render and queue the auditor, self-reflection and service manager emails of the cycle."""
    return cycle_messages.notify_cycle(store.engine_from(settings), settings, cycle_ref)


@task(name="send the emails", retries=3, retry_delay_seconds=[10, 60, 300], retry_condition_fn=_worth_retrying, **_STEP)
def send_emails(settings: Settings) -> outbox.SendSummary:
    """Send every queued email over one SMTP session, with a progress bar in the UI."""
    progress = create_progress_artifact(progress=0.0, key="sending", description="Emails sent")

    def advance(done: int, total: int) -> None:
        if done == total or done % 25 == 0:
            update_progress_artifact(artifact_id=progress, progress=100.0 * done / total)

    summary = outbox.send_queued(store.engine_from(settings), settings.email, on_progress=advance)
    update_progress_artifact(artifact_id=progress, progress=100.0)
    create_table_artifact(
        key="emails",
        description="Emails this run",
        table=[{"sent": summary.sent, "refused by the server": summary.refused, "still queued": summary.still_queued}],
    )
    return summary
