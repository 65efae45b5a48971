"""What checking found, without Great Expectations: the report of one dataset's checks, what became of its
extract, and the refusals a failed check raises. Kept apart from the suites so that a flow or command that
only names these (a decision flow, the sender, `qaloop --help`) starts without importing Great Expectations,
which takes seconds."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qaloop.core.quoting import brief
from qaloop.core.schema import Dataset

# How many failing rows and values a report names for each broken rule.
_SHOWN = 10


@dataclass(frozen=True)
class Failure:
    """Rows that broke one rule: their keys and the values at fault (none for a rule on the whole dataset)."""

    says: str
    keys: tuple[str, ...]
    values: tuple[str, ...]
    whole_dataset: bool
    values_by_key: dict[str, tuple[str, ...]] = field(default_factory=dict)  # each failing row's, where shown


@dataclass(frozen=True)
class CheckReport:
    """The outcome of checking one dataset."""

    dataset: str
    rows: int
    failures: tuple[Failure, ...]

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def failing_keys(self) -> set[str]:
        """Keys of every row that broke a row-level rule."""
        return {key for failure in self.failures if not failure.whole_dataset for key in failure.keys}

    def reasons(self, with_values: bool = False) -> dict[str, str]:
        """For each failing row's key, the rules it broke, in plain words and separated by "; "; ``with_values``:
        each followed by the row's values at fault (for a form, whose one row holds many: which areas, which
        actions)."""
        broken: dict[str, list[str]] = {}
        for failure in self.failures:
            if not failure.whole_dataset:
                for key in dict.fromkeys(failure.keys):
                    shown = failure.values_by_key.get(key, ()) if with_values else ()
                    said = f"{failure.says} ({', '.join(brief(v) for v in shown[:_SHOWN])})" if shown else failure.says
                    broken.setdefault(key, []).append(said)
        return {key: "; ".join(says) for key, says in broken.items()}

    def describe(self) -> str:
        """The report in plain words: one line per broken rule, with the first rows and values."""
        if self.ok:
            return f"{self.dataset}: all {self.rows:,} rows passed every check"
        lines = [f"{self.dataset}: {len(self.failures)} check(s) failed on {self.rows:,} rows"]
        for failure in self.failures:
            if failure.whole_dataset:
                lines.append(f"  - {failure.says}")
                continue
            keys = sorted(set(failure.keys))
            shown = ", ".join(brief(k) for k in keys[:_SHOWN]) + (
                f" and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else ""
            )
            values = f" (values: {', '.join(brief(v) for v in failure.values[:_SHOWN])})" if failure.values else ""
            lines.append(f"  - {failure.says}: {len(failure.keys)} row(s): {shown}{values}")
        return "\n".join(lines)

    def table(self) -> list[dict[str, Any]]:
        """One row per broken rule, for a Prefect table artifact."""
        return [
            {
                "check": failure.says,
                "rows failing": "whole dataset" if failure.whole_dataset else len(failure.keys),
                "first rows": ", ".join(sorted(set(failure.keys))[:_SHOWN]),
                "values": ", ".join(failure.values[:_SHOWN]),
            }
            for failure in self.failures
        ]


class CheckFailed(Exception):
    """A dataset failed its checks and its policy says stop; nothing of it may be written."""

    def __init__(self, report: CheckReport, why: str) -> None:
        super().__init__(f"{report.describe()}\n{why}")
        self.report = report


@dataclass(frozen=True)
class Intake:
    """What became of one dataset's extract: rows read, rows kept, new and updated in the store (none when its
    file was loaded before), the rows set aside by key and the quarantine file they went to, and, in words, rows
    that were not for the council and were left out before checking (the CQC directory's other locations)."""

    dataset: Dataset
    rows: int
    stored: int
    new: int
    updated: int
    already_loaded: bool
    set_aside: tuple[str, ...]
    quarantine_file: Path | None
    left_out: tuple[str, ...] = ()


class EvidenceFailed(Exception):
    """One or more extracts failed their checks and were not stored; the others were."""

    def __init__(self, loaded: list[Intake], failures: list[CheckFailed]) -> None:
        super().__init__("\n\n".join(str(failure) for failure in failures))
        self.loaded = loaded
        self.failures = failures
