"""Write scores back to a Google Sheet: verified, batched, retried (gspread + google-auth).

One run of :meth:`SheetsWriter.write_scores` makes two Sheets API requests, four when it
creates output columns, whatever the number of rows:

1. ``GET spreadsheets/{id}`` with ``ranges`` (the header row and the key columns),
   ``includeGridData`` and a ``fields`` mask: the tab's id and grid size, its real header,
   the key cells and the developer metadata on its columns, read fresh;
2. only when output columns must be created: a ``values.get`` of everything right of the
   header (to find the last column holding any value, not just the last header), then ONE
   ``spreadsheets.batchUpdate`` that grows the grid, writes the new header cells, number
   formats, the Lead Score colour scale and the developer metadata that marks each new
   column as ours;
3. ONE ``values:batchUpdate`` with ``RAW`` input holding every output cell.

Output columns are recognised by that developer metadata (key ``leadscore.output``, value
the output's name), which follows a column wherever it is moved: a column of the user's
headed ``Segment`` is the user's, and ours is then added as ``Segment (scored)`` with a
warning. Rows whose key cells no longer match what the sidebar read (the sheet was sorted,
or rows were inserted or deleted) are skipped and reported; keys that do not identify rows
uniquely are refused. Nothing outside our output columns is ever written.

The rows given are trusted to be checked already (``backend.web.payloads`` does it at the
edge): sheet row numbers of 2 or more, each once, each row as wide as the header.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import numbers
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gspread
import requests
from google.auth.exceptions import RefreshError, TransportError
from google.auth.transport.requests import AuthorizedSession
from google.oauth2 import service_account
from gspread.exceptions import APIError
from gspread.http_client import HTTPClient
from gspread.urls import SPREADSHEET_URL, SPREADSHEETS_API_V4_BASE_URL

from backend.config import DEFAULT_SHEETS_API_URL, Settings
from backend.core.outputs import LEAD_SCORE, NUMBER_FORMATS, OPTIONAL_OUTPUT_COLUMNS, OUTPUT_COLUMNS, SHEETS_EPOCH
from backend.errors import BadInput, LeadScoreError, SheetsError

# Every column the product may write: the fixed outputs, then those of some modes (Rule Points).
WRITABLE_COLUMNS: tuple[str, ...] = (*OUTPUT_COLUMNS, *OPTIONAL_OUTPUT_COLUMNS)

SCOPES: tuple[str, ...] = ("https://www.googleapis.com/auth/spreadsheets",)
GOOGLE_SHEETS_BASE = SPREADSHEETS_API_V4_BASE_URL.removesuffix("/v4/spreadsheets")

# What the verification read asks for: values and our columns' metadata, no formats.
READ_FIELDS = (
    "sheets(properties(sheetId,title,gridProperties(rowCount,columnCount)),"
    "data(startRow,startColumn,rowData(values(effectiveValue,formattedValue)),"
    "columnMetadata(developerMetadata(metadataKey,metadataValue))))"
)
# Developer metadata marking a column the product created; the value is the output's name.
METADATA_KEY = "leadscore.output"
CLASH_SUFFIX = " (scored)"
# How many rows with a repeated key a refusal names.
SHOWN_DUPLICATES = 3
# Google's default colour-scale palette: red (1) -> yellow -> green (10).
SCORE_GRADIENT = {
    "minpoint": {"color": {"red": 0.902, "green": 0.486, "blue": 0.451}, "type": "NUMBER", "value": "1"},
    "midpoint": {"color": {"red": 1.0, "green": 0.839, "blue": 0.4}, "type": "NUMBER", "value": "5.5"},
    "maxpoint": {"color": {"red": 0.341, "green": 0.733, "blue": 0.541}, "type": "NUMBER", "value": "10"},
}
# A date read by Apps Script arrives as UTC; the sheet holds local time. No zone is further apart.
MAX_ZONE_OFFSET = dt.timedelta(hours=14)


class SheetsSession(AuthorizedSession):
    """An authorized session that sends gspread's Google Sheets calls to ``base_url``.

    gspread builds every URL from ``https://sheets.googleapis.com``; rewriting the prefix
    here keeps gspread's own request code on the path that runs against an emulator or proxy.
    """

    def __init__(self, credentials: Any, base_url: str = DEFAULT_SHEETS_API_URL) -> None:
        super().__init__(credentials)
        self.base_url = base_url.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        """Send the request, with Google's Sheets base URL replaced by ``base_url``."""
        if url.startswith(GOOGLE_SHEETS_BASE + "/"):
            url = self.base_url + url[len(GOOGLE_SHEETS_BASE):]
        return super().request(method, url, *args, **kwargs)


