"""The audit-cycle flow: check and load the extracts, draw the sample, optionally pause for approval,
allocate auditors, then queue and send the allocation, auditor and self-reflection emails."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.flow_runs import pause_flow_run
from prefect.runtime import flow_run
from pydantic import BaseModel, Field, create_model

from qaloop.core.cycle_dates import cycle_dates, next_selection_date
from qaloop.core.settings import Settings, load_settings
from tasks import run_name
from tasks.alerts import alert_qa_team
from tasks.cycle import (
    allocate,
    ask_for_approval,
    check_and_load,
    cycle_allocations,
    discard_dry_run,
    draw,
    exclude,
)
from tasks.notify import cycle_emails_delivered, queue_emails, send_emails


class Approval(BaseModel):
    """The QA team's decision on a drawn sample, given in the Prefect UI (see ``approval_form``)."""

    approve: bool = True
    exclude: list[Any] = []
    approved_by: str = "QA team"

    def exclusions(self) -> dict[str, str]:
        """Each case left out, with its reason (a case listed twice keeps its last reason)."""
        return {row.case_ref: row.reason.strip() for row in self.exclude}


def approval_form(case_refs: list[str]) -> type[Approval]:
    """The pause form for a drawn sample: approve, the cases to leave out as rows of (case reference, reason),
    and who approves. The reference is chosen from the sample and the reason is required, so the Prefect
    server refuses a mistake against the form's own schema and the run stays paused."""
    refs = tuple(case_refs) or ("(no case drawn)",)
    exclusion = create_model(
        "Exclusion",
        case_ref=(Literal[refs], Field(description="a case of this sample (see the run's sample artifact)")),  # type: ignore[valid-type]
        reason=(str, Field(min_length=1, pattern=r"\S", description="why it is left out (kept with the case)")),
    )
    return create_model(
        "Approval",
        __base__=Approval,
        approve=(bool, Field(default=True, description="go ahead and allocate (untick: nothing is allocated)")),
        exclude=(
            list[exclusion],  # type: ignore[valid-type]
            Field(
                default_factory=list, description="cases to leave out; each is replaced by its stratum's next reserve"
            ),
        ),
        approved_by=(str, Field(default="QA team", min_length=1, pattern=r"\S", description="who approves")),
    )


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
    is); ``approval`` publishes the drawn sample, emails the QA team the run's address and pauses for them to
    approve it, or leave cases out, in the Prefect UI (see ``approval_form``).

    Args:
        config: the configuration file on the worker (default: QALOOP_CONFIG, else qaloop.yaml)
        selection_date: the cycle's selection date (default: the next scheduled one)
        seed: the draw's random seed (default: one derived from the authority and the cycle, so a rerun draws the same)
        dry_run: draw and allocate, publish both, then discard them and send nothing (a rehearsal)
        approval: pause after the draw for the QA team to approve the sample, or leave cases out, here
    """
    settings = load_settings(config)
    dates = cycle_dates(settings.calendar, selection_date or next_selection_date(settings.calendar, date.today()))
    loaded = check_and_load(settings, dates.selection_date)
    drawn = draw(settings, dates, seed)
    cycle = drawn.cycle
    excluded: list[str] = []
    if approval:
        form = approval_form(ask_for_approval(settings, cycle))
        # One decision per attempt: a retried run asks again, where reusing the key would fail on the input the
        # first attempt already asked for.
        decision = pause_flow_run(
            wait_for_input=form,
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
        excluded = exclude(settings, cycle, decision.exclusions(), decision.approved_by)
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
