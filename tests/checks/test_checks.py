"""The Great Expectations suites on real extracts: each kind of bad input is named by row, in plain words."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from checks.cases import check_cases
from checks.outcomes import CheckFailed
from checks.runner import apply_policy
from checks.staff import check_staff
from qaloop.core.schema import Dataset
from qaloop.core.settings import CheckPolicy, Settings
from qaloop.demo.synthetic import generate, write_extracts
from qaloop.sources.readers import read_dataset

AS_OF = date(2026, 11, 22)


@pytest.fixture
def extracts(settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The case extract and staff list as read from files: canonical columns, text values."""
    write_extracts(generate(settings, as_of=AS_OF, seed=21, cases=1_500), settings)
    return read_dataset(settings, Dataset.CASES), read_dataset(settings, Dataset.STAFF)


def test_a_clean_extract_passes(settings: Settings, extracts: tuple) -> None:
    cases, staff = extracts
    staff_report, parsed_staff = check_staff(settings, staff)
    assert staff_report.ok, staff_report.describe()
    report, parsed = check_cases(settings, cases, staff, AS_OF)
    assert report.ok, report.describe()
    assert report.describe() == "cases: all 1,500 rows passed every check"
    assert list(parsed.columns) == list(cases.columns)
    assert pd.api.types.is_datetime64_any_dtype(parsed["start_date"])


def test_each_kind_of_bad_case_row_is_named(settings: Settings, extracts: tuple) -> None:
    cases, staff = extracts
    cases = cases.copy()
    refs = cases["case_ref"].tolist()
    cases.loc[1, "case_ref"] = refs[0]  # a duplicate reference
    cases.loc[2, "worker_id"] = "E999999"  # a worker not in the staff list
    cases.loc[3, "start_date"] = "31/02/2026"  # not a date
    cases.loc[4, "last_activity_date"] = "01/01/2027"  # in the future
    cases.loc[5, "audit_type"] = "haircut"
    cases.loc[6, "person_ref"] = pd.NA  # blank
    cases.loc[7, ["start_date", "last_activity_date"]] = ["10/10/2026", "01/10/2026"]  # out of order
    report, _ = check_cases(settings, cases, staff, AS_OF)
    text = report.describe()
    assert f"case_ref (the source's 'Case Reference') appears more than once: 2 row(s): {refs[0]}" in text
    assert (
        f"worker_id (the source's 'Worker ID') is not in the staff list: 1 row(s): {refs[2]} (values: E999999)" in text
    )
    assert (
        f"start_date (the source's 'Start Date') is not a valid date: 1 row(s): {refs[3]} (values: 31/02/2026)" in text
    )
    assert (
        "last_activity_date (the source's 'Last Activity Date') is in the future or before 1990: "
        f"1 row(s): {refs[4]} (values: 2027-01-01)" in text
    )
    assert (
        "audit_type (the source's 'Work Type') is not one of the configured audit types" in text
        and "(values: haircut)" in text
    )
    assert f"person_ref (the source's 'Person ID') is blank: 1 row(s): {refs[6]}" in text
    assert (
        "last_activity_date (the source's 'Last Activity Date') is before start_date: "
        f"1 row(s): {refs[7]} (values: 2026-10-01 / 2026-10-10)" in text
    )
    assert report.failing_keys == {refs[0], refs[2], refs[3], refs[4], refs[5], refs[6], refs[7]}
    assert {row["check"] for row in report.table()} >= {
        "worker_id (the source's 'Worker ID') is not in the staff list",
        "person_ref (the source's 'Person ID') is blank",
    }


def test_quarantine_sets_failing_rows_aside_within_the_allowed_share(settings: Settings, extracts: tuple) -> None:
    cases, staff = extracts
    cases = cases.copy()
    cases.loc[10, "worker_id"] = "E999999"
    report, parsed = check_cases(settings, cases, staff, AS_OF)
    good, quarantined = apply_policy(report, parsed, "case_ref", settings.check_policy(Dataset.CASES))
    assert quarantined["case_ref"].tolist() == [cases.loc[10, "case_ref"]]
    assert len(good) == len(cases) - 1

    cases.loc[11:40, "worker_id"] = "E999999"  # 31 of 1,500 rows: over the 1 % allowed
    report, parsed = check_cases(settings, cases, staff, AS_OF)
    with pytest.raises(CheckFailed, match=r"31 of 1,500 rows failed \(2.1%\), more than the 1.0%"):
        apply_policy(report, parsed, "case_ref", settings.check_policy(Dataset.CASES))
    with pytest.raises(CheckFailed, match="policy is to stop"):
        apply_policy(report, parsed, "case_ref", CheckPolicy(on_failure="stop"))


def test_an_empty_extract_stops_the_step(settings: Settings, extracts: tuple) -> None:
    cases, staff = extracts
    report, parsed = check_cases(settings, cases.iloc[0:0], staff, AS_OF)
    assert "the case extract has no rows" in report.describe()
    with pytest.raises(CheckFailed, match="a check on the whole dataset failed"):
        apply_policy(report, parsed, "case_ref", settings.check_policy(Dataset.CASES))


def test_a_bad_staff_list_stops_and_names_people_by_id(settings: Settings, extracts: tuple) -> None:
    _, staff = extracts
    staff = staff.copy()
    managers = staff.index[staff["role"] == "team_manager"]
    lost_team = staff.loc[managers[0], "team"]
    staff.loc[managers[0], "active"] = "false"  # the team's only manager has left
    staff.loc[5, "role"] = "wizard"
    staff.loc[6, "line_manager_id"] = "E000001"
    staff.loc[7, "email"] = "not an address"
    report, parsed = check_staff(settings, staff)
    text = report.describe()
    assert f"team has no active team manager: {lost_team}" in text
    assert "role is not one of practitioner" in text and f"{staff.loc[5, 'staff_id']} (values: wizard)" in text
    assert (
        "line_manager_id (the source's 'Line Manager ID') is not in the staff list: "
        f"1 row(s): {staff.loc[6, 'staff_id']}" in text
    )
    assert f"email (the source's 'Work Email') is not an email address: 1 row(s): {staff.loc[7, 'staff_id']}" in text
    assert staff.loc[7, "name"] not in text and "not an address" not in text  # by id, never name or email
    with pytest.raises(CheckFailed):
        apply_policy(report, parsed, "staff_id", settings.check_policy(Dataset.STAFF))
