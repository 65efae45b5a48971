"""The day's decisions from the Prefect UI's forms (the decision flows, in real Prefect): each run created through
the Prefect API from its deployment, as a form creates it, changes the store as its command-line twin does, says
what it did, and refuses a decision that breaks a rule without retrying. (tests/flows/test_ui.py fills one form in
a browser and has a worker run it.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.artifacts import Artifact
from prefect.exceptions import PrefectHTTPStatusError
from sqlalchemy import func, select
from typer.testing import CliRunner

from cli.main import app
from flows.corrective_action import corrective_action
from flows.explain_sample import explain_sample
from flows.move_allocation import move_allocation
from flows.record_substitute import record_substitute
from qaloop.core.roles import Role
from qaloop.core.settings import Settings
from qaloop.store import models
from qaloop.store.engine import engine_from
from tests.conftest import write_config
from tests.prefect_server import through_the_api

ONLY_SQLITE = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


def _replaceable(settings: Settings, count: int) -> list[str]:
    """Notified cases in strata with a reserve each, one per stratum."""
    allocation, case = models.Allocation, models.CaseRecord
    with engine_from(settings).connect() as connection:
        with_reserves = select(allocation.stratum).where(allocation.status == "reserve").distinct()
        rows = connection.execute(
            select(case.case_ref, allocation.stratum)
            .join(allocation, allocation.case_id == case.id)
            .where(allocation.status == "notified", allocation.stratum.in_(with_reserves))
            .order_by(case.case_ref)
        ).all()
    return list({stratum: ref for ref, stratum in reversed(rows)}.values())[:count]


def _events(settings: Settings, case_ref: str) -> list[tuple]:
    event, allocation, case = models.AllocationEvent, models.Allocation, models.CaseRecord
    with engine_from(settings).connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                select(event.from_status, event.to_status, event.actor, event.reason)
                .join(allocation, allocation.id == event.allocation_id)
                .join(case, case.id == allocation.case_id)
                .where(case.case_ref == case_ref)
                .order_by(event.id)
            )
        ]


@ONLY_SQLITE
def test_a_move_from_the_ui_changes_the_store_as_the_command_line_does(
    prefect_harness: None, notified: Settings, tmp_path: Path
) -> None:
    config = str(write_config(notified, tmp_path))
    by_form, by_command, another = _replaceable(notified, 3)
    done = through_the_api(
        move_allocation, cycle_ref="2026-09", case_ref=by_form, reason="case closed", decided_by="SM1", config=config
    ).result()
    said = CliRunner().invoke(
        app, ["allocation", "move", "2026-09", by_command, "--replace", "--reason", "case closed", "--by", "SM1",
              "-c", config],
    )  # fmt: skip
    assert said.exit_code == 0, said.output
    assert done.done.startswith(f"case {by_form} replaced by reserve")
    assert said.output.startswith(f"case {by_command} replaced by reserve")
    assert (
        _events(notified, by_form)[-1]
        == _events(notified, by_command)[-1]
        == ("notified", "replaced", "SM1", "case closed")
    )
    assert "Decided by SM1: case closed" in Artifact.get("allocation-moved").data
    # A move that breaks a rule fails at once with the rule (no retry), and changes nothing.
    state = through_the_api(
        move_allocation, cycle_ref="2026-09", case_ref=another, reason="again", to_auditor="NOBODY", config=config
    )
    assert state.is_failed() and "NOBODY" in state.message
    assert _events(notified, another)[-1][1] == "notified"
    # A form left without its reason is refused by the server: no run is created.
    from prefect.deployments import run_deployment

    with pytest.raises(PrefectHTTPStatusError, match="'reason' is a required property"):
        run_deployment("move-allocation/move-allocation", parameters={"cycle_ref": "2026-09", "case_ref": another})


@ONLY_SQLITE
def test_a_substitute_from_the_ui_is_recorded_as_the_command_line_records_one(
    prefect_harness: None, notified: Settings, tmp_path: Path
) -> None:
    config = str(write_config(notified, tmp_path))
    [case_ref] = _replaceable(notified, 1)
    with engine_from(notified).connect() as connection:
        auditor = connection.scalar(
            select(models.Staff.staff_ref)
            .join(models.Allocation, models.Allocation.auditor_id == models.Staff.id)
            .join(models.CaseRecord, models.CaseRecord.id == models.Allocation.case_id)
            .where(models.CaseRecord.case_ref == case_ref, models.Allocation.status == "notified")
        )
        stand_in = connection.scalar(
            select(models.Staff.staff_ref)
            .where(models.Staff.role == Role.TEAM_MANAGER.value, models.Staff.active, models.Staff.staff_ref != auditor)
            .order_by(models.Staff.staff_ref)
        )
    done = through_the_api(
        record_substitute, cycle_ref="2026-09", case_ref=case_ref, staff_id=stand_in, reason="auditor on leave",
        config=config,
    ).result()  # fmt: skip
    assert done.done.startswith(f"{stand_in} may return the audit of case {case_ref} in place of its auditor")
    with engine_from(notified).connect() as connection:
        recorded = connection.execute(select(models.Substitute.reason, models.Substitute.recorded_by)).all()
    assert [tuple(row) for row in recorded] == [("auditor on leave", "QA team")]
    assert _events(notified, case_ref)[-1][2:] == ("QA team", f"substitute {stand_in}: auditor on leave")


@ONLY_SQLITE
def test_a_corrective_action_is_confirmed_and_closed_from_the_ui(
    prefect_harness: None, closed: Settings, tmp_path: Path
) -> None:
    config = str(write_config(closed, tmp_path))
    with engine_from(closed).connect() as connection:
        action_id = connection.scalar(
            select(func.min(models.CorrectiveAction.id)).where(models.CorrectiveAction.status == "open")
        )
        manager = connection.scalar(
            select(models.Staff.staff_ref).where(models.Staff.role == Role.SERVICE_MANAGER.value).limit(1)
        )
    confirmed = through_the_api(
        corrective_action, action_id=action_id, decision="confirm", by=manager, config=config
    ).result()
    assert confirmed.done == f"corrective action {action_id} confirmed by {manager}"
    refused = through_the_api(corrective_action, action_id=action_id, decision="close", by="QA lead", config=config)
    assert refused.is_failed() and "needs the evidence" in refused.message
    closed_now = through_the_api(
        corrective_action, action_id=action_id, decision="close", by="QA lead", evidence="plan on file", config=config
    ).result()
    assert closed_now.done == f"corrective action {action_id} closed"
    with engine_from(closed).connect() as connection:
        status = connection.scalar(
            select(models.CorrectiveAction.status).where(models.CorrectiveAction.id == action_id)
        )
    assert status == "done"


@ONLY_SQLITE
def test_a_sample_is_explained_in_the_ui_as_on_the_command_line(
    prefect_harness: None, closed: Settings, tmp_path: Path
) -> None:
    config = str(write_config(closed, tmp_path))
    cycle = through_the_api(explain_sample, cycle_ref="2026-09", config=config).result()
    assert cycle.done.startswith("Drawn again from its stored inputs, seed and rules: identical to the record.")
    said = CliRunner().invoke(app, ["cycle", "explain", "2026-09", "-c", config])
    counts = [line.split(None, 1) for line in said.output.splitlines() if line.startswith("  ")]
    for count, reason in counts:
        assert f"- {count}: {reason}" in cycle.done
    moderated = through_the_api(explain_sample, cycle_ref="2026-09", which="moderation", config=config).result()
    assert moderated.done.startswith("Drawn again") and "identical" in moderated.done
    assert "Why cases were drawn:" in Artifact.get("moderation-explained").data
