"""The one runner for every suite: run rules on a frame, get the failing rows by key, apply the policy."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import great_expectations as gx
import pandas as pd
from sqlalchemy import Engine

from checks.outcomes import CheckFailed, CheckReport, Failure, Intake
from qaloop.core.outputs import write_csv
from qaloop.core.quoting import QUOTED_ROWS, quoted_reasons
from qaloop.core.schema import SCHEMAS, Dataset
from qaloop.core.settings import CheckPolicy, Settings, Source
from qaloop.messaging.compose import compose
from qaloop.messaging.outbox import Message
from qaloop.sources import loading
from qaloop.sources.readers import describe, file_digest

_names = itertools.count(1)


@dataclass(frozen=True)
class Rule:
    """One expectation and what it means to a QA officer when rows break it."""

    expectation: gx.expectations.Expectation
    says: str
    shows: str | None = None


def rule(
    says: str,
    expectation: type[gx.expectations.Expectation],
    shows: str | None = None,
    reveal: bool = True,
    **arguments: Any,
) -> Rule:
    """A rule: ``expectation`` built from ``arguments``, carrying ``says`` into its results.

    ``shows`` names the column whose values a failure lists, when not the one the expectation tests;
    ``reveal=False`` lists no values at all (for personal details such as email addresses).
    """
    return Rule(expectation(meta={"says": says, "shows": shows, "reveal": reveal}, **arguments), says, shows)


def area_rule(settings: Settings) -> Rule:
    """The dataset's ``area`` is one of the authority's areas, by code or by name."""
    areas = [area.code for area in settings.authority.areas] + [area.name for area in settings.authority.areas]
    return rule(
        "area is not one of the authority's areas",
        gx.expectations.ExpectColumnValuesToBeInSet,
        column="area",
        value_set=areas,
    )


def team_rule(teams: Iterable[str]) -> Rule:
    """The dataset's ``team``, where given, is a team in the staff list."""
    return rule(
        "team is not a team in the staff list",
        gx.expectations.ExpectColumnValuesToBeInSet,
        column="team",
        value_set=sorted(set(teams)),
    )


EARLIEST = pd.Timestamp(1990, 1, 1)  # no record a council exports today is older than this


def not_ahead(column: str, as_of: date) -> Rule:
    """Where given, ``column`` is a date on or before ``as_of`` and not before 1990."""
    return rule(
        f"{column} is in the future or before 1990",
        gx.expectations.ExpectColumnValuesToBeBetween,
        column=column,
        min_value=EARLIEST,
        max_value=pd.Timestamp(as_of),
    )


def not_before(later: str, earlier: str) -> Rule:
    """Where both dates are given, ``later`` is on or after ``earlier``."""
    return rule(
        f"{later} is before {earlier}",
        gx.expectations.ExpectColumnPairValuesAToBeGreaterThanB,
        column_A=later,
        column_B=earlier,
        or_equal=True,
        ignore_row_if="either_value_is_missing",
    )


# A reference or id is stored in 64 characters (the store's columns): a longer one is refused here, by row,
# before anything is written, rather than by the database part way; so is a team's name over 200.
IDENTIFIER_LIMIT = 64
TEAM_NAME_LIMIT = 200
# What a reference, an id or a team's name is made of: letters and digits (of any script), spaces and the
# punctuation references and team names use, beginning with a letter or a digit. Nothing else: not a
# formula's = + - @ at the start, not a control or bidirectional-override character (which shows a value
# reversed), not a path's \ or markup's < >, not an email address (which names the person).
NAME_CHARACTERS = r"^[^\W_][\w .,'’&()/#:+–—-]*$"
_NAME_CHARACTERS_SAID = "only letters, digits, spaces and . , ' & ( ) / # : + - _, beginning with a letter or digit"


# A dataset keyed by several columns (a survey's response and question) is checked with this column added: the
# key's values joined by " / ", by which its report names a row.
ROW_KEY = "row_key"


