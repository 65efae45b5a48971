"""A set-based merge of many rows into a table: the rows staged in bulk in a temporary table (PostgreSQL's
``COPY``, SQLite's plain ``executemany`` of one prepared INSERT), then merged in one ``INSERT ... SELECT ...
ON CONFLICT`` statement, all in the caller's transaction, so that the load stays all or nothing.

Row by row through SQLAlchemy's upsert, a million cases cost over thirty times reading their file; staged, the
database does the work in a few statements. The rows keep what SQLAlchemy would have done to them: each value
passes its column type's bind processor, and a column the rows leave out takes its Python-side default.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, text


def merge_rows(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]], key: Sequence[str]) -> int:
    """Insert ``rows`` into ``table``, updating every other given column of the rows whose ``key`` exists; returns
    how many of them existed already. The rows all have the same columns; ``key`` has a unique index."""
    if not rows:
        return 0
    given = list(rows[0])
    defaults = {
        column.name: column.default.arg if column.default.is_scalar else column.default.arg(None)
        for column in table.columns
        if column.name not in given and column.default is not None and not column.primary_key
        and (column.default.is_scalar or column.default.is_callable)
    }  # fmt: skip
    names = given + list(defaults)
    dialect = connection.dialect
    columns = []
    for name in given:
        process = table.c[name].type._cached_bind_processor(dialect)  # noqa: SLF001  # the type's own conversion
        values = [row[name] for row in rows]
        columns.append([None if value is None else process(value) for value in values] if process else values)
    for name, value in defaults.items():
        process = table.c[name].type._cached_bind_processor(dialect)  # noqa: SLF001
        columns.append([process(value) if process else value] * len(rows))
    quote = dialect.identifier_preparer.quote
    stage = quote(f"qaloop_stage_{table.name}")
    listed = ", ".join(quote(name) for name in names)
    connection.execute(text(f"DROP TABLE IF EXISTS {stage}"))
    connection.execute(text(f"CREATE TEMPORARY TABLE {stage} AS SELECT {listed} FROM {quote(table.name)} WHERE 1 = 0"))
    driver = connection.connection.driver_connection
    tuples = zip(*columns, strict=True)
    if dialect.name == "postgresql":
        with driver.cursor() as cursor, cursor.copy(f"COPY {stage} ({listed}) FROM STDIN") as copy:
            for row in tuples:
                copy.write_row(row)
    else:
        cursor = driver.cursor()
        try:
            cursor.executemany(f"INSERT INTO {stage} ({listed}) VALUES ({', '.join('?' for _ in names)})", tuples)
        finally:
            cursor.close()
    joined = " AND ".join(f"s.{quote(k)} = t.{quote(k)}" for k in key)
    existing = connection.execute(
        text(f"SELECT count(*) FROM {stage} s JOIN {quote(table.name)} t ON {joined}")
    ).scalar_one()
    updates = [name for name in names if name not in key and name in given]
    action = (
        "DO UPDATE SET " + ", ".join(f"{quote(name)} = excluded.{quote(name)}" for name in updates)
        if updates
        else "DO NOTHING"
    )
    conflict = ", ".join(quote(k) for k in key)
    # "WHERE true": SQLite's parser needs it to read ON CONFLICT after INSERT ... SELECT.
    connection.execute(
        text(f"INSERT INTO {quote(table.name)} ({listed}) SELECT {listed} FROM {stage} WHERE true "
             f"ON CONFLICT ({conflict}) {action}")
    )  # fmt: skip
    connection.execute(text(f"DROP TABLE {stage}"))
    return int(existing)
