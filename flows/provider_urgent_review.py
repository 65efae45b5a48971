"""The provider-urgent-review flow, started by a major concern about a provider (the provider runs raise it as
an event): set the cause beside the provider's level now and the level the threshold rules give today with every
reason, show it in the Prefect UI and send it to the quality review panel, which was emailed about the cause at
once."""

from __future__ import annotations

from datetime import date

from prefect import flow
from prefect.runtime import flow_run
from pydantic import BaseModel

from qaloop.core.settings import load_settings
from tasks import run_name
from tasks.alerts import alert_qa_team
from tasks.providers import review_urgently


class UrgentReviewSummary(BaseModel):
    """What the urgent review found."""

    location_id: str
    cause: str
    cause_ref: str
    level_now: int
    level_by_rules: int | None  # None: the rules could not run today (the pack says why)


@flow(
    name="provider-urgent-review",
    flow_run_name=run_name(
        lambda settings: (
            f"{settings.authority.code} urgent review {flow_run.parameters['location_id']} "
            f"{flow_run.parameters.get('today') or date.today()}"
        )
    ),
    log_prints=False,
    on_failure=[alert_qa_team],
    on_crashed=[alert_qa_team],
)
def provider_urgent_review(
    location_id: str, cause: str, cause_ref: str, config: str | None = None, today: date | None = None
) -> UrgentReviewSummary:
    """Review a provider urgently for one major concern raised about it.

    Args:
        location_id: the provider's CQC location id
        cause: what raised it: cqc_enforcement or concern
        cause_ref: the enforcement action's or the concern's reference
        config: the configuration file on the worker (default: QALOOP_CONFIG, else qaloop.yaml)
        today: the day the rules are read on (default: today)
    """
    settings = load_settings(config)
    review = review_urgently(settings, location_id, cause, cause_ref, today or date.today())
    return UrgentReviewSummary(
        location_id=location_id,
        cause=cause,
        cause_ref=cause_ref,
        level_now=review.level_now,
        level_by_rules=review.by_rules.level if review.by_rules else None,
    )
