"""The case workbook (``case.xlsx``, openpyxl through pandas) and the same tables as CSV.

Transcripts are untrusted content: a cell that starts with ``=``, ``+``, ``-``, ``@``, tab
or carriage return could run as a formula. In the workbook such cells are stored as text
(string type, quote-prefixed style): the words stay exactly as spoken and are never
evaluated. In CSV, which has no types, they get a leading apostrophe (the OWASP advice),
which Excel and LibreOffice show as text.

A workbook cell cannot hold control characters other than tab, newline and carriage return
(XML 1.0), which a file name or a media tag may carry: there they are written as ``\\xNN``
escapes; the CSV and JSON keep the exact characters.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from ..provenance import atomic_write_bytes
from ..review import part_name
from .tables import FORMULA_PREFIXES

TRUNCATION_MARK = " [truncated: full text in result.json]"
FLAG_FILL = PatternFill(start_color="FFF2CC", end_color="FFF2CC", fill_type="solid")
ERROR_FILL = PatternFill(start_color="F8CBAD", end_color="F8CBAD", fill_type="solid")
WIDE_COLUMNS = {"text": 60, "text_en": 60, "what": 70, "error": 50, "path": 40, "file": 30}
#: sheet -> the columns whose non-empty value marks a row for review, with their fill (the
#: first that applies wins)
MARKED = {"Segments": [("flags", FLAG_FILL)], "Timeline": [("flags", FLAG_FILL)],
          "Files": [("error", ERROR_FILL), ("flags", FLAG_FILL)]}


def _text_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if df[c].dtype == object or pd.api.types.is_string_dtype(df[c])]


def limit_cells(df: pd.DataFrame, max_chars: int) -> pd.DataFrame:
    """Cut text longer than a spreadsheet cell allows, saying so in the cell and the flags."""
    out = df.copy()
    for col in _text_columns(out):
        too_long = out[col].map(lambda v: isinstance(v, str) and len(v) > max_chars)
        if too_long.any():
            out.loc[too_long, col] = out.loc[too_long, col].map(
                lambda v: v[: max_chars - len(TRUNCATION_MARK)] + TRUNCATION_MARK)
            if "flags" in out.columns:
                mark = f"{col}_truncated"
                out.loc[too_long, "flags"] = out.loc[too_long, "flags"].map(
                    lambda f, mark=mark: ", ".join(x for x in [f, mark] if x))
    return out


def xml_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Text with the control characters a workbook cell cannot hold written as ``\\xNN``."""
    out = df.copy()
    for col in _text_columns(out):
        out[col] = out[col].map(lambda v: ILLEGAL_CHARACTERS_RE.sub(lambda m: ascii(m.group())[1:-1], v)
                                if isinstance(v, str) else v)
    return out


def csv_safe(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for col in _text_columns(out):
        out[col] = out[col].map(lambda v: "'" + v if isinstance(v, str) and v.startswith(FORMULA_PREFIXES) else v)
    return out


def write_csvs(tables: dict[str, pd.DataFrame], folder: Path) -> list[Path]:
    """UTF-8 with BOM, so that Excel opens Armenian, Arabic and Cyrillic text right; CRLF
    rows (RFC 4180), so that a stray CR inside a transcript is quoted, not a row break."""
    written = []
    for name, df in tables.items():
        path = folder / f"{name.lower()}.csv"
        atomic_write_bytes(path, csv_safe(df).to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig"))
        written.append(path)
    return written


def write_xlsx(tables: dict[str, pd.DataFrame], path: Path, max_cell_chars: int,
               max_sheet_rows: int = 1_048_575) -> Path:
    """The workbook: a sheet per table; a table of more rows than a worksheet holds (the words
    of a large case) goes on as many as it needs, "Words", "Words (2)", ..."""
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        for name, df in tables.items():
            for k, first in enumerate(range(0, max(1, len(df)), max_sheet_rows)):
                part = df.iloc[first: first + max_sheet_rows]
                limit_cells(xml_safe(part), max_cell_chars).to_excel(writer, sheet_name=part_name(name, k),
                                                                     index=False)
                _format_sheet(writer.sheets[part_name(name, k)], part, name)
    atomic_write_bytes(path, buf.getvalue())
    return path


def _format_sheet(ws, df: pd.DataFrame, name: str) -> None:
    ws.freeze_panes = "A2"
    last_col = get_column_letter(max(1, len(df.columns)))
    ws.auto_filter.ref = f"A1:{last_col}{max(1, len(df) + 1)}"
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for i, col in enumerate(df.columns, start=1):
        letter = get_column_letter(i)
        width = WIDE_COLUMNS.get(col, min(40, max(10, len(str(col)) + 2)))
        ws.column_dimensions[letter].width = width
        wrap = col in WIDE_COLUMNS
        for cell in ws[letter][1:]:
            if isinstance(cell.value, str):
                if cell.value.startswith(FORMULA_PREFIXES):
                    cell.data_type = "s"  # openpyxl took "=..." for a formula: store it as text
                    cell.quotePrefix = True
                if wrap:
                    cell.alignment = Alignment(wrap_text=True, vertical="top")
    for column, fill in MARKED.get(name, []):
        if column in df.columns and len(df):
            col = get_column_letter(list(df.columns).index(column) + 1)
            ws.conditional_formatting.add(f"A2:{last_col}{len(df) + 1}",
                                          FormulaRule(formula=[f'LEN(${col}2)>0'], fill=fill, stopIfTrue=True))
    if name == "Segments" and "language_uncertain" in df.columns and len(df):
        col = get_column_letter(list(df.columns).index("language_uncertain") + 1)
        ws.conditional_formatting.add(f"A2:{last_col}{len(df) + 1}",
                                      FormulaRule(formula=[f'${col}2=TRUE'], fill=FLAG_FILL))
