"""Benchmark: checks, selection and allocation on 1,000,000 cases, 50,000 past audits and about 5,000 staff.

Prints a plain ``pandas.read_csv`` of the case extract (the baseline, measured in the same run), the time to read
it as qaloop does and its ratio to the baseline, then the time of the checks (Great Expectations), the
selection and the allocation, and the process's peak memory after each. The target: selection plus
allocation within 1.5 x the extract read time, peak memory under 2 GB. Run with
``.venv/bin/python bench/selection.py [--cases N]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd
from common import peak_mb, scratch_settings

from checks.cases import check_cases
from checks.staff import check_staff
from qaloop.allocation.auditors import AuditWindow, allocate
from qaloop.core.cycle_dates import cycle_dates, next_selection_date
from qaloop.core.schema import Dataset
from qaloop.demo.synthetic import PAST_CYCLES, generate, write_extracts
from qaloop.programmes.selection import select_cases, stratum_quotas
from qaloop.sources.readers import read_dataset

PROJECT = Path(__file__).resolve().parent.parent
AS_OF = date(2026, 11, 22)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--past-audits", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = scratch_settings(folder, audits_per_area=120)
        authority = generate(settings, as_of=AS_OF, cases=args.cases, history_per_cycle=args.past_audits // PAST_CYCLES)
        write_extracts(authority, settings)
        history = authority[Dataset.AUDIT_HISTORY]
        del authority
        print(f"{args.cases:,} cases, {len(history):,} past audits; figures below exclude generating them")

        started = time.perf_counter()
        pd.read_csv(settings.sources[Dataset.CASES].path, dtype=str)
        plain_seconds = time.perf_counter() - started
        print(f"{'plain pandas.read_csv':<28} {plain_seconds:7.2f} s   (the baseline: each step's ratio is to it)")
        started = time.perf_counter()
        cases = read_dataset(settings, Dataset.CASES)
        read_seconds = time.perf_counter() - started
        staff = read_dataset(settings, Dataset.STAFF)
        print(
            f"{'read the case extract':<28} {read_seconds:7.2f} s   {read_seconds / plain_seconds:5.1f} x   "
            f"peak RSS {peak_mb():6.0f} MB   ({len(staff):,} staff)"
        )

        started = time.perf_counter()
        staff_report, parsed_staff = check_staff(settings, staff)
        case_report, parsed = check_cases(settings, cases, staff, AS_OF)
        checks_seconds = time.perf_counter() - started
        print(f"{'checks (staff and cases)':<28} {checks_seconds:7.2f} s   {checks_seconds / plain_seconds:5.1f} x   "
              f"peak RSS {peak_mb():6.0f} MB")  # fmt: skip
        assert staff_report.ok and case_report.ok, (staff_report.describe(), case_report.describe())

        selection_date = next_selection_date(settings.calendar, AS_OF)
        dates = cycle_dates(settings.calendar, selection_date)
        started = time.perf_counter()
        recent = [set(group["worker_id"]) for _, group in sorted(history.groupby("cycle_ref"), reverse=True)]
        areas = [area.code for area in settings.authority.areas]
        types = [audit_type.id for audit_type in settings.audit_types]
        quotas = stratum_quotas(parsed, areas, types, 120, settings.calendar.type_shares)
        selection = select_cases(
            parsed,
            quotas,
            settings.selection,
            selection_date,
            1,
            audited=set(history["case_ref"]),
            recent_cycles=recent,
        )
        select_seconds = time.perf_counter() - started
        print(
            f"{'selection':<28} {select_seconds:7.2f} s   {select_seconds / plain_seconds:5.1f} x   "
            f"peak RSS {peak_mb():6.0f} MB   ({len(selection.drawn)} drawn)"
        )

        started = time.perf_counter()
        drawn = parsed[parsed["case_ref"].isin(selection.drawn["case_ref"])]
        window = AuditWindow(dates.allocation_date, dates.audit_due)
        assignments = allocate(drawn, parsed_staff, window, settings.selection.auditor_capacity, 1)
        allocate_seconds = time.perf_counter() - started
        allocated = sum(1 for a in assignments if a.auditor_id)
        print(f"{'allocation':<28} {allocate_seconds:7.2f} s   {allocate_seconds / plain_seconds:5.1f} x   "
              f"peak RSS {peak_mb():6.0f} MB   ({allocated} allocated)")  # fmt: skip
        whole = read_seconds + checks_seconds + select_seconds + allocate_seconds
        print(f"read, check, select and allocate = {whole / plain_seconds:.1f} x the plain read (issue 22's target: 3)")
        ratio = (select_seconds + allocate_seconds) / read_seconds
        print(
            f"selection + allocation = {ratio:.2f} x the extract read time (target 1.5); "
            f"peak {peak_mb():,.0f} MB (target 2,048)"
        )


if __name__ == "__main__":
    main()
