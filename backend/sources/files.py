"""Reading and writing lead sheets (CSV with any common separator, XLSX, Parquet)."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from backend.errors import BadInput

WRITABLE = (".csv", ".xlsx", ".parquet")


def sniff_text(raw: bytes) -> tuple[str, str]:
    """(encoding, separator) of a text table from its first bytes (64 KiB are plenty)."""
    sample, encoding = "", "latin-1"
    for candidate in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            sample = raw.decode(candidate)
            encoding = candidate
            break
        except UnicodeDecodeError:
            continue
    try:
        sep = csv.Sniffer().sniff(sample.split("\n", 1)[0], delimiters=",;\t|").delimiter
    except csv.Error:
        sep = ","
    return encoding, sep


def _sniff(path: Path) -> tuple[str, str]:
    """Guess (encoding, separator) from the first 64 KiB."""
    with path.open("rb") as fh:
        return sniff_text(fh.read(65536))


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


def _text_error(path: Path, exc: Exception, row: int | None = None) -> BadInput:
    """A CSV parsing failure in the product's words (row number, what to do)."""
    row = _row_of(exc) if row is None else row
    if row is None:
        return BadInput(f"Cannot read {path.name} as a table: its rows do not line up with the header row. Save "
                        "the sheet as .xlsx or .csv (UTF-8) and pass that file.")
    return BadInput(f"Row {row} of {path.name} has more cells than the header row: a cell probably holds the separator "
                    "(a comma or semicolon) without quotes. Fix that row, or save the sheet as .xlsx and pass "
                    "that file.", row=row)


def _check_header(columns: list[str], n_rows: int, path: Path, sep: str | None = None) -> None:
    """Refuse a table with no header or no rows, or a text file that is not split into columns."""
    if len(columns) == 0:
        raise BadInput(f"{path.name} has no header row: row 1 must hold the column headers and the rows below "
                       "them the leads. " + _SAVE_AS)
    if sep is not None and len(columns) == 1:
        first = str(columns[0])[:60]
        raise BadInput(f"{path.name} reads as a single column ('{first}'): no comma, semicolon, tab or | "
                       "separates its values, so it is not a table. Save the sheet as .csv (comma-separated) or "
                       ".xlsx and pass that file.")
    if n_rows == 0:
        shown = ", ".join(str(c) for c in list(columns)[:6]) + (" …" if len(columns) > 6 else "")
        raise BadInput(f"{path.name} has a header row ({shown}) but no leads under it. Add the leads below row 1, "
                       "or export the sheet again with its rows.")


def _checked(frame: pd.DataFrame, path: Path, sep: str | None = None) -> pd.DataFrame:
    """Refuse a table with no header or no rows, or a text file that is not split into columns."""
    frame.columns = [str(c).strip() for c in frame.columns]
    _check_header(list(frame.columns), len(frame), path, sep)
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


DEFAULT_CHUNK_ROWS = 50_000
# pyarrow reads CSV in blocks of this many bytes (some 7,000 rows of a typical sheet); chunks are cut from
# them.  Its reader reads up to 32 blocks ahead of the one parsed, so this also bounds that memory (32 MB);
# one row may not be longer than a block.
_BLOCK_BYTES = 1 << 20


