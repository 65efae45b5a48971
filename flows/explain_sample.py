"""The explain-sample flow: from its form in the Prefect UI, a cycle's sample (or its moderation sample) drawn
again from what was recorded, shown to be the same, with why cases were drawn, as a markdown artifact (the
twins of `qaloop cycle explain` and `qaloop moderation explain`)."""

from __future__ import annotations

from typing import Literal

from prefect import flow

from flows.move_allocation import Decision
from qaloop.core.settings import load_settings
from tasks import run_name
from tasks.alerts import alert_qa_team
from tasks.decisions import explain


@flow(
    name="explain-sample",
    flow_run_name=run_name(lambda settings: f"{settings.authority.code} explain a sample"),
    log_prints=False,
    on_failure=[alert_qa_team],
    on_crashed=[alert_qa_team],
)
def explain_sample(
    cycle_ref: str, which: Literal["cycle", "moderation"] = "cycle", config: str | None = None
) -> Decision:
    """Explain how a cycle's sample, or its moderation sample, was drawn.

    Args:
        cycle_ref: the cycle, e.g. 2026-09
        which: the cycle's sample of cases, or its moderation sample of audits
        config: the configuration file on the worker (default: QALOOP_CONFIG, else qaloop.yaml)
    """
    settings = load_settings(config)
    return Decision(done=explain(settings, cycle_ref, which))
