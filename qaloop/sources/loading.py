"""Load typed canonical frames into the store: staff, cases, audit history, the citizen evidence, and the
commissioned market's providers and their intelligence.

Each dataset loads in one transaction: either every row is written or, on any problem, none is, and the
error names the rows and why. Rows are upserted on their natural keys, so loading a newer extract updates
what changed; a file whose content was loaded before is skipped (the ``source_file`` ledger).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, Table, and_, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from qaloop.core.cycle_dates import cycle_dates
from qaloop.core.roles import Role
from qaloop.core.schema import SCHEMAS, Dataset
from qaloop.core.settings import Settings
from qaloop.messaging.outbox import Message, enqueue
from qaloop.programmes.eligibility import strata
from qaloop.store import models
from qaloop.store.bulk import merge_rows

_CHUNK = 20_000
_SHOWN_ROWS = 10


class LoadError(Exception):
    """Rows that cannot be stored (an unknown area, team or worker, a grade off the scale); nothing was written."""


@dataclass(frozen=True)
class LoadSummary:
    """What one load did: rows read, rows new to the store, rows that updated existing ones."""

    dataset: Dataset
    rows: int
    new: int
    updated: int
    skipped_file: bool = False


@dataclass(frozen=True)
class _Lookups:
    authority_id: int
    areas: dict[str, int]
    teams: dict[str, int]
    staff: dict[str, int]


_Loader = Callable[[Connection, Settings, _Lookups, pd.DataFrame], tuple[int, int]]


def ensure_authority(connection: Connection, settings: Settings) -> int:
    """The authority's id, creating or updating it and its configured areas."""
    config = settings.authority
    _upsert(connection, models.Authority.__table__, [config.model_dump(include={"code", "name", "service"})], ["code"])
    authority_id = connection.scalar(select(models.Authority.id).where(models.Authority.code == config.code))
    areas = [{"authority_id": authority_id, "code": a.code, "name": a.name} for a in config.areas]
    _upsert(connection, models.Area.__table__, areas, ["authority_id", "code"])
    return authority_id


def load_frame(
    engine: Engine,
    settings: Settings,
    dataset: Dataset,
    frame: pd.DataFrame,
    source_file: Path | None = None,
    content_hash: str | None = None,
    set_aside: Mapping[str, str] | None = None,
    notices: Sequence[Message] = (),
) -> LoadSummary:
    """Store a typed canonical frame (see ``sources.typed``) of ``dataset`` in one transaction.

    With ``source_file`` and ``content_hash`` the file is recorded in the ledger, and a file whose content
    was loaded before is skipped. ``set_aside`` (case reference -> why) marks the cases whose rows the checks
    set aside, so that their older stored rows are never drawn, even when the file itself is skipped; the
    cases loaded are unmarked. ``notices`` (the QA team's, about the rows set aside) are queued in the same
    transaction when the file is stored. Raises LoadError naming the rows that cannot be stored.
    """
    try:
        return _load_in_transaction(
            engine, settings, dataset, frame, source_file, content_hash, set_aside or {}, notices
        )
    except IntegrityError as error:
        # The checks above name rows for every rule we know of; this is the store's last line of defence.
        reason = str(error.orig).splitlines()[0]
        raise LoadError(f"{dataset.value}: nothing was stored: the store refused a row ({reason})") from None


def _load_in_transaction(
    engine: Engine,
    settings: Settings,
    dataset: Dataset,
    frame: pd.DataFrame,
    source_file: Path | None,
    content_hash: str | None,
    set_aside: Mapping[str, str],
    notices: Sequence[Message],
) -> LoadSummary:
    with engine.begin() as connection:
        enqueue(connection, notices)
        authority_id = ensure_authority(connection, settings)
        if dataset is Dataset.CASES:
            _mark_set_aside(connection, authority_id, set_aside, frame["case_ref"])
        if content_hash is not None and already_loaded(connection, dataset, content_hash):
            return LoadSummary(dataset, rows=len(frame), new=0, updated=0, skipped_file=True)
        if dataset is Dataset.STAFF:
            new, updated = _load_staff(connection, authority_id, frame)
        else:
            lookups = _lookups(connection, authority_id)
            new, updated = _LOADERS[dataset](connection, settings, lookups, frame)
        if content_hash is not None and source_file is not None:
            connection.execute(
                models.SourceFile.__table__.insert().values(
                    dataset=dataset.value,
                    path=str(source_file),
                    content_hash=content_hash,
                    size_bytes=source_file.stat().st_size,
                    rows=len(frame),
                    status="processed",
                    message=f"{new} new, {updated} updated",
                )
            )
    return LoadSummary(dataset, rows=len(frame), new=new, updated=updated)


