"""The monthly performance compendium as the managers receive it: self-contained HTML, each indicator's XmR chart
inline with its Making Data Count reading, against target and benchmarks, the whole service first and then each
service area; an XLSX workbook of the same (one row per indicator and area, and every figure charted with its
limits); and its email to the managers' distribution list.

It names indicators, service areas and the owner's staff id, never a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from qaloop.core.outputs import write_page, write_sheets
from qaloop.core.settings import Settings
from qaloop.governance.compendium import COMPENDIUM, Compendium, Reading
from qaloop.messaging.compose import compose
from qaloop.messaging.outbox import Message
from qaloop.reporting.charts import spc_chart_svg
from qaloop.reporting.render import render_report


@dataclass(frozen=True)
class CompendiumFiles:
    """Where a month's compendium was written."""

    month: str
    page: Path
    workbook: Path


def compendium_context(book: Compendium) -> dict[str, Any]:
    """What the compendium shows: each service area's readings with their charts, and the counts at the top."""
    readings = book.readings
    return {
        "c": book,
        "title": f"{book.authority}: performance compendium, {book.month}",
        "areas": {
            area: [(reading, spc_chart_svg(reading.chart, _chart_title(reading))) for reading in shown]
            for area, shown in book.areas.items()
        },
        "counts": {
            "indicators": len({reading.series.indicator for reading in readings}),
            "concern": sum(reading.chart.latest == "concern" for reading in readings),
            "improvement": sum(reading.chart.latest == "improvement" for reading in readings),
            "missing target": sum(reading.against_target.startswith("misses") for reading in readings),
        },
    }


def _chart_title(reading: Reading) -> str:
    return f"{reading.series.indicator} {reading.series.definition.title}"


def readings_frame(book: Compendium) -> pd.DataFrame:
    """One row per indicator and service area: the month's figure, target, benchmarks and reading."""
    return pd.DataFrame(
        [
            {
                "service area": reading.area, "indicator": reading.series.indicator,
                "title": reading.series.definition.title, "owner": reading.series.definition.owner,
                "lens": reading.series.definition.lens, "month": book.month,
                "value": reading.latest.value if reading.latest else None,
                "numerator": reading.latest.numerator if reading.latest else None,
                "denominator": reading.latest.denominator if reading.latest else None,
                "target": reading.target, "against target": reading.against_target,
                "statistical neighbours": reading.latest.neighbours if reading.latest else None,
                "England": reading.latest.england if reading.latest else None,
                "against benchmarks": reading.against_benchmarks, "reading": reading.chart.says,
                "variation": reading.chart.variation, "assurance": reading.chart.assurance,
            }
            for reading in book.readings
        ]
    )  # fmt: skip


def points_frame(book: Compendium) -> pd.DataFrame:
    """Every figure charted, with its centre line, limits and the rules it meets."""
    return pd.DataFrame(
        [
            {
                "service area": reading.area, "indicator": reading.series.indicator, "month": point.label,
                "value": point.share, "centre": point.centre, "lower limit": point.lower, "upper limit": point.upper,
                "special cause": "; ".join(point.special),
            }
            for reading in book.readings
            for point in reading.chart.points
        ]
    )  # fmt: skip


def write_compendium(settings: Settings, book: Compendium) -> CompendiumFiles:
    """Write the month's compendium and its workbook under ``output_dir/governance/<month>``."""
    folder = settings.output_dir / "governance" / book.month
    folder.mkdir(parents=True, exist_ok=True)
    page = write_page(folder / f"performance-compendium-{book.month}.html",
                      render_report("compendium", compendium_context(book)))  # fmt: skip
    workbook = write_sheets(
        folder / f"performance-compendium-{book.month}.xlsx",
        {"indicators": readings_frame(book), "figures charted": points_frame(book)},
    )
    return CompendiumFiles(book.month, page, workbook)


def compendium_message(settings: Settings, book: Compendium, files: CompendiumFiles) -> Message:
    """The compendium to the managers' distribution list (the QA team where none is configured), once a month."""
    governance = settings.governance
    to = [str(address) for address in governance.compendium_to] if governance else []
    counts = compendium_context(book)["counts"]
    concerns = [f"{r.series.indicator} {r.series.definition.title} ({r.area})" for r in book.readings
                if r.chart.latest == "concern"]  # fmt: skip
    return compose(
        settings, "compendium", key=(COMPENDIUM, book.month), to=to or list(settings.email.qa_team),
        subject=f"Performance compendium, {book.month}: {counts['indicators']} indicator(s), "
        f"{counts['concern']} special-cause concern(s)",
        context={"month": book.month, "counts": counts, "concerns": concerns, "missing": book.missing},
        attachments=[files.page, files.workbook],
    )  # fmt: skip
