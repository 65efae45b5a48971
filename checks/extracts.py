"""The audit cycle's first step without Prefect: read the staff list and case extract (or Annex A), check
both, apply each dataset's policy, set failing case rows aside in a quarantine file, then store what
passed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from checks.cases import check_cases
from checks.outcomes import CheckFailed, CheckReport, Failure, Intake
from checks.runner import keep, store
from checks.staff import check_staff
from qaloop.core.outputs import write_csv
from qaloop.core.schema import Dataset
from qaloop.core.settings import AnnexASource, Settings
from qaloop.sources.annex_a import AnnexA
from qaloop.sources.readers import read_annex_a_source, read_dataset
from qaloop.store.engine import engine_from


@dataclass(frozen=True)
class CheckedLoad:
    """What became of the staff list and the case extract, and where Annex A rows that could not become cases
    went."""

    staff: Intake
    cases: Intake
    annex_a_file: Path | None = None  # Annex A rows that could not become cases, with the reasons

    @property
    def quarantined(self) -> tuple[str, ...]:
        """The case references set aside, by the checks or because their Annex A row could not be read."""
        return self.cases.set_aside


def check_and_load_extracts(
    settings: Settings, as_of: date, on_report: Callable[[CheckReport], None] = lambda report: None
) -> CheckedLoad:
    """Check both extracts (each report goes to ``on_report`` as soon as it exists), then store them.

    Raises CheckFailed, with nothing written, when a dataset's policy says stop; SourceError when a file
    cannot be read or lacks a column; LoadError when the store refuses a row.
    """
    staff_text = read_dataset(settings, Dataset.STAFF, as_of)
    unread: dict[str, str] = {}
    annex_a_file = None
    if isinstance(settings.sources.get(Dataset.CASES), AnnexASource):
        annex_a = read_annex_a_source(settings, staff_text)
        cases_text = annex_a.cases
        if len(annex_a.problems):
            annex_a_file = _set_aside_annex_a(settings, annex_a, as_of, on_report)
            unread = dict(zip(annex_a.problems["case_ref"], "Annex A: " + annex_a.problems["reason"], strict=True))
    else:
        cases_text = read_dataset(settings, Dataset.CASES, as_of)
    staff_report, staff = check_staff(settings, staff_text, case_teams=cases_text["team"].dropna())
    on_report(staff_report)
    cases_report, cases = check_cases(settings, cases_text, staff_text, as_of)
    on_report(cases_report)
    # Both policies first: a stop on either writes nothing at all.
    staff_kept = keep(settings, Dataset.STAFF, staff_report, staff, "staff_id", as_of)
    cases_kept = keep(settings, Dataset.CASES, cases_report, cases, "case_ref", as_of)
    engine = engine_from(settings)
    return CheckedLoad(
        staff=store(engine, settings, Dataset.STAFF, staff_kept),
        cases=store(engine, settings, Dataset.CASES, cases_kept, also_set_aside=unread),
        annex_a_file=annex_a_file,
    )


def _set_aside_annex_a(
    settings: Settings, annex_a: AnnexA, as_of: date, on_report: Callable[[CheckReport], None]
) -> Path:
    """Report the Annex A rows that cannot become cases (by reference and reason; no names), and write them,
    with the worker names that matched no one or several, beside the quarantine files. CheckFailed when the
    cases' policy says stop or there are more of them than it may set aside."""
    problems = annex_a.problems
    report = CheckReport(
        "Annex A",
        len(annex_a.cases) + len(problems),
        tuple(
            Failure(f"Annex A: {reason}", tuple(group["case_ref"]), (), False)
            for reason, group in problems.groupby("reason", sort=True)
        ),
    )
    on_report(report)
    policy = settings.check_policy(Dataset.CASES)
    share = len(problems) / report.rows
    if policy.on_failure == "stop" or share > policy.max_quarantine_share:
        raise CheckFailed(
            report,
            f"Nothing was written: {len(problems):,} of {report.rows:,} Annex A rows ({share:.1%}) cannot become "
            f"cases; the cases' policy sets aside at most {policy.max_quarantine_share:.1%}.",
        )
    folder = settings.output_dir / "quarantine"
    if len(annex_a.workers):
        write_csv(annex_a.workers, folder / f"annex-a-workers-{as_of}.csv")
    return write_csv(problems, folder / f"annex-a-{as_of}.csv")