def _mark_set_aside(
    connection: Connection, authority_id: int, set_aside: Mapping[str, str], passed: Iterable[str]
) -> None:
    """Mark the cases ``set_aside`` (reference -> why) and unmark those marked before whose rows ``passed``
    now (a file loaded before may come back, and be skipped, after a later one set a case aside)."""
    table = models.CaseRecord.__table__
    marked = set(
        connection.scalars(
            select(table.c.case_ref).where(table.c.authority_id == authority_id, table.c.set_aside.is_not(None))
        )
    )
    changes = [{"ref": ref, "why": None} for ref in marked.intersection(passed) - set(set_aside)]
    changes += [{"ref": ref, "why": why} for ref, why in set_aside.items()]
    if changes:
        connection.execute(
            update(table)
            .where(table.c.authority_id == authority_id, table.c.case_ref == bindparam("ref"))
            .values(set_aside=bindparam("why")),
            changes,
        )


def already_loaded(connection: Connection, dataset: Dataset, content_hash: str) -> bool:
    """Whether a file with this content was stored as ``dataset`` before (the ledger of processed files)."""
    ledger = models.SourceFile
    query = select(ledger.id).where(ledger.dataset == dataset.value, ledger.content_hash == content_hash)
    return connection.scalar(query) is not None


def _lookups(connection: Connection, authority_id: int) -> _Lookups:
    areas: dict[str, int] = {}
    for area_id, code, name in connection.execute(
        select(models.Area.id, models.Area.code, models.Area.name).where(models.Area.authority_id == authority_id)
    ):
        areas[code.casefold()] = area_id
        areas[name.casefold()] = area_id
    teams = {
        name.casefold(): team_id
        for team_id, name in connection.execute(
            select(models.Team.id, models.Team.name).where(models.Team.authority_id == authority_id)
        )
    }
    staff = dict(
        connection.execute(
            select(models.Staff.staff_ref, models.Staff.id).where(models.Staff.authority_id == authority_id)
        ).all()
    )
    return _Lookups(authority_id, areas, teams, staff)


def _resolve(
    frame: pd.DataFrame, key: Sequence[str], column: str, lookup: dict[str, int], what: str, fold: bool = True
) -> tuple[pd.Series, list[str]]:
    """Ids for ``frame[column]`` through ``lookup``; and a problem line naming rows whose value is unknown."""
    values = frame[column]
    ids = (values.str.casefold() if fold else values).map(lookup)
    unknown = values.notna() & ids.isna()
    return ids, ([_rows_line(frame, key, unknown, f"{column}: {what}", column)] if unknown.any() else [])


def _rows_line(frame: pd.DataFrame, key: Sequence[str], mask: pd.Series, reason: str, column: str) -> str:
    """One line for a problem: how many rows, the first rows' keys, and the offending values."""
    rows = frame.loc[mask]
    shown = ", ".join(
        " / ".join(str(value) for value in row) for row in rows[list(key)].head(_SHOWN_ROWS).itertuples(index=False)
    )
    more = f" and {len(rows) - _SHOWN_ROWS} more" if len(rows) > _SHOWN_ROWS else ""
    values = sorted({str(value) for value in rows[column]})
    listed = ", ".join(values[:_SHOWN_ROWS]) + (", ..." if len(values) > _SHOWN_ROWS else "")
    return f"  - {reason}: {len(rows)} row(s): {shown}{more} (values: {listed})"


