"""Sources: read a dataset from CSV, XLSX or a SQL query and turn it into the canonical frame.

Reading is in two steps so that checks can see the data as it arrived: ``read_dataset`` returns every
canonical column as text (blank cells as missing), named as in ``qaloop.schema``; ``typed`` then parses
dates, numbers and flags, and names the rows whose values do not parse.
"""

from __future__ import annotations

import contextlib
import hashlib
import zipfile
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import openpyxl
import pandas as pd
from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from qaloop.core.schema import SCHEMAS, Dataset
from qaloop.core.settings import (
    AnnexASource,
    ColumnSpec,
    CqcApiSource,
    CsvSource,
    Settings,
    Source,
    SqlSource,
    XlsxSource,
)
from qaloop.sources.annex_a import AnnexA, AnnexAError, read_annex_a
from qaloop.store.engine import engine_for

_TRUE = {"true", "yes", "y", "1", "active"}
_FALSE = {"false", "no", "n", "0", "inactive", "left"}
_SHOWN_ROWS = 10


class SourceError(Exception):
    """A source could not be read or does not fit the canonical schema; the message says where and why."""


def file_digest(source: Path | BinaryIO) -> str:
    """The SHA-256 of a file's content (at ``source``, or read from an open file from where it stands): its
    identity in the ledger of processed files."""
    if not isinstance(source, Path):
        return hashlib.file_digest(source, "sha256").hexdigest()
    with source.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def describe(source: Source) -> str:
    """How a source is named in messages: its file path, 'SQL query' or 'the CQC API' (never a URL, which may hold
    a password)."""
    if isinstance(source, CqcApiSource):
        return "the CQC API"
    return "SQL query" if isinstance(source, SqlSource) else str(source.path)


def read_dataset(settings: Settings, dataset: Dataset, as_of: date | None = None) -> pd.DataFrame:
    """The configured source of ``dataset`` as a canonical frame of text columns (see ``qaloop.schema``).

    Optional columns the source lacks are present and empty. ``as_of`` is bound as ``:as_of`` in SQL queries.
    Raises SourceError when the source is not configured, cannot be read, or lacks a required column.
    """
    source = settings.sources.get(dataset)
    if source is None:
        raise SourceError(f"no source is configured for {dataset.value} (add sources.{dataset.value} to the config)")
    if isinstance(source, CqcApiSource):
        raise SourceError(
            f"{dataset.value}: the CQC API is read for the stored providers by the market's intake "
            f"(`qaloop load {dataset.value}`, or the provider flows)"
        )
    if isinstance(source, AnnexASource):
        read = read_annex_a_source(settings, read_dataset(settings, Dataset.STAFF, as_of))
        if len(read.problems):
            shown = "; ".join(f"{row.case_ref}: {row.reason}" for row in read.problems.head(10).itertuples())
            raise SourceError(
                f"cases ({describe(source)}): {len(read.problems)} Annex A row(s) cannot become cases: {shown} "
                "(the audit-cycle flow sets them aside and goes on; `qaloop load` does not)"
            )
        return read.cases
    figures = any(column.kind == "number" for column in SCHEMAS[dataset].columns)
    raw = _read_raw(source, as_of, figures)
    return canonical(raw, dataset, source.columns, origin=f"{dataset.value} ({describe(source)})")


def read_annex_a_source(settings: Settings, staff: pd.DataFrame) -> AnnexA:
    """The configured Annex A workbook read into cases against the canonical staff list ``staff``, with the
    rows that cannot become cases and the worker names that match no one or several (see ``annex_a``)."""
    source = settings.sources[Dataset.CASES]
    assert isinstance(source, AnnexASource)
    try:
        return read_annex_a(source.path, source.lists, staff)
    except AnnexAError as error:
        raise SourceError(str(error)) from None


def _read_raw(source: Source, as_of: date | None, figures: bool = False) -> pd.DataFrame:
    """The source's rows as text; ``figures``: the dataset holds figures, so a workbook's percentage cells are
    read as the percentages they show (a cell showing 45.2% holds 0.452)."""
    raw = _read_query(source, as_of) if isinstance(source, SqlSource) else _read_file(source, figures)
    raw.columns = [str(column).strip() for column in raw.columns]
    return raw


