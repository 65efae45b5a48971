"""The store on SQLite and PostgreSQL: migrations up and down, models equal to migrations, rules enforced."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, insert, inspect
from sqlalchemy.exc import IntegrityError

from qaloop.store import models
from qaloop.store.engine import current_revision, downgrade, engine_for, head_revision, upgrade


@pytest.fixture
def engine(store_url: str) -> Engine:
    engine = engine_for(store_url)
    upgrade(engine)
    return engine


def test_migrations_go_up_and_down(store_url: str) -> None:
    engine = engine_for(store_url)
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert set(models.Base.metadata.tables) <= set(inspect(engine).get_table_names())
    downgrade(engine)
    assert current_revision(engine) is None
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)  # and up again from nothing
    assert current_revision(engine) == head_revision()


def test_the_migrations_create_exactly_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), models.Base.metadata)
    assert differences == []


def _add(engine: Engine, model: type[models.Base], **values: Any) -> int:
    with engine.begin() as connection:
        return connection.execute(insert(model).values(**values).returning(model.id)).scalar_one()


@pytest.fixture
def world(engine: Engine) -> dict[str, int]:
    """An authority with one area, one team, a practitioner, an auditor, one case and one regular cycle."""
    ids: dict[str, int] = {}
    ids["authority"] = _add(engine, models.Authority, code="t", name="Test", service="adults")
    ids["area"] = _add(engine, models.Area, authority_id=ids["authority"], code="N", name="North")
    ids["team"] = _add(engine, models.Team, authority_id=ids["authority"], area_id=ids["area"], name="North 1")
    for ref, role in (("worker", "practitioner"), ("auditor", "senior_practitioner")):
        ids[ref] = _add(
            engine,
            models.Staff,
            authority_id=ids["authority"],
            staff_ref=ref,
            name=ref,
            email=f"{ref}@x.example",
            role=role,
            team_id=ids["team"],
            area_id=ids["area"],
        )
    ids["case"] = _add(
        engine,
        models.CaseRecord,
        authority_id=ids["authority"],
        case_ref="CR1",
        person_ref="P1",
        audit_type="care_act_review",
        area_id=ids["area"],
        team_id=ids["team"],
        worker_id=ids["worker"],
        start_date=date(2026, 1, 1),
        last_activity_date=date(2026, 6, 1),
    )
    for ref, programme in (("cycle1", "regular"), ("cycle2", "regular"), ("dive", "deep_dive")):
        ids[ref] = _add(engine, models.AuditCycle, **_cycle(ids["authority"], ref, programme))
    return ids


def _cycle(authority_id: int, ref: str, programme: str) -> dict[str, Any]:
    day = date(2026, 3, 2)
    return dict(
        authority_id=authority_id,
        cycle_ref=ref,
        programme=programme,
        status="selected",
        selection_date=day,
        allocation_date=day,
        self_reflection_due=day,
        audit_due=day,
        moderation_due=day,
        close_date=day,
    )


def _allocate(engine: Engine, world: dict[str, int], cycle: str, status: str, **extra: Any) -> int:
    programme = "deep_dive" if cycle == "dive" else "regular"
    values = dict(
        cycle_id=world[cycle],
        case_id=world["case"],
        programme=programme,
        stratum="N|care_act_review",
        status=status,
        practitioner_id=world["worker"],
        auditor_id=world["auditor"],
    )
    return _add(engine, models.Allocation, **(values | extra))


def test_a_case_is_audited_at_most_once_by_the_regular_programme(engine: Engine, world: dict[str, int]) -> None:
    _allocate(engine, world, "cycle1", "closed")
    with pytest.raises(IntegrityError, match="uq_allocation_regular_case|UNIQUE"):
        _allocate(engine, world, "cycle2", "selected")
    # A deep dive may look at the same case again, and being a reserve is not being audited.
    _allocate(engine, world, "dive", "selected")
    _allocate(engine, world, "cycle2", "reserve", reserve_rank=1)


def test_a_replaced_selection_does_not_count_as_an_audit(engine: Engine, world: dict[str, int]) -> None:
    _allocate(engine, world, "cycle1", "replaced", reason="case closed before audit")
    _allocate(engine, world, "cycle2", "selected")


def test_an_auditor_is_never_the_case_worker(engine: Engine, world: dict[str, int]) -> None:
    with pytest.raises(IntegrityError, match="auditor_not_worker"):
        _allocate(engine, world, "cycle1", "allocated", auditor_id=world["worker"])


def test_reserves_and_only_reserves_are_ranked(engine: Engine, world: dict[str, int]) -> None:
    with pytest.raises(IntegrityError, match="reserves_ranked"):
        _allocate(engine, world, "cycle1", "reserve")


def test_a_second_return_is_held_not_filed(engine: Engine, world: dict[str, int]) -> None:
    allocation = _allocate(engine, world, "cycle1", "submitted")
    first = dict(allocation_id=allocation, auditor_id=world["auditor"], submitted_on=date(2026, 3, 20), grade="Good")
    _add(engine, models.AuditReturn, **first)
    with pytest.raises(IntegrityError, match="uq_audit_return_filed|UNIQUE"):
        _add(engine, models.AuditReturn, **first)
    _add(engine, models.AuditReturn, **(first | {"status": "held"}))


def test_an_outbox_key_is_unique(engine: Engine) -> None:
    message = dict(
        key="cycle1/auditor/CR1", kind="auditor", recipients=["a@x.example"], subject="s", html="h", text_body="t"
    )
    _add(engine, models.EmailOutbox, **message)
    with pytest.raises(IntegrityError, match="email_outbox|UNIQUE"):
        _add(engine, models.EmailOutbox, **message)


def test_a_file_is_recorded_once_per_dataset(engine: Engine) -> None:
    entry = dict(dataset="cases", path="/x/cases.csv", content_hash="ab" * 32, size_bytes=10, status="processed")
    _add(engine, models.SourceFile, **entry)
    with pytest.raises(IntegrityError):
        _add(engine, models.SourceFile, **entry)
    _add(engine, models.SourceFile, **(entry | {"dataset": "staff"}))


@pytest.mark.parametrize(
    ("model", "values", "rule"),
    [
        (models.Staff, dict(staff_ref="x", name="x", email="x", role="intern"), "role_allowed"),
        (models.Staff, dict(staff_ref="worker", name="x", email="x", role="practitioner"), "UNIQUE|uq_staff"),
        (models.AuditCycle, _cycle(0, "bad", "regular") | {"audit_due": date(2026, 1, 1)}, "dates_in_order"),
        (
            models.Complaint,
            dict(complaint_ref="C", received_on=date(2026, 1, 1), area_id=0, theme="x", outcome="maybe"),
            "outcome_allowed",
        ),
    ],
)
def test_check_and_unique_constraints_hold(
    engine: Engine, world: dict[str, int], model: type, values: dict, rule: str
) -> None:
    values = values | {"authority_id": world["authority"]}
    if "area_id" in values:
        values["area_id"] = world["area"]
    with pytest.raises(IntegrityError, match=rule):
        _add(engine, model, **values)


def test_foreign_keys_are_enforced_on_both_databases(engine: Engine, world: dict[str, int]) -> None:
    with pytest.raises(IntegrityError):
        _add(
            engine,
            models.CaseRecord,
            authority_id=world["authority"],
            case_ref="CR2",
            person_ref="P2",
            audit_type="care_act_review",
            area_id=world["area"],
            team_id=world["team"],
            worker_id=999_999,
            start_date=date(2026, 1, 1),
            last_activity_date=date(2026, 6, 1),
        )