def _raise_if(problems: list[str], dataset: Dataset) -> None:
    if problems:
        raise LoadError(f"{dataset.value}: nothing was stored because of these rows:\n" + "\n".join(problems))


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Plain Python rows: NaN / NA / NaT become None, timestamps become dates, numpy scalars Python ones."""
    columns = []
    for name in frame.columns:
        values = frame[name]
        missing = values.isna().to_numpy()
        if pd.api.types.is_datetime64_any_dtype(values):
            values = values.dt.date
        plain = values.astype(object).to_numpy(copy=True)
        plain[missing] = None
        columns.append(plain.tolist())  # tolist turns numpy scalars into Python ones
    names = list(frame.columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _upsert(connection: Connection, table: Table, rows: list[dict[str, Any]], key: Sequence[str]) -> None:
    """Insert ``rows``, updating every other column of rows whose ``key`` exists (one set-based merge)."""
    merge_rows(connection, table, rows, key)


def _store(connection: Connection, table: Table, rows: list[dict[str, Any]], key: Sequence[str]) -> tuple[int, int]:
    """Upsert ``rows``; how many were new and how many existed already."""
    existing = merge_rows(connection, table, rows, key)
    return len(rows) - existing, existing


def _load_staff(connection: Connection, authority_id: int, frame: pd.DataFrame) -> tuple[int, int]:
    key = SCHEMAS[Dataset.STAFF].key
    lookups = _lookups(connection, authority_id)
    # Above team manager a team without an area ("Senior Management" in an HR export) is a grouping, not a
    # team that holds cases: they are stored without it.
    above_teams = frame["role"].isin([role.value for role in Role if role.seniority > Role.TEAM_MANAGER.seniority])
    frame = frame.assign(team=frame["team"].where(~(above_teams & frame["area"].isna())))
    area_ids, problems = _resolve(frame, key, "area", lookups.areas, "area")
    teams = frame.loc[frame["team"].notna(), ["team", "area"]].assign(area_id=area_ids)
    homeless = frame["team"].notna() & frame["area"].isna()
    if homeless.any():
        problems.append(_rows_line(frame, key, homeless, "area: blank for a member of a team", "team"))
    spread = teams.dropna(subset=["area_id"]).groupby(teams["team"].str.casefold())["area_id"].nunique()
    if (spread > 1).any():
        split = frame["team"].str.casefold().isin(spread[spread > 1].index)
        problems.append(_rows_line(frame, key, split, "team: one team named in several areas", "team"))
    duplicated = frame["staff_id"].duplicated(keep=False)
    if duplicated.any():
        problems.append(_rows_line(frame, key, duplicated, "staff_id: repeated", "staff_id"))
    known_refs = set(frame["staff_id"]) | set(lookups.staff)
    unknown_manager = frame["line_manager_id"].notna() & ~frame["line_manager_id"].isin(known_refs)
    if unknown_manager.any():
        problems.append(
            _rows_line(frame, key, unknown_manager, "line_manager_id: not in the staff list", "line_manager_id")
        )
    _raise_if(problems, Dataset.STAFF)

    team_rows = teams.drop_duplicates("team").assign(
        authority_id=authority_id, name=lambda t: t["team"], area_id=lambda t: t["area_id"].astype(int)
    )[["authority_id", "area_id", "name"]]
    _upsert(connection, models.Team.__table__, team_rows.to_dict("records"), ["authority_id", "name"])
    team_ids = _lookups(connection, authority_id).teams
    staff = frame.assign(
        authority_id=authority_id,
        staff_ref=frame["staff_id"],
        area_id=area_ids.astype("Int64"),
        team_id=frame["team"].str.casefold().map(team_ids).astype("Int64"),
    )[
        [
            "authority_id",
            "staff_ref",
            "name",
            "email",
            "role",
            "area_id",
            "team_id",
            "active",
            "leave_start",
            "leave_end",
        ]
    ]
    table = models.Staff.__table__
    counts = _store(connection, table, _records(staff), ["authority_id", "staff_ref"])
    # Managers are linked once everyone is stored, since a manager may appear after their reports.
    staff_ids = _lookups(connection, authority_id).staff
    connection.execute(
        update(table)
        .where(table.c.authority_id == authority_id, table.c.staff_ref == bindparam("ref"))
        .values(line_manager_id=bindparam("manager_id")),
        [
            {"ref": ref, "manager_id": None if pd.isna(manager) else staff_ids[manager]}
            for ref, manager in zip(frame["staff_id"], frame["line_manager_id"], strict=True)
        ],
    )
    return counts


def _load_cases(connection: Connection, settings: Settings, lookups: _Lookups, frame: pd.DataFrame) -> tuple[int, int]:
    key = SCHEMAS[Dataset.CASES].key
    area_ids, problems = _resolve(frame, key, "area", lookups.areas, "area")
    team_ids, team_problems = _resolve(frame, key, "team", lookups.teams, "team (not in the staff list)")
    worker_ids, worker_problems = _resolve(
        frame, key, "worker_id", lookups.staff, "worker (not in the staff list)", fold=False
    )
    problems += team_problems + worker_problems
    types = {audit_type.id for audit_type in settings.audit_types}
    odd_type = ~frame["audit_type"].isin(types)
    if odd_type.any():
        problems.append(_rows_line(frame, key, odd_type, f"audit_type: not one of {sorted(types)}", "audit_type"))
    _raise_if(problems, Dataset.CASES)
    cases = frame.assign(authority_id=lookups.authority_id, area_id=area_ids, team_id=team_ids, worker_id=worker_ids)[
        [
            "authority_id",
            "case_ref",
            "person_ref",
            "audit_type",
            "area_id",
            "team_id",
            "worker_id",
            "start_date",
            "last_activity_date",
            "end_date",
        ]
    ]
    return _store(connection, models.CaseRecord.__table__, _records(cases), ["authority_id", "case_ref"])


def _load_history(
    connection: Connection, settings: Settings, lookups: _Lookups, frame: pd.DataFrame
) -> tuple[int, int]:
    """Past audits: those of cases in the store become closed allocations of their cycles (with a return where
    the history gives a grade and an auditor); those of cases closed since, and those of open cases whose worker
    or auditor has left (no longer in the staff list, so no allocation can name them), go to ``past_audit``:
    either way the case is never drawn again and the worker counts for the repeat rule."""
    case_table = models.CaseRecord.__table__
    refs = list(frame["case_ref"].unique())
    query = select(case_table.c.case_ref, case_table.c.id, case_table.c.area_id, case_table.c.audit_type).where(
        case_table.c.authority_id == lookups.authority_id, case_table.c.case_ref.in_(bindparam("refs", expanding=True))
    )
    found = [
        row
        for start in range(0, len(refs), _CHUNK)
        for row in connection.execute(query, {"refs": refs[start : start + _CHUNK]})
    ]
    cases = pd.DataFrame(found, columns=["case_ref", "case_id", "area_id", "audit_type"])
    everything = frame.merge(cases, on="case_ref", how="left")
    merged = everything[everything["case_id"].notna()]
    _raise_if(_history_problems(connection, settings, lookups, everything, merged), Dataset.AUDIT_HISTORY)
    staff_known = merged["worker_id"].isin(lookups.staff.keys()) & (
        merged["auditor_id"].isna() | merged["auditor_id"].isin(lookups.staff.keys())
    )
    closed = pd.concat([everything[everything["case_id"].isna()], merged[~staff_known]])
    merged = merged[staff_known]

    cycles = everything.groupby("cycle_ref", sort=True)["selection_date"].min()
    planned = {ref: cycle_dates(settings.calendar, selection.date(), ref=str(ref)) for ref, selection in cycles.items()}
    cycle_rows = [
        {"authority_id": lookups.authority_id, "programme": "regular", "status": "closed", **vars(dates)}
        for dates in planned.values()
    ]
    _upsert(connection, models.AuditCycle.__table__, cycle_rows, ["authority_id", "cycle_ref"])
    cycle_ids = dict(
        connection.execute(
            select(models.AuditCycle.cycle_ref, models.AuditCycle.id).where(
                models.AuditCycle.authority_id == lookups.authority_id
            )
        ).all()
    )
    past_new, past_existing = _store_past_audits(connection, lookups.authority_id, closed, cycle_ids)
    new, existing = _store_history_allocations(connection, lookups, merged, cycle_ids, planned)
    return new + past_new, existing + past_existing


def _history_problems(
    connection: Connection, settings: Settings, lookups: _Lookups, everything: pd.DataFrame, merged: pd.DataFrame
) -> list[str]:
    """What stops a history loading: a grade off the scale, a case twice, or a case the regular programme
    audited in another cycle."""
    key = SCHEMAS[Dataset.AUDIT_HISTORY].key
    problems = []
    off_scale = everything["grade"].notna() & ~everything["grade"].isin(settings.grade_scale.labels)
    if off_scale.any():
        problems.append(
            _rows_line(everything, key, off_scale, f"grade: not on the scale {settings.grade_scale.labels}", "grade")
        )
    repeated = everything["case_ref"].duplicated(keep=False)
    if repeated.any():
        problems.append(
            _rows_line(everything, key, repeated, "case_ref: audited more than once in the history", "case_ref")
        )
    audited_in = _audited_cycles(connection, merged["case_id"].astype(int).tolist())
    cycle_of = merged["case_id"].map(audited_in).reindex(everything.index).astype(object)
    past = everything["case_ref"].map(_past_audit_cycles(connection, lookups.authority_id)).astype(object)
    cycle_of = cycle_of.where(cycle_of.notna(), past)
    elsewhere = cycle_of.notna() & (cycle_of != everything["cycle_ref"])
    if elsewhere.any():
        why = "case_ref: already audited by the regular programme in another cycle"
        problems.append(_rows_line(everything, key, elsewhere, why, "cycle_ref"))
    return problems


def _past_audit_cycles(connection: Connection, authority_id: int) -> dict[str, str]:
    """The cycle each past audit of a closed case was recorded in, by case reference."""
    past, cycle = models.PastAudit, models.AuditCycle
    return dict(
        connection.execute(
            select(past.case_ref, cycle.cycle_ref)
            .join(cycle, cycle.id == past.cycle_id)
            .where(past.authority_id == authority_id)
        ).all()
    )


def _store_past_audits(
    connection: Connection, authority_id: int, closed: pd.DataFrame, cycle_ids: dict[str, int]
) -> tuple[int, int]:
    rows = pd.DataFrame(
        {
            "authority_id": authority_id,
            "cycle_id": closed["cycle_ref"].map(cycle_ids),
            "case_ref": closed["case_ref"],
            "worker_ref": closed["worker_id"],
            "auditor_ref": closed["auditor_id"],
            "grade": closed["grade"],
            "submitted_on": closed["submitted_on"],
        }
    )
    return _store(connection, models.PastAudit.__table__, _records(rows), ["authority_id", "case_ref"])


def _store_history_allocations(
    connection: Connection,
    lookups: _Lookups,
    merged: pd.DataFrame,
    cycle_ids: dict[str, int],
    planned: dict[str, Any],
) -> tuple[int, int]:
    area_codes = {area_id: code for code, area_id in lookups.areas.items()}
    allocations = pd.DataFrame(
        {
            "cycle_id": merged["cycle_ref"].map(cycle_ids),
            "case_id": merged["case_id"].astype(int),
            "programme": "regular",
            "stratum": strata(merged["area_id"].map(area_codes), merged["audit_type"]),
            "status": "closed",
            "practitioner_id": merged["worker_id"].map(lookups.staff),
            "auditor_id": merged["auditor_id"].map(lookups.staff).astype("Int64"),
        }
    )
    table = models.Allocation.__table__
    new, existing = _store(connection, table, _records(allocations), ["cycle_id", "case_id"])
    # Looked up by cycle (a handful of ids), not by pair: a history of 50,000 audits would exceed
    # the number of bound parameters SQLite accepts in one statement.
    loaded_cycles = sorted(set(allocations["cycle_id"]))
    allocation_ids = pd.DataFrame(
        connection.execute(
            select(table.c.id, table.c.cycle_id, table.c.case_id).where(table.c.cycle_id.in_(loaded_cycles))
        ).all(),
        columns=["allocation_id", "cycle_id", "case_id"],
    )
    # Without a recorded return date, the cycle's due date is the best that can be said.
    due = pd.to_datetime(merged["cycle_ref"].map(lambda ref: planned[ref].audit_due))
    submitted = pd.to_datetime(merged["submitted_on"]).fillna(due).dt.date
    returns = allocations.assign(grade=merged["grade"].to_numpy(), submitted_on=submitted.to_numpy()).merge(
        allocation_ids, on=["cycle_id", "case_id"]
    )
    filed = set(
        connection.scalars(
            select(models.AuditReturn.allocation_id)
            .join(models.Allocation, models.Allocation.id == models.AuditReturn.allocation_id)
            .where(models.Allocation.cycle_id.in_(loaded_cycles))
        )
    )
    # A return is kept where the history gives both its grade and its auditor.
    given = ~returns["allocation_id"].isin(filed) & returns["grade"].notna() & returns["auditor_id"].notna()
    fresh = returns.loc[given, ["allocation_id", "auditor_id", "submitted_on", "grade"]]
    if len(fresh):
        connection.execute(models.AuditReturn.__table__.insert(), _records(fresh.assign(status="filed")))
    return new, existing


def _audited_cycles(connection: Connection, case_ids: list[int]) -> dict[int, str]:
    """For each of these cases the regular programme has audited, the cycle it was audited in."""
    allocation, cycle = models.Allocation, models.AuditCycle
    query = (
        select(allocation.case_id, cycle.cycle_ref)
        .join(cycle, cycle.id == allocation.cycle_id)
        .where(
            allocation.programme == "regular",
            allocation.status.in_(models.AUDITED_STATUSES),
            allocation.case_id.in_(bindparam("ids", expanding=True)),
        )
    )
    return {
        case_id: ref
        for start in range(0, len(case_ids), _CHUNK)
        for case_id, ref in connection.execute(query, {"ids": case_ids[start : start + _CHUNK]})
    }


def _evidence_loader(dataset: Dataset, table: Table, ref: str, columns: list[str]) -> _Loader:
    """A loader for complaints, Ombudsman decisions, compliments or surveys: resolve area and team, upsert."""

    def load(connection: Connection, settings: Settings, lookups: _Lookups, frame: pd.DataFrame) -> tuple[int, int]:
        key = SCHEMAS[dataset].key
        area_ids, problems = _resolve(frame, key, "area", lookups.areas, "area")
        team_ids, team_problems = _resolve(frame, key, "team", lookups.teams, "team (not in the staff list)")
        _raise_if(problems + team_problems, dataset)
        rows = frame.assign(authority_id=lookups.authority_id, area_id=area_ids, team_id=team_ids.astype("Int64"))
        unique_key = ["authority_id", ref] + (["question"] if dataset is Dataset.SURVEYS else [])
        return _store(
            connection, table, _records(rows[["authority_id", ref, *columns, "area_id", "team_id"]]), unique_key
        )

    return load


def _load_providers(
    connection: Connection, settings: Settings, lookups: _Lookups, frame: pd.DataFrame
) -> tuple[int, int]:
    area_ids, problems = _resolve(frame, SCHEMAS[Dataset.PROVIDERS].key, "area", lookups.areas, "area")
    _raise_if(problems, Dataset.PROVIDERS)
    providers = frame.assign(authority_id=lookups.authority_id, area_id=area_ids, cqc_provider_id=frame["provider_id"])
    columns = ["authority_id", "location_id", "cqc_provider_id", "name", "service_type", "size", "area_id"]
    columns += ["commissioned_by", "lead_organisation", "contract_ref", "contact_email"]
    return _store(connection, models.Provider.__table__, _records(providers[columns]), ["authority_id", "location_id"])


def _intelligence_loader(dataset: Dataset, table: Table, unique_key: list[str], columns: list[str]) -> _Loader:
    """A loader for a dataset about commissioned providers: resolve each row's CQC location id to the stored
    provider, upsert on ``unique_key``."""

    def load(connection: Connection, settings: Settings, lookups: _Lookups, frame: pd.DataFrame) -> tuple[int, int]:
        providers = dict(
            connection.execute(
                select(models.Provider.location_id, models.Provider.id).where(
                    models.Provider.authority_id == lookups.authority_id
                )
            ).all()
        )
        provider_ids, problems = _resolve(
            frame, SCHEMAS[dataset].key, "location_id", providers, "not in the provider list", fold=False
        )
        _raise_if(problems, dataset)
        rows = frame.assign(authority_id=lookups.authority_id, provider_id=provider_ids)
        return _store(connection, table, _records(rows[list(dict.fromkeys([*unique_key, *columns]))]), unique_key)

    return load


def _load_indicators(
    connection: Connection, settings: Settings, lookups: _Lookups, frame: pd.DataFrame
) -> tuple[int, int]:
    """The month's figures (checked: each indicator and service area configured), the whole service's as "" so
    that a restated month replaces its figure."""
    rows = frame.assign(authority_id=lookups.authority_id, service_area=frame["service_area"].fillna(""))
    columns = ["authority_id", "indicator", "period", "service_area", "value", "numerator", "denominator"]
    columns += ["target", "polarity", "neighbours", "england"]
    return _store(
        connection,
        models.IndicatorValue.__table__,
        _records(rows[columns]),
        ["authority_id", "indicator", "period", "service_area"],
    )


_LOADERS: dict[Dataset, _Loader] = {
    Dataset.PROVIDERS: _load_providers,
    Dataset.CQC_RATINGS: _intelligence_loader(
        Dataset.CQC_RATINGS, models.CqcRating.__table__, ["provider_id", "domain", "published_on"], ["rating"]
    ),
    Dataset.CQC_ENFORCEMENT: _intelligence_loader(
        Dataset.CQC_ENFORCEMENT,
        models.CqcEnforcement.__table__,
        ["authority_id", "action_ref"],
        ["provider_id", "action", "served_on"],
    ),
    Dataset.PROVIDER_CONCERNS: _intelligence_loader(
        Dataset.PROVIDER_CONCERNS,
        models.ProviderConcern.__table__,
        ["authority_id", "concern_ref"],
        ["provider_id", "concern", "raised_on", "serious"],
    ),
    Dataset.MONITORING_RETURNS: _intelligence_loader(
        Dataset.MONITORING_RETURNS, models.MonitoringReturn.__table__, ["provider_id", "month"], ["received_on"]
    ),
    Dataset.CONTRACT_NOTICES: _intelligence_loader(
        Dataset.CONTRACT_NOTICES,
        models.ContractNotice.__table__,
        ["authority_id", "notice_ref"],
        ["provider_id", "notice", "served_on", "ends_on"],
    ),
    Dataset.IMPROVEMENT_ACTIONS: _intelligence_loader(
        Dataset.IMPROVEMENT_ACTIONS,
        models.ImprovementAction.__table__,
        ["authority_id", "action_ref"],
        ["provider_id", "due_on", "completed_on"],
    ),
    Dataset.MONITORING_ACTIVITIES: _intelligence_loader(
        Dataset.MONITORING_ACTIVITIES,
        models.MonitoringActivity.__table__,
        ["authority_id", "activity_ref"],
        ["provider_id", "activity", "done_on"],
    ),
    Dataset.PROVIDER_FEEDBACK: _intelligence_loader(
        Dataset.PROVIDER_FEEDBACK,
        models.ProviderFeedback.__table__,
        ["authority_id", "feedback_ref"],
        ["provider_id", "feedback", "received_on", "upheld"],
    ),
    Dataset.INDICATORS: _load_indicators,
    Dataset.CASES: _load_cases,
    Dataset.AUDIT_HISTORY: _load_history,
    Dataset.COMPLAINTS: _evidence_loader(
        Dataset.COMPLAINTS,
        models.Complaint.__table__,
        "complaint_ref",
        ["received_on", "theme", "outcome", "response_days"],
    ),
    Dataset.OMBUDSMAN: _evidence_loader(
        Dataset.OMBUDSMAN, models.OmbudsmanDecision.__table__, "decision_ref", ["decided_on", "theme", "outcome"]
    ),
    Dataset.COMPLIMENTS: _evidence_loader(
        Dataset.COMPLIMENTS, models.Compliment.__table__, "compliment_ref", ["received_on", "theme"]
    ),
    Dataset.SURVEYS: _evidence_loader(
        Dataset.SURVEYS,
        models.SurveyResponse.__table__,
        "response_ref",
        ["survey", "responded_on", "question", "score", "comment"],
    ),
}


def counts(engine: Engine, settings: Settings) -> dict[str, int]:
    """How many rows of each kind the store holds for the configured authority (what `make demo` prints)."""
    tables = {
        "areas": models.Area,
        "teams": models.Team,
        "staff": models.Staff,
        "cases": models.CaseRecord,
        "complaints": models.Complaint,
        "ombudsman decisions": models.OmbudsmanDecision,
        "compliments": models.Compliment,
        "survey answers": models.SurveyResponse,
        "audit cycles": models.AuditCycle,
        "providers": models.Provider,
        "indicator figures": models.IndicatorValue,
    }
    with engine.connect() as connection:
        authority_id = connection.scalar(
            select(models.Authority.id).where(models.Authority.code == settings.authority.code)
        )
        result = {
            name: connection.scalar(select(func.count()).select_from(model).where(model.authority_id == authority_id))
            for name, model in tables.items()
        }
        result["past audits"] = connection.scalar(
            select(func.count())
            .select_from(models.AuditReturn)
            .join(models.Allocation, models.Allocation.id == models.AuditReturn.allocation_id)
            .join(
                models.AuditCycle,
                and_(
                    models.AuditCycle.id == models.Allocation.cycle_id, models.AuditCycle.authority_id == authority_id
                ),
            )
        )
    return result