def with_row_key(frame: pd.DataFrame, extract: pd.DataFrame, dataset: Dataset) -> pd.DataFrame:
    """``frame`` (``extract`` parsed for checking) with ``ROW_KEY``, the dataset's key columns joined by " / "."""
    return frame.assign(**{ROW_KEY: extract[list(SCHEMAS[dataset].key)].astype(str).agg(" / ".join, axis=1)})


def schema_rules(dataset: Dataset, what: str, unique_on: str | None = None, may_be_empty: bool = False) -> list[Rule]:
    """The rules every dataset has: rows present (unless ``may_be_empty``), required values present and
    readable, the key unique (a key of several columns through ``ROW_KEY``, see ``with_row_key``).

    ``unique_on`` names the column that must be unique when it is not the key itself (for example the key
    qualified by the file it came from, when several files are checked at once).
    """
    schema = SCHEMAS[dataset]
    rules = (
        []
        if may_be_empty
        else [rule(f"the {what} has no rows", gx.expectations.ExpectTableRowCountToBeBetween, min_value=1)]
    )
    rules.append(
        rule(
            f"{schema.key[0]} appears more than once"
            if len(schema.key) == 1
            else f"{' and '.join(schema.key)} appear together more than once",
            gx.expectations.ExpectColumnValuesToBeUnique,
            column=unique_on or (schema.key[0] if len(schema.key) == 1 else ROW_KEY),
            shows=schema.key[0] if unique_on else None,
        )
    )
    for column in schema.columns:
        stored_as = column.name if column.kind == "text" else f"{column.name}__text"
        identifier = column.name in schema.key or column.name.endswith(("_ref", "_id"))
        if column.kind == "text" and (identifier or column.name == "team"):
            limit = IDENTIFIER_LIMIT if identifier else TEAM_NAME_LIMIT
            rules += [
                rule(
                    f"{column.name} is longer than {limit} characters",
                    gx.expectations.ExpectColumnValueLengthsToBeBetween,
                    column=column.name,
                    max_value=limit,
                ),
                rule(
                    f"{column.name} has characters no {'reference' if identifier else 'team name'} has "
                    f"({_NAME_CHARACTERS_SAID})",
                    gx.expectations.ExpectColumnValuesToMatchRegex,
                    column=column.name,
                    regex=NAME_CHARACTERS,
                ),
            ]
        if column.required:
            rules.append(
                rule(f"{column.name} is blank", gx.expectations.ExpectColumnValuesToNotBeNull, column=stored_as)
            )
        if column.kind != "text":
            rules.append(
                rule(
                    f"{column.name} is not a valid {column.kind}",
                    gx.expectations.ExpectColumnValuesToBeInSet,
                    column=f"{column.name}__unreadable",
                    value_set=[False],
                    shows=f"{column.name}__text",
                )
            )
    return rules


_POSITION = "__row_position"


@cache
def _context() -> Any:
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    return context


@cache
def _whole_frame() -> Any:
    """The one batch definition every check runs on: the frame itself, given with each run (one per process, as
    making one per run cost a quarter of a small check's time)."""
    return (
        _context().data_sources.add_pandas("frames").add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("whole frame")
    )  # fmt: skip


