"""The commissioned market's suites (the provider list, CQC ratings and enforcement, concerns, monitoring returns,
contract notices, improvement plan actions, monitoring visits and meetings), and their intake: check each configured
dataset, apply its policy, store what passed, each dataset in its own transaction and each file once.

The provider list comes first: every other dataset names a provider by its CQC location id, and a row about a
location the council does not commission is refused, except in the CQC directory, which lists every location in
England: there such rows, and the ratings of a service or population group other than the location's overall one,
are counted and left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import date

import great_expectations as gx
import pandas as pd
from great_expectations.expectations.row_conditions import Column
from sqlalchemy import select
from sqlalchemy.engine import Engine

from checks.outcomes import CheckFailed, CheckReport, EvidenceFailed, Intake
from checks.runner import (
    ROW_KEY,
    Rule,
    area_rule,
    file_already_stored,
    in_source_terms,
    keep,
    not_ahead,
    not_before,
    rule,
    run_checks,
    schema_rules,
    store,
    with_row_key,
)
from qaloop.core.schema import (
    COMMISSIONERS,
    CONCERN_KINDS,
    CONTRACT_NOTICE_KINDS,
    CQC_ACTIONS,
    CQC_DOMAINS,
    CQC_RATING_WORDS,
    LEAD_ORGANISATIONS,
    MONITORING_ACTIVITIES,
    PROVIDER_FEEDBACK_KINDS,
    PROVIDER_INTELLIGENCE,
    SERVICE_TYPES,
    Dataset,
)
from qaloop.core.settings import CqcApiSource, Settings
from qaloop.sources import loading
from qaloop.sources.cqc_api import read_cqc_api
from qaloop.sources.readers import checkable, read_dataset
from qaloop.store import models
from qaloop.store.engine import engine_from

_WHAT = {
    Dataset.PROVIDERS: "provider list",
    Dataset.CQC_RATINGS: "CQC ratings",
    Dataset.CQC_ENFORCEMENT: "CQC enforcement log",
    Dataset.PROVIDER_CONCERNS: "provider concerns log",
    Dataset.MONITORING_RETURNS: "monitoring returns log",
    Dataset.CONTRACT_NOTICES: "contract notices log",
    Dataset.IMPROVEMENT_ACTIONS: "improvement plan actions",
    Dataset.MONITORING_ACTIVITIES: "monitoring activities log",
    Dataset.PROVIDER_FEEDBACK: "complaints and compliments log",
}
# The words each column may hold, as CQC and the schema spell them.
_VOCABULARY: dict[Dataset, dict[str, tuple[str, ...]]] = {
    Dataset.PROVIDERS: {
        "service_type": SERVICE_TYPES,
        "commissioned_by": COMMISSIONERS,
        "lead_organisation": LEAD_ORGANISATIONS,
    },
    Dataset.CQC_RATINGS: {"domain": CQC_DOMAINS, "rating": CQC_RATING_WORDS},
    Dataset.CQC_ENFORCEMENT: {"action": CQC_ACTIONS},
    Dataset.PROVIDER_CONCERNS: {"concern": CONCERN_KINDS},
    Dataset.CONTRACT_NOTICES: {"notice": CONTRACT_NOTICE_KINDS},
    Dataset.MONITORING_ACTIVITIES: {"activity": MONITORING_ACTIVITIES},
    Dataset.PROVIDER_FEEDBACK: {"feedback": PROVIDER_FEEDBACK_KINDS},
}
# The dates that say something happened, so cannot be after the day the extract is taken.
_HAPPENED = {
    Dataset.CQC_RATINGS: ("published_on",),
    Dataset.CQC_ENFORCEMENT: ("served_on",),
    Dataset.PROVIDER_CONCERNS: ("raised_on",),
    Dataset.MONITORING_RETURNS: ("received_on",),
    Dataset.CONTRACT_NOTICES: ("served_on",),
    Dataset.IMPROVEMENT_ACTIONS: ("completed_on",),
    Dataset.MONITORING_ACTIVITIES: ("done_on",),
    Dataset.PROVIDER_FEEDBACK: ("received_on",),
}
# A month without enforcement, a concern, a notice or an open action is a good month, not an empty extract.
_MAY_BE_EMPTY = {
    Dataset.CQC_ENFORCEMENT,
    Dataset.PROVIDER_CONCERNS,
    Dataset.MONITORING_RETURNS,
    Dataset.CONTRACT_NOTICES,
    Dataset.IMPROVEMENT_ACTIONS,
    Dataset.MONITORING_ACTIVITIES,
    Dataset.PROVIDER_FEEDBACK,
}


def provider_rules(settings: Settings, dataset: Dataset, locations: Iterable[str], as_of: date) -> list[Rule]:
    """Every rule an extract of ``dataset`` must meet, given the CQC location ids of the provider list."""
    rules = schema_rules(dataset, _WHAT[dataset], may_be_empty=dataset in _MAY_BE_EMPTY)
    for column, words in _VOCABULARY.get(dataset, {}).items():
        rules.append(
            rule(
                f"{column} is not one of: {', '.join(words)}",
                gx.expectations.ExpectColumnValuesToBeInSet,
                column=column,
                value_set=list(words),
            )
        )
    rules += [not_ahead(column, as_of) for column in _HAPPENED.get(dataset, ())]
    if dataset is Dataset.PROVIDERS:
        rules += [
            area_rule(settings),
            rule(
                "contact_email is not an email address",
                gx.expectations.ExpectColumnValuesToMatchRegex,
                reveal=False,  # an address may name the registered manager
                column="contact_email",
                regex=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
            ),
            rule(
                "size is negative",
                gx.expectations.ExpectColumnValuesToBeBetween,
                column="size",
                min_value=0,
            ),
            # A jointly commissioned service's decisions are agreed with the ICB, and led by one of the two.
            rule(
                "lead_organisation is blank for a jointly commissioned service",
                gx.expectations.ExpectColumnValuesToNotBeNull,
                shows="commissioned_by",
                column="lead_organisation",
                row_condition=Column("commissioned_by") == "joint",
            ),
        ]
        return rules
    rules.append(
        rule(
            "location_id is not a service in the provider list",
            gx.expectations.ExpectColumnValuesToBeInSet,
            column="location_id",
            value_set=sorted(set(locations)),
        )
    )
    if dataset is Dataset.MONITORING_RETURNS:
        rules.append(
            rule(
                "month is not a month written YYYY-MM",
                gx.expectations.ExpectColumnValuesToMatchRegex,
                column="month",
                regex=r"^\d{4}-(?:0[1-9]|1[0-2])$",
            )
        )
    if dataset is Dataset.CONTRACT_NOTICES:
        rules.append(not_before("ends_on", "served_on"))
    return rules


def check_provider_dataset(
    settings: Settings, dataset: Dataset, extract: pd.DataFrame, locations: Iterable[str], as_of: date
) -> tuple[CheckReport, pd.DataFrame]:
    """Check a canonical extract (text, as read). Returns the report and the extract parsed for loading, with
    ``ROW_KEY`` by which the report names rows."""
    source = settings.sources.get(dataset)
    frame = with_row_key(checkable(extract, dataset, source.date_format if source else None), extract, dataset)
    report = run_checks(dataset.value, frame, provider_rules(settings, dataset, locations, as_of), key=ROW_KEY)
    return in_source_terms(report, dataset, source), frame[[*extract.columns, ROW_KEY]]


def commissioned_ratings(ratings: pd.DataFrame, locations: Iterable[str]) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The CQC directory's rows about the council's providers, each location's own ratings only; and, in words,
    what was left out and why."""
    known = set(locations)
    elsewhere = ratings["location_id"].notna() & ~ratings["location_id"].isin(known)
    group = ratings["service_group"]
    other_group = ~elsewhere & group.notna() & (group.str.casefold() != "overall")
    left_out = []
    if elsewhere.any():
        places = ratings.loc[elsewhere, "location_id"].nunique()
        left_out.append(f"{elsewhere.sum():,} row(s) about {places:,} location(s) not in the provider list")
    if other_group.any():
        left_out.append(f"{other_group.sum():,} row(s) rating a service or population group, not the location")
    return ratings[~(elsewhere | other_group)], tuple(left_out)


