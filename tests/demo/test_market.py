"""The demo's commissioned market (configs/herefordshire.yaml): written in the CQC directory's and the council's
own layouts, it passes the market's checks whole; run through the panel's two months, the provider CQC moves to
cancel is proposed for level 3 and raises an urgent review, the one that recovered is proposed to come down, and
the pack and the dashboard are written."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from checks.intake import take_in
from qaloop.core.schema import PROVIDER_INTELLIGENCE, Dataset
from qaloop.demo.market import CQC_COLUMNS, generate_market, play_panel, write_market
from qaloop.store.engine import engine_from, upgrade
from tests.conftest import PROJECT, settings_in

THURSDAY = date(2026, 12, 3)


def test_the_herefordshire_market_is_written_as_published_loaded_whole_and_played_through_the_panel(
    tmp_path: Path,
) -> None:
    settings = settings_in(tmp_path, PROJECT / "configs" / "herefordshire.yaml")
    market = generate_market(settings, as_of=THURSDAY)
    again = generate_market(settings, as_of=THURSDAY)  # the same inputs, the same market
    assert all(frame.equals(again.frames[dataset]) for dataset, frame in market.frames.items())
    written = write_market(market, settings)
    directory = pd.read_csv(written[Dataset.CQC_RATINGS], dtype=str)
    assert list(directory.columns) == CQC_COLUMNS
    contracts = pd.read_csv(written[Dataset.PROVIDERS], dtype=str)
    assert set(contracts["Service Type"]) == {"Residential", "Nursing", "Domiciliary", "Supported living"}
    upgrade(engine_from(settings))
    taken = {intake.dataset: intake for intake in take_in(settings, PROVIDER_INTELLIGENCE, THURSDAY)}
    assert taken[Dataset.PROVIDERS].new == 240
    assert taken[Dataset.CQC_RATINGS].left_out == (
        "20 row(s) about 20 location(s) not in the provider list",
        "24 row(s) rating a service or population group, not the location",
    )
    played = play_panel(engine_from(settings), settings, THURSDAY)
    november = {each.location_id: each for each in played.proposed["2026-11"]}
    cancelled = november[market.drifting[0]]
    assert cancelled.proposal.level == 3 and "cqc_cancellation" in {r.rule for r in cancelled.proposal.reasons}
    recovered = november[market.recovering]
    assert (recovered.current_level, recovered.movement) == (3, "down")
    assert any(
        line.startswith(f"{market.drifting[0]}: CQC served a notice of proposal to cancel") for line in played.urgent
    )
    assert any(
        line.startswith(f"{market.drifting[3]}: a safeguarding concern flagged serious") for line in played.urgent
    )
    assert played.decided[-1].startswith(f"{market.drifting[0]}, 2026-11: Decided: level 3 by QT-0001")
    assert played.reports.pack.is_file() and played.reports.dashboard_data.is_file()
    # A handful drift into concern: most of the market stays at level 1.
    assert sum(1 for each in november.values() if each.proposal.level == 1) > 0.75 * len(november)