def run_checks(dataset: str, frame: pd.DataFrame, rules: list[Rule], key: str) -> CheckReport:
    """Run ``rules`` on ``frame`` through Great Expectations; failing rows are named by ``frame[key]``."""
    context = _context()
    name = f"{dataset}-{next(_names)}"
    batch = _whole_frame()
    suite = gx.ExpectationSuite(name=name)
    for each in rules:
        suite.add_expectation(each.expectation)
    suite = context.suites.add(suite)
    validation = context.validation_definitions.add(gx.ValidationDefinition(data=batch, suite=suite, name=name))
    # Each row's position beside its key: a key may name several rows (a return's answers, a review's judgement
    # areas), and a failure lists the values of the rows that failed, not of every row with their key.
    frame = frame.assign(**{_POSITION: range(len(frame))})
    try:
        outcome = validation.run(
            batch_parameters={"dataframe": frame},
            result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [key, _POSITION]},
        )
    finally:
        context.validation_definitions.delete(name)
        context.suites.delete(name)
    failures = []
    for result in outcome.results:
        if result.success:
            continue
        meaning = result.expectation_config.meta["says"]
        if result.exception_info and result.exception_info.get("raised_exception"):
            message = str(result.exception_info.get("exception_message", "")).splitlines()[0]
            failures.append(Failure(f"{meaning}: could not be checked ({message})", (), (), True))
            continue
        indexes = result.result.get("unexpected_index_list")
        if indexes is None:
            failures.append(Failure(meaning, (), (), True))
            continue
        keys = tuple(str(item[key]) for item in indexes)
        shows = result.expectation_config.meta.get("shows")
        reveal = result.expectation_config.meta["reveal"]
        failing = frame.iloc[[int(item[_POSITION]) for item in indexes]]
        raw = failing[shows] if shows else result.result.get("unexpected_list", [])
        values = tuple(dict.fromkeys(_shown(value) for value in raw)) if reveal else ()
        by_key: dict[str, tuple[str, ...]] = {}
        if shows and reveal:
            for row_key, value in zip(failing[key].astype(str), failing[shows], strict=True):
                by_key[row_key] = (*by_key.get(row_key, ()), _shown(value))
        failures.append(Failure(meaning, keys, values, False, by_key))
    return CheckReport(dataset, len(frame), tuple(failures))


