"""Write scores back to a Google Sheet: verified, batched, retried (gspread + google-auth).

One run of :meth:`SheetsWriter.write_scores` makes at most three Sheets API requests,
whatever the number of rows:

1. ``GET spreadsheets/{id}`` with ``ranges`` (the header row and the key columns of the
   requested rows), ``includeGridData`` and a ``fields`` mask: the tab's id and grid size,
   its real header and the key cells, read fresh;
2. only when output columns must be created: ONE ``spreadsheets.batchUpdate`` that grows
   the grid, writes the new header cells, number formats and the Lead Score colour scale;
3. ONE ``values:batchUpdate`` with ``RAW`` input holding every output cell.

Rows whose key cells no longer match what the sidebar read (the sheet was sorted, or rows
were inserted or deleted) are skipped and reported; nothing outside the output columns is
ever written.
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
from gspread.urls import SPREADSHEETS_API_V4_BASE_URL

from backend.config import DEFAULT_SHEETS_API_URL, Settings
from backend.core.outputs import LEAD_SCORE, NUMBER_FORMATS, OPTIONAL_OUTPUT_COLUMNS, OUTPUT_COLUMNS
from backend.errors import BadInput, LeadScoreError, SheetsError

# Every column the product may write: the fixed outputs, then those of some modes (Rule Points).
WRITABLE_COLUMNS: tuple[str, ...] = (*OUTPUT_COLUMNS, *OPTIONAL_OUTPUT_COLUMNS)

SCOPES: tuple[str, ...] = ("https://www.googleapis.com/auth/spreadsheets",)
GOOGLE_SHEETS_BASE = SPREADSHEETS_API_V4_BASE_URL.removesuffix("/v4/spreadsheets")

# What the verification read asks for: no formats, no metadata, just values.
READ_FIELDS = (
    "sheets(properties(sheetId,title,gridProperties(rowCount,columnCount)),"
    "data(startRow,startColumn,rowData(values(effectiveValue,formattedValue))))"
)
# Google's default colour-scale palette: red (1) -> yellow -> green (10).
SCORE_GRADIENT = {
    "minpoint": {"color": {"red": 0.902, "green": 0.486, "blue": 0.451}, "type": "NUMBER", "value": "1"},
    "midpoint": {"color": {"red": 1.0, "green": 0.839, "blue": 0.4}, "type": "NUMBER", "value": "5.5"},
    "maxpoint": {"color": {"red": 0.341, "green": 0.733, "blue": 0.541}, "type": "NUMBER", "value": "10"},
}
SERIAL_EPOCH = dt.datetime(1899, 12, 30)
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


_NUMBER = re.compile(r"[+-]?(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.\d*)?(?:[eE][+-]?\d+)?|[+-]?\.\d+(?:[eE][+-]?\d+)?")
_ISO_MOMENT = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?")


def _number_key(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if float(value).is_integer():
        return str(int(value))
    return format(value, ".12g")


def normalise_cell(value: Any) -> str:
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
    sent_key = normalise_cell(sent)
    candidates: list[Any] = [effective[k] for k in ("numberValue", "stringValue", "boolValue") if k in effective]
    if formatted is not None:
        candidates.append(formatted)
    if not candidates:
        candidates.append("")
    if any(normalise_cell(c) == sent_key for c in candidates):
        return True
    moment = _as_moment(sent)
    if moment is not None and isinstance(effective.get("numberValue"), (int, float)):
        held = SERIAL_EPOCH + dt.timedelta(days=float(effective["numberValue"]))
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
        """Write ``cells[i]`` (output header -> value) into the output columns of ``rows[i]``."""
        if len(rows) != len(cells):
            raise ValueError(f"{len(rows)} rows but {len(cells)} sets of cells")
        unknown = sorted({h for c in cells for h in c} - set(WRITABLE_COLUMNS))
        if unknown:
            raise ValueError(f"not output columns: {unknown}")
        if not str(spreadsheet_id or "").strip():
            raise BadInput("The spreadsheet id is missing.")
        if not str(sheet or "").strip():
            raise BadInput("The sheet (tab) name is missing.")
        run = _Run(str(spreadsheet_id).strip(), str(sheet))
        report = WriteReport()
        skipped: list[tuple[int, dict[str, Any]]] = []
        header_texts = [_header_text(h) for h in header]
        keys = self._key_columns(header_texts, key_columns)

        candidates: list[tuple[int, SheetRow, dict[str, Any]]] = []
        seen: set[int] = set()
        for i, (sheet_row, row_cells) in enumerate(zip(rows, cells, strict=True)):
            number = sheet_row.row
            reason = None
            if isinstance(number, bool) or not isinstance(number, int) or number < 1:
                reason = f"Row {number} is not a row of the sheet — not written."
            elif number == 1:
                reason = "Row 1 is the header row — not written."
            elif number in seen:
                reason = f"Row {number} appears more than once in the request — this copy was not written."
            if reason:
                skipped.append((i, {"row": number, "code": "bad_row", "reason": reason}))
                continue
            seen.add(number)
            candidates.append((i, sheet_row, row_cells))
        if not candidates:
            report.skipped = [entry for _, entry in sorted(skipped, key=lambda s: s[0])]
            return report

        state = self._read_state(run, keys, [c[1].row for c in candidates])
        self._check_key_header(state, keys)

        verified: list[tuple[int, SheetRow, dict[str, Any]]] = []
        for i, sheet_row, row_cells in candidates:
            number = sheet_row.row
            if number > state.row_count:
                skipped.append((i, {"row": number, "code": "row_moved", "reason": (
                    f"Row {number} is past the end of the sheet (it has {state.row_count} rows; rows deleted?) "
                    "— not written; score again.")}))
            elif not self._row_unchanged(state, keys, sheet_row):
                skipped.append((i, {"row": number, "code": "row_moved", "reason": (
                    f"Row {number} changed since it was read (rows sorted, inserted or deleted?) "
                    "— not written; score again.")}))
            else:
                verified.append((i, sheet_row, row_cells))
        report.skipped = [entry for _, entry in sorted(skipped, key=lambda s: s[0])]

        existing = self._existing_outputs(state.header)
        report.columns = {h: column_letter(c) for h, c in sorted(existing.items(), key=lambda kv: kv[1])}
        if not verified:
            report.requests = run.requests
            return report

        wanted = [h for h in WRITABLE_COLUMNS if any(h in c for _, _, c in verified)]
        missing = [h for h in wanted if h not in existing]
        first_free = self._first_free_column(state.header, header_texts, rows)
        created = {h: first_free + k for k, h in enumerate(missing)}
        if created:
            self._create_columns(run, state, created)
        positions = {**existing, **created}
        report.columns = {h: column_letter(c) for h, c in sorted(positions.items(), key=lambda kv: kv[1])}
        report.created_columns = list(created)

        self._write_values(run, state, {h: positions[h] for h in wanted}, verified, bool(created))
        report.written = [sheet_row.row for _, sheet_row, _ in verified]
        report.requests = run.requests
        return report

    # ------------------------------------------------------------------ planning

    @staticmethod
    def _key_columns(header: list[str], key_columns: Sequence[str] | None) -> list[tuple[int, str]]:
        """(payload index, header text) of the columns that identify a row."""
        if key_columns is None:
            keys = [(i, h) for i, h in enumerate(header) if h and h not in WRITABLE_COLUMNS]
            if not keys:
                raise BadInput("The header row has no data columns, so rows cannot be checked before writing. "
                               "Send the sheet's header row with the rows.")
            return keys
        keys = []
        for name in key_columns:
            text = _header_text(name)
            if text in WRITABLE_COLUMNS:
                raise BadInput(f"'{text}' is an output column and cannot identify rows.", column=text)
            if text not in header:
                raise BadInput(f"Key column '{text}' is not in the header that was sent.", column=text)
            keys.append((header.index(text), text))
        if not keys:
            raise BadInput("At least one key column is needed to check rows before writing.")
        return sorted(set(keys))

    @staticmethod
    def _existing_outputs(header: list[str]) -> dict[str, int]:
        """Output header -> 0-based column, found by exact header text (leftmost wins)."""
        found: dict[str, int] = {}
        for index, text in enumerate(header):
            if text in WRITABLE_COLUMNS and text not in found:
                found[text] = index
        return found

    @staticmethod
    def _first_free_column(sheet_header: list[str], sent_header: list[str], rows: Sequence[SheetRow]) -> int:
        """The first column right of everything that holds the user's data (header or sent cells)."""
        used = [i for i, text in enumerate(sheet_header) if text]
        used += [i for i, text in enumerate(sent_header) if text]
        for sheet_row in rows:
            values = list(sheet_row.values or [])
            used += [i for i, v in enumerate(values) if normalise_cell(v) != ""]
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
    def _row_unchanged(state: _SheetState, keys: list[tuple[int, str]], sheet_row: SheetRow) -> bool:
        values = list(sheet_row.values or [])
        for index, _ in keys:
            sent = values[index] if index < len(values) else ""
            effective, formatted = state.cells.get((sheet_row.row, index), ({}, None))
            if not _cell_matches(sent, effective, formatted):
                return False
        return True

    # ------------------------------------------------------------------ requests

    def _read_state(self, run: _Run, keys: list[tuple[int, str]], row_numbers: list[int]) -> _SheetState:
        """The verification read: tab properties, header row and key cells in one request."""
        key_cols = [index for index, _ in keys]
        low, high = min(row_numbers), max(row_numbers)
        try:
            return self._fetch(run, key_cols, low, high)
        except _GridLimitError:
            # Every requested row (or a key column) lies past the sheet's edge: learn the grid size.
            state = self._fetch(run, [], 0, 0)
            high = min(high, state.row_count)
            if low <= high and all(c < state.column_count for c in key_cols):
                return self._fetch(run, key_cols, low, high)
            return state

    def _fetch(self, run: _Run, key_cols: list[int], low: int, high: int) -> _SheetState:
        title = quote_sheet(run.sheet)
        ranges = [f"{title}!1:1"]
        if key_cols and low <= high:
            ranges += [f"{title}!{column_letter(a)}{low}:{column_letter(b)}{high}" for a, b in _runs(key_cols)]
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
        while header and not header[-1]:
            header.pop()
        return _SheetState(sheet_id=int(props.get("sheetId", 0)), title=str(props.get("title", run.sheet)),
                           row_count=int(grid.get("rowCount", 0)), column_count=int(grid.get("columnCount", 0)),
                           header=header, cells=cells)

    def _create_columns(self, run: _Run, state: _SheetState, created: dict[str, int]) -> None:
        """One batchUpdate: grow the grid, header cells, number formats, the Lead Score colour scale."""
        sheet_id = state.sheet_id
        first = min(created.values())
        needed = max(created.values()) + 1
        requests_: list[dict[str, Any]] = []
        if needed > state.column_count:
            requests_.append({"appendDimension": {"sheetId": sheet_id, "dimension": "COLUMNS",
                                                  "length": needed - state.column_count}})
        requests_.append({"updateCells": {
            "start": {"sheetId": sheet_id, "rowIndex": 0, "columnIndex": first},
            "rows": [{"values": [{"userEnteredValue": {"stringValue": h},
                                  "userEnteredFormat": {"textFormat": {"bold": True}}} for h in created]}],
            "fields": "userEnteredValue,userEnteredFormat.textFormat.bold",
        }})
        for name, col in created.items():
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
        self._call(run, f"adding the output columns to '{state.title}'",
                   lambda: self.client.http_client.batch_update(run.spreadsheet_id, {"requests": requests_}),
                   "Nothing was written.")
        state.column_count = max(state.column_count, needed)
        state.header = list(state.header) + [""] * max(0, needed - len(state.header))
        for name, col in created.items():
            state.header[col] = name

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

    def _call(self, run: _Run, what: str, send: Callable[[], Any], consequence: str) -> Any:
        """Send one API request, retrying 429 / 5xx / network errors with full-jitter back-off."""
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