def client_from_settings(settings: Settings) -> gspread.Client:
    """A gspread client authorised as the configured service account, at ``settings.sheets_api_url``."""
    if not settings.credentials_file:
        raise SheetsError(
            "No Google service account is configured for writing to sheets: set "
            "GOOGLE_APPLICATION_CREDENTIALS to the service account's JSON key file.")
    try:
        credentials = service_account.Credentials.from_service_account_file(
            settings.credentials_file, scopes=list(SCOPES))
    except (OSError, ValueError) as err:
        raise SheetsError(
            f"The Google service account key file {settings.credentials_file!r} could not be used: {err}. "
            "Set GOOGLE_APPLICATION_CREDENTIALS to the JSON key downloaded for the service account.") from err
    session = SheetsSession(credentials, settings.sheets_api_url or DEFAULT_SHEETS_API_URL)
    client = gspread.Client(credentials, session=session, http_client=HTTPClient)
    client.http_client.auth = credentials
    client.set_timeout((10, 60))
    return client


@dataclass(frozen=True)
class SheetRow:
    """One sheet row as the sidebar read it: 1-based row number (row 1 is the header) and its cells."""

    row: int
    values: list


@dataclass
class WriteReport:
    """What a write did: rows written, rows skipped and why, where the output columns are."""

    written: list[int] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)
    created_columns: list[str] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0


class _GridLimitError(SheetsError):
    """A range fell outside the sheet's grid (the sheet shrank while scoring)."""


@dataclass
class _Run:
    """State of one ``write_scores`` call."""

    spreadsheet_id: str
    sheet: str
    requests: int = 0


@dataclass
class _SheetState:
    """What the verification read found."""

    sheet_id: int
    title: str
    row_count: int
    column_count: int
    header: list[str]
    cells: dict[tuple[int, int], tuple[dict[str, Any], str | None]]  # (row 1-based, col 0-based)
    ours: dict[str, int] = field(default_factory=dict)  # output name -> 0-based column (metadata)


def column_letter(index: int) -> str:
    """0-based column index -> A1 letters (0 -> "A", 27 -> "AB")."""
    letters = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def quote_sheet(title: str) -> str:
    """A tab title quoted for A1 notation (``O'Brien`` -> ``'O''Brien'``)."""
    return "'" + title.replace("'", "''") + "'"


def _header_text(value: Any) -> str:
    return " ".join(str("" if value is None else value).split())


def _runs(indices: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted unique indices -> inclusive (first, last) runs of consecutive numbers."""
    runs: list[tuple[int, int]] = []
    for i in sorted(set(indices)):
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def _at(values: Sequence[Any] | None, index: int) -> Any:
    return values[index] if values is not None and index < len(values) else ""


def _held_value(effective: Mapping[str, Any], formatted: str | None) -> Any:
    """What a cell read back holds, for comparing cells with each other."""
    for kind in ("numberValue", "stringValue", "boolValue"):
        if kind in effective:
            return effective[kind]
    return formatted if formatted is not None else ""


def _letters(positions: Mapping[str, int]) -> dict[str, str]:
    return {h: column_letter(c) for h, c in sorted(positions.items(), key=lambda kv: kv[1])}


def _row_list(numbers: Sequence[int], shown: int = 5) -> str:
    """[2, 5, 9] -> "2, 5 and 9" (at most ``shown`` numbers)."""
    head = [str(n) for n in numbers[:shown]]
    if len(numbers) > shown:
        return ", ".join(head) + f" and {len(numbers) - shown} more"
    return head[0] if len(head) == 1 else ", ".join(head[:-1]) + " and " + head[-1]


def _note_ours(ours: dict[str, int], meta: Mapping[str, Any], column: int) -> None:
    """Record ``column`` when ``meta`` marks it as our output column (leftmost wins)."""
    name = meta.get("metadataValue")
    if meta.get("metadataKey") == METADATA_KEY and name in WRITABLE_COLUMNS:
        ours[name] = min(ours.get(name, column), column)


class _Applied:
    """A request found applied by a re-read after its answer was lost or an error."""

    def __init__(self, found: Any) -> None:
        self.found = found


_NUMBER = re.compile(r"[+-]?(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.\d*)?(?:[eE][+-]?\d+)?|[+-]?\.\d+(?:[eE][+-]?\d+)?")
_ISO_MOMENT = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?")


def _number_key(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if float(value).is_integer():
        return str(int(value))
    return format(value, ".12g")


def normalize_cell(value: Any) -> str:
    """A comparable form of a cell value: "12", 12 and 12.0 agree; spaces, case and None vs "" don't matter."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, numbers.Real):
        return _number_key(float(value))
    text = " ".join(str(value).split())
    if text.upper() in ("TRUE", "FALSE"):
        return text.upper()
    if _NUMBER.fullmatch(text):
        return _number_key(float(text.replace(",", "")))
    return text.casefold()


def _as_moment(value: Any) -> dt.datetime | None:
    """An ISO date or timestamp (as Apps Script serialises a Date) -> naive UTC datetime."""
    if not isinstance(value, str):
        return None
    m = _ISO_MOMENT.fullmatch(value.strip())
    if not m:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "T"))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment


