"""The one way qaloop writes a workbook, CSV or report page that people open (audit tools, forms, data packs,
the triangulation workbook, the workshop dataset, quarantine and rejected-row files, reports), and names a file
from data.

Each is written whole or not at all: to a hidden partial file beside it, then renamed, so another run writing
the same file, or a reader of the folder, never sees half of one. And no value becomes a live formula, whatever
the data holds (OWASP's CSV-injection guidance): in a workbook every cell is stored as the value it is, never
as a formula; in a CSV, text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is written
with a leading apostrophe, which spreadsheets read as "this is text". A text in a data frame longer than a
workbook cell holds (32,767 characters) is cut there, saying so (openpyxl cuts a cell set one by one there
itself, silently), rather than leave a file Excel calls damaged.
"""

from __future__ import annotations

import os
import threading
import unicodedata
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CELL_LIMIT = 32_767  # characters in one workbook cell (Excel's limit)
# A name's bytes before its suffix: room under the file system's 255 for the partial file's own additions.
NAME_BYTES = 150


def file_in(folder: Path, stem: str, suffix: str) -> Path:
    """A file in ``folder`` named from data (``stem``: a case reference, a staff id, ...) that stays there: path
    separators and control characters become "_", leading dots go, and it is cut to ``NAME_BYTES``."""
    name = "".join("_" if c in "/\\" or unicodedata.category(c).startswith("C") else c for c in stem)
    name = name.lstrip(". ").encode()[:NAME_BYTES].decode(errors="ignore").rstrip() or "unnamed"
    path = folder / f"{name}{suffix}"
    if path.resolve().parent != folder.resolve():  # nothing above can make it so; a guard all the same
        raise ValueError(f"{stem!r} would name a file outside {folder}")
    return path


def save_workbook(book: Workbook, path: Path) -> Path:
    """Save ``book`` to ``path``, every cell as its value, whole or not at all; returns ``path``."""
    _no_formulas(book)
    with _whole(path) as partial:
        book.save(partial)
    return path


def write_sheets(path: Path, sheets: Mapping[str, pd.DataFrame]) -> Path:
    """A workbook of one sheet per frame (named by its key), every cell as its value; returns ``path``."""
    with _whole(path) as partial, pd.ExcelWriter(partial, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            frame.map(_storable).to_excel(writer, sheet_name=name, index=False)
        _no_formulas(writer.book)
    return path


def write_page(path: Path, html: str) -> Path:
    """A report page (self-contained HTML) written whole or not at all; returns ``path``."""
    with _whole(path) as partial:
        partial.write_text(html, encoding="utf-8")
    return path


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """``frame`` as a CSV whose text cannot start a formula; returns ``path``."""
    safe = frame.copy()
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column]):
            safe[column] = safe[column].map(_as_text)
    with _whole(path) as partial:
        safe.to_csv(partial, index=False)
    return path


def _storable(value: Any) -> Any:
    # A workbook cannot hold control characters (NUL, escape, ...): text that somehow has one loses it.
    return _within_a_cell(ILLEGAL_CHARACTERS_RE.sub("", value)) if isinstance(value, str) else value


def _within_a_cell(text: str) -> str:
    if len(text) <= CELL_LIMIT:
        return text
    cut = f" ... (cut: {len(text):,} characters in all)"
    return text[: CELL_LIMIT - len(cut)] + cut


def _as_text(value: Any) -> Any:
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def _no_formulas(book: Workbook) -> None:
    # openpyxl takes any string starting with "=" for a formula; qaloop writes none, so each is text.
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    cell.data_type = "s"


@contextmanager
def _whole(path: Path) -> Iterator[Path]:
    """A partial file beside ``path`` to write to, renamed to ``path`` when the block ends well."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.partial{path.suffix}")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
