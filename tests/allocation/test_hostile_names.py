"""File names made from data (a case reference, a staff id) stay inside their folder and within the file
system's limits, whatever the data holds: a `../` or a `/` in a case reference, or one whose characters take
more bytes than a file name may, never writes a workbook outside the cycle's folder or stops its emails."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select, update

from qaloop.allocation.notices import notify_cycle
from qaloop.core.settings import Settings
from qaloop.store import models
from qaloop.store.engine import engine_from


def test_a_hostile_case_reference_never_writes_outside_the_cycles_folder(allocated: Settings) -> None:
    engine = engine_from(allocated)
    hostile = ["../../../escaped/CR-1", "CR/2\\back", "CR3" + "\U0001d4b3" * 60]  # 4 bytes a character
    with engine.begin() as connection:
        ids = connection.scalars(select(models.CaseRecord.id).join(
            models.Allocation, models.Allocation.case_id == models.CaseRecord.id
        ).where(models.Allocation.status == "allocated").limit(len(hostile))).all()  # fmt: skip
        for case_id, ref in zip(ids, hostile, strict=True):
            connection.execute(update(models.CaseRecord).where(models.CaseRecord.id == case_id).values(case_ref=ref))
    assert notify_cycle(engine, allocated, "2026-09") > 0
    workbooks = (allocated.output_dir / "cycles" / "2026-09" / "workbooks").resolve()
    with engine.connect() as connection:
        attached = [Path(p) for paths in connection.scalars(select(models.EmailOutbox.attachments)) for p in paths]
    assert attached and all(path.resolve().parent == workbooks for path in attached)
    assert all(len(path.name.encode()) <= 255 and path.exists() for path in attached)
    assert not list(allocated.output_dir.parent.rglob("escaped"))
