"""The citizen-evidence suites (complaints, Ombudsman decisions, compliments, survey responses), and the
triangulation's first step without Prefect: check each configured extract, set failing rows aside, store
the rest, each dataset in its own transaction and each file once."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date

import great_expectations as gx
import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import Engine

from checks.outcomes import CheckFailed, CheckReport, EvidenceFailed
from checks.runner import (
    ROW_KEY,
    Intake,
    Rule,
    area_rule,
    file_already_stored,
    in_source_terms,
    keep,
    not_ahead,
    rule,
    run_checks,
    schema_rules,
    store,
    team_rule,
    with_row_key,
)
from qaloop.core.schema import Dataset
from qaloop.core.settings import Settings
from qaloop.sources.readers import checkable, read_dataset
from qaloop.store import models
from qaloop.store.engine import engine_from
from qaloop.store.handles import authority_id

EVIDENCE = (Dataset.COMPLAINTS, Dataset.OMBUDSMAN, Dataset.COMPLIMENTS, Dataset.SURVEYS)

_WHAT = {
    Dataset.COMPLAINTS: ("complaints extract", "received_on"),
    Dataset.OMBUDSMAN: ("Ombudsman decisions extract", "decided_on"),
    Dataset.COMPLIMENTS: ("compliments extract", "received_on"),
    Dataset.SURVEYS: ("survey responses extract", "responded_on"),
}


def evidence_rules(settings: Settings, dataset: Dataset, teams: Iterable[str], as_of: date) -> list[Rule]:
    """Every rule an extract of ``dataset`` must meet, given the teams the store knows."""
    what, dated = _WHAT[dataset]
    # A period without an Ombudsman decision is usual for a council; one without a complaint is not.
    rules = schema_rules(dataset, what, may_be_empty=dataset is Dataset.OMBUDSMAN)
    rules += [
        area_rule(settings),
        team_rule(teams),
        not_ahead(dated, as_of),
    ]
    if dataset is Dataset.COMPLAINTS:
        rules += [
            _outcome_rule(models.COMPLAINT_OUTCOMES),
            rule(
                "response_days is negative or more than a year",
                gx.expectations.ExpectColumnValuesToBeBetween,
                column="response_days",
                min_value=0,
                max_value=366,
            ),
        ]
    elif dataset is Dataset.OMBUDSMAN:
        rules.append(_outcome_rule(models.OMBUDSMAN_OUTCOMES))
    elif dataset is Dataset.SURVEYS:
        rules.append(
            rule(
                "score is not between 1 and 5",
                gx.expectations.ExpectColumnValuesToBeBetween,
                column="score",
                min_value=1,
                max_value=5,
            )
        )
    return rules


def _outcome_rule(outcomes: tuple[str, ...]) -> Rule:
    return rule(
        f"outcome is not one of: {', '.join(outcomes)}",
        gx.expectations.ExpectColumnValuesToBeInSet,
        column="outcome",
        value_set=list(outcomes),
    )


def check_evidence(
    settings: Settings, dataset: Dataset, extract: pd.DataFrame, teams: Iterable[str], as_of: date
) -> tuple[CheckReport, pd.DataFrame]:
    """Check a canonical extract (text, as read). Returns the report and the extract parsed for loading,
    with ``row_key`` (the key columns joined by " / ") by which the report names rows."""
    source = settings.sources.get(dataset)
    frame = with_row_key(checkable(extract, dataset, source.date_format if source else None), extract, dataset)
    report = run_checks(dataset.value, frame, evidence_rules(settings, dataset, teams, as_of), key=ROW_KEY)
    report = in_source_terms(report, dataset, source)
    return report, frame[[*extract.columns, ROW_KEY]]


def check_and_load_evidence(
    settings: Settings,
    as_of: date,
    on_report: Callable[[CheckReport], None] = lambda report: None,
    datasets: Iterable[Dataset] = EVIDENCE,
) -> list[Intake]:
    """Check and store each configured citizen-evidence extract (of ``datasets``); a file already stored is not
    read again.

    Each dataset is stored in one transaction, so a dataset that fails stores nothing while the others are
    kept; EvidenceFailed is raised at the end, naming the rows and reasons, when any dataset's policy said
    stop. Rows set aside go to ``output/quarantine/<dataset>-<date>.csv``.
    """
    engine = engine_from(settings)
    teams = _teams(engine, settings)
    loaded: list[Intake] = []
    failures: list[CheckFailed] = []
    for dataset in EVIDENCE:
        if dataset not in settings.sources or dataset not in datasets:
            continue
        digest, skipped = file_already_stored(engine, settings, dataset)
        if skipped is not None:
            loaded.append(skipped)
            continue
        report, frame = check_evidence(settings, dataset, read_dataset(settings, dataset, as_of), teams, as_of)
        on_report(report)
        try:
            kept = keep(settings, dataset, report, frame, ROW_KEY, as_of)
        except CheckFailed as failure:
            failures.append(failure)
            continue
        loaded.append(store(engine, settings, dataset, kept, digest))
    if failures:
        raise EvidenceFailed(loaded, failures)
    return loaded


def _teams(engine: Engine, settings: Settings) -> list[str]:
    with engine.connect() as connection:
        return list(
            connection.scalars(
                select(models.Team.name).where(models.Team.authority_id == authority_id(connection, settings))
            )
        )
