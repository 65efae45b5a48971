"""The provider-intelligence flow, monthly once the month's extracts have landed: check and store the
commissioned market's intelligence, propose each provider's threshold level for the month just ended with every
reason, record it, and show the quality team the levels and which providers would move."""

from __future__ import annotations

from datetime import date

from prefect import flow
from pydantic import BaseModel

from qaloop.core.settings import load_settings
from qaloop.providers.record import last_month
from tasks import dated_run_name
from tasks.alerts import alert_qa_team
from tasks.providers import load_market, propose_levels


class ProviderIntelligenceSummary(BaseModel):
    """What the run found."""

    month: str
    rows_stored: dict[str, int]
    levels: dict[int, int]
    moving: list[str]


@flow(
    name="provider-intelligence",
    flow_run_name=dated_run_name("provider-intelligence"),
    log_prints=False,
    on_failure=[alert_qa_team],
    on_crashed=[alert_qa_team],
)
def provider_intelligence(config: str | None = None, today: date | None = None) -> ProviderIntelligenceSummary:
    """Propose the levels of the month that ended before ``today`` (default: today).

    Args:
        config: the configuration file on the worker (default: QALOOP_CONFIG, else qaloop.yaml)
        today: propose for the month that ended before this day (default: today)
    """
    settings = load_settings(config)
    today = today or date.today()
    month = last_month(today)
    loads = load_market(settings, today)
    placed = propose_levels(settings, month, today)
    return ProviderIntelligenceSummary(
        month=month,
        rows_stored={load.dataset.value: load.new for load in loads},
        levels={level: sum(1 for each in placed if each.proposal.level == level) for level in (1, 2, 3)},
        moving=[each.location_id for each in placed if each.movement != "same"],
    )
