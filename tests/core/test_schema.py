"""The canonical columns a data officer maps their sources to: README's tables are the schema's own."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from cli.main import app
from qaloop.core.schema import GOVERNANCE, PROVIDER_INTELLIGENCE, SCHEMAS, columns_table
from tests.conftest import PROJECT


def test_readme_lists_every_canonical_column_as_the_schema_defines_it() -> None:
    readme = (PROJECT / "README.md").read_text()
    [copied] = re.findall(r"<!-- canonical columns: begin -->\n(.*?)<!-- canonical columns: end -->", readme, re.S)
    assert copied == columns_table(), "README's column tables differ from qaloop/core/schema.py: paste `qaloop columns`"
    for dataset in ("staff", "cases", "audit_history", "complaints", "surveys"):
        for column in SCHEMAS[next(d for d in SCHEMAS if d.value == dataset)].columns:
            assert f"| `{column.name}` |" in copied


def test_qaloop_columns_prints_the_tables() -> None:
    done = CliRunner().invoke(app, ["columns"])
    assert done.exit_code == 0 and done.output == columns_table()


def test_readme_lists_the_commissioned_markets_columns_as_the_schema_defines_them() -> None:
    readme = (PROJECT / "README.md").read_text()
    [copied] = re.findall(r"<!-- provider columns: begin -->\n(.*?)<!-- provider columns: end -->", readme, re.S)
    assert copied == columns_table(PROVIDER_INTELLIGENCE), "paste `qaloop columns --providers` into README"
    done = CliRunner().invoke(app, ["columns", "--providers"])
    assert done.exit_code == 0 and done.output == copied


def test_readme_lists_the_kpi_returns_columns_as_the_schema_defines_them() -> None:
    readme = (PROJECT / "README.md").read_text()
    [copied] = re.findall(r"<!-- governance columns: begin -->\n(.*?)<!-- governance columns: end -->", readme, re.S)
    assert copied == columns_table(GOVERNANCE), "paste `qaloop columns --governance` into README"
    done = CliRunner().invoke(app, ["columns", "--governance"])
    assert done.exit_code == 0 and done.output == copied
