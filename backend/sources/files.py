"""Reading and writing lead sheets (CSV with any common separator, XLSX, Parquet)."""

from __future__ import annotations

import csv
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from backend.errors import BadInput

WRITABLE = (".csv", ".xlsx", ".parquet")


def _sniff(path: Path) -> tuple[str, str]:
    """Guess (encoding, separator) from the first 64 KiB."""
    raw = path.read_bytes()[:65536]
    sample = ""
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            sample = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    try:
        sep = csv.Sniffer().sniff(sample.split("\n", 1)[0], delimiters=",;\t|").delimiter
    except csv.Error:
        sep = ","
    return encoding, sep


_SAVE_AS = ("In Google Sheets use File → Download → Comma-separated values (.csv) or Microsoft Excel (.xlsx), "
            "or in Excel use Save As, and pass that file.")


def _kind(path: Path) -> str:
    """What the file holds, judged by its content (not its name): ``xlsx``, ``parquet`` or ``text``."""
    if not path.exists():
        raise BadInput(f"File not found: {path}. Check the path and the file name.")
    if path.is_dir():
        raise BadInput(f"{path} is a folder, not a file. Pass the sheet's file, e.g. {path / 'leads.csv'}.")
    with path.open("rb") as fh:
        head = fh.read(4096)
    if not head.strip():
        raise BadInput(f"{path.name} is empty: it holds no header row and no leads. Export the sheet again "
                       "(row 1 the column headers, the leads below). " + _SAVE_AS)
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except zipfile.BadZipFile:
            names = []
        if any(n.startswith("xl/") for n in names):
            return "xlsx"
        what = ("a Word document" if any(n.startswith("word/") for n in names) else
                "an OpenDocument file" if "mimetype" in names else "a zip archive")
        raise BadInput(f"Cannot read {path.name}: it is {what}, not a spreadsheet. {_SAVE_AS}")
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise BadInput(f"Cannot read {path.name}: it is an old Excel 97-2003 workbook (.xls) or another old Office "
                       "file. Open it in Excel or Google Sheets and save it as .xlsx or .csv, then pass that file.")
    if head.startswith(b"%PDF"):
        raise BadInput(f"Cannot read {path.name}: it is a PDF document, not a spreadsheet. {_SAVE_AS}")
    if b"\x00" in head:
        raise BadInput(f"Cannot read {path.name}: it is not a spreadsheet file (CSV, XLSX or Parquet). {_SAVE_AS}")
    return "text"


def _row_of(exc: Exception) -> int | None:
    m = re.search(r"line (\d+)", str(exc))
    return int(m.group(1)) if m else None


def _text_error(path: Path, exc: Exception) -> BadInput:
    """A CSV parsing failure in the product's words (row number, what to do)."""
    row = _row_of(exc)
    if row is None:
        return BadInput(f"Cannot read {path.name} as a table: its rows do not line up with the header row. Save "
                        "the sheet as .xlsx or .csv (UTF-8) and pass that file.")
    return BadInput(f"Row {row} of {path.name} has more cells than the header row: a cell probably holds the separator "
                    "(a comma or semicolon) without quotes. Fix that row, or save the sheet as .xlsx and pass "
                    "that file.", row=row)


def _checked(frame: pd.DataFrame, path: Path, sep: str | None = None) -> pd.DataFrame:
    """Refuse a table with no header or no rows, or a text file that is not split into columns."""
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.shape[1] == 0:
        raise BadInput(f"{path.name} has no header row: row 1 must hold the column headers and the rows below "
                       "them the leads. " + _SAVE_AS)
    if sep is not None and frame.shape[1] == 1:
        first = str(frame.columns[0])[:60]
        raise BadInput(f"{path.name} reads as a single column ('{first}'): no comma, semicolon, tab or | "
                       "separates its values, so it is not a table. Save the sheet as .csv (comma-separated) or "
                       ".xlsx and pass that file.")
    if frame.empty:
        shown = ", ".join(str(c) for c in list(frame.columns)[:6]) + (" …" if frame.shape[1] > 6 else "")
        raise BadInput(f"{path.name} has a header row ({shown}) but no leads under it. Add the leads below row 1, "
                       "or export the sheet again with its rows.")
    return frame.astype(object)