def _cell_matches(sent: Any, effective: Mapping[str, Any], formatted: str | None) -> bool:
    """True when the value the sidebar sent is what the cell holds now."""
    sent_key = normalize_cell(sent)
    candidates: list[Any] = [effective[k] for k in ("numberValue", "stringValue", "boolValue") if k in effective]
    if formatted is not None:
        candidates.append(formatted)
    if not candidates:
        candidates.append("")
    if any(normalize_cell(c) == sent_key for c in candidates):
        return True
    moment = _as_moment(sent)
    if moment is not None and isinstance(effective.get("numberValue"), (int, float)):
        held = SHEETS_EPOCH.replace(tzinfo=None) + dt.timedelta(days=float(effective["numberValue"]))
        return abs(held - moment) <= MAX_ZONE_OFFSET
    return False


def _json_cell(value: Any) -> Any:
    """A value as a JSON scalar for a RAW write ("" clears the cell)."""
    if value is None:
        return ""
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else ""
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return str(value)


def _retry_after(response: requests.Response | None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if response is None:
        return None
    raw = response.headers.get("Retry-After")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


class SheetsWriter:
    """Writes scoring results into a sheet's output columns, safely and in few requests."""

    MAX_WAIT = 30.0  # seconds: no single back-off (or Retry-After) waits longer

    def __init__(self, client: gspread.Client, *, max_attempts: int = 5, backoff_base: float = 0.5,
                 sleep: Callable[[float], Any] = time.sleep, rand: Callable[[], float] = random.random) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.client = client
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.sleep = sleep
        self.rand = rand

    # ------------------------------------------------------------------ public

    def write_scores(self, spreadsheet_id: str, sheet: str, header: list, rows: list[SheetRow],
                     cells: list[dict[str, Any]], key_columns: Sequence[str] | None = None) -> WriteReport:
        """Write ``cells[i]`` (output name -> value) into our output columns of ``rows[i]``."""
        if len(rows) != len(cells):
            raise ValueError(f"{len(rows)} rows but {len(cells)} sets of cells")
        unknown = sorted({h for c in cells for h in c} - set(WRITABLE_COLUMNS))
        if unknown:
            raise ValueError(f"not output columns: {unknown}")
        numbers = [sheet_row.row for sheet_row in rows]
        if len(set(numbers)) != len(numbers) or any(n < 2 for n in numbers):
            raise ValueError("rows must be distinct sheet rows of 2 or more")
        if not str(spreadsheet_id or "").strip():
            raise BadInput("The spreadsheet id is missing.")
        if not str(sheet or "").strip():
            raise BadInput("The sheet (tab) name is missing.")
        run = _Run(str(spreadsheet_id).strip(), str(sheet))
        report = WriteReport()
        if not rows:
            return report
        header_texts = [_header_text(h) for h in header]
        keys = self._key_columns(header_texts, key_columns)
        # Keys that leave data columns out can repeat: check them down the whole column.
        whole_column = not {i for i, h in enumerate(header_texts) if h} <= {i for i, _ in keys}

        state = self._read_state(run, keys, numbers, whole_column)
        keys = self._without_our_columns(state, keys, explicit=key_columns is not None)
        self._check_key_header(state, keys)
        self._check_unique_keys(state, keys, header_texts, rows, whole_column)

        skipped: list[dict[str, Any]] = []
        verified: list[tuple[int, SheetRow, dict[str, Any]]] = []
        for i, (sheet_row, row_cells) in enumerate(zip(rows, cells, strict=True)):
            number = sheet_row.row
            if whole_column and all(normalize_cell(_at(sheet_row.values, k)) == "" for k, _ in keys):
                names = ", ".join(f"'{name}'" for _, name in keys)
                skipped.append({"row": number, "code": "bad_row", "reason": (
                    f"Row {number} has nothing in the key column {names}, so it cannot be told apart from "
                    "other rows — not written. Fill it in, or choose another key column.")})
            elif number > state.row_count:
                skipped.append({"row": number, "code": "row_moved", "reason": (
                    f"Row {number} is past the end of the sheet (it has {state.row_count} rows; rows deleted?) "
                    "— not written; score again.")})
            elif not self._row_unchanged(state, keys, sheet_row):
                skipped.append({"row": number, "code": "row_moved", "reason": (
                    f"Row {number} changed since it was read (rows sorted, inserted or deleted?) "
                    "— not written; score again.")})
            else:
                verified.append((i, sheet_row, row_cells))
        report.skipped = skipped
        report.columns = _letters(state.ours)
        if not verified:
            report.requests = run.requests
            return report

        wanted = [h for h in WRITABLE_COLUMNS if any(h in c for _, _, c in verified)]
        missing = [h for h in wanted if h not in state.ours]
        if missing:
            labels = self._labels(state, missing)
            first_free = self._first_free_column(run, state, header_texts, rows)
            created = self._create_columns(run, state, {h: first_free + k for k, h in enumerate(missing)}, labels)
            report.created_columns = list(created)
            report.warnings = self._clash_warnings(state, labels, created)
        positions = dict(state.ours)
        report.columns = _letters(positions)

        self._write_values(run, state, {h: positions[h] for h in wanted}, verified, bool(missing))
        report.written = [sheet_row.row for _, sheet_row, _ in verified]
        report.requests = run.requests
        return report

    # ------------------------------------------------------------------ planning

    @staticmethod
    def _key_columns(header: list[str], key_columns: Sequence[str] | None) -> list[tuple[int, str]]:
        """(payload index, header text) of the columns that identify a row."""
        if key_columns is None:
            keys = [(i, h) for i, h in enumerate(header) if h]
            if not keys:
                raise BadInput("The header row has no data columns, so rows cannot be checked before writing. "
                               "Send the sheet's header row with the rows.")
            return keys
        keys = sorted({(header.index(_header_text(name)), _header_text(name)) for name in key_columns})
        if not keys:
            raise BadInput("At least one key column is needed to check rows before writing.")
        return keys

    @staticmethod
    def _without_our_columns(state: _SheetState, keys: list[tuple[int, str]],
                             explicit: bool) -> list[tuple[int, str]]:
        """Keys minus our output columns (whose cells we rewrite); a named one is refused."""
        ours = set(state.ours.values())
        if explicit:
            for index, name in keys:
                if index in ours:
                    raise BadInput(f"Column {column_letter(index)} ('{name}') holds the scores, so it cannot "
                                   "identify rows. Choose one of your own columns as the key.", column=name)
            return keys
        kept = [key for key in keys if key[0] not in ours]
        if not kept:
            raise BadInput("The header row has no data columns, so rows cannot be checked before writing. "
                           "Send the sheet's header row with the rows.")
        return kept

    @staticmethod
    def _labels(state: _SheetState, missing: list[str]) -> dict[str, str]:
        """Header text for each output column to create: its name, or a distinct one when taken."""
        taken = {h.casefold() for h in state.header if h}
        labels: dict[str, str] = {}
        for name in missing:
            label, n = name, 1
            while label.casefold() in taken:
                label = name + CLASH_SUFFIX if n == 1 else f"{name} (scored {n})"
                n += 1
            labels[name] = label
            taken.add(label.casefold())
        return labels

    @staticmethod
    def _clash_warnings(state: _SheetState, labels: dict[str, str], created: dict[str, int]) -> list[dict[str, Any]]:
        warnings = []
        for name, label in labels.items():
            if label == name or name not in created:
                continue
            theirs = next((i for i, h in enumerate(state.header)
                           if h.casefold() == name.casefold() and i != created[name]), None)
            where = f"Column {column_letter(theirs)} is" if theirs is not None else "A column is"
            warnings.append({"code": "header_clash", "columns": [name], "message": (
                f"{where} headed '{name}' but was not made by Lead Scoring, so it was left alone; the scores' "
                f"{name} column was added as '{label}' in column {column_letter(created[name])}. If that "
                f"column came from an older version of Lead Scoring, delete or rename it and score again.")})
        return warnings

    def _first_free_column(self, run: _Run, state: _SheetState, sent_header: list[str],
                           rows: Sequence[SheetRow]) -> int:
        """The first column right of every value in the sheet: headers, sent cells, and any cell
        right of the header (a note, a formula), found by one read of that area."""
        used = [len(state.header) - 1]
        used += [i for i, text in enumerate(sent_header) if text]
        for sheet_row in rows:
            used += [i for i, v in enumerate(sheet_row.values or []) if normalize_cell(v) != ""]
        start = len(state.header)
        if start < state.column_count and state.row_count > 0:
            area = (f"{quote_sheet(state.title)}!{column_letter(start)}1:"
                    f"{column_letter(state.column_count - 1)}{state.row_count}")
            params = {"majorDimension": "COLUMNS", "valueRenderOption": "FORMULA"}
            body = self._call(run, f"looking for free columns in '{state.title}'",
                              lambda: self.client.http_client.values_get(run.spreadsheet_id, area, params=params),
                              "Nothing was written.")
            filled = [k for k, column in enumerate(body.get("values") or [])
                      if any(normalize_cell(v) != "" for v in column)]
            if filled:
                used.append(start + filled[-1])
        return max(used, default=-1) + 1

    @staticmethod
    def _check_key_header(state: _SheetState, keys: list[tuple[int, str]]) -> None:
        """Refuse the request when a key column is no longer where the sent header had it."""
        for index, name in keys:
            now = state.header[index] if index < len(state.header) else ""
            if now.casefold() != name.casefold():
                where = f"now '{now}'" if now else "now empty"
                raise BadInput(
                    f"Column {column_letter(index)} was '{name}' when the rows were read but is {where} "
                    "(columns inserted, deleted or moved?). Nothing was written; score again.",
                    column=name)

    @staticmethod
    def _check_unique_keys(state: _SheetState, keys: list[tuple[int, str]], header: list[str],
                           rows: Sequence[SheetRow], whole_column: bool) -> None:
        """Refuse keys that do not tell rows apart: among the rows sent (unless the rows are
        identical in every column, so their scores are too) and, when the keys leave data
        columns out, anywhere down the key columns of the sheet."""
        ours = set(state.ours.values())
        headed = [i for i, h in enumerate(header) if h and i not in ours]
        groups: dict[tuple[str, ...], list[SheetRow]] = {}
        for sheet_row in rows:
            key = tuple(normalize_cell(_at(sheet_row.values, i)) for i, _ in keys)
            if any(key):
                groups.setdefault(key, []).append(sheet_row)
        clashes: dict[tuple[int, ...], str] = {}
        for group in groups.values():
            data = {tuple(normalize_cell(_at(r.values, i)) for i in headed) for r in group}
            if len(group) > 1 and len(data) > 1:
                shown = " / ".join(_header_text(_at(group[0].values, i)) for i, _ in keys)
                clashes[tuple(sorted(r.row for r in group))] = shown
        if whole_column:
            sent = {r.row for r in rows}
            held: dict[tuple[str, ...], list[int]] = {}
            shown_for: dict[tuple[str, ...], str] = {}
            for number in sorted({r for r, c in state.cells if c in {i for i, _ in keys}}):
                cells = [state.cells.get((number, i), ({}, None)) for i, _ in keys]
                key = tuple(normalize_cell(_held_value(*cell)) for cell in cells)
                if any(key):
                    held.setdefault(key, []).append(number)
                    shown_for.setdefault(key, " / ".join(_header_text(_held_value(*cell)) for cell in cells))
            for key, numbers in held.items():
                if len(numbers) > 1 and sent.intersection(numbers) and not any(
                        set(numbers) <= set(seen) for seen in clashes):
                    clashes[tuple(numbers)] = shown_for[key]
        if not clashes:
            return
        names = [name for _, name in keys]
        parts = [f"'{shown}' is in rows {_row_list(numbers)}"
                 for numbers, shown in list(clashes.items())[:SHOWN_DUPLICATES]]
        more = f" (and {len(clashes) - SHOWN_DUPLICATES} more)" if len(clashes) > SHOWN_DUPLICATES else ""
        columns = ", ".join(f"'{n}'" for n in names)
        raise BadInput(
            f"The key column{'s' if len(names) > 1 else ''} {columns} do{'' if len(names) > 1 else 'es'} not "
            f"identify rows uniquely: {'; '.join(parts)}{more}. Scores could land on the wrong lead, so nothing "
            "was written. Choose a key column whose values are unique, such as an id or an email address.",
            column=names[0])

    @staticmethod
    def _row_unchanged(state: _SheetState, keys: list[tuple[int, str]], sheet_row: SheetRow) -> bool:
        values = list(sheet_row.values or [])
        for index, _ in keys:
            sent = values[index] if index < len(values) else ""
            effective, formatted = state.cells.get((sheet_row.row, index), ({}, None))
            if not _cell_matches(sent, effective, formatted):
                return False
        return True

    # ------------------------------------------------------------------ requests

    def _read_state(self, run: _Run, keys: list[tuple[int, str]], row_numbers: list[int],
                    whole_column: bool) -> _SheetState:
        """The verification read: tab properties, header row, column metadata and key cells."""
        key_cols = [index for index, _ in keys]
        low = 2 if whole_column else min(row_numbers)
        high = None if whole_column else max(row_numbers)
        try:
            return self._fetch(run, key_cols, low, high)
        except _GridLimitError:
            # Every requested row (or a key column) lies past the sheet's edge: learn the grid size.
            state = self._fetch(run, [], 0, 0)
            top = state.row_count if high is None else min(high, state.row_count)
            if low <= top and all(c < state.column_count for c in key_cols):
                return self._fetch(run, key_cols, low, top)
            return state

    def _fetch(self, run: _Run, key_cols: list[int], low: int, high: int | None) -> _SheetState:
        title = quote_sheet(run.sheet)
        ranges = [f"{title}!1:1"]
        if key_cols and (high is None or low <= high):
            end = "" if high is None else str(high)
            ranges += [f"{title}!{column_letter(a)}{low}:{column_letter(b)}{end}" for a, b in _runs(key_cols)]
        params: dict[str, Any] = {"ranges": ranges, "includeGridData": "true", "fields": READ_FIELDS}
        body = self._call(run, f"reading the header and key columns of '{run.sheet}'",
                          lambda: self.client.http_client.fetch_sheet_metadata(run.spreadsheet_id, params=params),
                          "Nothing was written.")
        sheets = body.get("sheets") or []
        if not sheets:
            raise BadInput(f"There is no tab named '{run.sheet}' in this spreadsheet (renamed or deleted?).")
        props = sheets[0].get("properties") or {}
        grid = props.get("gridProperties") or {}
        header: list[str] = []
        cells: dict[tuple[int, int], tuple[dict[str, Any], str | None]] = {}
        ours: dict[str, int] = {}
        for data in sheets[0].get("data") or []:
            start_row, start_col = data.get("startRow", 0), data.get("startColumn", 0)
            for i, row_data in enumerate(data.get("rowData") or []):
                for j, cell in enumerate(row_data.get("values") or []):
                    effective = cell.get("effectiveValue") or {}
                    formatted = cell.get("formattedValue")
                    if start_row + i == 0:
                        while len(header) < start_col + j:
                            header.append("")
                        header.append(_header_text(formatted if formatted is not None else
                                                   next(iter(effective.values()), "")))
                    else:
                        cells[(start_row + i + 1, start_col + j)] = (effective, formatted)
            for j, column in enumerate(data.get("columnMetadata") or []):
                for meta in (column or {}).get("developerMetadata") or []:
                    _note_ours(ours, meta, start_col + j)
        while header and not header[-1]:
            header.pop()
        return _SheetState(sheet_id=int(props.get("sheetId", 0)), title=str(props.get("title", run.sheet)),
                           row_count=int(grid.get("rowCount", 0)), column_count=int(grid.get("columnCount", 0)),
                           header=header, cells=cells, ours=ours)

    def _find_ours(self, run: _Run, sheet_id: int) -> dict[str, int]:
        """Our output columns on the tab, by a developer metadata search (a cheap re-read)."""
        url = SPREADSHEET_URL % run.spreadsheet_id + "/developerMetadata:search"
        query = {"dataFilters": [{"developerMetadataLookup": {"metadataKey": METADATA_KEY, "locationType": "COLUMN"}}]}
        body = self._call(run, "checking which output columns exist",
                          lambda: self.client.http_client.request("post", url, json=query).json(),
                          "Nothing was written.")
        ours: dict[str, int] = {}
        for match in body.get("matchedDeveloperMetadata") or []:
            meta = match.get("developerMetadata") or {}
            where = (meta.get("location") or {}).get("dimensionRange") or {}
            if where.get("sheetId") == sheet_id and where.get("dimension") == "COLUMNS":
                _note_ours(ours, meta, int(where.get("startIndex", 0)))
        return ours

    def _create_columns(self, run: _Run, state: _SheetState, created: dict[str, int],
                        labels: dict[str, str]) -> dict[str, int]:
        """One batchUpdate: grow the grid, header cells, number formats, the Lead Score colour
        scale, and the developer metadata that marks each new column as ours.

        Not idempotent, so after a failure whose effect is unknown (5xx, 429, a lost answer)
        the columns are looked up by their metadata before the request is sent again.
        """
        sheet_id = state.sheet_id
        needed = max(created.values()) + 1
        requests_: list[dict[str, Any]] = []
        if needed > state.column_count:
            requests_.append({"appendDimension": {"sheetId": sheet_id, "dimension": "COLUMNS",
                                                  "length": needed - state.column_count}})
        for name, col in created.items():
            requests_.append({"updateCells": {
                "start": {"sheetId": sheet_id, "rowIndex": 0, "columnIndex": col},
                "rows": [{"values": [{"userEnteredValue": {"stringValue": labels[name]},
                                      "userEnteredFormat": {"textFormat": {"bold": True}}}]}],
                "fields": "userEnteredValue,userEnteredFormat.textFormat.bold",
            }})
            requests_.append({"createDeveloperMetadata": {"developerMetadata": {
                "metadataKey": METADATA_KEY, "metadataValue": name, "visibility": "DOCUMENT",
                "location": {"dimensionRange": {"sheetId": sheet_id, "dimension": "COLUMNS",
                                                "startIndex": col, "endIndex": col + 1}},
            }}})
            column = {"sheetId": sheet_id, "startRowIndex": 1, "startColumnIndex": col, "endColumnIndex": col + 1}
            if name in NUMBER_FORMATS:
                requests_.append({"repeatCell": {
                    "range": column,
                    "cell": {"userEnteredFormat": {"numberFormat": dict(NUMBER_FORMATS[name])}},
                    "fields": "userEnteredFormat.numberFormat",
                }})
            if name == LEAD_SCORE:
                requests_.append({"addConditionalFormatRule": {
                    "rule": {"ranges": [column], "gradientRule": SCORE_GRADIENT}, "index": 0}})

        def already_there() -> dict[str, int] | None:
            found = self._find_ours(run, sheet_id)
            return found if all(name in found for name in created) else None

        answer = self._call(run, f"adding the output columns to '{state.title}'",
                            lambda: self.client.http_client.batch_update(run.spreadsheet_id, {"requests": requests_}),
                            "Nothing was written.", recheck=already_there)
        positions = {name: answer.found[name] for name in created} if isinstance(answer, _Applied) else created
        state.column_count = max(state.column_count, max(positions.values()) + 1)
        state.header = list(state.header) + [""] * max(0, state.column_count - len(state.header))
        for name, col in positions.items():
            state.header[col] = labels[name]
        state.ours.update(positions)
        return positions

    def _write_values(self, run: _Run, state: _SheetState, positions: dict[str, int],
                      verified: list[tuple[int, SheetRow, dict[str, Any]]], created: bool) -> None:
        """One RAW values:batchUpdate holding every output cell (one ValueRange per block)."""
        by_row = {sheet_row.row: row_cells for _, sheet_row, row_cells in verified}
        header_at = {col: name for name, col in positions.items()}
        title = quote_sheet(state.title)
        data = []
        for row_lo, row_hi in _runs(list(by_row)):
            for col_lo, col_hi in _runs(list(header_at)):
                values = [[_json_cell(by_row[r][header_at[c]]) if header_at[c] in by_row[r] else None
                           for c in range(col_lo, col_hi + 1)] for r in range(row_lo, row_hi + 1)]
                data.append({"range": f"{title}!{column_letter(col_lo)}{row_lo}:{column_letter(col_hi)}{row_hi}",
                             "majorDimension": "ROWS", "values": values})
        body = {"valueInputOption": "RAW", "includeValuesInResponse": False, "data": data}
        consequence = ("The output columns were added but no scores were written." if created
                       else "No scores were written.")
        self._call(run, f"writing the scores to '{state.title}'",
                   lambda: self.client.http_client.values_batch_update(run.spreadsheet_id, body), consequence)

    # ------------------------------------------------------------------ retries and errors

    def _call(self, run: _Run, what: str, send: Callable[[], Any], consequence: str,
              recheck: Callable[[], Any] | None = None) -> Any:
        """Send one API request, retrying 429 / 5xx / network errors with full-jitter back-off.

        ``recheck`` (for a request that is not idempotent) runs before each retry: when it
        finds the first attempt's effect, that is returned as :class:`_Applied` instead.
        """
        for attempt in range(1, self.max_attempts + 1):
            run.requests += 1
            try:
                return send()
            except APIError as err:
                status = err.response.status_code if err.response is not None else err.code
                if not (status == 429 or status >= 500) or attempt == self.max_attempts:
                    raise self._error(run, what, err, status, attempt, consequence) from err
                wait = self._backoff(attempt, _retry_after(err.response))
            except RefreshError as err:
                raise SheetsError(
                    f"Google refused the backend's service account while {what}: {err}. "
                    f"Check the key in GOOGLE_APPLICATION_CREDENTIALS. {consequence}") from err
            except (requests.ConnectionError, requests.Timeout, TransportError) as err:
                if attempt == self.max_attempts:
                    raise SheetsError(
                        f"Could not reach Google Sheets while {what} ({type(err).__name__}) after {attempt} "
                        f"attempts. {consequence} Try again in a minute.") from err
                wait = self._backoff(attempt, None)
            self.sleep(wait)
            if recheck is not None:
                found = recheck()
                if found is not None:
                    return _Applied(found)
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Full jitter: uniform in [0, base * 2^(attempt-1)], at least Retry-After; capped."""
        ceiling = min(self.MAX_WAIT, self.backoff_base * 2 ** (attempt - 1))
        wait = self.rand() * ceiling
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.MAX_WAIT))
        return wait

    def _account_email(self) -> str:
        http = self.client.http_client
        credentials = getattr(getattr(http, "session", None), "credentials", None) or getattr(http, "auth", None)
        return getattr(credentials, "service_account_email", None) or "the backend's service account"

    def _error(self, run: _Run, what: str, err: APIError, status: int, attempts: int,
               consequence: str) -> LeadScoreError:
        """Map an API failure to the product's errors, with what to do about it."""
        parsed = isinstance(err.error, Mapping) and err.code != -1
        message = str(err.error.get("message", "")) if parsed else ""
        extra = {"sheets_status": status}
        detail = f" ({message})" if message else ""
        if status == 400 and "exceeds grid limits" in message:
            return _GridLimitError(
                f"Google Sheets refused {what}: the range is outside the sheet's grid{detail}. The sheet was "
                f"probably resized while scoring. {consequence} Score again.", extra=extra)
        if status == 400 and message.startswith("Unable to parse range"):
            return BadInput(f"There is no tab named '{run.sheet}' in this spreadsheet (renamed or deleted?). "
                            f"{consequence}", extra=extra)
        if status == 401:
            return SheetsError(f"Google Sheets did not accept the backend's credentials while {what}{detail}. "
                               f"Check the service account key. {consequence}", extra=extra)
        if status == 403:
            if "has not been used" in message or "is disabled" in message:
                return SheetsError(f"The Google Sheets API is not enabled for the service account's Google Cloud "
                                   f"project{detail}. {consequence}", extra=extra)
            return SheetsError(
                f"The backend may not edit spreadsheet {run.spreadsheet_id}. Share the sheet with "
                f"{self._account_email()} as Editor, then score again. {consequence}", extra=extra)
        if status == 404:
            return BadInput(f"Spreadsheet {run.spreadsheet_id} was not found. Check the spreadsheet id (the long "
                            f"code in the sheet's URL). {consequence}", extra=extra)
        if status == 429 or status >= 500:
            return SheetsError(f"Google Sheets kept failing while {what} (HTTP {status}{detail}) after {attempts} "
                               f"attempts. {consequence} Try again in a minute.", extra=extra)
        return SheetsError(f"Google Sheets refused {what} (HTTP {status}{detail}). {consequence}", extra=extra)
