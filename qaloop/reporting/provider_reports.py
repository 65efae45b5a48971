"""The commissioned market's reports: the dashboard for commissioners and leadership (levels by service type and
area, movement over time, CQC ratings beside local levels, safeguarding concerns per bed on a funnel, monitoring
overdue) and the quality review panel's pack (every provider at level 2 or 3 and every proposed move, its
evidence under the five key questions, its improvement plan's progress and the decision to record), each as
self-contained HTML with inline SVG charts and an XLSX workbook of the same figures; and their emails.

They name services and their providers, never a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from qaloop.core.outputs import write_page, write_sheets
from qaloop.core.schema import CQC_KEY_QUESTIONS
from qaloop.core.settings import Settings
from qaloop.core.templates import long_date
from qaloop.messaging.compose import compose
from qaloop.messaging.outbox import Message
from qaloop.providers.market import CQC_OVERALL_ORDER, MarketFigures
from qaloop.providers.monitoring import quality_team
from qaloop.providers.record import quality_of
from qaloop.providers.thresholds import LEVELS
from qaloop.reporting.charts import funnel_svg, grade_bars_svg
from qaloop.reporting.funnels import exact_limits
from qaloop.reporting.render import render_report

LEVEL_LABELS = ["level 3", "level 2", "level 1"]  # worst first, as the grade bars draw them
BEDS = ("care_home", "nursing_home")
PER_BEDS = 10
COMMISSIONER_WORDS = {"council": "the council", "icb": "the ICB", "joint": "the council and the ICB jointly"}


@dataclass(frozen=True)
class ProviderReports:
    """The files written for a month: the dashboard and the pack, each with its workbook."""

    month: str
    dashboard: Path
    dashboard_data: Path
    pack: Path
    pack_data: Path


def _by_level(frame: pd.DataFrame, column: str, order: list[str] | None = None) -> dict[str, list[int]]:
    """The providers at each level (worst first) by ``column``'s values, in ``order`` where given."""
    counts = frame.groupby([column, "level"]).size().unstack(fill_value=0).reindex(columns=[3, 2, 1], fill_value=0)
    rows = order or sorted(counts.index)
    return {str(row).replace("_", " "): [int(count) for count in counts.loc[row]] for row in rows}


def concerns_funnel(figures: MarketFigures) -> Any:
    """Safeguarding concerns in 12 months per 10 beds against beds, for the care and nursing homes, with the
    market's rate and the exact Poisson 95% upper limit for a home of each size."""
    homes = figures.concerns_per_size[figures.concerns_per_size["service_type"].isin(BEDS)]
    homes = homes[homes["size"] > 0]
    beds, count = float(homes["size"].sum()), int(homes["concerns"].sum())
    rate = count / beds if beds else 0.0
    points, limit = [], []
    for row in homes.itertuples(index=False):
        _, upper = exact_limits("poisson", float(row.size), rate, 0.95)
        points.append((float(row.size), PER_BEDS * row.concerns / row.size, row.concerns > upper, row.location_id))
    sizes = range(int(homes["size"].min()), int(homes["size"].max()) + 2) if len(homes) else range(0)
    for size in sizes:
        limit.append((float(size), PER_BEDS * exact_limits("poisson", float(size), rate, 0.95)[1] / size))
    return funnel_svg(
        points, limit, PER_BEDS * rate, "Safeguarding concerns per 10 beds, 12 months (care and nursing homes)",
        "beds", "concerns per 10 beds; the dashed line is the 95% limit for a home of that size",
    )  # fmt: skip


def dashboard_context(figures: MarketFigures) -> dict[str, Any]:
    """What the dashboard shows: the counts at each level, the providers at level 2 or 3, and the charts."""
    providers = figures.providers
    over_time = figures.levels_over_time
    return {
        "f": figures,
        "title": f"{figures.authority}: commissioned care market, {figures.month}",
        "on": long_date(figures.on),
        "levels": LEVELS,
        "counts": {level: int((providers["level"] == level).sum()) for level in (1, 2, 3)},
        "moving": sum(1 for entry in figures.pack if entry.movement != "same"),
        "at_risk": providers[providers["level"] >= 2].sort_values(["level", "location_id"], ascending=[False, True]),
        "charts": [
            grade_bars_svg(
                {row["month"]: [row[label] for label in LEVEL_LABELS] for row in over_time.to_dict("records")},
                LEVEL_LABELS, "Providers at each level, by month",
            ),
            grade_bars_svg(_by_level(providers, "service_type"), LEVEL_LABELS, "Levels by service type"),
            grade_bars_svg(_by_level(providers, "area"), LEVEL_LABELS, "Levels by area"),
            grade_bars_svg(
                _by_level(providers, "cqc", [r for r in CQC_OVERALL_ORDER if r in set(providers["cqc"])]),
                LEVEL_LABELS, "CQC overall rating against local level",
            ),
            concerns_funnel(figures),
        ],
    }  # fmt: skip