def read_table(path: Path | str) -> pd.DataFrame:
    """Read a whole lead sheet as cells (object columns; numbers in text stay text for the schema).

    The file's content decides how it is read, whatever its name says: a CSV saved as
    ``.xlsx`` or ``.txt`` is read as CSV.
    """
    path = Path(path)
    kind = _kind(path)
    if kind == "xlsx":
        try:
            return _checked(pd.read_excel(path, dtype=object, engine="openpyxl"), path)
        except (ValueError, OSError, KeyError, zipfile.BadZipFile) as exc:
            raise BadInput(f"Cannot read {path.name}: the workbook is damaged or not saved by Excel or Google "
                           "Sheets. Open it there and save it again as .xlsx or .csv, then pass that file.") from exc
    if kind == "parquet":
        try:
            return _checked(pd.read_parquet(path), path)
        except (ValueError, OSError) as exc:
            raise BadInput(f"Cannot read {path.name}: the Parquet file is damaged or incomplete. Write it again, "
                           "or pass the sheet as .csv or .xlsx.") from exc
    encoding, sep = _sniff(path)
    try:
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding=encoding)
    except pd.errors.EmptyDataError as exc:
        raise BadInput(f"{path.name} is empty: it holds no header row and no leads. {_SAVE_AS}") from exc
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise _text_error(path, exc) from exc
    return _checked(frame, path, sep)


def sheet_name(path: Path | str) -> str | None:
    """The first tab's name of an XLSX workbook (the one read), or None for other files."""
    path = Path(path)
    try:
        if _kind(path) != "xlsx":
            return None
        from openpyxl import load_workbook

        workbook = load_workbook(path, read_only=True)
        try:
            return str(workbook.sheetnames[0]) if workbook.sheetnames else None
        finally:
            workbook.close()
    except (BadInput, OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None


def iter_table(path: Path | str, chunk_rows: int = 100_000) -> Iterator[pd.DataFrame]:
    """Read a sheet in chunks (CSV streams; XLSX / Parquet are read whole)."""
    path = Path(path)
    if _kind(path) != "text":
        yield read_table(path)
        return
    encoding, sep = _sniff(path)
    try:
        reader = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding=encoding,
                             chunksize=chunk_rows)
        first = True
        for chunk in reader:
            yield _checked(chunk, path, sep) if first else chunk.set_axis(
                [str(c).strip() for c in chunk.columns], axis=1).astype(object)
            first = False
        if first:  # a header and nothing under it
            _checked(pd.read_csv(path, sep=sep, dtype=str, nrows=0, encoding=encoding), path, sep)
    except pd.errors.EmptyDataError as exc:
        raise BadInput(f"{path.name} is empty: it holds no header row and no leads. {_SAVE_AS}") from exc
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise _text_error(path, exc) from exc


def check_writable(path: Path | str) -> Path:
    """Refuse an output path the CLI cannot write, before any work is done."""
    path = Path(path)
    if path.suffix.lower() not in WRITABLE:
        raise BadInput(f"Cannot write {path.name}: the output must end in .csv, .xlsx or .parquet.")
    return path


# The sheet's Lead Score colour scale (Google's default palette, as backend/sheets/writer.py writes it).
SCORE_COLOURS = ("E67C73", "FFD666", "57BB8A")
XLSX_FORMATS = {"Lead Score": "0", "Close Probability": "0.0%", "Predicted MRR": '"$"#,##0'}


def write_table(frame: pd.DataFrame, path: Path | str, *, sheet: str | None = None) -> None:
    """Write a frame by the output's extension.

    XLSX keeps the tab name given (the input workbook's) and formats the output columns as
    the sheet does: Close Probability as a percentage, Predicted MRR as currency, Lead
    Score coloured red (1) to green (10).
    """
    path = check_writable(path)
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        _write_xlsx(frame, path, sheet or "Scored leads")
    elif suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


def _write_xlsx(frame: pd.DataFrame, path: Path, sheet: str) -> None:
    from openpyxl.formatting.rule import ColorScaleRule
    from openpyxl.utils import get_column_letter

    title = re.sub(r"[\[\]:*?/\\]", " ", sheet).strip()[:31] or "Scored leads"  # Excel's tab-name rules
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        frame.to_excel(writer, sheet_name=title, index=False)
        ws = writer.sheets[title]
        last = len(frame) + 1
        for j, name in enumerate(frame.columns, start=1):
            fmt = XLSX_FORMATS.get(str(name))
            if fmt is None or last < 2:
                continue
            letter = get_column_letter(j)
            for (cell,) in ws.iter_rows(min_row=2, max_row=last, min_col=j, max_col=j):
                cell.number_format = fmt
            if name == "Lead Score":
                low, mid, high = SCORE_COLOURS
                ws.conditional_formatting.add(f"{letter}2:{letter}{last}", ColorScaleRule(
                    start_type="num", start_value=1, start_color=low, mid_type="num", mid_value=5.5,
                    mid_color=mid, end_type="num", end_value=10, end_color=high))
        ws.freeze_panes = "A2"
