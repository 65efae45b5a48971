"""Deep dives end to end in real Prefect with a real SMTP server, on SQLite and PostgreSQL: similar cases
drawn through the selection engine under the request's filters, the QA team told why, allocated and
emailed like a cycle, their returns filed, its own report; re-audits only when asked for, and recorded; the Prefect UI's
form read from the flow's parameter schema; a failed run alerting the QA team once."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from prefect.artifacts import Artifact
from sqlalchemy import select

from checks.returns import check_return_file
from flows.deep_dive import deep_dive
from qaloop.core.settings import Settings, load_settings
from qaloop.moderation.record import windows_closed
from qaloop.programmes.deep_dive import REAUDIT, DeepDiveRequest, looked_into
from qaloop.programmes.explain import explain_cycle
from qaloop.programmes.readiness import NotReady
from qaloop.reporting.cycle_close import build_reports
from qaloop.returns.filing import ingest_files
from qaloop.returns.follow_up import follow_up
from qaloop.returns.workbooks import complete_audit_workbook
from qaloop.store import models
from qaloop.store.engine import engine_from
from qaloop.store.handles import CycleError
from qaloop.store.lifecycle import move_cycle
from tests.conftest import DEMO_CONFIG, SmtpSink, write_config

pytestmark = pytest.mark.slow  # whole flows in real Prefect

TODAY = date(2026, 12, 1)
ONLY_SQLITE = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


def _deep_dive_cases(settings: Settings, cycle_ref: str) -> list:
    with engine_from(settings).connect() as connection:
        return connection.execute(
            select(
                models.CaseRecord.case_ref,
                models.CaseRecord.audit_type,
                models.Area.code,
                models.Allocation.programme,
                models.Allocation.status,
                models.Allocation.reason,
            )
            .join(models.Allocation, models.Allocation.case_id == models.CaseRecord.id)
            .join(models.AuditCycle, models.AuditCycle.id == models.Allocation.cycle_id)
            .join(models.Area, models.Area.id == models.CaseRecord.area_id)
            .where(models.AuditCycle.cycle_ref == cycle_ref, models.Allocation.status != "reserve")
        ).all()


def _regularly_audited(settings: Settings) -> set[str]:
    with engine_from(settings).connect() as connection:
        return set(
            connection.scalars(
                select(models.CaseRecord.case_ref)
                .join(models.Allocation, models.Allocation.case_id == models.CaseRecord.id)
                .where(models.Allocation.programme == "regular", models.Allocation.status != "reserve")
            )
        )


def test_a_deep_dive_runs_like_a_cycle(
    prefect_harness: None, county: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    config = str(write_config(county, tmp_path, smtp_server.port))
    request = DeepDiveRequest(
        theme="Best interests decisions",
        reason="asked for by the governance board after an Ombudsman finding",
        audit_types=["mca_assessment"],
        areas=["NE", "MID"],
        sample_size=6,
        due_date=date(2027, 1, 15),
    )
    summary = deep_dive(request=request, config=config, today=TODAY)
    assert summary.cycle_ref == "DD-20261201-best-interests-decisions"
    assert (summary.selected, summary.allocated, summary.reaudits) == (6, 6, 0)
    cases = _deep_dive_cases(county, summary.cycle_ref)
    assert len(cases) == 6
    assert {(row.audit_type, row.programme, row.status) for row in cases} == {
        ("mca_assessment", "deep_dive", "notified")
    }
    assert {row.code for row in cases} <= {"NE", "MID"}
    assert not {row.case_ref for row in cases} & _regularly_audited(county)
    # Its artifacts are its own: the Prefect UI never shows its sample as the latest of the cycles'.
    sample = Artifact.get("deep-dive-sample-by-stratum")
    assert sample is not None and sample.description.startswith(f"Deep dive {summary.cycle_ref}")
    assert Artifact.get("deep-dive-allocations-by-auditor") is not None

    subjects = [message["Subject"] for message in smtp_server.messages]
    assert sum(subject.startswith("Audit allocated: case") for subject in subjects) == 6
    assert sum(subject.startswith("Your self-reflection on case") for subject in subjects) == 6
    [told] = [m for m in smtp_server.messages if m["Subject"].startswith("Deep dive DD-20261201")]
    assert told["To"] == "practice.quality@qaloop-demo.example"
    assert "after an Ombudsman finding" in told.get_body(("plain",)).get_content()
    assert "due Friday 15 January 2027" in next(s for s in subjects if s.startswith("Audit allocated"))

    # Run again: the recorded deep dive is kept and nobody hears twice.
    again = deep_dive(request=request, config=config, today=TODAY)
    assert again.cycle_ref == summary.cycle_ref and again.emails_sent == 0
    assert len(_deep_dive_cases(county, summary.cycle_ref)) == 6

    # Its returns come back through the same drop folder and are filed against the deep dive.
    sent = next((county.output_dir / "cycles" / summary.cycle_ref / "workbooks").glob("* audit tool.xlsx"))
    returned = complete_audit_workbook(
        sent, county.returns.inbox / sent.name, grade="Good", completed_on=date(2027, 1, 8)
    )
    engine = engine_from(county)
    ingest_files(engine, county, [returned], date(2027, 1, 8), check_return_file, follow_up)
    filed = _deep_dive_cases(county, summary.cycle_ref)
    assert [row.status for row in filed].count("submitted") == 1

    # Its moderation is drawn when its audit window closes, as a cycle's is.
    assert summary.cycle_ref in windows_closed(engine, county, date(2027, 1, 18))
    assert summary.cycle_ref not in windows_closed(engine, county, date(2027, 1, 15))

    # Its own report covers it alone, and only the areas it audited.
    built = build_reports(engine, county, summary.cycle_ref, date(2027, 2, 1))
    assert built.figures.cycles == (summary.cycle_ref,) and built.figures.submitted == 1
    [report] = [r for r in built.reports if r.kind == "summary"]
    assert f"quality assurance summary, deep dive {summary.cycle_ref}" in report.title
    returned_area = next(row.code for row in filed if row.status == "submitted")
    assert [r.area for r in built.reports if r.kind == "area"] == [
        area.name for area in county.authority.areas if area.code == returned_area
    ]


@ONLY_SQLITE
def test_a_case_the_programme_audited_is_re_audited_only_when_asked_and_then_recorded(county: Settings) -> None:
    from qaloop.programmes.deep_dive import draw_deep_dive

    engine = engine_from(county)
    audited = _regularly_audited(county)
    wide = DeepDiveRequest(theme="Care Act reviews everywhere", audit_types=["care_act_review"], sample_size=60)
    drawn = draw_deep_dive(engine, county, wide, TODAY)
    assert drawn.reaudits == 0 and not {row.case_ref for row in _deep_dive_cases(county, drawn.cycle_ref)} & audited

    allowed = wide.model_copy(update={"theme": "Care Act reviews again", "allow_reaudit": True})
    drawn = draw_deep_dive(engine, county, allowed, TODAY)
    rows = _deep_dive_cases(county, drawn.cycle_ref)
    again = [row for row in rows if row.case_ref in audited]
    assert drawn.reaudits == len(again) > 0
    assert all(row.reason == REAUDIT for row in again)
    assert all(row.reason is None for row in rows if row.case_ref not in audited)
    # Either draw can be made again from what is recorded, and comes out the same.
    for ref in ("DD-20261201-care-act-reviews-everywhere", drawn.cycle_ref):
        explanation = explain_cycle(engine, county, ref)
        assert explanation.identical, explanation.differences


def test_a_misspelt_team_stops_the_deep_dive_rather_than_narrow_it_unseen(county: Settings) -> None:
    from qaloop.programmes.deep_dive import draw_deep_dive

    engine = engine_from(county)
    with engine.connect() as connection:
        team = connection.scalar(select(models.Team.name).order_by(models.Team.name).limit(1))
    request = DeepDiveRequest(theme="Two teams", teams=[team, f"{team}x"], allow_reaudit=True)
    with pytest.raises(NotReady, match=rf"no case in the store is in team\(s\) '{team}x': the teams with cases are "):
        draw_deep_dive(engine, county, request, TODAY)
    assert draw_deep_dive(engine, county, request.model_copy(update={"teams": [team]}), TODAY).selected > 0


def test_the_ui_form_comes_from_the_request_model() -> None:
    schema = deep_dive.parameters.model_dump()
    assert schema["required"] == ["request"]
    form = schema["definitions"]["DeepDiveRequest"]
    assert set(form["properties"]) == {
        "theme", "reason", "audit_types", "areas", "teams", "activity_from", "activity_to", "question",
        "sample_size", "due_date", "allow_reaudit", "concern",
    }  # fmt: skip
    assert form["required"] == ["theme"]
    assert form["properties"]["sample_size"]["default"] == 20
    assert form["properties"]["allow_reaudit"]["default"] is False
    assert all(field.get("description") for field in form["properties"].values())
    assert form["properties"]["activity_from"]["anyOf"][0]["format"] == "date"


@ONLY_SQLITE
def test_a_failed_run_emails_the_qa_team_once(
    prefect_harness: None, county: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    config = str(write_config(county, tmp_path, smtp_server.port))
    with engine_from(county).begin() as connection:  # nothing else waiting to be sent
        connection.execute(models.EmailOutbox.__table__.update().values(status="sent"))
    request = DeepDiveRequest(theme="Somewhere else", areas=["ATLANTIS"])
    state = deep_dive(request=request, config=config, today=TODAY, return_state=True)
    assert state.is_failed()
    [alert] = smtp_server.messages
    assert alert["To"] == "practice.quality@qaloop-demo.example"
    assert alert["Subject"].startswith("qaloop: the deep-dive run demo-county DD-20261201-somewhere-else")
    body = alert.get_body(("plain",)).get_content()
    assert "area 'ATLANTIS' is not one of: North East (NE), Mid (MID), South (SOUTH), West (WEST)" in body
    assert f"/runs/flow-run/{state.state_details.flow_run_id}" in body


@ONLY_SQLITE
def test_a_concern_looked_into_starts_no_second_deep_dive_in_its_window_whatever_the_server_forgot(
    prefect_harness: None, county: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    config = str(write_config(county, tmp_path, smtp_server.port))
    concern = "demo-county.stratum.NE.mca_assessment"
    request = DeepDiveRequest(
        theme="MCA assessments in the north east", reason="a concern in cycle 2026-08", audit_types=["mca_assessment"],
        areas=["NE"], sample_size=4, concern=concern,
    )  # fmt: skip
    first = deep_dive(request=request, config=config, today=TODAY)
    assert first.selected == 4 and first.already_looked_into_by is None
    told = len(smtp_server.messages)

    # The same concern's event again a week later (the automation recreated by a redeploy fired once more).
    later = deep_dive(request=request, config=config, today=date(2026, 12, 8))
    assert later.already_looked_into_by == f"{first.cycle_ref} (selected Tuesday 1 December 2026)"
    assert (later.selected, later.emails_sent) == (0, 0) and len(smtp_server.messages) == told
    engine = engine_from(county)
    with engine.connect() as connection:
        deep_dives = connection.scalars(
            select(models.AuditCycle.cycle_ref).where(models.AuditCycle.programme == "deep_dive")
        ).all()
    assert deep_dives == [first.cycle_ref]

    # Once that deep dive is closed and the window has passed, the concern may start another.
    with engine.begin() as connection:
        move_cycle(connection, connection.scalar(select(models.AuditCycle.id).where(
            models.AuditCycle.cycle_ref == first.cycle_ref)), "closed")  # fmt: skip
    assert (
        looked_into(engine, county, concern, date(2027, 1, 11))
        == first.cycle_ref + " (selected Tuesday 1 December 2026)"
    )
    assert looked_into(engine, county, concern, date(2027, 1, 13)) is None  # 42 days on


def test_the_request_takes_audit_types_and_areas_as_the_qa_team_names_them() -> None:
    settings = load_settings(DEMO_CONFIG)
    request = DeepDiveRequest(theme="Assessments", audit_types=["care act ASSESSMENT "], areas=["North East", "mid"])
    assert request.resolved(settings).audit_types == ["care_act_assessment"]
    assert request.resolved(settings).areas == ["NE", "MID"]
    # An audit type the configuration does not know is refused, naming those it knows (it was a KeyError).
    with pytest.raises(CycleError, match=r"audit type 'Care Act asessment' is not one of: Care Act assessment \(care"):
        DeepDiveRequest(theme="Assessments", audit_types=["Care Act asessment"], question="V1").resolved(settings)
