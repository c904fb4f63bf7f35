"""Reading and writing lead sheets (CSV with any common separator, XLSX, Parquet)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from backend.errors import BadInput

READABLE = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".parquet")
WRITABLE = (".csv", ".xlsx", ".parquet")


def _sniff(path: Path) -> tuple[str, str]:
    """Guess (encoding, separator) from the first 64 KiB."""
    raw = path.read_bytes()[:65536]
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


def _check(path: Path) -> str:
    if not path.exists():
        raise BadInput(f"File not found: {path}. Check the path.")
    suffix = path.suffix.lower()
    if suffix not in READABLE:
        raise BadInput(f"Cannot read {path.name}: use a .csv, .xlsx or .parquet file.")
    return suffix


def read_table(path: Path | str) -> pd.DataFrame:
    """Read a whole lead sheet as cells (object columns; numbers in text stay text for the schema)."""
    path = Path(path)
    suffix = _check(path)
    try:
        if suffix in (".xlsx", ".xlsm"):
            frame = pd.read_excel(path, dtype=object)
        elif suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            encoding, sep = _sniff(path)
            frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding=encoding)
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise BadInput(f"Cannot read {path.name}: {first}. Save it as CSV (UTF-8) or XLSX and try again.") from exc
    if frame.shape[1] == 0 or frame.empty:
        raise BadInput(f"{path.name} has no data rows under its header.")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.astype(object)


def iter_table(path: Path | str, chunk_rows: int = 100_000) -> Iterator[pd.DataFrame]:
    """Read a sheet in chunks (CSV streams; XLSX / Parquet are read whole)."""
    path = Path(path)
    suffix = _check(path)
    if suffix in (".xlsx", ".xlsm", ".parquet"):
        yield read_table(path)
        return
    encoding, sep = _sniff(path)
    try:
        reader = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding=encoding,
                             chunksize=chunk_rows)
        for chunk in reader:
            chunk.columns = [str(c).strip() for c in chunk.columns]
            yield chunk.astype(object)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise BadInput(f"Cannot read {path.name}: {str(exc).splitlines()[0]}.") from exc


def check_writable(path: Path | str) -> Path:
    """Refuse an output path the CLI cannot write, before any work is done."""
    path = Path(path)
    if path.suffix.lower() not in WRITABLE:
        raise BadInput(f"Cannot write {path.name}: the output must end in .csv, .xlsx or .parquet.")
    return path


def write_table(frame: pd.DataFrame, path: Path | str) -> None:
    """Write a frame by the output's extension."""
    path = check_writable(path)
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        frame.to_excel(path, index=False)
    elif suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
