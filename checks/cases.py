"""The case extract's suite: keys, audit types, areas, teams and workers known, dates in order and not ahead."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import great_expectations as gx
import pandas as pd

from checks.outcomes import CheckReport
from checks.runner import (
    Rule,
    area_rule,
    in_source_terms,
    not_ahead,
    not_before,
    rule,
    run_checks,
    schema_rules,
    team_rule,
)
from qaloop.core.schema import Dataset
from qaloop.core.settings import Settings
from qaloop.sources.readers import checkable


def case_rules(settings: Settings, staff_ids: Iterable[str], teams: Iterable[str], as_of: date) -> list[Rule]:
    """Every rule the case extract must meet, given the staff list it will be joined to."""
    type_ids = [audit_type.id for audit_type in settings.audit_types]
    rules = schema_rules(Dataset.CASES, "case extract") + [
        rule(
            f"audit_type is not one of the configured audit types ({', '.join(type_ids)})",
            gx.expectations.ExpectColumnValuesToBeInSet,
            column="audit_type",
            value_set=type_ids,
        ),
        area_rule(settings),
        team_rule(teams),
        rule(
            "worker_id is not in the staff list",
            gx.expectations.ExpectColumnValuesToBeInSet,
            column="worker_id",
            value_set=sorted(set(staff_ids)),
        ),
        not_before("last_activity_date", "start_date"),
        not_before("end_date", "start_date"),
    ]
    return rules + [not_ahead(column, as_of) for column in ("start_date", "last_activity_date", "end_date")]


def check_cases(
    settings: Settings, cases: pd.DataFrame, staff: pd.DataFrame, as_of: date
) -> tuple[CheckReport, pd.DataFrame]:
    """Check the canonical case extract (text, as read) against the canonical staff list.

    Returns the report and the extract parsed for use (dates as timestamps), with the checks' helper
    columns removed.
    """
    source = settings.sources.get(Dataset.CASES)
    frame = checkable(cases, Dataset.CASES, source.date_format if source else None)
    rules = case_rules(settings, staff["staff_id"].dropna(), staff["team"].dropna(), as_of)
    report = in_source_terms(run_checks("cases", frame, rules, key="case_ref"), Dataset.CASES, source)
    return report, frame[list(cases.columns)]
