"""The one actions register as the reports read it: the council's own actions beside a commissioned provider's
service improvement plan actions, read from the provider tracker in its own headings, each with its source, owner
(a staff id, or the provider's CQC location id), due date and status; and which of them a report lists."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from checks.intake import take_in
from qaloop.core.schema import PROVIDER_INTELLIGENCE
from qaloop.core.settings import Settings
from qaloop.governance.quarterly import Quarter, quarterly_report
from qaloop.governance.register import actions_register, listed_for, register_frame
from qaloop.store import models
from qaloop.store.engine import engine_from, upgrade
from tests.providers.market import with_market

Q3 = Quarter("2026-27 Q3", date(2026, 10, 1), date(2026, 12, 31))


@pytest.mark.parametrize("store_url", ["sqlite", "postgresql"], indirect=True)
def test_providers_improvement_actions_stand_in_the_register_beside_the_councils(
    store_settings: Settings, tmp_path: Path
) -> None:
    settings = with_market(store_settings, tmp_path)
    engine = engine_from(settings)
    upgrade(engine)
    take_in(settings, PROVIDER_INTELLIGENCE, date(2026, 12, 2))
    with engine.connect() as connection:
        authority = connection.scalar(select(models.Authority.id))
        stored = connection.execute(
            select(models.ImprovementAction.action_ref, models.ImprovementAction.due_on,
                   models.ImprovementAction.completed_on, models.Provider.location_id)
            .join(models.Provider, models.Provider.id == models.ImprovementAction.provider_id)
        ).all()  # fmt: skip
        register = actions_register(connection, authority)
    assert stored
    providers = [item for item in register if item.source == "provider"]
    assert sorted((item.key, item.owner, item.due, item.status) for item in providers) == sorted(
        (f"provider:{ref}", location, due, "done" if completed else "open") for ref, due, completed, location in stored
    )
    table = register_frame(providers)
    assert set(table["about"]) == {f"provider {location}" for *_, location in stored}
    assert sorted(table["action"]) == sorted(ref for ref, *_ in stored)
    # A report lists those due in its period, and those still open at its end.
    listed = {item.key for item in listed_for(providers, Q3.start, Q3.end)}
    assert listed == {f"provider:{ref}" for ref, due, completed, _ in stored
                      if due <= Q3.end and (due >= Q3.start or completed is None or completed > Q3.end)}  # fmt: skip
    # The quarterly report counts a provider's action open past its due date at the quarter's end as overdue.
    report = quarterly_report(engine, settings, Q3)
    assert report.actions["overdue"] == sum(1 for _, due, completed, _ in stored
                                            if due < Q3.end and (completed is None or completed > Q3.end))  # fmt: skip
    assert set(report.register.loc[report.register["source"] == "provider", "action"]) == {
        key.split(":", 1)[1] for key in listed}  # fmt: skip
