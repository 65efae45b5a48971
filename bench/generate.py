"""Benchmark: generate a 1,000,000-case authority with 50,000 past audits, write its extracts and load them.

Prints the time and peak memory (this process's maximum resident set size) of each step. Run with
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

from common import peak_mb, scratch_settings

from checks.intake import take_in
from qaloop.core.schema import EXTRACTS, Dataset
from qaloop.demo.synthetic import PAST_CYCLES, generate, write_extracts
from qaloop.store.engine import engine_from, upgrade

PROJECT = Path(__file__).resolve().parent.parent
AS_OF = date(2026, 11, 22)
T = TypeVar("T")


def timed(label: str, step: Callable[[], T]) -> T:
    started = time.perf_counter()
    result = step()
    print(f"{label:<46} {time.perf_counter() - started:8.1f} s   peak RSS {peak_mb():8.0f} MB", flush=True)
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
        engine = engine_from(settings)
        timed("migrate the store", lambda: upgrade(engine))
        # The staff list and the cases are checked and stored together (cases are checked against the staff).
        for group in ([Dataset.STAFF, Dataset.CASES], *([d] for d in EXTRACTS[2:])):
            rows = ", ".join(f"{len(authority[d]):,} {d.value}" for d in group)
            timed(f"check and load {rows}", lambda g=group: take_in(settings, g, AS_OF))
        print(f"{'total':<46} {time.perf_counter() - total:8.1f} s   peak RSS {peak_mb():8.0f} MB")


if __name__ == "__main__":
    main()
