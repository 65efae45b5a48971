"""How the reports' figures read the configuration: a recalculation must name a recorded cycle."""

from __future__ import annotations

import pytest

from qaloop.core.settings import Recalculation, load_settings
from qaloop.reporting.figures import chart_rules
from qaloop.store.handles import CycleError
from tests.conftest import DEMO_CONFIG


def test_a_recalculation_naming_no_recorded_cycle_is_refused_with_the_name() -> None:
    settings = load_settings(DEMO_CONFIG)
    reports = settings.reports.model_copy(
        update={"spc_recalculate_from": [Recalculation(cycle="2026-13", reason="restructure")]}
    )
    settings = settings.model_copy(update={"reports": reports})
    with pytest.raises(CycleError, match="spc_recalculate_from names 2026-13, which is not a regular cycle"):
        chart_rules(settings, {"2026-09", "2026-10"})
    assert chart_rules(settings, {"2026-13"}).recalculate_from == (("2026-13", "restructure"),)
