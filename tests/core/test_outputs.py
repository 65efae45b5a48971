"""The one way qaloop writes a workbook or CSV that people open: no value becomes a live formula (OWASP's
CSV-injection guidance: text starting with =, +, -, @, a tab or a carriage return is written as text), and a
file is written whole or not at all."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
from openpyxl import Workbook, load_workbook

from qaloop.core.outputs import save_workbook, write_csv, write_sheets
from qaloop.reporting.workshop import write_workshop_dataset
from qaloop.returns.workbooks import ReflectionSheet, write_reflection_workbook

HOSTILE = ['=HYPERLINK("http://evil.example","click")', "=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\tx"]


def _cells(path: Path) -> list[tuple[str, object]]:
    book = load_workbook(path)
    return [(cell.data_type, cell.value) for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]


def test_no_text_in_a_workbook_becomes_a_formula(tmp_path: Path) -> None:
    frame = pd.DataFrame({"learning point": HOSTILE, "n": range(len(HOSTILE))})
    write_sheets(tmp_path / "pack.xlsx", {"Audits": frame})
    cells = _cells(tmp_path / "pack.xlsx")
    assert "f" not in {kind for kind, _ in cells}  # not one formula
    assert {value for _, value in cells} >= set(HOSTILE)  # the text kept as it was given

    book = Workbook()
    book.active["A1"] = HOSTILE[0]
    save_workbook(book, tmp_path / "form.xlsx")
    assert _cells(tmp_path / "form.xlsx") == [("s", HOSTILE[0])]


def test_the_workbooks_qaloop_sends_hold_hostile_text_as_text(tmp_path: Path) -> None:
    form = write_reflection_workbook(
        tmp_path / "reflection.xlsx", ReflectionSheet(HOSTILE[1], "=Care Act assessment", "2026-09", "=S1", None)
    )
    dataset = write_workshop_dataset(pd.DataFrame({"team": HOSTILE}), tmp_path / "workshop.xlsx")
    for path in (form, dataset):
        assert "f" not in {kind for kind, _ in _cells(path)}, path.name


def test_no_text_in_a_csv_starts_a_formula(tmp_path: Path) -> None:
    frame = pd.DataFrame({"case_ref": HOSTILE, "failed_checks": ["x"] * len(HOSTILE), "n": [-1] * len(HOSTILE)})
    write_csv(frame, tmp_path / "rejected.csv")
    with (tmp_path / "rejected.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["case_ref"] for row in rows] == ["'" + value for value in HOSTILE]
    assert {row["n"] for row in rows} == {"-1"}  # a number stays a number
    assert not list(tmp_path.glob(".*partial"))


def test_a_control_character_in_text_never_stops_a_workbook(tmp_path: Path) -> None:
    write_sheets(tmp_path / "pack.xlsx", {"Audits": pd.DataFrame({"learning point": ["a\x00b\x1bc", "fine"]})})
    assert [value for _, value in _cells(tmp_path / "pack.xlsx")] == ["learning point", "abc", "fine"]


def test_a_text_longer_than_a_cell_holds_is_cut_there_saying_so(tmp_path: Path) -> None:
    # Excel holds 32,767 characters in a cell and calls a workbook with a longer one damaged.
    long = "x" * 100_000
    write_sheets(tmp_path / "pack.xlsx", {"Audits": pd.DataFrame({"learning point": [long]})})
    [cut] = [value for _, value in _cells(tmp_path / "pack.xlsx") if value != "learning point"]
    assert len(cut) == 32_767 and cut.endswith("... (cut: 100,000 characters in all)")
