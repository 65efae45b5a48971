"""Tasks of the audit cycle: check and load the extracts, draw the sample, exclude cases, allocate auditors."""

from __future__ import annotations

from datetime import date

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

from checks.extracts import CheckedLoad, check_and_load_extracts
from qaloop.allocation import record as allocation_record
from qaloop.allocation.auditors import Assignment
from qaloop.core.cycle_dates import CycleDates
from qaloop.core.settings import Settings
from qaloop.messaging import alerts
from qaloop.programmes import cycle_record, managers_monthly
from qaloop.programmes.readiness import NotReady
from qaloop.programmes.selection import Selection
from qaloop.store.engine import engine_from
from qaloop.store.handles import CycleHandle
from tasks import NOT_CACHED, RETRY_IO, artifact_key, publish_check
from tasks.alerts import run_address, send_now


@task(name="check and load the staff list and case extract", **RETRY_IO, **NOT_CACHED)
def check_and_load(settings: Settings, as_of: date) -> CheckedLoad:
    """Read both extracts, check them (Great Expectations), apply each policy, then store them.

    Each check report is logged and published as it comes; a failed check that the policy says stops
    raises CheckFailed before anything is written.
    """
    loaded = check_and_load_extracts(settings, as_of, on_report=publish_check)
    if loaded.quarantined:
        files = " and ".join(str(path) for path in (loaded.cases.quarantine_file, loaded.annex_a_file) if path)
        get_run_logger().warning(
            "%d case row(s) set aside in quarantine (%s): %s",
            len(loaded.quarantined), files, ", ".join(loaded.quarantined[:20]),
        )  # fmt: skip
    return loaded


# Each programme's artifacts under keys of their own, so that a deep dive's sample never shows as the latest
# version of the cycle's in the Prefect UI.
_ARTIFACT_PREFIX = {"regular": "cycle", "deep_dive": "deep-dive", "managers_monthly": "managers-audits"}


def programme_key(programme: str, name: str) -> str:
    """The key of a programme's artifact ``name``: ``cycle-sample-by-stratum``, ``deep-dive-...``."""
    return artifact_key(_ARTIFACT_PREFIX[programme], name)


def publish_sample(selection: Selection, what: str, programme: str) -> None:
    """The drawn sample by stratum as a table artifact: quota, eligible, drawn, reserves, rules relaxed."""
    relaxed: dict[str, list[str]] = {}
    for relaxation in selection.relaxations:
        relaxed.setdefault(relaxation.stratum, []).append(f"{relaxation.rule} (+{relaxation.added})")
    create_table_artifact(
        key=programme_key(programme, "sample-by-stratum"),
        description=f"{what}: the sample by stratum (seed {selection.seed})",
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
            for result in selection.strata
        ],
    )


@task(name="draw the sample", **RETRY_IO, **NOT_CACHED)
def draw(settings: Settings, dates: CycleDates, seed: int | None) -> cycle_record.Draw:
    """Draw and record the cycle's sample (a cycle already drawn is kept) and publish it by stratum; the draw,
    with whether this run made it.

    When what the draw depends on does not hold, the reasons are published and the run fails with them
    (the flow's failure hook tells the QA team); nothing is recorded.
    """
    try:
        outcome = cycle_record.draw_cycle(engine_from(settings), settings, dates, seed)
    except NotReady as refusal:
        publish_not_drawn("cycle-not-drawn", f"Cycle {dates.cycle_ref}", refusal)
        raise
    if outcome.selection is not None:
        publish_sample(outcome.selection, f"Cycle {dates.cycle_ref}", "regular")
    else:
        get_run_logger().info("Cycle %s was already drawn; its recorded sample is kept.", dates.cycle_ref)
    return outcome


def publish_not_drawn(key: str, what: str, refusal: NotReady) -> None:
    """The QA team's account in the Prefect UI of a draw refused, with each reason."""
    create_markdown_artifact(
        key=key,
        description=f"{what} was not drawn",
        markdown="\n".join([f"# {what} was not drawn", "", *(f"- {reason}" for reason in refusal.reasons)]),
    )