class Chunk:
    """Consecutive rows of a sheet, as scoring reads them and as the output copies them.

    ``cells`` holds the cells :func:`read_table` gives (a CSV cell is exactly its text, a blank
    cell ``""``; read from CSV, the columns are pandas text held by Arrow rather than Python
    objects, which the scoring core hashes and reads without a Python object per cell).
    ``text`` holds the same columns as an Arrow table of strings (null = blank): the CSV and
    Parquet writers copy it to the output without a round trip through Python objects.  Each
    side is made from the other only when asked for.  ``start`` is the position of the chunk's first row among the leads
    (0 = the row under the header).
    """

    def __init__(self, columns: list[str], start: int, *, table: pa.Table | None = None,
                 cells: pd.DataFrame | None = None, strings: bool = False) -> None:
        self.columns = columns
        self.start = start
        self._table = table      # as read: CSV strings, or Parquet's own types
        self._cells = cells
        self._strings = strings  # True when every column of ``table`` is text already (CSV)

    def __len__(self) -> int:
        return self._table.num_rows if self._table is not None else len(self._cells)  # type: ignore[arg-type]

    @property
    def cells(self) -> pd.DataFrame:
        if self._cells is None:
            assert self._table is not None
            index = pd.RangeIndex(self.start, self.start + len(self))
            if self._strings:  # text stays in Arrow's buffers: the scoring core hashes it there
                frame = pd.DataFrame({i: _text(col) for i, col in enumerate(self._table.columns)}, copy=False)
            else:  # as pandas reads the file (its own types, then object), like read_table
                frame = self._table.to_pandas().astype(object)
            frame.columns = self.columns
            frame.index = index
            self._cells = frame
        return self._cells

    @property
    def text(self) -> pa.Table:
        if self._table is not None and self._strings:
            return self._table.rename_columns(self.columns)
        arrays = []
        for j in range(len(self.columns)):
            column = self._table.column(j) if self._table is not None else None
            if column is not None and (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
                arrays.append(column.cast(pa.string()))
            else:  # numbers, dates … as the text a CSV writer gives them
                arrays.append(pa.array([None if _blank(v) else str(v) for v in self.cells.iloc[:, j]],
                                       type=pa.string()))
        return pa.Table.from_arrays(arrays, names=self.columns)

    @property
    def typed(self) -> pa.Table | None:
        """The columns as read, with their own types (Parquet's numbers stay numbers); None if not read by Arrow."""
        return self._table.rename_columns(self.columns) if self._table is not None else None

    def select(self, positions: list[int]) -> Chunk:
        """The same rows with only the columns at ``positions``."""
        from_text = self._table is not None and self._strings  # cells are made again from the text if asked for
        return Chunk([self.columns[j] for j in positions], self.start,
                     table=None if self._table is None else self._table.select(positions),
                     cells=None if self._cells is None or from_text else self._cells.iloc[:, positions],
                     strings=self._strings)


def _text(column: pa.ChunkedArray) -> pd.api.extensions.ExtensionArray:
    """A text column as pandas text held by Arrow (no Python object per cell)."""
    return pd.array(column, dtype=pd.StringDtype("pyarrow"))


def _blank(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value) or value is pd.NaT


def iter_chunks(path: Path | str, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[Chunk]:
    """Read a sheet ``chunk_rows`` rows at a time: CSV and Parquet stream (memory: one chunk); XLSX is
    read whole, then cut.

    The cells are those :func:`read_table` gives for the whole file, and every problem with the
    file is refused with the same message.
    """
    path = Path(path)
    chunk_rows = max(1, int(chunk_rows))
    kind = _kind(path)
    if kind == "xlsx":
        frame = read_table(path)
        columns = list(frame.columns)
        for start in range(0, len(frame), chunk_rows):
            yield Chunk(columns, start, cells=frame.iloc[start:start + chunk_rows])
        return
    if kind == "parquet":
        yield from _parquet_chunks(path, chunk_rows)
        return
    yield from _csv_chunks(path, chunk_rows)


def iter_table(path: Path | str, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Read a sheet in chunks of cells (see :func:`iter_chunks`)."""
    for chunk in iter_chunks(path, chunk_rows):
        yield chunk.cells.astype(object)


def _parquet_chunks(path: Path, chunk_rows: int) -> Iterator[Chunk]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        # A pandas index saved in the file is not one of the sheet's columns (read_parquet makes it the index).
        index = {c for c in (parquet.schema_arrow.pandas_metadata or {}).get("index_columns", [])
                 if isinstance(c, str)}
        own = [j for j, name in enumerate(parquet.schema_arrow.names) if name not in index]
        names = [parquet.schema_arrow.names[j] for j in own]
        columns = [str(c).strip() for c in names]
        start = 0
        for batch in parquet.iter_batches(batch_size=chunk_rows, columns=names, use_threads=False):
            if not batch.num_rows:
                continue
            if start == 0:
                _check_header(columns, batch.num_rows, path)
            yield Chunk(columns, start, table=pa.Table.from_batches([batch]))
            start += batch.num_rows
    except (ValueError, OSError) as exc:
        raise BadInput(f"Cannot read {path.name}: the Parquet file is damaged or incomplete. Write it again, "
                       "or pass the sheet as .csv or .xlsx.") from exc
    if start == 0:
        _check_header(columns, 0, path)


def _csv_chunks(path: Path, chunk_rows: int) -> Iterator[Chunk]:
    """A CSV streamed by pyarrow, every cell as its text (the cells ``pd.read_csv(dtype=str,
    keep_default_na=False)`` gives: a blank cell is ``""``, a short row is padded with blanks)."""
    import pyarrow.csv as pacsv

    encoding, sep = _sniff(path)
    try:  # the header as pandas names it (duplicates numbered, blanks "Unnamed: n"), as read_table does
        header = pd.read_csv(path, sep=sep, dtype=str, nrows=0, encoding=encoding)
    except pd.errors.EmptyDataError as exc:
        raise BadInput(f"{path.name} is empty: it holds no header row and no leads. {_SAVE_AS}") from exc
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise _text_error(path, exc) from exc
    columns = [str(c).strip() for c in header.columns]
    odd: list[tuple[int, list[str] | None]] = []  # rows pyarrow set aside: (row number, padded cells or None)
    too_long: list[int] = []

    def set_aside(row: Any) -> str:
        if row.actual_columns > row.expected_columns:
            too_long.append(row.number)
            return "error"
        cells = None
        if row.text.strip():  # a short row: its cells, then blanks (pandas skips a line of spaces)
            cells = next(csv.reader(io.StringIO(row.text), delimiter=sep), [])
            cells = [*cells, *[""] * (len(columns) - len(cells))][:len(columns)]
        odd.append((row.number, cells))
        return "skip"

    read_options = pacsv.ReadOptions(block_size=_BLOCK_BYTES, use_threads=False,
                                     encoding="utf8" if encoding == "utf-8-sig" else encoding)
    try:
        # The header as pyarrow reads it (duplicates and blanks unnamed by pandas, kept as they are): every
        # column is then declared text.
        probe = pacsv.ParseOptions(delimiter=sep, newlines_in_values=True, invalid_row_handler=lambda row: "skip")
        raw = pacsv.open_csv(path, read_options=read_options, parse_options=probe).schema.names
        reader = pacsv.open_csv(
            path, read_options=read_options,
            parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=True, invalid_row_handler=set_aside),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(raw, pa.string()),
                                                 strings_can_be_null=False))
        if len(reader.schema.names) != len(columns):  # a header pyarrow reads otherwise than pandas
            yield from _pandas_csv_chunks(path, encoding, sep, chunk_rows)
            return
        names = reader.schema.names
        if any(not pa.types.is_string(t) for t in reader.schema.types):  # pragma: no cover (all declared text)
            raise ValueError("a column was not read as text")
        pending: list[pa.Table] = []
        buffered = start = record = 0  # record: data rows seen by the parser, set-aside rows included
        for batch in reader:
            pieces, record = _splice(pa.Table.from_batches([batch]), odd, record, names)
            for piece in pieces:
                pending.append(piece)
                buffered += piece.num_rows
            while buffered >= chunk_rows:
                whole = pa.concat_tables(pending)
                head, rest = whole.slice(0, chunk_rows), whole.slice(chunk_rows)
                if start == 0:
                    _check_header(columns, chunk_rows, path, sep)
                yield Chunk(columns, start, table=head, strings=True)
                start += chunk_rows
                pending, buffered = [rest], rest.num_rows
        pieces, record = _splice(None, odd, record, names)  # short rows at the very end
        pending.extend(pieces)
        buffered += sum(p.num_rows for p in pieces)
        if start == 0:
            _check_header(columns, buffered, path, sep)
        if buffered:
            yield Chunk(columns, start, table=pa.concat_tables(pending), strings=True)
    except (ValueError, UnicodeDecodeError, pa.ArrowException) as exc:
        if too_long:  # pandas names the row as read_table does (its count includes blank lines)
            try:
                for _ in pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding=encoding,
                                     chunksize=chunk_rows):
                    pass
            except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as again:
                raise _text_error(path, again) from exc
            raise _text_error(path, exc, row=too_long[0]) from exc
        if "straddl" in str(exc):  # pyarrow: a row longer than a block
            raise BadInput(f"Cannot read {path.name}: one of its rows holds more than {_BLOCK_BYTES >> 20} MB of "
                           "text. Shorten its longest cells, or save the sheet as .xlsx and pass that file.") from exc
        raise _text_error(path, exc) from exc


def _splice(table: pa.Table | None, odd: list[tuple[int, list[str] | None]], record: int, names: list[str]
            ) -> tuple[list[pa.Table], int]:
    """``table``'s rows with the rows pyarrow set aside put back in their places.

    ``record`` counts the data rows before ``table`` (set-aside ones included); a set-aside row
    numbered n (the header is row 1) is data row n - 2.  Rows set aside after ``table`` wait.
    """
    n = 0 if table is None else table.num_rows
    if not odd:
        return ([table] if table is not None else []), record + n
    pieces: list[pa.Table] = []
    used = 0
    while odd:
        number, cells = odd[0]
        before = (number - 2) - record  # rows of ``table`` that come before it
        if table is not None and used + before > n:
            break
        if before > 0 and table is not None:
            pieces.append(table.slice(used, before))
            used += before
        if cells is not None:
            pieces.append(pa.table([pa.array([c], type=pa.string()) for c in cells], names=names))
        record += before + 1
        odd.pop(0)
    if table is not None and used < n:
        pieces.append(table.slice(used))
        record += n - used
    return pieces, record


def _pandas_csv_chunks(path: Path, encoding: str, sep: str, chunk_rows: int) -> Iterator[Chunk]:
    """pandas' reader, for a header pyarrow would read differently (the cells are the same)."""
    reader = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding=encoding, chunksize=chunk_rows)
    start = 0
    for frame in reader:
        frame.columns = [str(c).strip() for c in frame.columns]
        if start == 0:
            _check_header(list(frame.columns), len(frame), path, sep)
        yield Chunk(list(frame.columns), start, cells=frame.astype(object))
        start += len(frame)
    if start == 0:
        _check_header([str(c).strip() for c in pd.read_csv(path, sep=sep, nrows=0, encoding=encoding).columns],
                      0, path, sep)


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


class TableWriter:
    """Write a scored table chunk by chunk: the input's own columns, then the output columns.

    CSV and Parquet are written as the chunks come, so memory holds one chunk whatever the
    file's size: CSV through pyarrow's CSV writer (text cells quoted, numbers not), Parquet
    through one ParquetWriter whose schema the first chunk fixes (the sheet's columns as text,
    integer and float output columns as such, the rest text; pandas reads ``Lead Score`` back
    as a nullable integer).  XLSX is assembled in memory and written at the end (formatted
    as :func:`write_table` does): for big files write CSV or Parquet.  The output appears at
    ``path`` only when every chunk is written; a run that fails leaves no half-written file.

    CSV and Parquet chunks are encoded and written on a thread of their own (pyarrow does it
    without holding the GIL) while the next chunk is read and scored; one chunk at most waits.
    """

    def __init__(self, path: Path | str, *, sheet: str | None = None) -> None:
        self.path = check_writable(path)
        self.suffix = self.path.suffix.lower()
        self.sheet = sheet
        self._partial = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self._schema: pa.Schema | None = None
        self._writer: Any = None
        self._frames: list[pd.DataFrame] = []
        self._thread: Any = None   # the writing thread (made on the first CSV / Parquet chunk)
        self._pending: Any = None  # the chunk being written there

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    def write(self, chunk: Chunk, outputs: pd.DataFrame) -> None:
        """Append ``chunk``'s rows (its columns as read) with their ``outputs`` beside them."""
        if self.suffix == ".xlsx":
            cells = chunk.cells.astype(object).set_axis(outputs.index, axis=0)
            self._frames.append(pd.concat([cells, outputs], axis=1))
            return
        if self._thread is None:
            from concurrent.futures import ThreadPoolExecutor

            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="write-table")
        self._wait()
        self._pending = self._thread.submit(self._write, chunk, outputs)

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def _stop(self) -> None:
        try:
            self._wait()
        finally:
            if self._thread is not None:
                self._thread.shutdown(wait=True)
                self._thread = None

    def _write(self, chunk: Chunk, outputs: pd.DataFrame) -> None:
        typed = chunk.typed if self.suffix == ".parquet" else None  # Parquet to Parquet keeps the column types
        text = typed if typed is not None else chunk.text
        if self._schema is None:
            self._open(text, outputs)
        assert self._schema is not None
        arrays = list(text.columns)
        for name, field in zip(outputs.columns, list(self._schema)[len(arrays):]):
            arrays.append(_arrow_column(outputs[name], field.type))
        table = pa.Table.from_arrays(arrays, schema=self._schema)
        if self.suffix == ".parquet":
            self._writer.write_table(table)
        else:
            self._writer.write(table)

    def _open(self, text: pa.Table, outputs: pd.DataFrame) -> None:
        fields = [pa.field(name, text.schema.field(j).type) for j, name in enumerate(text.column_names)]
        for name, dtype in outputs.dtypes.items():
            kind = "i" if str(dtype) in ("Int64", "int64") else "f" if pd.api.types.is_float_dtype(dtype) else "s"
            fields.append(pa.field(str(name), {"i": pa.int64(), "f": pa.float64(), "s": pa.string()}[kind]))
        if self.suffix == ".parquet":
            import pyarrow.parquet as pq

            # pandas' own description of the columns, so that read_parquet gives Lead Score as Int64 as before.
            own = text.schema.empty_table().to_pandas()
            texts = {n: object for n, t in own.dtypes.items() if not pd.api.types.is_numeric_dtype(t)}
            like = pd.concat([own.astype(texts), outputs.head(0)], axis=1)
            metadata = pa.Schema.from_pandas(like, preserve_index=False).metadata
            self._schema = pa.schema(fields, metadata=metadata)
            self._writer = pq.ParquetWriter(self._partial, self._schema)
        else:
            import pyarrow.csv as pacsv

            self._schema = pa.schema(fields)
            self._writer = pacsv.CSVWriter(self._partial, self._schema, write_options=csv_write_options())

    def close(self) -> None:
        """Finish the file and put it at its path."""
        self._stop()
        if self.suffix == ".xlsx":
            frame = pd.concat(self._frames) if self._frames else pd.DataFrame()
            self._frames = []
            write_table(frame, self._partial, sheet=self.sheet)
        elif self._writer is not None:
            self._writer.close()
            self._writer = None
        else:  # nothing was written: an empty table
            write_table(pd.DataFrame(), self._partial)
        os.replace(self._partial, self.path)

    def abort(self) -> None:
        """Stop writing and remove what was written."""
        with contextlib.suppress(Exception):
            self._stop()
        if self._writer is not None:
            try:
                self._writer.close()
            finally:
                self._writer = None
        self._frames = []
        self._partial.unlink(missing_ok=True)


def csv_write_options() -> Any:
    """How every CSV the product writes is written (pyarrow; quotes only where a cell needs them)."""
    import pyarrow.csv as pacsv

    return pacsv.WriteOptions(quoting_style="needed")


def _arrow_column(values: pd.Series, kind: pa.DataType) -> pa.Array:
    """One output column as Arrow: blank (None / NaN / NA) becomes null."""
    if pa.types.is_string(kind):  # text pandas already keeps in Arrow is taken as it is
        array = pa.array(values, from_pandas=True)
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        return array if array.type == kind else array.cast(kind)
    if pa.types.is_integer(kind):
        return pa.array(values.astype("Int64"), type=kind, from_pandas=True)
    return pa.array(values.to_numpy(dtype="float64", na_value=float("nan")), type=kind, from_pandas=True)


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