def check_and_load_providers(
    settings: Settings,
    as_of: date,
    on_report: Callable[[CheckReport], None] = lambda report: None,
    datasets: Iterable[Dataset] = PROVIDER_INTELLIGENCE,
) -> list[Intake]:
    """Check and store each configured provider dataset (of ``datasets``); a file already stored is not read again.

    The provider list is stored first, and a provider list that fails its checks stops everything (the other
    datasets are checked against it); after it each dataset is stored in its own transaction, and EvidenceFailed
    is raised at the end, naming the rows and reasons, when any dataset's policy said stop. Raises LoadError when
    a dataset names providers and no provider list was ever stored.
    """
    engine = engine_from(settings)
    wanted = set(datasets)
    loaded: list[Intake] = []
    failures: list[CheckFailed] = []
    for dataset in PROVIDER_INTELLIGENCE:
        if dataset not in settings.sources or dataset not in wanted:
            continue
        digest, skipped = file_already_stored(engine, settings, dataset)
        if skipped is not None:
            loaded.append(skipped)
            continue
        locations = _locations(engine, settings)
        if dataset is not Dataset.PROVIDERS and not locations:
            raise loading.LoadError(
                f"{dataset.value}: nothing was stored: no provider list has been loaded, and every row names a "
                "provider (configure sources.providers and load it first)"
            )
        source = settings.sources[dataset]
        left_out: tuple[str, ...] = ()
        if isinstance(source, CqcApiSource):  # each stored provider's own record
            extract, left_out = read_cqc_api(source, locations)
        else:
            extract = read_dataset(settings, dataset, as_of)
            if dataset is Dataset.CQC_RATINGS:
                extract, left_out = commissioned_ratings(extract, locations)
        report, frame = check_provider_dataset(settings, dataset, extract, locations, as_of)
        on_report(report)
        try:
            kept = keep(settings, dataset, report, frame, ROW_KEY, as_of)
        except CheckFailed as failure:
            if dataset is Dataset.PROVIDERS:
                raise
            failures.append(failure)
            continue
        loaded.append(replace(store(engine, settings, dataset, kept, digest), left_out=left_out))
    if failures:
        raise EvidenceFailed(loaded, failures)
    return loaded


def _locations(engine: Engine, settings: Settings) -> list[str]:
    """The CQC location ids of the providers the store holds for the authority."""
    with engine.connect() as connection:
        return list(
            connection.scalars(
                select(models.Provider.location_id)
                .join(models.Authority, models.Authority.id == models.Provider.authority_id)
                .where(models.Authority.code == settings.authority.code)
            )
        )
