"""The demo's simulated service performance review: one service area's next review played out, as its head of
service and panel would. The workbook goes on its day; the head of service returns it the day before it is due,
judging most areas good and two requiring improvement, each with an action; the first copy they send judges one
area "Good" rather than G and is quarantined with the reason; the panel's record follows the day after the panel,
with the panel's input, an action it takes away and the key summary points for the service's staff.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import Engine

from qaloop.core.settings import Settings
from qaloop.core.working_days import add_working_days
from qaloop.governance import review_panels
from qaloop.governance.indicators import GovernanceError, governance_of
from qaloop.governance.register import review_reference
from qaloop.governance.review import complete_review_workbook
from qaloop.returns.filing import Check, FileOutcome, ingest_files
from qaloop.returns.follow_up import follow_up

_NEEDS_IMPROVEMENT = {
    "Workloads / staffing / caseloads": ("Fill the two vacant social work posts in hospital discharge", 30),
    "Results of structured case file audit activity": ("Audit the recording of best interests decisions again", 60),
}


@dataclass(frozen=True)
class ReviewPlayed:
    """What the demo did: the review, the workbook sent, and what became of each file returned."""

    reference: str
    workbook: Path
    returned: list[FileOutcome]


def play_review(engine: Engine, settings: Settings, service_area: str, today: date, check: Check) -> ReviewPlayed:
    """Play out ``service_area``'s next review after ``today`` (its send day, the returns, the panel), each file
    returned read and checked as the returns flow does (``check``: ``checks.returns.check_return_file``)."""
    governance = governance_of(settings)
    area = governance.service_areas.get(service_area)
    ahead = [panel for panel in (area.panels if area else []) if panel > today]
    if area is None or not ahead or area.head_of_service is None:
        raise GovernanceError(f"{service_area}: no review panel after {today} with a head of service is configured "
                              f"(governance.service_areas.{service_area}.panels, head_of_service)")  # fmt: skip
    panel = ahead[0]
    timing = governance.reviews
    send_on = add_working_days(panel, -timing.send_working_days_before)
    due_on = add_working_days(panel, -timing.due_working_days_before)
    sent = review_panels.send_reviews(engine, settings, send_on)
    if sent.refused:
        raise GovernanceError("; ".join(f"{ref}: {why}" for ref, why in sent.refused.items()))
    reference = review_reference(service_area, panel)
    workbook = next((settings.output_dir / "governance" / "reviews").glob(f"*{reference}.xlsx"))
    head = area.head_of_service
    completed = add_working_days(due_on, -1)
    actions = {
        where: (what, head, add_working_days(completed, days)) for where, (what, days) in _NEEDS_IMPROVEMENT.items()
    }
    judgements = dict.fromkeys(_NEEDS_IMPROVEMENT, "RI")
    inbox = settings.returns.inbox
    mistaken = complete_review_workbook(
        workbook, inbox / f"{reference} self-assessment.xlsx", completed_on=completed, actions=actions,
        judgements={**judgements, "Placement sufficiency": "Good"},
    )  # fmt: skip
    returned = ingest_files(engine, settings, [mistaken], due_on, check, follow_up)
    corrected = complete_review_workbook(workbook, inbox / f"{reference} self-assessment v2.xlsx",
                                         completed_on=completed, judgements=judgements, actions=actions)  # fmt: skip
    returned += ingest_files(engine, settings, [corrected], due_on, check, follow_up)
    after = add_working_days(panel, 1)
    record = complete_review_workbook(
        workbook, inbox / f"{reference} panel.xlsx", completed_on=panel, judgements=judgements, actions=actions,
        summary_points="Assessments are timely and audits show good practice in most teams. Caseloads in hospital "
                       "discharge are too high: two posts are being filled. Best interests recording is the priority.",
        panel_input="The panel challenged the waits for hospital discharge assessments and asked for a joint review "
                    "of the pathway with health.",
        panel_actions=(("Joint review of the hospital discharge pathway with health", head,
                        add_working_days(panel, 40)),),
    )  # fmt: skip
    returned += ingest_files(engine, settings, [record], after, check, follow_up)
    return ReviewPlayed(reference, workbook, returned)