# Tried in turn when a CSV source names no encoding: Excel's "CSV UTF-8" (with a BOM) and plain UTF-8, then
# Windows-1252, which Excel's plain "CSV" writes on a UK council's PC (any byte sequence decodes in it).
_ENCODINGS = ("utf-8-sig", "cp1252")
_DELIMITERS = ",;\t|"


def _read_file(source: CsvSource | XlsxSource, figures: bool = False) -> pd.DataFrame:
    origin = describe(source)
    try:
        if isinstance(source, CsvSource):
            return _read_csv(source)
        if figures:
            return _read_shown_percentages(source)
        return pd.read_excel(source.path, sheet_name=source.sheet or 0, dtype=str, engine="openpyxl")
    except FileNotFoundError:
        raise SourceError(f"{origin}: file not found") from None
    except UnicodeDecodeError as error:
        raise SourceError(
            f"{origin}: not readable as {error.encoding} (byte {error.start}); name the file's encoding in the "
            "source's `encoding:` setting (for example cp1252, or utf-16 for Excel's Unicode text)"
        ) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise SourceError(f"{origin}: not a readable CSV file ({error})") from None
    except (zipfile.BadZipFile, OSError) as error:
        raise SourceError(f"{origin}: not a readable file ({error})") from None
    except ValueError as error:  # e.g. a worksheet that is not there
        raise SourceError(f"{origin}: {error}") from None


def _read_shown_percentages(source: XlsxSource) -> pd.DataFrame:
    """A worksheet as text cells, a number formatted as a percentage written as one ("45.2%", not "0.452")."""
    workbook = openpyxl.load_workbook(source.path, read_only=True, data_only=True)
    try:
        sheet = workbook[source.sheet] if source.sheet else workbook.worksheets[0]
        rows = [[_shown(cell) for cell in row] for row in sheet.iter_rows()]
    except KeyError:
        raise ValueError(f"Worksheet named {source.sheet!r} not found") from None
    finally:
        workbook.close()
    if not rows:
        return pd.DataFrame()
    header, *body = rows
    names = [name if name is not None else f"Unnamed: {i}" for i, name in enumerate(header)]
    width = len(names)
    return pd.DataFrame([(row + [None] * width)[:width] for row in body], columns=names, dtype="object").astype(
        "string"
    )


def _shown(cell: Any) -> str | None:
    value = cell.value
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float) and "%" in (cell.number_format or ""):
        return f"{round(value * 100, 10):g}%"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _read_csv(source: CsvSource) -> pd.DataFrame:
    """A CSV file as text cells, its encoding and delimiter as configured or, when not, detected."""
    encodings = (source.encoding,) if source.encoding else _ENCODINGS
    for encoding in encodings[:-1]:
        try:
            return _read_csv_as(source, encoding)
        except UnicodeDecodeError:
            continue
    return _read_csv_as(source, encodings[-1])


def _read_csv_as(source: CsvSource, encoding: str) -> pd.DataFrame:
    with source.path.open(encoding=encoding, newline="") as handle:
        header = handle.readline()
    if "\x00" in header:  # Windows-1252 decodes any byte: a NUL says the file is not text in it at all
        raise SourceError(
            f"{describe(source)}: not a readable CSV file (it holds binary content: a workbook saved as .csv, or "
            "text in UTF-16, which the source's `encoding:` setting can name)"
        )
    return pd.read_csv(
        source.path,
        dtype=str,
        sep=source.delimiter or _delimiter(header),
        encoding=encoding,
        keep_default_na=False,
        na_values=[""],
    )