@task(name="discard the dry run's draw", **RETRY_IO, **NOT_CACHED)
def discard_dry_run(settings: Settings, cycle: CycleHandle) -> int:
    """Take back what a dry run drew and allocated (its artifacts stay, to show what it would have been)."""
    removed = cycle_record.discard_rehearsal(engine_from(settings), settings, cycle)
    get_run_logger().info(
        "Dry run of cycle %s: its %d allocations were discarded; nothing is kept.", cycle.cycle_ref, removed
    )
    return removed


@task(name="draw the managers' audits", **RETRY_IO, **NOT_CACHED)
def draw_month(settings: Settings, today: date, seed: int | None) -> CycleHandle:
    """Draw and record the month's managers' audits (a month already drawn is kept) and publish them by
    manager."""
    try:
        outcome = managers_monthly.draw_managers_month(engine_from(settings), settings, today, seed)
    except NotReady as refusal:
        publish_not_drawn("managers-audits-not-drawn", f"The managers' audits of {today:%B %Y}", refusal)
        raise
    if outcome.selection is not None:
        publish_sample(outcome.selection, f"Managers' audits {managers_monthly.month_ref(today)}", "managers_monthly")
    else:
        get_run_logger().info("The managers' audits of %s were already drawn; they are kept.", f"{today:%B %Y}")
    return outcome.cycle


@task(name="ask the QA team to approve the sample", **RETRY_IO, **NOT_CACHED)
def ask_for_approval(settings: Settings, cycle: CycleHandle) -> list[str]:
    """Publish the drawn sample for the QA team to approve (case, stratum, worker, why drawn, its reserve) and
    email them the run's address; the drawn cases' references, for the approval form."""
    sample = allocation_record.cycle_sample(engine_from(settings), settings, cycle.cycle_ref)
    create_table_artifact(
        key=artifact_key("cycle", cycle.cycle_ref, "sample-to-approve"),
        description=f"Cycle {cycle.cycle_ref}: the drawn sample to approve, with the reserve that would replace each",
        table=sample.to_dict("records"),
    )
    message = alerts.approval_message(
        settings, cycle.cycle_ref, flow_run.name, str(flow_run.id), run_address(flow_run.id), len(sample),
        sample["stratum"].nunique(),
    )  # fmt: skip
    send_now(settings, [message])
    get_run_logger().info(
        "Cycle %s waits for the QA team's approval (%d cases drawn); they were emailed the run's address.",
        cycle.cycle_ref, len(sample),
    )  # fmt: skip
    return sample["case_ref"].tolist()


@task(name="exclude cases and replace them from reserves", **NOT_CACHED)
def exclude(settings: Settings, cycle: CycleHandle, exclusions: dict[str, str], actor: str) -> list[str]:
    """Replace each excluded case (reference -> reason) with its stratum's next reserve."""
    engine = engine_from(settings)
    return [
        allocation_record.move_allocation(engine, settings, cycle.cycle_ref, case_ref, reason=reason, actor=actor)
        for case_ref, reason in exclusions.items()
    ]


@task(name="count the cycle's allocations", **RETRY_IO, **NOT_CACHED)
def cycle_allocations(settings: Settings, cycle: CycleHandle) -> allocation_record.CycleAllocations:
    """Where the cycle's sample stands, whichever run allocated it (a resumed run allocates nothing itself)."""
    return allocation_record.cycle_allocations(engine_from(settings), settings, cycle.cycle_ref)


@task(name="allocate auditors", **RETRY_IO, **NOT_CACHED)
def allocate(settings: Settings, cycle: CycleHandle) -> list[Assignment]:
    """Allocate every selected case; publish allocations by auditor and by service manager."""
    cycle_ref = cycle.cycle_ref
    assignments = allocation_record.allocate_cycle(engine_from(settings), settings, cycle_ref)
    if assignments:
        frame = pd.DataFrame([vars(a) for a in assignments])
        given = frame.dropna(subset=["auditor_id"])
        create_table_artifact(
            key=programme_key(cycle.programme, "allocations-by-auditor"),
            description=f"Cycle {cycle_ref}: cases per auditor",
            table=given.groupby("auditor_id").size().rename("cases").reset_index().to_dict("records"),
        )
        create_table_artifact(
            key=programme_key(cycle.programme, "allocations-by-service-manager"),
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
                key=programme_key(cycle.programme, "cases-waiting-for-an-auditor"),
                description=f"Cycle {cycle_ref}: cases no auditor could take",
                table=waiting[["case_ref", "note"]].to_dict("records"),
            )
    return assignments
