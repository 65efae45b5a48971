"""Benchmark: generate a 1,000,000-case authority with 50,000 past audits, write its extracts and load them.

Prints the time and peak memory (this process's maximum resident set size) of each step, and each step's time as
a ratio to a plain ``pandas.read_csv`` of the case extract measured in the same run (this machine is shared and
noisy: the ratio is the figure to compare; the target for checking and loading the cases, 5x). Run with
``.venv/bin/python bench/generate.py [--cases N] [--database-url URL]``; by default the store is a fresh
SQLite file in a temporary folder.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TypeVar

import pandas as pd
from common import peak_mb, scratch_settings

from checks.intake import take_in
from qaloop.core.schema import EXTRACTS, Dataset
from qaloop.demo.synthetic import PAST_CYCLES, generate, write_extracts
from qaloop.store.engine import engine_from, upgrade

PROJECT = Path(__file__).resolve().parent.parent
AS_OF = date(2026, 11, 22)
T = TypeVar("T")


def timed(label: str, step: Callable[[], T], baseline: float | None = None) -> T:
    started = time.perf_counter()
    result = step()
    seconds = time.perf_counter() - started
    ratio = f"   {seconds / baseline:6.1f} x the plain read" if baseline else ""
    print(f"{label:<46} {seconds:8.1f} s   peak RSS {peak_mb():8.0f} MB{ratio}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--past-audits", type=int, default=50_000, help="audits over the 8 past cycles")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        settings = scratch_settings(folder, args.database_url)
        print(f"qaloop synthetic authority: {args.cases:,} cases, {args.past_audits:,} past audits")
        total = time.perf_counter()
        authority = timed(
            "generate",
            lambda: generate(
                settings, as_of=AS_OF, cases=args.cases, history_per_cycle=args.past_audits // PAST_CYCLES
            ),
        )
        timed("write extracts (CSV / XLSX)", lambda: write_extracts(authority, settings))
        started = time.perf_counter()
        pd.read_csv(settings.sources[Dataset.CASES].path, dtype=str)
        baseline = time.perf_counter() - started
        print(f"{'plain pandas.read_csv of the case extract':<46} {baseline:8.1f} s   (the baseline)")
        engine = engine_from(settings)
        timed("migrate the store", lambda: upgrade(engine))
        # The staff list and the cases are checked and stored together (cases are checked against the staff).
        for group in ([Dataset.STAFF, Dataset.CASES], *([d] for d in EXTRACTS[2:])):
            rows = ", ".join(f"{len(authority[d]):,} {d.value}" for d in group)
            timed(f"check and load {rows}", lambda g=group: take_in(settings, g, AS_OF), baseline)
        print(f"{'total':<46} {time.perf_counter() - total:8.1f} s   peak RSS {peak_mb():8.0f} MB")


if __name__ == "__main__":
    main()