def pack_context(figures: MarketFigures, meeting: date | None) -> dict[str, Any]:
    """What the pack shows: each provider for the panel, and the urgent reviews of the month."""
    return {
        "f": figures,
        "title": f"{figures.authority}: quality review panel pack, {figures.month}",
        "meeting": long_date(meeting) if meeting else None,
        "on": long_date(figures.on),
        "levels": LEVELS,
        "questions": CQC_KEY_QUESTIONS,
        "commissioners": COMMISSIONER_WORDS,
    }


def write_provider_reports(settings: Settings, figures: MarketFigures, meeting: date | None = None) -> ProviderReports:
    """Write the month's dashboard and pack (and their workbooks) under ``output_dir/providers/<month>``."""
    folder = settings.output_dir / "providers" / figures.month
    folder.mkdir(parents=True, exist_ok=True)
    dashboard = folder / f"market-dashboard-{figures.month}.html"
    pack = folder / f"panel-pack-{figures.month}.html"
    write_page(dashboard, render_report("provider_dashboard", dashboard_context(figures)))
    write_page(pack, render_report("provider_pack", pack_context(figures, meeting)))
    dashboard_data = write_sheets(
        folder / f"market-dashboard-{figures.month}.xlsx",
        {
            "providers": figures.providers,
            "levels over time": figures.levels_over_time,
            "overdue monitoring": figures.overdue,
            "safeguarding concerns": figures.concerns_per_size,
        },
    )
    pack_rows = pd.DataFrame(
        [
            {
                "location_id": entry.location_id, "name": entry.name, "service type": entry.service_type,
                "area": entry.area, "commissioned by": entry.commissioned_by, "level now": entry.level_now,
                "proposed": entry.proposed, "movement": entry.movement,
                **{question: "; ".join(entry.evidence[question]) for question in CQC_KEY_QUESTIONS},
                **{f"actions {key}": value for key, value in entry.actions.items()},
                "monitoring overdue": "; ".join(entry.overdue), "decision": entry.decision or "",
            }
            for entry in figures.pack
        ]
    )  # fmt: skip
    pack_data = write_sheets(
        folder / f"panel-pack-{figures.month}.xlsx",
        {"pack": pack_rows, "urgent reviews": pd.DataFrame({"urgent review": figures.urgent})},
    )
    return ProviderReports(figures.month, dashboard, dashboard_data, pack, pack_data)


def reports_messages(
    settings: Settings, figures: MarketFigures, reports: ProviderReports, meeting: date | None
) -> list[Message]:
    """The pack to the panel (once per meeting, or per month without one) and the dashboard to commissioners and
    leadership (once per month), each with its workbook."""
    quality = quality_of(settings)
    when = f" for the meeting on {long_date(meeting)}" if meeting else ""
    panel = [str(address) for address in quality.panel] or quality_team(settings)
    leaders = [str(address) for address in quality.dashboard_to] or quality_team(settings)
    common = {"month": figures.month, "pack_size": len(figures.pack), "urgent": figures.urgent, "when": when}
    return [
        compose(
            settings, "provider_reports", key=("provider-pack", figures.month, meeting or "none"), to=panel,
            subject=f"Quality review panel pack, {figures.month}{when}: {len(figures.pack)} provider(s)",
            context=common | {"which": "pack"}, attachments=[reports.pack, reports.pack_data],
        ),
        compose(
            settings, "provider_reports", key=("provider-dashboard", figures.month), to=leaders,
            subject=f"Commissioned care market dashboard, {figures.month}",
            context=common | {"which": "dashboard"}, attachments=[reports.dashboard, reports.dashboard_data],
        ),
    ]  # fmt: skip
