"""The audit-cycle flow: check and load the extracts, draw the sample, optionally pause for approval,
allocate auditors, then queue and send the allocation, auditor and self-reflection emails."""

from __future__ import annotations

from datetime import date

from prefect import flow, get_run_logger
from prefect.flow_runs import pause_flow_run
from prefect.runtime import flow_run
from pydantic import BaseModel, Field

from qaloop.core.cycle_dates import cycle_dates, next_selection_date
from qaloop.core.settings import Settings, load_settings
from tasks import run_name
from tasks.alerts import alert_qa_team
from tasks.cycle import allocate, check_and_load, cycle_allocations, discard_dry_run, draw, exclude
from tasks.notify import cycle_emails_delivered, queue_emails, send_emails


class Approval(BaseModel):
    """The QA team's decision on a drawn sample, given in the Prefect UI."""

    approve: bool = Field(default=True, description="go ahead and allocate")
    exclude: dict[str, str] = Field(
        default_factory=dict, description="case reference -> reason; each is replaced from its stratum's reserves"
    )
    approved_by: str = Field(default="QA team", description="who approved")


class CycleSummary(BaseModel):
    """What the run did."""

    cycle_ref: str
    selection_date: date
    cases_loaded: int
    cases_quarantined: int
    allocated: int  # by this run
    waiting_for_an_auditor: int  # in the cycle, after this run
    emails_queued: int  # by this run
    emails_sent: int  # by this run, every attempt of its sending step counted
    emails_still_queued: int
    allocated_in_cycle: int = 0  # whichever run allocated them
    emails_delivered_in_cycle: int = 0  # the cycle's own emails, whichever run sent them
    excluded: list[str] = []
    stopped: str | None = None


def _cycle_name(settings: Settings) -> str:
    on = flow_run.parameters.get("selection_date") or next_selection_date(settings.calendar, date.today())
    return f"{settings.authority.code} {cycle_dates(settings.calendar, date.fromisoformat(str(on))).cycle_ref}"


@flow(
    name="audit-cycle",
    flow_run_name=run_name(_cycle_name),
    log_prints=False,
    on_failure=[alert_qa_team],
    on_crashed=[alert_qa_team],
)
def audit_cycle(
    config: str | None = None,
    selection_date: date | None = None,
    seed: int | None = None,
    dry_run: bool = False,
    approval: bool = False,
) -> CycleSummary:
    """Run one regular audit cycle for the configured authority.

    ``selection_date`` defaults to the next scheduled one (today on a scheduled run); ``dry_run`` draws and
    allocates, publishes both, then discards them and queues no email (a cycle already drawn is left as it
    is); ``approval`` pauses after the draw for the QA team to approve it
    or exclude cases in the Prefect UI.
    """
    settings = load_settings(config)
    dates = cycle_dates(settings.calendar, selection_date or next_selection_date(settings.calendar, date.today()))
    loaded = check_and_load(settings, dates.selection_date)
    drawn = draw(settings, dates, seed)
    cycle = drawn.cycle
    excluded: list[str] = []
    if approval:
        # One decision per attempt: a retried run (a mistyped exclusion, say) asks again, where reusing the
        # key would fail on the input the first attempt already asked for.
        decision = pause_flow_run(
            wait_for_input=Approval,
            timeout=7 * 24 * 3600,
            poll_interval=2,
            key=f"approve-{dates.cycle_ref}-{flow_run.run_count}",
        )
        if not decision.approve:
            get_run_logger().warning("Cycle %s was not approved; nothing was allocated or sent.", dates.cycle_ref)
            return CycleSummary(
                cycle_ref=dates.cycle_ref, selection_date=dates.selection_date, cases_loaded=loaded.cases.stored,
                cases_quarantined=len(loaded.quarantined), allocated=0, waiting_for_an_auditor=0,
                emails_queued=0, emails_sent=0, emails_still_queued=0, stopped="not approved",
            )  # fmt: skip
        excluded = exclude(settings, cycle, decision.exclude, decision.approved_by)
    assignments = allocate(settings, cycle)
    stands = cycle_allocations(settings, cycle)  # before a dry run's discarding
    queued = sent = still = delivered = 0
    if dry_run and drawn.drawn_now:
        discard_dry_run(settings, cycle)  # a rehearsal: nothing of it may count as audited or be chased
    elif not dry_run:
        queued = queue_emails(settings, cycle)
        summary = send_emails(settings)
        sent, still = summary.sent_by_run, summary.still_queued
        delivered = cycle_emails_delivered(settings, cycle)
    return CycleSummary(
        cycle_ref=dates.cycle_ref,
        selection_date=dates.selection_date,
        cases_loaded=loaded.cases.stored,
        cases_quarantined=len(loaded.quarantined),
        allocated=sum(1 for a in assignments if a.auditor_id),
        allocated_in_cycle=stands.with_an_auditor,
        waiting_for_an_auditor=stands.waiting_for_an_auditor,
        emails_queued=queued,
        emails_sent=sent,
        emails_still_queued=still,
        emails_delivered_in_cycle=delivered,
        excluded=excluded,
        stopped=(
            "dry run: drawn and allocated, then discarded; no email queued"
            if drawn.drawn_now
            else "dry run of a cycle already drawn: kept as it was; no email queued"
        )
        if dry_run
        else None,
    )
