"""The audit history's suite: one past audit per case, readable dates not ahead, grades on the scale.

The history is what the repeat rules read, so by default a failed check stops its load: a past audit set aside
would make its case look never audited, and drawable again.
"""

from __future__ import annotations

from datetime import date

import great_expectations as gx
import pandas as pd

from checks.outcomes import CheckReport
from checks.runner import Rule, in_source_terms, not_ahead, not_before, rule, run_checks, schema_rules
from qaloop.core.schema import Dataset
from qaloop.core.settings import Settings
from qaloop.sources.readers import checkable


def history_rules(settings: Settings, as_of: date) -> list[Rule]:
    """Every rule the audit history must meet on its own. Its workers and auditors are checked against the
    staff list by the store's step, for the cases still open only: a closed case's worker may have left."""
    rules = schema_rules(Dataset.AUDIT_HISTORY, "audit history") + [
        rule(
            f"grade is not on the scale ({', '.join(settings.grade_scale.labels)})",
            gx.expectations.ExpectColumnValuesToBeInSet,
            column="grade",
            value_set=list(settings.grade_scale.labels),
        ),
        not_before("submitted_on", "selection_date"),
    ]
    return rules + [not_ahead(column, as_of) for column in ("selection_date", "submitted_on")]


def check_history(settings: Settings, history: pd.DataFrame, as_of: date) -> tuple[CheckReport, pd.DataFrame]:
    """Check the canonical audit history (text, as read). Returns the report and the history parsed for
    loading, with the checks' helper columns removed."""
    source = settings.sources.get(Dataset.AUDIT_HISTORY)
    history = cycles_named_and_dated(history)
    frame = checkable(history, Dataset.AUDIT_HISTORY, source.date_format if source else None)
    report = run_checks(Dataset.AUDIT_HISTORY.value, frame, history_rules(settings, as_of), key="case_ref")
    report = in_source_terms(report, Dataset.AUDIT_HISTORY, source)
    return report, frame[list(history.columns)]


def cycles_named_and_dated(history: pd.DataFrame) -> pd.DataFrame:
    """The history with each cycle's selection date on every one of its rows, where a log gives it on some of
    them only (as a QA team's log often does, on a cycle's first row), and a cycle the log knows by its
    selection date alone named by that date as written."""
    dated = history.dropna(subset=["cycle_ref", "selection_date"]).drop_duplicates("cycle_ref")
    selection = history["selection_date"].fillna(
        history["cycle_ref"].map(dated.set_index("cycle_ref")["selection_date"])
    )
    return history.assign(selection_date=selection, cycle_ref=history["cycle_ref"].fillna(selection))
