"""The audit cycle's first step without Prefect: read the staff list and case extract, check both, apply
each dataset's policy, set failing case rows aside in a quarantine file, then store what passed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from checks.cases import check_cases
from checks.runner import CheckReport, apply_policy, write_quarantine
from checks.staff import check_staff
from qaloop import loader, store
from qaloop.schema import SCHEMAS, Dataset
from qaloop.settings import Settings
from qaloop.sources import file_digest, read_dataset


@dataclass(frozen=True)
class CheckedLoad:
    """What was stored, and which case rows were set aside and where."""

    staff: int
    cases: int
    quarantined: tuple[str, ...]
    quarantine_file: Path | None


def check_and_load_extracts(
    settings: Settings, as_of: date, on_report: Callable[[CheckReport], None] = lambda report: None
) -> CheckedLoad:
    """Check both extracts (each report goes to ``on_report`` as soon as it exists), then store them.

    Raises CheckFailed, with nothing written, when a dataset's policy says stop; SourceError when a file
    cannot be read or lacks a column; LoadError when the store refuses a row.
    """
    staff_text = read_dataset(settings, Dataset.STAFF, as_of)
    cases_text = read_dataset(settings, Dataset.CASES, as_of)
    staff_report, staff = check_staff(settings, staff_text)
    on_report(staff_report)
    cases_report, cases = check_cases(settings, cases_text, staff_text, as_of)
    on_report(cases_report)
    staff, _ = apply_policy(staff_report, staff, "staff_id", settings.check_policy(Dataset.STAFF))
    cases, quarantined = apply_policy(cases_report, cases, "case_ref", settings.check_policy(Dataset.CASES))
    kept = None
    if len(quarantined):
        kept = write_quarantine(
            cases_report, quarantined, "case_ref", settings.output_dir / "quarantine" / f"cases-{as_of}.csv"
        )
    engine = store.engine_from(settings)
    stored = {}
    for dataset, frame in ((Dataset.STAFF, staff), (Dataset.CASES, cases)):
        path = getattr(settings.sources[dataset], "path", None)
        summary = loader.load_frame(
            engine, settings, dataset, frame[SCHEMAS[dataset].names], path, file_digest(path) if path else None
        )
        stored[dataset] = summary.rows
    return CheckedLoad(
        staff=stored[Dataset.STAFF],
        cases=stored[Dataset.CASES],
        quarantined=tuple(quarantined["case_ref"]),
        quarantine_file=kept,
    )
