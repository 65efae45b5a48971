"""Allocation: every rule about who may audit a case, capacity, balance and the service manager."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from qaloop.allocation.auditors import AuditWindow, allocate, available_auditors
from qaloop.core.roles import Role
from qaloop.core.schema import Dataset
from qaloop.core.settings import load_settings
from qaloop.demo.synthetic import generate
from qaloop.programmes.selection import select_cases, stratum_quotas
from tests.conftest import DEMO_CONFIG

WINDOW = AuditWindow(date(2026, 12, 1), date(2026, 12, 21))


def person(staff_id: str, role: str, team: str | None, manager: str | None, area: str = "North", **extra) -> dict:  # noqa: ANN003
    return {
        "staff_id": staff_id,
        "name": staff_id,
        "email": f"{staff_id}@x.example",
        "role": role,
        "area": area,
        "team": team,
        "line_manager_id": manager,
        "active": True,
        "leave_start": None,
        "leave_end": None,
    } | extra


def small_service(**changes: dict) -> pd.DataFrame:
    """Two teams in North, one in South; each team a manager, a senior practitioner and a practitioner."""
    people = [
        person("SM1", "service_manager", None, None),
        person("SM2", "service_manager", None, None, area="South"),
        person("TM_A", "team_manager", "A", "SM1"),
        person("SP_A", "senior_practitioner", "A", "TM_A"),
        person("P_A", "practitioner", "A", "TM_A"),
        person("TM_B", "team_manager", "B", "SM1"),
        person("SP_B", "senior_practitioner", "B", "TM_B"),
        person("P_B", "practitioner", "B", "TM_B"),
        person("TM_C", "team_manager", "C", "SM2", area="South"),
        person("SP_C", "senior_practitioner", "C", "TM_C", area="South"),
    ]
    frame = pd.DataFrame(people).set_index("staff_id")
    for staff_id, values in changes.items():
        for column, value in values.items():
            frame.loc[staff_id, column] = value
    return frame.reset_index()


def case(ref: str, team: str, worker: str, area: str = "North") -> dict:
    return {"case_ref": ref, "area": area, "team": team, "worker_id": worker}


def test_the_auditor_is_outside_the_case_team_and_line() -> None:
    [assignment] = allocate(pd.DataFrame([case("CR1", "A", "P_A")]), small_service(), WINDOW, capacity=4, seed=1)
    assert assignment.auditor_id in {"TM_B", "SP_B", "SM1"}  # North, not team A, not practitioners
    assert assignment.service_manager_id == "SM1"
    assert assignment.note == ""


def test_a_senior_practitioners_case_never_goes_to_their_own_manager_even_across_teams() -> None:
    # SP_B manages nobody, but TM_A line-manages a worker placed in team B for this test.
    staff = small_service(P_B={"line_manager_id": "TM_A"})
    assignments = allocate(pd.DataFrame([case(f"CR{i}", "B", "P_B") for i in range(6)]), staff, WINDOW, 4, seed=3)
    assert all(a.auditor_id not in {"P_B", "TM_A", "TM_B", "SP_B"} for a in assignments)


def test_inactive_staff_and_staff_on_leave_in_the_window_are_skipped() -> None:
    staff = small_service(
        SP_B={"active": False},
        TM_B={"leave_start": date(2026, 12, 15), "leave_end": date(2027, 1, 5)},
        SM1={"leave_start": date(2026, 11, 1), "leave_end": date(2026, 11, 20)},  # back before the window
    )
    assert set(available_auditors(staff, WINDOW)["staff_id"]) == {"SM1", "SM2", "SP_A", "TM_A", "SP_C", "TM_C"}
    [assignment] = allocate(pd.DataFrame([case("CR1", "A", "P_A")]), staff, WINDOW, 4, seed=1)
    assert assignment.auditor_id == "SM1"


def test_capacity_is_respected_and_a_case_no_one_can_take_is_reported() -> None:
    staff = small_service()
    cases = pd.DataFrame([case(f"CR{i}", "A", "P_A") for i in range(8)])
    assignments = allocate(cases, staff, WINDOW, capacity=1, seed=2)
    given = [a for a in assignments if a.auditor_id]
    refused = [a for a in assignments if a.auditor_id is None]
    # Outside team A: TM_B, SP_B, SM1 in North, then SM2, TM_C, SP_C in South: six places of one audit each.
    assert len(given) == 6 and len({a.auditor_id for a in given}) == 6
    assert len(refused) == 2
    assert all("no auditor is free" in a.note and "team A" in a.note for a in refused)
    assert {a.case_ref for a in assignments} == set(cases["case_ref"])


def test_the_home_area_is_used_first_and_another_area_is_said() -> None:
    cases = pd.DataFrame([case(f"CR{i}", "A", "P_A") for i in range(4)])
    assignments = allocate(cases, small_service(), WINDOW, capacity=1, seed=5)
    home = [a for a in assignments if a.note == ""]
    away = [a for a in assignments if a.note]
    assert {a.auditor_id for a in home} == {"TM_B", "SP_B", "SM1"}
    assert len(away) == 1 and away[0].auditor_id in {"SM2", "TM_C", "SP_C"}
    assert "another area" in away[0].note


def test_a_staff_list_read_from_a_file_with_blank_cells_is_handled() -> None:
    text_columns = {"area": "string", "team": "string", "line_manager_id": "string", "role": "string"}
    staff = small_service().astype(text_columns)  # blanks are pd.NA, as sources give them
    [assignment] = allocate(pd.DataFrame([case("CR1", "A", "P_A")]), staff, WINDOW, capacity=4, seed=1)
    assert assignment.auditor_id in {"TM_B", "SP_B", "SM1"} and assignment.service_manager_id == "SM1"


def test_existing_load_counts_against_capacity() -> None:
    cases = pd.DataFrame([case("CR1", "A", "P_A")])
    [assignment] = allocate(cases, small_service(), WINDOW, 2, seed=1, existing_load={"TM_B": 2, "SP_B": 2})
    assert assignment.auditor_id == "SM1"


@pytest.fixture(scope="module")
def county() -> tuple[pd.DataFrame, pd.DataFrame, list]:
    settings = load_settings(DEMO_CONFIG)
    authority = generate(settings, as_of=date(2026, 11, 22), seed=9)
    cases, staff = authority[Dataset.CASES], authority[Dataset.STAFF]
    areas = [area.code for area in settings.authority.areas]
    quotas = stratum_quotas(cases, areas, [t.id for t in settings.audit_types], 120, settings.calendar.type_shares)
    selection = select_cases(cases, quotas, settings.selection, date(2026, 11, 22), seed=9)
    drawn = cases[cases["case_ref"].isin(selection.drawn["case_ref"])]
    return drawn, staff, allocate(drawn, staff, WINDOW, settings.selection.auditor_capacity, seed=9)


def test_a_county_cycle_is_allocated_within_every_rule(county: tuple) -> None:
    drawn, staff, assignments = county
    by_id = staff.set_index("staff_id")
    cases = drawn.set_index("case_ref")
    available = set(available_auditors(staff, WINDOW)["staff_id"])
    assert len(assignments) == 480 and all(a.auditor_id for a in assignments)
    for a in assignments:
        worker = cases.loc[a.case_ref, "worker_id"]
        auditor = by_id.loc[a.auditor_id]
        assert a.auditor_id in available and Role(auditor["role"]).can_audit
        assert a.auditor_id != worker and a.auditor_id != by_id.loc[worker, "line_manager_id"]
        assert auditor["team"] != cases.loc[a.case_ref, "team"]
        assert by_id.loc[a.service_manager_id, "role"] == Role.SERVICE_MANAGER
        assert by_id.loc[a.service_manager_id, "area"] == by_id.loc[worker, "area"]
    given = pd.Series([a.auditor_id for a in assignments]).value_counts()
    assert given.max() <= 4
    # Balanced within each area, counting the available auditors who were given nothing.
    pool = available_auditors(staff, WINDOW)
    loads = pool.assign(load=pool["staff_id"].map(given).fillna(0)).groupby("area")["load"]
    assert ((loads.max() - loads.min()) <= 1).all()


def test_allocation_is_reproducible_from_its_seed(county: tuple) -> None:
    drawn, staff, assignments = county
    assert allocate(drawn, staff, WINDOW, 4, seed=9) == assignments
    assert allocate(drawn.iloc[::-1], staff, WINDOW, 4, seed=9) == assignments[::-1]
