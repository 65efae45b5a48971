"""The set-based merge the loads use, on SQLite and PostgreSQL: new rows inserted and existing ones updated on
their key, with how many existed said; the columns' own conversions (dates, booleans) and Python-side defaults kept
as SQLAlchemy would; and nothing written when the caller's transaction fails."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine, select

from qaloop.store import models
from qaloop.store.bulk import merge_rows
from qaloop.store.engine import engine_for, upgrade


@pytest.fixture
def engine(store_url: str) -> Engine:
    engine = engine_for(store_url)
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(models.Authority.__table__.insert().values(id=1, code="t", name="Test", service="adults"))
        connection.execute(models.Area.__table__.insert().values(id=1, authority_id=1, code="N", name="North"))
    return engine


def _staff(ref: str, name: str, active: bool = True, leave: date | None = None) -> dict[str, object]:
    return {"authority_id": 1, "staff_ref": ref, "name": name, "email": f"{ref}@council.example",
            "role": "practitioner", "area_id": 1, "team_id": None, "active": active, "leave_start": leave,
            "leave_end": leave}  # fmt: skip


def test_new_rows_go_in_and_existing_ones_are_updated_on_their_key(engine: Engine) -> None:
    table, key = models.Staff.__table__, ["authority_id", "staff_ref"]
    with engine.begin() as connection:
        first = [_staff("E1", "Ann"), _staff("E2", "Bo", leave=date(2027, 1, 4))]
        assert merge_rows(connection, table, first, key) == 0
    with engine.begin() as connection:
        then = [_staff("E2", "Bo Li", active=False), _staff("E3", "Cy", leave=date(2027, 2, 1))]
        existed = merge_rows(connection, table, then, key)
    assert existed == 1
    with engine.connect() as connection:
        stored = connection.execute(
            select(models.Staff.staff_ref, models.Staff.name, models.Staff.active, models.Staff.leave_start)
            .order_by(models.Staff.staff_ref)
        ).all()  # fmt: skip
    assert stored == [("E1", "Ann", True, None), ("E2", "Bo Li", False, None), ("E3", "Cy", True, date(2027, 2, 1))]


def test_a_column_left_out_takes_its_python_side_default(engine: Engine) -> None:
    with engine.begin() as connection:
        row = {name: value for name, value in _staff("E1", "Ann").items() if name != "active"}
        merge_rows(connection, models.Staff.__table__, [row], ["authority_id", "staff_ref"])
        assert connection.scalar(select(models.Staff.active)) is True


def test_nothing_is_written_when_the_transaction_fails(engine: Engine) -> None:
    with pytest.raises(RuntimeError), engine.begin() as connection:
        merge_rows(connection, models.Staff.__table__, [_staff("E1", "Ann")], ["authority_id", "staff_ref"])
        raise RuntimeError("a later step of the load failed")
    with engine.connect() as connection:
        assert connection.execute(select(models.Staff)).all() == []