def _delimiter(header: str) -> str:
    """The delimiter the header line uses most (a comma when it uses none of them)."""
    counts = {delimiter: header.count(delimiter) for delimiter in _DELIMITERS}
    best = max(counts, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def _read_query(source: SqlSource, as_of: date | None) -> pd.DataFrame:
    """The query's rows, read in a transaction the database holds read-only and that is never committed."""
    engine = engine_for(source.url.get_secret_value())
    query = text(source.query)
    params = {"as_of": as_of or date.today()} if "as_of" in query.compile().params else {}
    try:
        with engine.connect() as connection, _read_only(connection):
            raw = pd.read_sql_query(query, connection, params=params)
    except (SQLAlchemyError, pd.errors.DatabaseError) as error:
        # The database's own words, first line only: the rest repeats the query and links to docs.
        reason = str(getattr(error, "orig", None) or error).splitlines()[0]
        raise SourceError(f"{describe(source)}: the query failed: {reason}") from None
    return raw.astype(object).where(raw.notna(), None).map(lambda value: None if value is None else str(value))


@contextlib.contextmanager
def _read_only(connection: Connection) -> Iterator[None]:
    """Hold the block's transaction read-only where the database can say so (PostgreSQL, SQLite); it is rolled
    back at the end either way. Elsewhere (SQL Server, Oracle, MySQL) give qaloop a login that can only read."""
    dialect = connection.dialect.name
    if dialect == "sqlite":
        connection.exec_driver_sql("PRAGMA query_only = ON")
    elif dialect == "postgresql":
        connection.exec_driver_sql("SET TRANSACTION READ ONLY")
    try:
        yield
    finally:
        connection.rollback()
        if dialect == "sqlite":  # the connection goes back to the pool: it may write again for others
            connection.exec_driver_sql("PRAGMA query_only = OFF")


def canonical(
    raw: pd.DataFrame, dataset: Dataset, mapping: Mapping[str, str | ColumnSpec], origin: str
) -> pd.DataFrame:
    """``raw`` made into the canonical columns by ``mapping`` (see ``ColumnSpec``), and nothing else kept.

    Raises SourceError naming each required column that is missing, the source column(s) it was looked for
    under, and the columns that were found.
    """
    schema = SCHEMAS[dataset]
    specs = {name: ColumnSpec.of(mapping.get(name, name)) for name in schema.names}
    missing = [
        name
        for name in schema.required
        if specs[name].constant is None and not any(column in raw.columns for column in specs[name].sources)
    ]
    if missing:
        wanted = ", ".join(_looked_for(name, specs[name]) for name in missing)
        raise SourceError(f"{origin}: missing column(s) {wanted}; the columns found are {list(raw.columns)}")
    frame = pd.DataFrame(index=raw.index)
    for name, spec in specs.items():
        frame[name] = _made(raw, spec)
    return frame


def _looked_for(name: str, spec: ColumnSpec) -> str:
    if spec.sources == [name]:
        return repr(name)
    return f"{name!r} (mapped from {' or '.join(repr(column) for column in spec.sources)})"


# Control characters no text of a council's means (NUL, escape, ...): PostgreSQL refuses a NUL in text, and a
# workbook cannot hold one. Tab, line feed and carriage return are kept.
_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"


def plain(values: pd.Series) -> pd.Series:
    """``values`` as text without control characters (see ``_CONTROL``)."""
    return values.astype("string").str.replace(_CONTROL, "", regex=True)


def _cleaned(values: pd.Series) -> pd.Series:
    """``values`` as plain text, stripped, blanks missing: each distinct value cleaned once (a column of areas or
    teams holds a handful among a million rows)."""
    codes, uniques = pd.factorize(values)
    cleaned = plain(pd.Series(uniques, dtype=object)).str.strip().replace("", pd.NA)
    looked_up = np.append(cleaned.to_numpy(dtype=object), pd.NA)  # a missing value's code, -1, takes the last
    return pd.Series(looked_up[codes], index=values.index, dtype="string")


def _made(raw: pd.DataFrame, spec: ColumnSpec) -> pd.Series:
    """One canonical column as text: the first non-blank of its source columns, its values translated, its
    blanks defaulted; or its constant."""
    blank = pd.Series(pd.NA, index=raw.index, dtype="string")
    if spec.constant is not None:
        return blank.fillna(spec.constant)
    values = blank
    for column in spec.sources:
        if column in raw.columns:
            values = values.fillna(_cleaned(raw[column]))
    if spec.values:
        translated = {key.strip().casefold(): value for key, value in spec.values.items()}
        values = values.str.casefold().map(translated).astype("string").fillna(values)
    return values.fillna(spec.default) if spec.default is not None else values


def typed(frame: pd.DataFrame, dataset: Dataset, date_format: str | None = None) -> pd.DataFrame:
    """A canonical text frame with dates, integers and flags parsed; blank cells become missing values.

    Date columns hold ``datetime64`` values (a ``date_format`` is tried first, then ISO 8601, which is how
    spreadsheet dates arrive), integers ``Int64``, figures ``Float64``, flags ``boolean`` (blank ``active`` means
    true).
    Raises SourceError naming the rows (by key) and the values that do not parse.
    """
    parsed, unreadable = parse_values(frame, dataset, date_format)
    schema = SCHEMAS[dataset]
    problems = [_bad_rows(frame, schema.key, name, mask, schema.column(name).kind) for name, mask in unreadable.items()]
    if problems:
        raise SourceError(f"{dataset.value}: values that cannot be read:\n" + "\n".join(problems))
    return parsed


def parse_values(
    frame: pd.DataFrame, dataset: Dataset, date_format: str | None = None
) -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    """``frame`` parsed as ``typed`` does, without raising: unreadable values become missing.

    Also returns, for each column that had any, the mask of rows whose value could not be read.
    """
    result = frame.copy()
    unreadable: dict[str, pd.Series] = {}
    for column in SCHEMAS[dataset].columns:
        values = frame[column.name]
        if column.kind == "date":
            parsed = _parse_dates(values, date_format)
        elif column.kind == "int":
            parsed = pd.to_numeric(values, errors="coerce")
            parsed = parsed.where(parsed.isna() | (parsed == parsed.round()))
        elif column.kind == "number":
            parsed = _parse_numbers(values)
        elif column.kind == "bool":
            lowered = values.str.lower()
            parsed = pd.Series(pd.NA, index=values.index, dtype="boolean")
            parsed[lowered.isin(_TRUE)] = True
            parsed[lowered.isin(_FALSE)] = False
        else:
            continue
        bad = values.notna() & parsed.isna()
        if bad.any():
            unreadable[column.name] = bad
        if column.kind == "int":
            parsed = parsed.astype("Int64")
        if column.kind == "bool" and column.name == "active":
            parsed = parsed.fillna(True)
        result[column.name] = parsed
    return result, unreadable


def checkable(frame: pd.DataFrame, dataset: Dataset, date_format: str | None) -> pd.DataFrame:
    """``frame`` (canonical text) parsed for checking, with helper columns the schema rules look at.

    For each parsed column: ``<column>__text``, the value as it arrived, and ``<column>__unreadable``,
    whether it was there but could not be read.
    """
    parsed, unreadable = parse_values(frame, dataset, date_format)
    for column in SCHEMAS[dataset].columns:
        if column.kind != "text":
            parsed[f"{column.name}__text"] = frame[column.name]
            parsed[f"{column.name}__unreadable"] = unreadable.get(column.name, pd.Series(False, index=frame.index))
    return parsed


# A figure as a KPI return writes it: 1,234.5 or 45.2% (the percentage sign is dropped: 45.2% is 45.2).
_FIGURE = r"^([-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+]?\.\d+)\s*%?$"


def _parse_numbers(values: pd.Series) -> pd.Series:
    text = values.str.strip()
    figures = text.where(text.str.fullmatch(_FIGURE).fillna(False).astype(bool))
    return pd.to_numeric(figures.str.replace(r"[,%\s]", "", regex=True), errors="coerce").astype("Float64")


def _parse_dates(values: pd.Series, date_format: str | None) -> pd.Series:
    parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    for attempt in ([date_format] if date_format else []) + ["ISO8601"]:
        todo = values.notna() & parsed.isna()
        if not todo.any():
            break
        parsed[todo] = pd.to_datetime(values[todo], format=attempt, errors="coerce")
    return parsed


def _bad_rows(frame: pd.DataFrame, key: tuple[str, ...], column: str, bad: pd.Series, kind: str) -> str:
    rows = frame.loc[bad]
    shown = [
        f"{' / '.join(str(row[k]) for k in key)} ({row[column]!r})" for _, row in rows.head(_SHOWN_ROWS).iterrows()
    ]
    more = f" and {len(rows) - _SHOWN_ROWS} more" if len(rows) > _SHOWN_ROWS else ""
    return f"  - {column}: {len(rows)} row(s) not a valid {kind}: {', '.join(shown)}{more}"
