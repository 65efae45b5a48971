"""A synthetic monthly KPI return for the demo, shaped like a council's: one row per indicator, month and service
area (and the whole service, blank), the month written as Excel's "Apr-26", a rate as "45.2%" with its numerator
and denominator, its target, polarity and benchmarks, in the configured source's own column names and words.

Most indicators wander about a steady level; one drifts the wrong way in one service area over the last seven
months (a special-cause concern, as the compendium should show) and one improves for the whole service.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from qaloop.core.months import last_month, months_back
from qaloop.core.schema import Dataset
from qaloop.core.settings import CsvSource, Governance, IndicatorDefinition, Settings, XlsxSource
from qaloop.demo.synthetic import write_frame

DRIFT_MONTHS = 7  # a run of seven is a shift by Making Data Count's rules


def generate_indicators(settings: Settings, as_of: date, seed: int = 1) -> pd.DataFrame:
    """The KPI return for the ``governance.months_charted`` months before ``as_of``, canonical columns, as text."""
    governance = settings.governance
    if governance is None:
        raise ValueError("governance.indicators is not configured: there are no indicators to make figures for")
    rng = np.random.default_rng(seed)
    months = months_back(last_month(as_of), governance.months_charted)
    rows: list[dict[str, str | None]] = []
    indicators = list(governance.indicators.items())
    for position, (indicator, definition) in enumerate(indicators):
        drifting = position == 0  # the first indicator drifts the wrong way in the first service area
        improving = position == len(indicators) - 1
        parts = _area_figures(definition, governance, len(months), rng, drifting)
        whole = _whole_service(definition, parts)
        if improving:
            whole = _improved(definition, whole)
        for area, figures in [("", whole), *parts.items()]:
            for month, (value, numerator, denominator) in zip(months, figures, strict=True):
                rows.append(_row(indicator, definition, month, area, value, numerator, denominator, rng))
    return pd.DataFrame(rows).astype("string")


def _area_figures(
    definition: IndicatorDefinition, governance: Governance, count: int, rng: np.random.Generator, drifting: bool
) -> dict[str, list[tuple[float, float | None, float | None]]]:
    """Each service area's monthly figures: a rate's numerator and denominator, or a figure."""
    figures = {}
    worse = -1 if definition.polarity == "higher is better" else 1
    for index, area in enumerate(governance.service_areas):
        level = _level(definition, rng)
        drift = (
            [0.0] * (count - DRIFT_MONTHS) + [worse * 0.12] * DRIFT_MONTHS if drifting and index == 0 else [0] * count
        )
        if definition.per:
            sizes = rng.poisson(rng.integers(60, 240), count).clip(min=5)
            shares = np.clip(level / definition.per + np.asarray(drift), 0.01, 0.99)
            hits = rng.binomial(sizes, shares)
            figures[area] = [(definition.per * h / n, float(h), float(n)) for h, n in zip(hits, sizes, strict=True)]
        else:
            values = level * (1 + np.asarray(drift) * 2) + rng.normal(0, level * 0.06, count)
            figures[area] = [(max(0.0, float(value)), None, None) for value in values]
    return figures


def _level(definition: IndicatorDefinition, rng: np.random.Generator) -> float:
    if definition.per:
        target = definition.target if definition.target is not None else definition.per * 0.6
        return float(
            np.clip(target + rng.normal(0, definition.per * 0.03), definition.per * 0.05, definition.per * 0.95)
        )
    return float(definition.target if definition.target is not None else rng.integers(20, 120))


def _whole_service(
    definition: IndicatorDefinition, parts: dict[str, list[tuple[float, float | None, float | None]]]
) -> list[tuple[float, float | None, float | None]]:
    """The whole service: a rate from the areas' summed numerators and denominators, a figure as their sum."""
    whole = []
    for month in zip(*parts.values(), strict=True):
        if definition.per:
            hits = sum(n for _, n, _ in month if n is not None)
            size = sum(d for _, _, d in month if d is not None)
            whole.append((definition.per * hits / size, hits, size))
        else:
            whole.append((sum(value for value, _, _ in month), None, None))
    return whole


def _improved(
    definition: IndicatorDefinition, whole: list[tuple[float, float | None, float | None]]
) -> list[tuple[float, float | None, float | None]]:
    """The last months of ``whole`` moved the better way: a practice change that worked."""
    better = 1 if definition.polarity == "higher is better" else -1
    moved = []
    for index, (value, hits, size) in enumerate(whole):
        if index < len(whole) - DRIFT_MONTHS:
            moved.append((value, hits, size))
        elif definition.per and hits is not None and size is not None:
            hits = float(np.clip(round(hits + better * 0.08 * size), 0, size))
            moved.append((definition.per * hits / size, hits, size))
        else:
            moved.append((max(0.0, value * (1 + better * 0.25)), None, None))
    return moved


def _row(
    indicator: str,
    definition: IndicatorDefinition,
    month: str,
    area: str,
    value: float,
    numerator: float | None,
    denominator: float | None,
    rng: np.random.Generator,
) -> dict[str, str | None]:
    shown = f"{value:.1f}%" if definition.per == 100 else f"{value:.1f}"
    benchmark = value * (1 + rng.normal(0, 0.05))
    return {
        "indicator": indicator,
        "period": pd.Timestamp(f"{month}-01").strftime("%b-%y"),
        "service_area": area or None,
        "value": shown,
        "numerator": None if numerator is None else f"{numerator:.0f}",
        "denominator": None if denominator is None else f"{denominator:.0f}",
        "target": None if definition.target is None else f"{definition.target:g}",
        "polarity": definition.polarity,
        "neighbours": None if area else f"{benchmark:.1f}",
        "england": None if area else f"{benchmark * (1 + rng.normal(0, 0.04)):.1f}",
    }


def write_indicators(settings: Settings, frame: pd.DataFrame) -> str:
    """Write the KPI return to the configured file source, in its column names and words; returns where."""
    source = settings.sources[Dataset.INDICATORS]
    if not isinstance(source, CsvSource | XlsxSource):
        raise ValueError("sources.indicators is not a file: the demo writes its KPI return to a CSV or XLSX file")
    return str(write_frame(frame, Dataset.INDICATORS, source))
