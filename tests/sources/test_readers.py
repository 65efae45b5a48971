"""Sources: CSV and XLSX files become the canonical frame; mapping errors and bad values are named."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from qaloop.core.schema import SCHEMAS, Dataset
from qaloop.core.settings import CsvSource, Settings, XlsxSource
from qaloop.sources.readers import SourceError, read_dataset, typed

CASE_COLUMNS = {
    "case_ref": "Case Reference",
    "person_ref": "Person ID",
    "audit_type": "Work Type",
    "area": "Quadrant",
    "team": "Team",
    "worker_id": "Worker ID",
    "start_date": "Start Date",
    "last_activity_date": "Last Activity Date",
    "end_date": "End Date",
}
ROWS = [
    ["CR001", "P001", "care_act_review", "NE", "NE Locality 1", "E1", "03/02/2026", "01/10/2026", ""],
    ["CR002", "P002", "safeguarding", "MID", "Mid Locality 1", "E2", "28/02/2026", "15/11/2026", "15/11/2026"],
]


def with_source(settings: Settings, dataset: Dataset, source: CsvSource | XlsxSource) -> Settings:
    return settings.model_copy(update={"sources": {**settings.sources, dataset: source}})


def csv_source(path: Path, **extra: object) -> CsvSource:
    return CsvSource(kind="csv", path=path, columns=CASE_COLUMNS, date_format="%d/%m/%Y", **extra)


def test_a_mapped_csv_becomes_the_canonical_frame(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    pd.DataFrame(ROWS, columns=[*CASE_COLUMNS.values()]).assign(Extra="ignored").to_csv(path, index=False)
    frame = read_dataset(with_source(settings, Dataset.CASES, csv_source(path)), Dataset.CASES)
    assert list(frame.columns) == SCHEMAS[Dataset.CASES].names
    assert frame["worker_id"].tolist() == ["E1", "E2"]
    assert frame["end_date"].isna().tolist() == [True, False]

    parsed = typed(frame, Dataset.CASES, "%d/%m/%Y")
    assert parsed.loc[0, "start_date"] == pd.Timestamp(2026, 2, 3)  # day first, as the format says
    assert pd.isna(parsed.loc[0, "end_date"])


def test_headers_with_stray_spaces_and_a_semicolon_delimiter_are_read(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    path.write_text(";".join(f" {name} " for name in CASE_COLUMNS.values()) + "\n" + ";".join(ROWS[0]) + "\n")
    frame = read_dataset(with_source(settings, Dataset.CASES, csv_source(path, delimiter=";")), Dataset.CASES)
    assert frame.loc[0, "case_ref"] == "CR001"


def test_a_missing_column_is_named_with_its_mapping_and_the_columns_found(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    header = [name for name in CASE_COLUMNS.values() if name != "Worker ID"] + ["Allocated Worker"]
    pd.DataFrame([ROWS[0]], columns=header).to_csv(path, index=False)
    with pytest.raises(SourceError) as raised:
        read_dataset(with_source(settings, Dataset.CASES, csv_source(path)), Dataset.CASES)
    message = str(raised.value)
    assert "missing column(s) 'worker_id' (mapped from 'Worker ID')" in message
    assert "'Allocated Worker'" in message and str(path) in message


def test_an_optional_column_may_be_absent(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    header = [name for name in CASE_COLUMNS.values() if name != "End Date"]
    pd.DataFrame([row[:-1] for row in ROWS], columns=header).to_csv(path, index=False)
    frame = read_dataset(with_source(settings, Dataset.CASES, csv_source(path)), Dataset.CASES)
    assert frame["end_date"].isna().all()


def test_an_xlsx_sheet_with_real_excel_dates_is_read(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "staff.xlsx"
    staff = pd.DataFrame(
        {
            "Employee": ["E1", "E2"],
            "name": ["A Person", "B Person"],
            "email": ["a@x.example", "b@x.example"],
            "role": ["practitioner", "team_manager"],
            "leave_start": [pd.Timestamp(2026, 12, 1), None],
            "leave_end": [pd.Timestamp(2026, 12, 24), None],
            "active": ["Yes", ""],
        }
    )
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"x": [1]}).to_excel(writer, sheet_name="Notes")
        staff.to_excel(writer, sheet_name="Staff", index=False)
    source = XlsxSource(kind="xlsx", path=path, sheet="Staff", columns={"staff_id": "Employee"})
    frame = typed(read_dataset(with_source(settings, Dataset.STAFF, source), Dataset.STAFF), Dataset.STAFF, "%d/%m/%Y")
    assert frame["staff_id"].tolist() == ["E1", "E2"]
    assert frame.loc[0, "leave_end"] == pd.Timestamp(2026, 12, 24)
    assert frame["active"].tolist() == [True, True]  # blank means active


def test_a_csv_saved_by_excel_in_windows_1252_or_with_a_bom_is_read_without_an_encoding_setting(
    settings: Settings, tmp_path: Path
) -> None:
    rows = [";".join(CASE_COLUMNS.values()), ";".join(ROWS[0]).replace("NE Locality 1", "NE Locality – Café")]
    for name, encoded in (
        ("cp1252.csv", "\r\n".join(rows).encode("cp1252")),
        ("bom.csv", "\r\n".join(rows).encode("utf-8-sig")),
    ):
        path = tmp_path / name
        path.write_bytes(encoded)
        frame = read_dataset(with_source(settings, Dataset.CASES, csv_source(path)), Dataset.CASES)
        assert frame.loc[0, "team"] == "NE Locality – Café" and frame.loc[0, "case_ref"] == "CR001"


def test_a_missing_sheet_and_unreadable_files_are_reported(settings: Settings, tmp_path: Path) -> None:
    workbook = tmp_path / "staff.xlsx"
    pd.DataFrame({"x": [1]}).to_excel(workbook, sheet_name="Other", index=False)
    with pytest.raises(SourceError, match="Worksheet named 'Staff' not found"):
        read_dataset(
            with_source(settings, Dataset.STAFF, XlsxSource(kind="xlsx", path=workbook, sheet="Staff")), Dataset.STAFF
        )

    not_a_workbook = tmp_path / "fake.xlsx"
    not_a_workbook.write_text("this is not a workbook")
    with pytest.raises(SourceError, match="fake.xlsx: not a readable file"):
        read_dataset(with_source(settings, Dataset.STAFF, XlsxSource(kind="xlsx", path=not_a_workbook)), Dataset.STAFF)

    utf16 = tmp_path / "unicode text.csv"
    utf16.write_bytes("Case Reference\tPerson ID\nCR001\tP001\n".encode("utf-16"))
    with pytest.raises(SourceError, match=r"not a readable CSV file \(it holds binary content.*`encoding:`"):
        read_dataset(with_source(settings, Dataset.CASES, csv_source(utf16)), Dataset.CASES)

    with pytest.raises(SourceError, match="file not found"):
        read_dataset(with_source(settings, Dataset.CASES, csv_source(tmp_path / "absent.csv")), Dataset.CASES)

    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(SourceError, match="not a readable CSV"):
        read_dataset(with_source(settings, Dataset.CASES, csv_source(empty)), Dataset.CASES)


def test_an_unconfigured_dataset_is_reported(settings: Settings) -> None:
    bare = settings.model_copy(update={"sources": {}})
    with pytest.raises(SourceError, match="no source is configured for cases"):
        read_dataset(bare, Dataset.CASES)


def test_values_that_do_not_parse_are_named_by_row_key(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    bad = [row.copy() for row in ROWS]
    bad[0][6] = "31/02/2026"
    bad[1][7] = "yesterday"
    pd.DataFrame(bad, columns=[*CASE_COLUMNS.values()]).to_csv(path, index=False)
    frame = read_dataset(with_source(settings, Dataset.CASES, csv_source(path)), Dataset.CASES)
    with pytest.raises(SourceError) as raised:
        typed(frame, Dataset.CASES, "%d/%m/%Y")
    message = str(raised.value)
    assert "start_date: 1 row(s) not a valid date: CR001 ('31/02/2026')" in message
    assert "last_activity_date: 1 row(s) not a valid date: CR002 ('yesterday')" in message


def test_integers_and_flags_are_checked(settings: Settings) -> None:
    frame = pd.DataFrame(
        {
            "complaint_ref": ["C1", "C2", "C3"],
            "received_on": ["2026-01-05", "2026-01-06", "2026-01-07"],
            "area": ["NE"] * 3,
            "team": [pd.NA] * 3,
            "theme": ["delay"] * 3,
            "outcome": ["upheld"] * 3,
            "response_days": ["12", "4.5", pd.NA],
        },
        dtype="string",
    )
    with pytest.raises(SourceError, match=r"response_days: 1 row\(s\) not a valid int: C2 \('4.5'\)"):
        typed(frame, Dataset.COMPLAINTS)
    parsed = typed(frame.drop(index=1), Dataset.COMPLAINTS)
    assert parsed["response_days"].tolist()[0] == 12 and pd.isna(parsed["response_days"].tolist()[1])
    assert parsed["received_on"].tolist()[0] == pd.Timestamp(date(2026, 1, 5))
