"""The key performance indicators' suite, and their intake without Prefect: the council's monthly KPI return
checked against the configured indicators and service areas, its months read however the return writes them,
then stored (a restated month replacing its figure), the file once.

A figure the compendium would misread is refused here, named by indicator, month and service area: a month that
is not one, a rate whose value is not its numerator over its denominator, a percentage above 100, a polarity
that contradicts the indicator's definition.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import great_expectations as gx
import pandas as pd

from checks.outcomes import CheckReport, Intake
from checks.runner import (
    ROW_KEY,
    Rule,
    file_already_stored,
    in_source_terms,
    keep,
    rule,
    run_checks,
    schema_rules,
    store,
    with_row_key,
)
from qaloop.core.schema import POLARITIES, Dataset
from qaloop.core.settings import Governance, Settings
from qaloop.governance.indicators import WHOLE_SERVICE, governance_of
from qaloop.sources.readers import checkable, read_dataset
from qaloop.store.engine import engine_from

INDICATORS = Dataset.INDICATORS
MONTH = r"^\d{4}-(?:0[1-9]|1[0-2])$"
# How KPI returns write a month, besides 2026-04: Apr-26, Apr 2026, April 2026, or a day in it.
_MONTH_FORMATS = ("%b-%y", "%b %y", "%b-%Y", "%b %Y", "%B %Y", "%B-%Y", "%B %y", "%B-%y", "%Y%m")
# A rate given with its numerator and denominator may be rounded to a whole unit of its scale, no further.
ROUNDING = 0.5


def as_months(values: pd.Series, date_format: str | None) -> pd.Series:
    """``values`` as YYYY-MM where they read as a month (2026-04, Apr-26, April 2026, a date in the month); the
    rest as they were, for the checks to name."""
    text = values.str.strip()
    months = text.where(text.str.fullmatch(MONTH).fillna(False).astype(bool))
    for attempt in (*_MONTH_FORMATS, *([date_format] if date_format else []), "ISO8601"):
        todo = text.notna() & months.isna()
        if not todo.any():
            break
        parsed = pd.to_datetime(text[todo], format=attempt, errors="coerce")
        months[todo] = parsed.dt.strftime("%Y-%m").where(parsed.notna())
    return months.fillna(text).astype("string")


def named_areas(governance: Governance, values: pd.Series) -> pd.Series:
    """``values`` as the configured service area ids where they name one (by id or name); the rest unchanged."""
    return values.map(lambda named: governance.service_area_id(named) or named, na_action="ignore").astype("string")


def _flag(says: str, helper: str, shows: str) -> Rule:
    return rule(says, gx.expectations.ExpectColumnValuesToBeInSet, column=helper, value_set=[False], shows=shows)


def indicator_rules(governance: Governance) -> list[Rule]:
    """Every rule a KPI return must meet (the helper columns are ``with_helpers``')."""
    ids = sorted(governance.indicators)
    areas = sorted(governance.service_areas)
    return [
        *schema_rules(INDICATORS, "indicators extract"),
        rule(
            f"indicator is not one of governance.indicators ({', '.join(ids)})",
            gx.expectations.ExpectColumnValuesToBeInSet,
            column="indicator",
            value_set=ids,
        ),
        rule(
            "period is not a month (2026-04, Apr-26, April 2026 or a date in it)",
            gx.expectations.ExpectColumnValuesToMatchRegex,
            column="period",
            regex=MONTH,
        ),
        _flag("period is after the month the extract is taken in", "period__ahead", "period"),
        rule(
            f"service_area is not one of governance.service_areas ({', '.join(areas) or 'none configured'})",
            gx.expectations.ExpectColumnValuesToBeInSet,
            column="service_area",
            value_set=areas,
        ),
        rule(
            f"polarity is not one of: {', '.join(POLARITIES)}",
            gx.expectations.ExpectColumnValuesToBeInSet,
            column="polarity",
            value_set=list(POLARITIES),
        ),
        _flag("polarity is not the indicator's configured polarity", "polarity__differs", "polarity"),
        _flag("denominator is not above 0", "denominator__not_positive", "denominator__text"),
        _flag("numerator is below 0 or above the denominator", "numerator__outside", "numerator__text"),
        _flag(
            "value is outside 0 to the rate's scale (governance.indicators per: 100 for a percentage)",
            "value__off_scale",
            "value__text",
        ),
        _flag(
            f"value is not the numerator over the denominator on the rate's scale (to within {ROUNDING})",
            "value__disagrees",
            "value__text",
        ),
    ]


def with_helpers(frame: pd.DataFrame, governance: Governance, as_of: date) -> pd.DataFrame:
    """The checkable ``frame`` with the helper columns the indicator rules look at."""
    defined = frame["indicator"].map(governance.indicators.get, na_action="ignore")
    per = pd.to_numeric(defined.map(lambda d: d.per if d else None, na_action="ignore"), errors="coerce")
    polarity = defined.map(lambda d: d.polarity if d else None, na_action="ignore")
    value = frame["value"].astype("Float64")
    numerator = frame["numerator"].astype("Float64")
    denominator = frame["denominator"].astype("Float64")
    rate = per.notna() & numerator.notna() & denominator.notna() & (denominator > 0)
    expected = per * numerator / denominator.where(denominator > 0)
    helpers = {
        "period__ahead": frame["period"].str.fullmatch(MONTH).fillna(False).astype(bool)
        & (frame["period"] > f"{as_of:%Y-%m}").fillna(False).astype(bool),
        "polarity__differs": frame["polarity"].notna() & polarity.notna() & (frame["polarity"] != polarity),
        "denominator__not_positive": (denominator <= 0).fillna(False),
        "numerator__outside": ((numerator < 0) | (denominator.notna() & (numerator > denominator))).fillna(False),
        "value__off_scale": (per.notna() & ((value < 0) | (value > per))).fillna(False),
        "value__disagrees": (rate & ((value - expected).abs() > ROUNDING)).fillna(False),
    }
    return frame.assign(**{name: mask.astype(bool) for name, mask in helpers.items()})


def check_indicators(settings: Settings, extract: pd.DataFrame, as_of: date) -> tuple[CheckReport, pd.DataFrame]:
    """Check a canonical KPI return (text, as read). Returns the report and the return parsed for loading: its
    months as YYYY-MM, its service areas as their ids, with ``row_key`` (indicator / period / service area)."""
    governance = governance_of(settings)
    source = settings.sources.get(INDICATORS)
    date_format = source.date_format if source else None
    extract = extract.assign(
        period=as_months(extract["period"], date_format),
        service_area=named_areas(governance, extract["service_area"]),
    )
    named = extract.assign(service_area=extract["service_area"].fillna(WHOLE_SERVICE))
    frame = with_row_key(checkable(extract, INDICATORS, date_format), named, INDICATORS)
    frame = with_helpers(frame, governance, as_of)
    report = run_checks(INDICATORS.value, frame, indicator_rules(governance), key=ROW_KEY)
    return in_source_terms(report, INDICATORS, source), frame[[*extract.columns, ROW_KEY]]


def check_and_load_indicators(
    settings: Settings, as_of: date, on_report: Callable[[CheckReport], None] = lambda report: None
) -> Intake:
    """Check and store the configured KPI return; a file already stored is not read again. Raises CheckFailed,
    with nothing stored, when the indicators' policy says stop (the default: a compendium short of an indicator
    would mislead)."""
    engine = engine_from(settings)
    digest, skipped = file_already_stored(engine, settings, INDICATORS)
    if skipped is not None:
        return skipped
    report, frame = check_indicators(settings, read_dataset(settings, INDICATORS, as_of), as_of)
    on_report(report)
    kept = keep(settings, INDICATORS, report, frame, ROW_KEY, as_of)
    return store(engine, settings, INDICATORS, kept, digest)