def in_source_terms(report: CheckReport, dataset: Dataset, source: Source | None) -> CheckReport:
    """``report`` with the canonical column each failure starts from followed by the source's own name for it,
    where the mapping gives another ("start_date (the source's 'Opened') is not a valid date"), so that a
    data officer finds it in their file."""
    if source is None:
        return report
    names = set(SCHEMAS[dataset].names)

    def said(says: str) -> str:
        column, _, rest = says.partition(" ")
        theirs = source.column_spec(column).sources if column in names else []
        if all(name.casefold() == column.casefold() for name in theirs):  # none, or the same name
            return says
        return f"{column} (the source's {' or '.join(repr(name) for name in theirs)}) {rest}"

    return replace(report, failures=tuple(replace(f, says=said(f.says)) for f in report.failures))


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return " / ".join(_shown(part) for part in value)
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if hasattr(value, "astype") and str(getattr(value, "dtype", "")).startswith("datetime64"):
        return str(pd.Timestamp(value).date())
    return "(blank)" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def apply_policy(
    report: CheckReport, frame: pd.DataFrame, key: str, policy: CheckPolicy
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows to go on with and the rows set aside, as ``policy`` says; CheckFailed when it says stop.

    A rule on the whole dataset (no rows, a team without a manager) always stops, and so does a share of
    failing rows above ``policy.max_quarantine_share``.
    """
    if report.ok:
        return frame, frame.iloc[0:0]
    failing = frame[key].astype(str).isin(report.failing_keys)
    if policy.on_failure == "stop":
        raise CheckFailed(report, "Nothing was written: this dataset's policy is to stop on any failed check.")
    if any(failure.whole_dataset for failure in report.failures):
        raise CheckFailed(report, "Nothing was written: a check on the whole dataset failed.")
    share = failing.mean()
    if share > policy.max_quarantine_share:
        raise CheckFailed(
            report,
            f"Nothing was written: {failing.sum():,} of {len(frame):,} rows failed ({share:.1%}), more than the "
            f"{policy.max_quarantine_share:.1%} this dataset may set aside.",
        )
    return frame[~failing], frame[failing]


def write_quarantine(report: CheckReport, rows: pd.DataFrame, key: str, path: Path) -> Path:
    """Write the rows set aside to ``path`` (CSV) with a column saying which checks each broke; returns the path.

    The QA team corrects them at source; the next extract brings them in like any other row.
    """
    reasons = report.reasons()
    return write_csv(rows.assign(failed_checks=rows[key].astype(str).map(reasons)), path)


@dataclass(frozen=True)
class Kept:
    """A checked dataset after its policy: the rows to store, and the rows set aside (with the checks each
    broke, by key) and where they went."""

    rows: pd.DataFrame
    set_aside: pd.DataFrame
    quarantine_file: Path | None
    reasons: dict[str, str]


def keep(settings: Settings, dataset: Dataset, report: CheckReport, frame: pd.DataFrame, key: str, as_of: date) -> Kept:
    """The dataset's policy applied to its checked ``frame``: CheckFailed, with nothing written, when it says stop;
    otherwise the failing rows (named by ``key``) go to ``output/quarantine/<dataset>-<as_of>.csv`` with the
    checks each broke, and the rest go on."""
    rows, set_aside = apply_policy(report, frame, key, settings.check_policy(dataset))
    if not len(set_aside):
        return Kept(rows, set_aside, None, {})
    path = settings.output_dir / "quarantine" / f"{dataset.value}-{as_of}.csv"
    reasons = report.reasons()
    return Kept(rows, set_aside, write_quarantine(report, set_aside, key, path), reasons)


def file_already_stored(engine: Engine, settings: Settings, dataset: Dataset) -> tuple[str | None, Intake | None]:
    """The digest of ``dataset``'s source file (None for a SQL query); and, when a file with that content was
    stored before, what became of this one (nothing: it is not read again)."""
    path = getattr(settings.sources[dataset], "path", None)
    digest = file_digest(path) if path else None
    if digest is None:
        return None, None
    with engine.connect() as connection:
        seen = loading.already_loaded(connection, dataset, digest)
    return digest, Intake(dataset, 0, 0, 0, 0, True, (), None) if seen else None


def store(
    engine: Engine,
    settings: Settings,
    dataset: Dataset,
    kept: Kept,
    digest: str | None = None,
    also_set_aside: dict[str, str] | None = None,
) -> Intake:
    """Store what a dataset's policy kept, in one transaction, its file recorded so that it is read once; the
    cases set aside (and ``also_set_aside``: reference -> why) are marked in the store so they are never drawn.
    """
    path = getattr(settings.sources[dataset], "path", None)
    if path is not None and digest is None:
        digest = file_digest(path)
    set_aside = {**(also_set_aside or {}), **kept.reasons}
    rows_set_aside = len(kept.set_aside) + len(set(also_set_aside or {}) - set(kept.reasons))
    notices = (
        [set_aside_notice(settings, dataset, rows_set_aside, set_aside, kept.quarantine_file, digest)]
        if set_aside
        else []
    )
    summary = loading.load_frame(
        engine, settings, dataset, kept.rows[SCHEMAS[dataset].names], path, digest, set_aside, notices
    )
    return Intake(
        dataset,
        rows=len(kept.rows) + len(kept.set_aside),
        stored=len(kept.rows),
        new=summary.new,
        updated=summary.updated,
        already_loaded=summary.skipped_file,
        set_aside=tuple(set_aside),
        quarantine_file=kept.quarantine_file,
    )


def set_aside_notice(
    settings: Settings,
    dataset: Dataset,
    rows: int,
    reasons: dict[str, str],
    quarantine_file: Path | None,
    digest: str | None,
) -> Message:
    """The QA team's email about the ``rows`` of an extract set aside (not stored, never drawn), with why, by
    key, for the first of them; sent once per file (or per day, for a source that is not a file)."""
    quoted = quoted_reasons(reasons)
    return compose(
        settings,
        "rows_set_aside",
        key=("rows set aside", dataset.value, digest or date.today().isoformat()),
        to=[str(address) for address in settings.email.qa_team],
        subject=f"{rows:,} row(s) of the {dataset.value.replace('_', ' ')} set aside",
        context={
            "dataset": dataset.value.replace("_", " "),
            "source": describe(settings.sources[dataset]),
            "rows": rows,
            "quoted": quoted[:QUOTED_ROWS],
            "more": max(0, len(quoted) - QUOTED_ROWS),
            "quarantine_file": quarantine_file,
        },
    )
