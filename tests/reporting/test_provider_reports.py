"""The market's dashboard and the panel's pack from the small market: the right providers in the pack with their
evidence under the five key questions and their improvement plans' progress, the figures behind the charts,
the workbooks, the emails to their lists, and both pages as headless Chromium draws them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook

from checks.intake import take_in
from qaloop.core.schema import PROVIDER_INTELLIGENCE
from qaloop.core.settings import Settings
from qaloop.providers import record
from qaloop.providers.market import market_figures
from qaloop.reporting.provider_reports import reports_messages, write_provider_reports
from qaloop.store.engine import engine_from, upgrade
from tests.chromium import rendered_dom, screenshot
from tests.providers.market import with_market

ONLY_SQLITE = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


@pytest.fixture
def decided(store_settings: Settings, tmp_path: Path) -> Settings:
    """The small market with November's levels proposed and the panel's decision on 1-1003 recorded."""
    settings = with_market(store_settings, tmp_path)
    quality = settings.provider_quality.model_copy(
        update={"panel": ["quality.panel@qaloop-demo.example"], "dashboard_to": ["commissioners@qaloop-demo.example"]}
    )
    settings = settings.model_copy(update={"provider_quality": quality})
    upgrade(engine_from(settings))
    take_in(settings, PROVIDER_INTELLIGENCE, date(2026, 11, 30))
    engine = engine_from(settings)
    record.propose_month(engine, settings, "2026-11", date(2026, 12, 2))
    record.decide(engine, settings, "1-1003", "2026-11", 3, "QT-0001", "Panel: escalate to level 3")
    return settings


def test_the_pack_holds_every_provider_for_the_panel_with_its_evidence_under_the_key_questions(
    decided: Settings,
) -> None:
    figures = market_figures(engine_from(decided), decided, "2026-11", date(2026, 12, 3))
    # Nobody was above level 1 before November: the pack holds the four the rules would move.
    assert [entry.location_id for entry in figures.pack] == ["1-1003", "1-1002", "1-1005", "1-1006"]
    ash = figures.pack[0]
    assert (ash.level_now, ash.proposed, ash.movement) == (1, 3, "up")
    assert ash.decision == "level 3 by QT-0001"
    assert ash.evidence["Safe"][0] == "CQC: Inadequate (published 20 October 2026)"
    assert any(line.startswith("cqc_warning_or_conditions (level 2)") for line in ash.evidence["Safe"])
    assert any(line.startswith("cqc_inadequate (level 3)") for line in ash.evidence["Well-led"])
    elm = figures.pack[1]
    # SIP-1 is open and past its day, SIP-2 completed, SIP-3 not yet due.
    assert elm.actions == {"total": 3, "completed": 1, "open": 2, "overdue": 1}
    assert elm.commissioned_by == "joint" and elm.decision is None
    assert elm.evidence["Responsive"][-1] == "2 complaint(s) in 12 months, 1 upheld"
    assert elm.evidence["Caring"][-1] == "1 compliment(s) in 12 months"
    # The dashboard's figures: the decision counts from November; ratings as they stood.
    levels = figures.levels_over_time.set_index("month")
    assert levels.loc["2026-11", "level 3"] == 1 and levels.loc["2026-10", "level 3"] == 0
    assert len(levels) == 12
    cqc = figures.providers.set_index("location_id")["cqc"]
    assert cqc["1-1003"] == "Inadequate" and cqc["1-1005"] == "Outstanding"


def test_a_month_not_yet_proposed_is_refused(decided: Settings) -> None:
    with pytest.raises(record.ProviderError, match="no level is proposed for 2026-10"):
        market_figures(engine_from(decided), decided, "2026-10", date(2026, 12, 3))


@ONLY_SQLITE
@pytest.mark.browser
def test_the_dashboard_and_the_pack_are_written_sent_and_drawn_in_headless_chromium(
    decided: Settings, tmp_path: Path
) -> None:
    figures = market_figures(engine_from(decided), decided, "2026-11", date(2026, 12, 3))
    reports = write_provider_reports(decided, figures, meeting=date(2026, 12, 15))
    assert load_workbook(reports.dashboard_data).sheetnames == [
        "providers", "levels over time", "overdue monitoring", "safeguarding concerns",
    ]  # fmt: skip
    pack_sheet = load_workbook(reports.pack_data)["pack"]
    assert [row[0] for row in pack_sheet.iter_rows(min_row=2, values_only=True)] == [
        "1-1003", "1-1002", "1-1005", "1-1006",
    ]  # fmt: skip
    pack_message, dashboard_message = reports_messages(decided, figures, reports, date(2026, 12, 15))
    assert pack_message.to == ("quality.panel@qaloop-demo.example",)
    assert pack_message.subject == (
        "Quality review panel pack, 2026-11 for the meeting on Tuesday 15 December 2026: 4 provider(s)"
    )
    assert dashboard_message.to == ("commissioners@qaloop-demo.example",)
    assert reports.dashboard in dashboard_message.attachments
    screenshot(reports.dashboard, tmp_path)
    screenshot(reports.pack, tmp_path)
    dashboard = rendered_dom(reports.dashboard, tmp_path)
    for title in ("Providers at each level, by month", "Levels by service type", "CQC overall rating against local",
                  "Safeguarding concerns per 10 beds"):  # fmt: skip
        assert title in dashboard
    pack = rendered_dom(reports.pack, tmp_path)
    assert "1-1003 · Ash Lodge" in pack and "Decided: level 3 by QT-0001." in pack
    assert "agreed with the ICB by ____" in pack  # 1-1002 is jointly commissioned and not yet decided
