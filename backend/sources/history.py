"""Where training history comes from: a file (CSV, XLSX, Parquet) or a Google Sheet tab.

A sheet source is written ``sheet://SPREADSHEET_ID/TAB`` (the tab name URL-encoded when it
holds ``/`` or ``%``; spaces may stay as they are, quoted on the command line):

    python -m backend train "sheet://1AbC…xyz/Closed deals" --target Status --positive Won

The tab is read with the service account the backend writes with
(``backend.sheets.writer.client_from_settings``), through gspread's public API:
``client.open_by_key(id).worksheet(tab).get_all_values()`` — the cells as the sheet shows
them (``$12,000``, ``45%``, ``Yes``), which the schema reads like an export of the same
sheet.  The product's own output columns may be there; training never uses them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import pandas as pd

from backend.config import Settings
from backend.errors import BadInput, SheetsError

SCHEME = "sheet://"


@dataclass(frozen=True)
class SheetSource:
    """A spreadsheet id and a tab title."""

    spreadsheet_id: str
    tab: str

    def __str__(self) -> str:
        return f"{SCHEME}{self.spreadsheet_id}/{quote(self.tab, safe=' ')}"


def parse_source(text: str) -> SheetSource | None:
    """The sheet named by ``sheet://ID/TAB``, or None when ``text`` is a file path."""
    if not text.lower().startswith(SCHEME):
        return None
    rest = text[len(SCHEME):]
    sid, sep, tab = rest.partition("/")
    sid, tab = sid.strip(), unquote(tab).strip()
    if not sep or not sid or not tab:
        raise BadInput(f"'{text}' is not a sheet source: write sheet://SPREADSHEET_ID/TAB (the id is the long part "
                       "of the sheet's URL between /d/ and /edit; TAB is the tab's name).")
    return SheetSource(sid, tab)


def values_to_frame(values: list[list[Any]], where: str) -> pd.DataFrame:
    """Row 1 as the header, the rest as cells; fully blank rows dropped, blank headers named."""
    from backend.core.scoring import rows_to_frame

    if not values or not any(str(v).strip() for v in values[0]):
        raise BadInput(f"{where} is empty: row 1 must hold the column headers and the rows below them the leads.")
    width = max(len(r) for r in values)
    header = [str(h).strip() for h in values[0]] + [""] * (width - len(values[0]))
    rows = [list(r) + [""] * (width - len(r)) for r in values[1:] if any(str(v).strip() for v in r)]
    if not rows:
        shown = ", ".join(h for h in header[:6] if h) + (" …" if len(header) > 6 else "")
        raise BadInput(f"{where} has a header row ({shown}) but no leads under it. Add the leads below row 1.")
    return rows_to_frame(header, rows).astype(object)


def read_sheet(client: Any, source: SheetSource) -> pd.DataFrame:
    """Read one tab through a gspread client (errors say what to fix)."""
    import gspread
    from gspread.exceptions import APIError, SpreadsheetNotFound, WorksheetNotFound

    try:
        spreadsheet = client.open_by_key(source.spreadsheet_id)
        try:
            worksheet = spreadsheet.worksheet(source.tab)
        except WorksheetNotFound as exc:
            tabs = ", ".join(f"'{w.title}'" for w in spreadsheet.worksheets()[:10])
            raise BadInput(f"The spreadsheet has no tab named '{source.tab}' (tabs: {tabs}).") from exc
        values = worksheet.get_all_values()
    except SpreadsheetNotFound as exc:
        raise BadInput(f"Spreadsheet {source.spreadsheet_id} was not found, or it is not shared with the "
                       "service account: check the id and share the sheet with the service account's email.") from exc
    except APIError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status == 403:
            raise BadInput(f"The service account may not read spreadsheet {source.spreadsheet_id}: share the sheet "
                           "with the service account's email (Viewer is enough to train).") from exc
        if status == 404:
            raise BadInput(f"Spreadsheet {source.spreadsheet_id} was not found: check the id.") from exc
        raise SheetsError(f"Google Sheets did not return {source} (HTTP {status}). Try again later.") from exc
    except gspread.exceptions.GSpreadException as exc:
        raise SheetsError(f"Google Sheets did not return {source}: {exc}.") from exc
    return values_to_frame(values, f"The tab '{source.tab}'")


def read_history(source: str, settings: Settings, *, client: Any = None) -> pd.DataFrame:
    """The training history at ``source``: a file path or ``sheet://ID/TAB``."""
    sheet = parse_source(source)
    if sheet is None:
        from backend.sources.files import read_table

        return read_table(source)
    if client is None:
        from backend.sheets.writer import client_from_settings

        client = client_from_settings(settings)
    return read_sheet(client, sheet)
