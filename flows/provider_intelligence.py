"""The provider-intelligence flow, monthly once the month's extracts have landed: check and store the commissioned
market's intelligence, raise an urgent review for each major concern it shows first, propose each provider's
threshold level for the month just ended with every reason, record it, show the quality team the levels and which
providers would move, and, when asked, pause for the quality review panel's decisions and record them."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from prefect import flow
from prefect.flow_runs import pause_flow_run
from prefect.runtime import flow_run
from pydantic import BaseModel, Field, create_model

from qaloop.core.months import last_month
from qaloop.core.settings import load_settings
from qaloop.providers.record import Decision
from tasks import dated_run_name
from tasks.alerts import alert_qa_team
from tasks.providers import ask_for_decisions, load_market, propose_levels, raise_urgent_reviews, record_decisions


class PanelDecisions(BaseModel):
    """The quality review panel's decisions on the month's levels, given in the Prefect UI (see
    ``decisions_form``)."""

    decisions: list[Any] = []
    decided_by: str = ""

    def recorded(self) -> list[Decision]:
        return [Decision(row.location_id, row.level, row.reason, row.jointly_with) for row in self.decisions]


def decisions_form(location_ids: list[str]) -> type[PanelDecisions]:
    """The pause form for the month's levels: a row per decision (a provider proposed this month, the level,
    the reason, who at the ICB agreed it where the service is jointly commissioned) and who decided. The
    provider is chosen from the month's and the reason is required, so the server refuses a mistake against the
    form's own schema and the run stays paused."""
    refs = tuple(location_ids) or ("(no provider proposed)",)
    row = create_model(
        "LevelDecision",
        location_id=(Literal[refs], Field(description="a provider proposed this month (see the levels artifact)")),  # type: ignore[valid-type]
        level=(Literal[1, 2, 3], Field(description="the level decided: escalate, de-escalate or hold")),
        reason=(str, Field(min_length=1, pattern=r"\S", description="why, as the minutes record it")),
        jointly_with=(str | None, Field(default=None, description="who at the ICB agreed it (jointly commissioned)")),
    )
    return create_model(
        "PanelDecisions",
        __base__=PanelDecisions,
        decisions=(list[row], Field(default_factory=list, description="one row per provider decided")),  # type: ignore[valid-type]
        decided_by=(str, Field(min_length=1, pattern=r"\S", description="the chair's staff id")),
    )


class ProviderIntelligenceSummary(BaseModel):
    """What the run found."""

    month: str
    rows_stored: dict[str, int]
    levels: dict[int, int]
    moving: list[str]
    urgent: list[str] = []  # the urgent reviews this run raised: location, cause, reference
    decided: list[str] = []


@flow(
    name="provider-intelligence",
    flow_run_name=dated_run_name("provider-intelligence"),
    log_prints=False,
    on_failure=[alert_qa_team],
    on_crashed=[alert_qa_team],
)
def provider_intelligence(
    config: str | None = None, today: date | None = None, panel_decisions: bool = False
) -> ProviderIntelligenceSummary:
    """Propose the levels of the month that ended before ``today`` (default: today).

    Args:
        config: the configuration file on the worker (default: QALOOP_CONFIG, else qaloop.yaml)
        today: propose for the month that ended before this day (default: today)
        panel_decisions: after proposing, pause for the panel's decisions on the levels and record them
    """
    settings = load_settings(config)
    today = today or date.today()
    month = last_month(today)
    loads = load_market(settings, today)
    urgent = raise_urgent_reviews(settings, today)
    placed = propose_levels(settings, month, today)
    decided: list[str] = []
    if panel_decisions:
        # One form per attempt: a retried run asks again, where reusing the key would fail on the input the first
        # attempt already asked for.
        given = pause_flow_run(
            wait_for_input=decisions_form(ask_for_decisions(settings, month, placed)),
            timeout=31 * 24 * 3600,  # until the panel has met
            poll_interval=2,
            key=f"panel-{month}-{flow_run.run_count}",
        )
        record_decisions(settings, month, given.recorded(), given.decided_by)
        decided = [decision.location_id for decision in given.recorded()]
    return ProviderIntelligenceSummary(
        month=month,
        rows_stored={load.dataset.value: load.new for load in loads},
        levels={level: sum(1 for each in placed if each.proposal.level == level) for level in (1, 2, 3)},
        moving=[each.location_id for each in placed if each.movement != "same"],
        urgent=urgent,
        decided=decided,
    )
