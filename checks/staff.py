"""The staff list's suite: unique ids, known roles and areas, line managers in the list, a manager per team."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import great_expectations as gx
import pandas as pd

from checks.outcomes import CheckReport
from checks.runner import Rule, area_rule, in_source_terms, not_before, rule, run_checks, schema_rules
from qaloop.core.roles import Role
from qaloop.core.schema import Dataset
from qaloop.core.settings import Settings
from qaloop.sources.readers import checkable


def staff_rules(settings: Settings, staff_ids: list[str]) -> list[Rule]:
    """Every rule a staff list must meet, row by row."""
    return schema_rules(Dataset.STAFF, "staff list") + [
        rule(
            f"role is not one of {', '.join(role.value for role in Role)}",
            gx.expectations.ExpectColumnValuesToBeInSet,
            column="role",
            value_set=[role.value for role in Role],
        ),
        rule(
            "email is not an email address",
            gx.expectations.ExpectColumnValuesToMatchRegex,
            reveal=False,
            column="email",
            regex=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        ),
        area_rule(settings),
        rule(
            "line_manager_id is not in the staff list",
            gx.expectations.ExpectColumnValuesToBeInSet,
            column="line_manager_id",
            value_set=staff_ids,
        ),
        not_before("leave_end", "leave_start"),
    ]


def check_staff(
    settings: Settings, staff: pd.DataFrame, case_teams: Iterable[str] | None = None
) -> tuple[CheckReport, pd.DataFrame]:
    """Check the canonical staff list (text, as read), including that every team holding cases (``case_teams``;
    every team in the list when not given) has an active team manager. A team that holds no case (the
    "Senior Management" of an HR export) needs none.

    Returns the report and the list parsed for use, with the checks' helper columns removed.
    """
    source = settings.sources.get(Dataset.STAFF)
    frame = checkable(staff, Dataset.STAFF, source.date_format if source else None)
    report = run_checks("staff", frame, staff_rules(settings, sorted(staff["staff_id"].dropna())), key="staff_id")
    managers = frame[(frame["role"] == Role.TEAM_MANAGER.value) & frame["active"]].groupby("team").size()
    listed = set(frame["team"].dropna())
    if case_teams is None:
        held = listed
    else:  # named as the store matches them, ignoring case
        holding = {str(team).casefold() for team in case_teams}
        held = {team for team in listed if team.casefold() in holding}
    teams = pd.DataFrame({"team": sorted(held)})
    teams["managers"] = teams["team"].map(managers).fillna(0).astype(int)
    per_team = run_checks(
        "teams",
        teams,
        [
            rule(
                "team has no active team manager",
                gx.expectations.ExpectColumnValuesToBeBetween,
                column="managers",
                min_value=1,
            )
        ],
        key="team",
    )
    # Named by team, not by member of staff, so it counts against the whole list rather than some rows.
    team_failures = tuple(
        replace(failure, whole_dataset=True, says=f"{failure.says}: {', '.join(failure.keys)}")
        for failure in per_team.failures
    )
    report = in_source_terms(replace(report, failures=report.failures + team_failures), Dataset.STAFF, source)
    return report, frame[list(staff.columns)]
