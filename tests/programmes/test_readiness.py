"""A regular cycle refuses to draw when what its rules read is missing or stale, on SQLite and PostgreSQL:
no audit history, a cycle missing from it, a stale extract, an audit type or an area the extract lacks, a
stratum with a quota and nothing to draw; a deep dive without the history, or whose filters admit no case
or only audited ones; a managers' month without the history or anyone to audit. Each refusal says why and
records nothing."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, update

from qaloop.core.cycle_dates import cycle_dates
from qaloop.core.roles import Role
from qaloop.core.settings import Settings
from qaloop.programmes.cycle_record import draw_cycle
from qaloop.programmes.deep_dive import DeepDiveRequest, deep_dive_ref, draw_deep_dive
from qaloop.programmes.managers_monthly import draw_managers_month
from qaloop.programmes.readiness import NotReady
from qaloop.store import models
from qaloop.store.engine import engine_from
from tests.conftest import NEXT_CYCLE
from tests.history import forget_cycles


def refusal(settings: Settings) -> list[str]:
    """Why the county's next cycle is not drawn; and that nothing of it was recorded or written."""
    dates = cycle_dates(settings.calendar, NEXT_CYCLE)
    with pytest.raises(NotReady) as raised:
        draw_cycle(engine_from(settings), settings, dates)
    with engine_from(settings).connect() as connection:
        recorded = connection.scalar(
            select(func.count()).select_from(models.AuditCycle).where(models.AuditCycle.cycle_ref == dates.cycle_ref)
        )
    assert recorded == 0
    assert not (settings.output_dir / "cycles" / dates.cycle_ref).exists()
    assert f"Cycle {dates.cycle_ref} was not drawn" in str(raised.value)
    return raised.value.reasons


def area_id(settings: Settings, code: str) -> int:
    with engine_from(settings).connect() as connection:
        return connection.execute(select(models.Area.id).where(models.Area.code == code)).scalar_one()


def test_without_any_audit_history_the_cycle_refuses_unless_it_is_the_first(county: Settings) -> None:
    forget_cycles(county)
    [reason] = refusal(county)
    assert "the store holds no audit history" in reason and "`qaloop load audit_history`" in reason
    assert "calendar.first_cycle" in reason

    first = county.model_copy(update={"calendar": county.calendar.model_copy(update={"first_cycle": NEXT_CYCLE})})
    assert draw_cycle(engine_from(first), first, cycle_dates(first.calendar, NEXT_CYCLE)).drawn_now


def test_a_cycle_missing_from_the_history_stops_the_draw(county: Settings) -> None:
    cadence = timedelta(weeks=county.calendar.cadence_weeks)
    forget_cycles(county, selected_from=NEXT_CYCLE - cadence)  # the cycle just before this one
    [reason] = refusal(county)
    start, end = NEXT_CYCLE - cadence, NEXT_CYCLE - timedelta(days=1)
    assert f"no audited cycle is recorded with a selection date from {start} to {end}" in reason
    assert "each of the last 2 cycles" in reason


def test_a_stale_extract_stops_the_draw(county: Settings) -> None:
    with engine_from(county).begin() as connection:
        connection.execute(
            update(models.CaseRecord).values(start_date=date(2024, 1, 8), last_activity_date=date(2025, 3, 31))
        )
    reasons = refusal(county)
    assert any(
        "the newest activity in the case extract (2025-03-31) is before the look-back window" in r for r in reasons
    )


def test_an_audit_type_the_extract_lacks_stops_the_draw(county: Settings) -> None:
    with engine_from(county).begin() as connection:
        connection.execute(
            update(models.CaseRecord)
            .where(models.CaseRecord.audit_type == "mca_assessment")
            .values(audit_type="safeguarding")
        )
    [reason] = refusal(county)
    assert reason.startswith("audit type mca_assessment is configured but no case in the extract has it")


def test_an_area_without_a_case_stops_the_draw(county: Settings) -> None:
    with engine_from(county).begin() as connection:
        connection.execute(
            update(models.CaseRecord)
            .where(models.CaseRecord.area_id == area_id(county, "WEST"))
            .values(area_id=area_id(county, "NE"))
        )
    reasons = refusal(county)
    assert any(r.startswith("area WEST (West)") and "would get no audits" in r for r in reasons)


def test_a_stratum_with_a_quota_and_no_case_stops_the_draw(county: Settings) -> None:
    # The county's audit types have fixed shares, so North East's Mental Capacity Act assessments have a
    # quota whether or not the extract holds any.
    assert county.calendar.type_shares and county.calendar.type_shares["mca_assessment"] > 0
    with engine_from(county).begin() as connection:
        connection.execute(
            update(models.CaseRecord)
            .where(models.CaseRecord.audit_type == "mca_assessment", models.CaseRecord.area_id == area_id(county, "NE"))
            .values(audit_type="safeguarding")
        )
    [reason] = refusal(county)
    assert reason.startswith("stratum NE|mca_assessment has a quota of")


def deep_dive_refusal(settings: Settings, request: DeepDiveRequest) -> list[str]:
    """Why the deep dive is not drawn; and that nothing of it was recorded."""
    with pytest.raises(NotReady) as raised:
        draw_deep_dive(engine_from(settings), settings, request, NEXT_CYCLE)
    with engine_from(settings).connect() as connection:
        recorded = connection.scalar(
            select(func.count()).select_from(models.AuditCycle).where(models.AuditCycle.programme == "deep_dive")
        )
    assert recorded == 0 and f"Deep dive {deep_dive_ref(request, NEXT_CYCLE)} was not drawn" in str(raised.value)
    return raised.value.reasons


def test_a_deep_dive_refuses_to_draw_blind_or_empty(county: Settings) -> None:
    # Seen: a deep dive drew whatever it was given, with no word: without the history it cannot keep out the
    # cases audited before; filters that admit nothing gave a green, empty deep dive.
    nowhere = DeepDiveRequest(theme="Nobody's team", teams=["No Such Team"], sample_size=5)
    [reason] = deep_dive_refusal(county, nowhere)
    assert reason.startswith("no case in the store is in team(s) 'No Such Team': the teams with cases are ")
    long_ago = DeepDiveRequest(theme="Long ago", activity_to=date(1990, 1, 1), sample_size=5)
    [reason] = deep_dive_refusal(county, long_ago)
    assert reason == "no case in the store matches the deep dive's filters (activity to 1990-01-01): widen them"

    with engine_from(county).connect() as connection:
        audited = connection.scalar(
            select(models.CaseRecord.case_ref)
            .join(models.Allocation, models.Allocation.case_id == models.CaseRecord.id)
            .where(models.Allocation.status == "closed")
        )
        team = connection.scalar(
            select(models.Team.name)
            .join(models.CaseRecord, models.CaseRecord.team_id == models.Team.id)
            .where(models.CaseRecord.case_ref == audited)
        )
    # Only audited cases admitted (by one audited case's team and a window around nothing else) is refused too,
    # unless re-audits are asked for.
    with engine_from(county).begin() as connection:
        connection.execute(
            update(models.CaseRecord)
            .where(models.CaseRecord.case_ref != audited)
            .where(
                models.CaseRecord.team_id == select(models.Team.id).where(models.Team.name == team).scalar_subquery()
            )
            .values(set_aside="moved for this test")
        )
    only_audited = DeepDiveRequest(theme="One audited case", teams=[team], sample_size=1)
    [reason] = deep_dive_refusal(county, only_audited)
    assert "every one of the 1 case(s) the filters admit has been audited already" in reason

    forget_cycles(county)
    [reason] = deep_dive_refusal(county, DeepDiveRequest(theme="Best interests", sample_size=5))
    assert "the store holds no audit history" in reason
    allowed = DeepDiveRequest(theme="Best interests", sample_size=5, allow_reaudit=True)
    assert draw_deep_dive(engine_from(county), county, allowed, NEXT_CYCLE).selected == 5


def test_the_managers_month_refuses_to_draw_blind_or_empty(county: Settings) -> None:
    # Seen: the managers' month drew under the repeat rules whatever the store held: no history, no managers.
    first_of_month = date(2026, 12, 1)
    nobody = county.model_copy(
        update={"selection": county.selection.model_copy(update={"manager_roles": [Role.DIRECTOR]})}
    )
    with engine_from(nobody).begin() as connection:
        connection.execute(update(models.Staff).where(models.Staff.role == "director").values(active=False))
    with pytest.raises(NotReady) as raised:
        draw_managers_month(engine_from(nobody), nobody, first_of_month)
    assert "The managers' month 2026-12-managers was not drawn" in str(raised.value)
    assert raised.value.reasons[-1].startswith("no one can audit this month: no active member of staff")

    forget_cycles(county)
    with pytest.raises(NotReady) as raised:
        draw_managers_month(engine_from(county), county, first_of_month)
    assert [reason.split(",")[0] for reason in raised.value.reasons] == ["the store holds no audit history"]
    with engine_from(county).connect() as connection:
        assert (
            connection.scalar(
                select(func.count())
                .select_from(models.AuditCycle)
                .where(models.AuditCycle.programme == "managers_monthly")
            )
            == 0
        )
