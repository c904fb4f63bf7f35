"""An in-memory Google Sheets API v4, served over real HTTP, for tests.

``SheetsFake`` is a werkzeug WSGI app on ``127.0.0.1`` (random port, daemon thread) that
answers the Sheets API URL shapes under ``/v4/spreadsheets`` with Google's response and
error bodies, plus an OAuth2 token endpoint (``POST /token``) for the JWT-bearer grant,
so the real gspread client and google-auth's service-account flow run end to end.

Usage::

    with SheetsFake() as fake:                       # or the ``sheets_fake`` fixture
        sid = fake.add_spreadsheet([["Company", "MRR"], ["Acme", 12]], sheet="My Leads")
        key_file = fake.service_account_file(tmp_path)
        settings = settings_for(fake, key_file)      # Settings(sheets_api_url=fake.url, ...)
        fake.fail_next(status=429, times=2)          # fault injection
        ...
        fake.grid(sid, "My Leads")                   # the whole grid, as Python values
        fake.api_requests()                          # [(method, path, query), ...]

Developer metadata is kept on columns (``createDeveloperMetadata`` requests in a batchUpdate,
``developerMetadata:search``, ``columnMetadata[].developerMetadata`` in grid data); it moves
with its column when columns are inserted, deleted or moved, and goes with a deleted column.

What it does not do: evaluate formulas (a formula cell's value is the ``result`` it was
seeded with, else ``#N/A``), named ranges, R1C1 notation, merges, protected ranges,
developer metadata on rows, sheets or the spreadsheet.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime as dt
import functools
import itertools
import json
import math
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

SCOPE_SPREADSHEETS = "https://www.googleapis.com/auth/spreadsheets"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
FAULT_MESSAGES = {
    429: ("Quota exceeded for quota metric 'Write requests' and limit 'Write requests per "
          "minute per user' of service 'sheets.googleapis.com' for consumer "
          "'project_number:000000000000'."),
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
    504: "The service is currently unavailable.",
}
MISSING_CREDENTIALS = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, "
    "login cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
INVALID_CREDENTIALS = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
# Google's front end answers a 502 with an HTML page, not JSON.
BAD_GATEWAY_HTML = (
    "<!DOCTYPE html>\n<html lang=en><meta charset=utf-8><title>Error 502 (Server Error)!!1"
    "</title><p><b>502.</b> <ins>That's an error.</ins><p>The server encountered a temporary "
    "error and could not complete your request.<p>Please try again in 30 seconds.</html>"
)
SERIAL_EPOCH = dt.datetime(1899, 12, 30)


class SheetsApiError(Exception):
    """An error answered with Google's JSON error body."""

    def __init__(self, code: int, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or STATUS_NAMES.get(code, "UNKNOWN")

    def body(self) -> dict[str, Any]:
        """Google's ``{"error": {...}}`` body."""
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


def _bad(message: str) -> SheetsApiError:
    return SheetsApiError(400, message)


# --------------------------------------------------------------------------- A1 notation


def col_letters(index: int) -> str:
    """0-based column index -> letters (0 -> A, 26 -> AA)."""
    letters = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def col_index(letters: str) -> int:
    """Column letters -> 0-based index (A -> 0)."""
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ord(ch) - 64)
    return n - 1


_PLAIN_TITLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CELL_LIKE = re.compile(r"([A-Za-z]{1,3}[0-9]+|[Rr][0-9]*[Cc][0-9]*)")


def quote_title(title: str) -> str:
    """A sheet title as Google writes it in a range: quoted only when needed."""
    if _PLAIN_TITLE.fullmatch(title) and not _CELL_LIKE.fullmatch(title):
        return title
    return "'" + title.replace("'", "''") + "'"


def always_quoted(title: str) -> str:
    """A sheet title quoted, as Google writes it in error messages."""
    return "'" + title.replace("'", "''") + "'"


@dataclass(frozen=True)
class Box:
    """A rectangle of the grid: 0-based, end-exclusive; ``None`` end = to the grid's edge."""

    r0: int
    r1: int | None
    c0: int
    c1: int | None

    def clip(self, rows: int, cols: int) -> Box:
        """This box cut to a grid of ``rows`` x ``cols``."""
        r1 = rows if self.r1 is None else min(self.r1, rows)
        c1 = cols if self.c1 is None else min(self.c1, cols)
        return Box(self.r0, r1, self.c0, c1)

    @property
    def closed(self) -> bool:
        """True when both ends are given."""
        return self.r1 is not None and self.c1 is not None

    @property
    def single_cell(self) -> bool:
        """True for a one-cell range (``A1``)."""
        return self.r1 == self.r0 + 1 and self.c1 == self.c0 + 1


def box_a1(box: Box) -> str:
    """A closed box in A1 notation (``A1`` or ``A1:C3``)."""
    assert box.r1 is not None and box.c1 is not None
    start = f"{col_letters(box.c0)}{box.r0 + 1}"
    end = f"{col_letters(box.c1 - 1)}{box.r1}"
    return start if start == end else f"{start}:{end}"


_CELL_RE = re.compile(r"\$?([A-Za-z]{1,3})?\$?([0-9]+)?")


def _parse_cell_ref(text: str) -> tuple[int | None, int | None] | None:
    m = _CELL_RE.fullmatch(text.strip())
    if not m or not (m.group(1) or m.group(2)):
        return None
    col = col_index(m.group(1)) if m.group(1) else None
    row = int(m.group(2)) - 1 if m.group(2) else None
    if row is not None and row < 0:
        return None
    return col, row


def parse_cells(cells: str) -> Box | None:
    """Parse the part after ``!``: ``A1``, ``A1:C3``, ``A:C``, ``1:3``, ``A2:C``; None if invalid."""
    parts = cells.split(":")
    if len(parts) == 1:
        ref = _parse_cell_ref(parts[0])
        if ref is None or ref[0] is None or ref[1] is None:
            return None
        return Box(ref[1], ref[1] + 1, ref[0], ref[0] + 1)
    if len(parts) != 2:
        return None
    a, b = _parse_cell_ref(parts[0]), _parse_cell_ref(parts[1])
    if a is None or b is None:
        return None
    (ac, ar), (bc, br) = a, b
    if ac is None and bc is None:  # whole rows 1:3
        if ar is None or br is None:
            return None
        lo, hi = sorted((ar, br))
        return Box(lo, hi + 1, 0, None)
    if ac is None or bc is None:  # "1:C" or "A1:5"
        return None
    c_lo, c_hi = sorted((ac, bc))
    if ar is None and br is None:  # whole columns A:C
        return Box(0, None, c_lo, c_hi + 1)
    if br is None:  # open-ended A2:C
        return Box(ar or 0, None, c_lo, c_hi + 1)
    r_lo, r_hi = sorted((ar or 0, br))
    return Box(r_lo, r_hi + 1, c_lo, c_hi + 1)


def split_range(a1: str) -> tuple[str | None, str | None]:
    """Split ``'O''Brien'!A1:B2`` into (title, cells); a bare name gives (name, None)."""
    text = a1.strip()
    if text.startswith("'"):
        i, title = 1, []
        while i < len(text):
            ch = text[i]
            if ch == "'":
                if i + 1 < len(text) and text[i + 1] == "'":
                    title.append("'")
                    i += 2
                    continue
                break
            title.append(ch)
            i += 1
        else:
            raise ValueError("unterminated quote")
        rest = text[i + 1:]
        if rest == "":
            return "".join(title), None
        if not rest.startswith("!"):
            raise ValueError("junk after quoted title")
        return "".join(title), rest[1:]
    if "!" in text:
        title, _, cells = text.rpartition("!")
        return title, cells
    return None, text


# --------------------------------------------------------------------------- field masks


def parse_field_mask(fields: str) -> dict[str, Any]:
    """Parse a Google field mask (``a(b,c.d),e/f``) into a tree; leaves are ``True``."""
    tokens = re.findall(r"[A-Za-z0-9_*]+|[.,()/]", fields.replace(" ", ""))
    pos = 0

    def parse_list() -> dict[str, Any]:
        nonlocal pos
        tree: dict[str, Any] = {}
        while pos < len(tokens):
            path = [tokens[pos]]
            pos += 1
            while pos < len(tokens) and tokens[pos] in (".", "/"):
                path.append(tokens[pos + 1])
                pos += 2
            sub: Any = True
            if pos < len(tokens) and tokens[pos] == "(":
                pos += 1
                sub = parse_list()
                pos += 1  # ")"
            _merge_path(tree, path, sub)
            if pos < len(tokens) and tokens[pos] == ",":
                pos += 1
                continue
            break
        return tree

    return parse_list()


def _merge_path(tree: dict[str, Any], path: list[str], sub: Any) -> None:
    node = tree
    for name in path[:-1]:
        nxt = node.get(name)
        if nxt is True:
            return
        node = node.setdefault(name, {})
    last = path[-1]
    if sub is True or node.get(last) is True:
        node[last] = True
    elif isinstance(node.get(last), dict):
        for key, value in sub.items():
            _merge_path(node[last], [key], value)
    else:
        node[last] = sub


@functools.lru_cache(maxsize=256)
def mask_paths(fields: str) -> tuple[tuple[str, ...], ...]:
    """The leaf paths of a field mask (``userEnteredFormat.numberFormat`` -> (("userEnteredFormat", ...),))."""
    out: list[tuple[str, ...]] = []

    def walk(tree: dict[str, Any], prefix: list[str]) -> None:
        for key, value in tree.items():
            if value is True:
                out.append((*prefix, key))
            else:
                walk(value, [*prefix, key])

    walk(parse_field_mask(fields), [])
    return tuple(out)


def filter_fields(obj: Any, tree: Any) -> Any:
    """Keep only what the mask tree names (lists filtered element-wise)."""
    if tree is True or (isinstance(tree, dict) and "*" in tree):
        return obj
    if isinstance(obj, list):
        return [filter_fields(item, tree) for item in obj]
    if isinstance(obj, dict):
        return {k: filter_fields(v, tree[k]) for k, v in obj.items() if k in tree}
    return obj


def apply_mask(target: dict[str, Any], source: Mapping[str, Any], fields: str) -> None:
    """Copy the masked fields of ``source`` onto ``target`` (absent in source = cleared)."""
    if fields.strip() == "*":
        target.clear()
        target.update(copy.deepcopy(dict(source)))
        return
    for path in mask_paths(fields):
        src: Any = source
        for name in path:
            src = src.get(name) if isinstance(src, Mapping) else None
        node = target
        for name in path[:-1]:
            node = node.setdefault(name, {})
        if src is None:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = copy.deepcopy(src)
    _prune_empty(target)


def _prune_empty(node: dict[str, Any]) -> None:
    for key in list(node):
        if isinstance(node[key], dict):
            _prune_empty(node[key])
            if not node[key]:
                del node[key]


# --------------------------------------------------------------------------- cell values


@dataclass(frozen=True)
class Formula:
    """A seeded formula cell; ``result`` is what the sheet would show (the fake never evaluates)."""

    text: str
    result: Any = None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number_out(value: float) -> int | float:
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else value


def raw_extended(value: Any, where: str) -> dict[str, Any] | None:
    """A JSON value written with ``RAW`` -> ExtendedValue (None = leave the cell, "" = clear)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return {"boolValue": value}
    if _is_number(value):
        if not math.isfinite(value):
            raise _bad(f"Invalid {where}: number_value is not finite")
        return {"numberValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    kind = "list_value" if isinstance(value, list) else "struct_value"
    raise _bad(f"Invalid {where}: {kind} {json.dumps(value)}")


_USER_NUMBER = re.compile(
    r"\s*(?P<sign>[+-]?)(?P<cur>\$?)(?P<int>\d{1,3}(?:,\d{3})+|\d*)(?P<frac>\.\d+)?"
    r"(?:[eE](?P<exp>[+-]?\d+))?(?P<pct>%?)\s*"
)
_ISO_DATE = re.compile(r"\s*(\d{4})-(\d{2})-(\d{2})\s*")


def user_entered(value: Any, where: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """A JSON value written with ``USER_ENTERED`` -> (ExtendedValue, auto number format)."""
    if not isinstance(value, str):
        return raw_extended(value, where), None
    if value.startswith("="):
        return {"formulaValue": value}, None
    if value.startswith("'"):
        return {"stringValue": value[1:]}, None
    if value.strip().upper() in ("TRUE", "FALSE"):
        return {"boolValue": value.strip().upper() == "TRUE"}, None
    m = _USER_NUMBER.fullmatch(value)
    if m and (m.group("int") or m.group("frac")):
        number = float((m.group("int") or "0").replace(",", "") + (m.group("frac") or ""))
        if m.group("exp"):
            number *= 10 ** int(m.group("exp"))
        if m.group("sign") == "-":
            number = -number
        if m.group("pct"):
            return {"numberValue": number / 100}, {"type": "PERCENT", "pattern": "0.00%"}
        if m.group("cur"):
            return {"numberValue": number}, {"type": "CURRENCY", "pattern": '"$"#,##0.00'}
        return {"numberValue": number}, None
    d = _ISO_DATE.fullmatch(value)
    if d:
        try:
            day = dt.datetime(int(d.group(1)), int(d.group(2)), int(d.group(3)))
        except ValueError:
            return {"stringValue": value}, None
        return {"numberValue": (day - SERIAL_EPOCH).days}, {"type": "DATE", "pattern": "yyyy-mm-dd"}
    if value == "":
        return {"stringValue": ""}, None
    return {"stringValue": value}, None


def seed_cell(value: Any) -> dict[str, Any] | None:
    """A Python seed value -> stored cell (str stays text; ``Formula`` is a formula)."""
    if value is None or value == "":
        return None
    if isinstance(value, Formula):
        cell: dict[str, Any] = {"userEnteredValue": {"formulaValue": value.text}}
        if value.result is not None:
            cell["effectiveValue"] = raw_extended(value.result, "seed")
        return cell
    if isinstance(value, (dt.date, dt.datetime)):
        moment = value if isinstance(value, dt.datetime) else dt.datetime(value.year, value.month, value.day)
        serial = (moment - SERIAL_EPOCH).total_seconds() / 86400
        pattern = "yyyy-mm-dd hh:mm" if isinstance(value, dt.datetime) else "yyyy-mm-dd"
        kind = "DATE_TIME" if isinstance(value, dt.datetime) else "DATE"
        return {"userEnteredValue": {"numberValue": serial},
                "userEnteredFormat": {"numberFormat": {"type": kind, "pattern": pattern}}}
    extended = raw_extended(value, "seed")
    return {"userEnteredValue": extended} if extended is not None else None


def effective_value(cell: Mapping[str, Any]) -> dict[str, Any] | None:
    """The value the sheet shows (formulas: their seeded result, else ``#N/A``)."""
    uev = cell.get("userEnteredValue")
    if not uev:
        return None
    if "formulaValue" in uev:
        return cell.get("effectiveValue") or {
            "errorValue": {"type": "N_A", "message": "Formulas are not evaluated here."}}
    if uev.get("stringValue") == "":
        return None
    return dict(uev)


def _general(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return format(value, ".10g")


_DATE_TOKENS = re.compile(r"yyyy|yy|mmmm|mmm|mm|m|dd|d|hh|h|ss|s|am/pm", re.IGNORECASE)


def _format_date(value: float, pattern: str) -> str:
    moment = SERIAL_EPOCH + dt.timedelta(days=value)
    out, last_hour = [], False
    pos = 0
    for m in _DATE_TOKENS.finditer(pattern):
        out.append(pattern[pos:m.start()])
        token = m.group().lower()
        if token in ("mm", "m") and last_hour:
            out.append(f"{moment.minute:02d}" if token == "mm" else str(moment.minute))
        else:
            out.append({
                "yyyy": f"{moment.year:04d}", "yy": f"{moment.year % 100:02d}",
                "mmmm": moment.strftime("%B"), "mmm": moment.strftime("%b"),
                "mm": f"{moment.month:02d}", "m": str(moment.month),
                "dd": f"{moment.day:02d}", "d": str(moment.day),
                "hh": f"{moment.hour:02d}", "h": str(moment.hour),
                "ss": f"{moment.second:02d}", "s": str(moment.second),
                "am/pm": "AM" if moment.hour < 12 else "PM",
            }[token])
        last_hour = token in ("hh", "h")
        pos = m.end()
    out.append(pattern[pos:])
    return "".join(out)


_DEFAULT_PATTERNS = {"NUMBER": "#,##0.00", "PERCENT": "0.00%", "CURRENCY": '"$"#,##0.00',
                     "SCIENTIFIC": "0.00E+00", "DATE": "yyyy-mm-dd", "TIME": "hh:mm:ss",
                     "DATE_TIME": "yyyy-mm-dd hh:mm:ss"}


def format_number(value: float, number_format: Mapping[str, Any] | None) -> str:
    """A number as the sheet displays it under ``number_format``."""
    if not number_format:
        return _general(value)
    kind = number_format.get("type", "NUMBER")
    pattern = number_format.get("pattern") or _DEFAULT_PATTERNS.get(kind, "")
    if kind == "TEXT" or not pattern:
        return _general(value)
    if kind in ("DATE", "TIME", "DATE_TIME"):
        return _format_date(value, pattern)
    section = pattern.split(";")[0]
    m = re.search(r"[#0][#0,]*(\.[#0]+)?", section)
    if not m:
        return _general(value)
    number = value * 100 if "%" in section else value
    decimals = len(m.group(1)) - 1 if m.group(1) else 0
    grouped = "," in m.group().split(".")[0]
    digits = f"{abs(number):,.{decimals}f}" if grouped else f"{abs(number):.{decimals}f}"
    sign = "-" if number < 0 and float(digits.replace(",", "")) != 0 else ""

    def literal(text: str) -> str:
        return text.replace('"', "").replace("\\", "")

    return sign + literal(section[:m.start()]) + digits + literal(section[m.end():])


def formatted_value(cell: Mapping[str, Any]) -> str | None:
    """The cell's displayed text (None for an empty cell)."""
    ev = effective_value(cell)
    if ev is None:
        return None
    if "numberValue" in ev:
        nf = (cell.get("userEnteredFormat") or {}).get("numberFormat")
        return format_number(ev["numberValue"], nf)
    if "boolValue" in ev:
        return "TRUE" if ev["boolValue"] else "FALSE"
    if "errorValue" in ev:
        return "#" + ev["errorValue"].get("type", "ERROR").replace("N_A", "N/A")
    return str(ev.get("stringValue", ""))


def unformatted_value(cell: Mapping[str, Any]) -> Any:
    """The cell's value as ``UNFORMATTED_VALUE`` renders it ("" for an empty cell)."""
    ev = effective_value(cell)
    if ev is None:
        return ""
    if "numberValue" in ev:
        return _number_out(ev["numberValue"])
    if "boolValue" in ev:
        return ev["boolValue"]
    if "errorValue" in ev:
        return formatted_value(cell)
    return ev.get("stringValue", "")


def _render(cell: Mapping[str, Any] | None, option: str) -> Any:
    if not cell:
        return ""
    if option == "FORMULA":
        uev = cell.get("userEnteredValue") or {}
        if "formulaValue" in uev:
            return uev["formulaValue"]
        return unformatted_value(cell)
    if option == "UNFORMATTED_VALUE":
        return unformatted_value(cell)
    return formatted_value(cell) or ""


def _trim(rows: list[list[Any]]) -> list[list[Any]]:
    out = []
    for row in rows:
        row = list(row)
        while row and row[-1] == "":
            row.pop()
        out.append(row)
    while out and not out[-1]:
        out.pop()
    return out


# --------------------------------------------------------------------------- model


@dataclass
class Sheet:
    """One tab: properties, a sparse cell map and conditional format rules."""

    sheet_id: int
    title: str
    row_count: int
    column_count: int
    frozen_rows: int = 0
    cells: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    conditional_formats: list[dict[str, Any]] = field(default_factory=list)
    column_metadata: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # column -> metadata

    def properties(self, index: int) -> dict[str, Any]:
        """The ``SheetProperties`` JSON."""
        grid: dict[str, Any] = {"rowCount": self.row_count, "columnCount": self.column_count}
        if self.frozen_rows:
            grid["frozenRowCount"] = self.frozen_rows
        return {"sheetId": self.sheet_id, "title": self.title, "index": index,
                "sheetType": "GRID", "gridProperties": grid}

    def has_value(self, row: int, col: int) -> bool:
        """True when the cell holds a value."""
        return bool((self.cells.get((row, col)) or {}).get("userEnteredValue"))

    def drop_outside(self) -> None:
        """Forget cells beyond the grid after a shrink."""
        for key in [k for k in self.cells if k[0] >= self.row_count or k[1] >= self.column_count]:
            del self.cells[key]
        for col in [c for c in self.column_metadata if c >= self.column_count]:
            del self.column_metadata[col]

    def metadata_json(self, col: int, entry: Mapping[str, Any]) -> dict[str, Any]:
        """A column's ``DeveloperMetadata`` as the API answers it (with its location)."""
        return {**copy.deepcopy(dict(entry)), "location": {
            "locationType": "COLUMN", "sheetId": self.sheet_id,
            "dimensionRange": {"sheetId": self.sheet_id, "dimension": "COLUMNS",
                               "startIndex": col, "endIndex": col + 1}}}


@dataclass
class Spreadsheet:
    """One spreadsheet: id, title, tabs and who may open it."""

    spreadsheet_id: str
    title: str
    sheets: list[Sheet] = field(default_factory=list)
    access: str = "writer"  # "writer", "reader" or "none"

    def find(self, title: str) -> Sheet | None:
        """The tab with this title (exact, else case-insensitive)."""
        for sheet in self.sheets:
            if sheet.title == title:
                return sheet
        for sheet in self.sheets:
            if sheet.title.casefold() == title.casefold():
                return sheet
        return None

    def by_id(self, sheet_id: Any) -> Sheet | None:
        """The tab with this sheetId."""
        for sheet in self.sheets:
            if sheet.sheet_id == sheet_id:
                return sheet
        return None

    def resolve(self, a1: str) -> tuple[Sheet, Box]:
        """Parse an A1 range as Google does; 400 ``Unable to parse range`` if it can't."""
        try:
            title, cells = split_range(a1)
        except ValueError:
            raise _bad(f"Unable to parse range: {a1}") from None
        if title is None:
            sheet = self.find(cells or "")
            if sheet is not None:
                return sheet, Box(0, None, 0, None)
            box = parse_cells(cells or "")
            if box is None or not self.sheets:
                raise _bad(f"Unable to parse range: {a1}")
            return self.sheets[0], box
        sheet = self.find(title)
        if sheet is None:
            raise _bad(f"Unable to parse range: {a1}")
        if cells is None:
            return sheet, Box(0, None, 0, None)
        box = parse_cells(cells)
        if box is None:
            raise _bad(f"Unable to parse range: {a1}")
        return sheet, box


def grid_limit_error(sheet: Sheet, box: Box) -> SheetsApiError:
    """Google's 400 for a range past the grid's edge."""
    return _bad(f"Range ({always_quoted(sheet.title)}!{box_a1(box)}) exceeds grid limits. "
                f"Max rows: {sheet.row_count}, max columns: {sheet.column_count}")


def read_box(sheet: Sheet, box: Box) -> Box:
    """Clip a read range to the grid; 400 when it starts outside it."""
    if box.r0 >= sheet.row_count or box.c0 >= sheet.column_count:
        full = Box(box.r0, box.r1 if box.r1 is not None else box.r0 + 1,
                   box.c0, box.c1 if box.c1 is not None else box.c0 + 1)
        raise grid_limit_error(sheet, full)
    return box.clip(sheet.row_count, sheet.column_count)


def echo_range(sheet: Sheet, box: Box) -> str:
    """The resolved range as Google echoes it (``'My Leads'!A1:C3``)."""
    return f"{quote_title(sheet.title)}!{box_a1(box)}"


class ApiRequest(NamedTuple):
    """One Sheets API request as the fake saw it."""

    method: str
    path: str
    query: dict[str, list[str]]


@dataclass
class ApiCall:
    """One Sheets API request with its answer."""

    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    body: Any


@dataclass
class Fault:
    """An injected failure: ``remaining`` None means every matching request fails."""

    status: int
    remaining: int | None
    retry_after: float | None = None
    match: str | Callable[[str, str], bool] | None = None
    message: str | None = None
    applied: bool = False  # the request takes effect, then the answer is the error

    def matches(self, method: str, path: str) -> bool:
        """True when this fault applies to the request."""
        if self.match is None:
            return True
        if callable(self.match):
            return bool(self.match(method, path))
        return self.match in f"{method} {path}"


# --------------------------------------------------------------------------- the fake


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


@functools.cache
def _process_key() -> rsa.RSAPrivateKey:
    """An RSA key generated once per test process (generation costs ~0.2 s)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class SheetsFake:
    """In-memory Sheets API v4 + OAuth2 token endpoint on a local HTTP server."""

    def __init__(self) -> None:
        self.spreadsheets: dict[str, Spreadsheet] = {}
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._sheet_ids = itertools.count(1000)
        self._metadata_ids = itertools.count(10_000)
        self._calls: list[ApiCall] = []
        self._faults: list[Fault] = []
        self._tokens: dict[str, str] = {}  # access token -> client_email
        self._accounts: dict[str, Any] = {}  # client_email -> RSA public key
        self.token_requests = 0
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> SheetsFake:
        """Serve on 127.0.0.1 at a random port in a daemon thread."""
        self._server = make_server("127.0.0.1", 0, self, request_handler=_QuietHandler)
        server = self._server
        self._thread = threading.Thread(target=lambda: server.serve_forever(poll_interval=0.02), daemon=True,
                                        name="sheets-fake")
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> SheetsFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, to use as ``sheets_api_url`` (``http://127.0.0.1:PORT``)."""
        assert self._server is not None, "the fake is not started"
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def token_url(self) -> str:
        """The OAuth2 token endpoint, to use as a service account's ``token_uri``."""
        return self.url + "/token"

    # ---------------------------------------------------------------- seeding

    def add_spreadsheet(self, rows: Sequence[Sequence[Any]] | None = None, *, sheet: str = "Sheet1",
                        title: str = "Leads", row_count: int | None = None,
                        column_count: int | None = None, spreadsheet_id: str | None = None) -> str:
        """Create a spreadsheet with one tab seeded from ``rows``; returns its id.

        The grid defaults to Google's 1000 x 26 (or larger to fit ``rows``).
        """
        sid = spreadsheet_id or f"sheet-{next(self._ids)}-{secrets.token_hex(4)}"
        with self._lock:
            self.spreadsheets[sid] = Spreadsheet(sid, title)
        self.add_sheet(sid, sheet, rows, row_count=row_count, column_count=column_count)
        return sid

    def add_sheet(self, spreadsheet_id: str, title: str, rows: Sequence[Sequence[Any]] | None = None, *,
                  row_count: int | None = None, column_count: int | None = None) -> int:
        """Add a tab seeded from ``rows``; returns its sheetId."""
        rows = [list(r) for r in rows or []]
        width = max((len(r) for r in rows), default=0)
        n_rows = row_count if row_count is not None else max(1000, len(rows))
        n_cols = column_count if column_count is not None else max(26, width)
        if len(rows) > n_rows or width > n_cols:
            raise ValueError("seed rows do not fit the grid")
        sheet = Sheet(next(self._sheet_ids), title, n_rows, n_cols)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                cell = seed_cell(value)
                if cell is not None:
                    sheet.cells[(r, c)] = cell
        with self._lock:
            self.spreadsheets[spreadsheet_id].sheets.append(sheet)
        return sheet.sheet_id

    def set_access(self, spreadsheet_id: str, access: str) -> None:
        """Who may use the spreadsheet: "writer" (default), "reader" or "none" (403)."""
        assert access in ("writer", "reader", "none")
        with self._lock:
            self.spreadsheets[spreadsheet_id].access = access

    def edit(self, spreadsheet_id: str, sheet: str, a1: str, value: Any) -> None:
        """Set one cell as a user typing would (USER_ENTERED), bypassing HTTP."""
        with self._lock:
            ss = self.spreadsheets[spreadsheet_id]
            tab, box = ss.resolve(f"{always_quoted(sheet)}!{a1}")
            extended, auto = user_entered(value, "edit")
            self._store(tab, box.r0, box.c0, extended, auto)

    def sort_rows(self, spreadsheet_id: str, sheet: str, column: int, *, descending: bool = False,
                  start_row: int = 2) -> None:
        """Sort the rows from ``start_row`` (1-based) down by the 0-based ``column``, as a user would."""
        with self._lock:
            tab = self._sheet(spreadsheet_id, sheet)
            _sort(tab, Box(start_row - 1, tab.row_count, 0, tab.column_count),
                  [{"dimensionIndex": column, "sortOrder": "DESCENDING" if descending else "ASCENDING"}])

    def insert_rows(self, spreadsheet_id: str, sheet: str, before_row: int, count: int = 1) -> None:
        """Insert empty rows above the 1-based ``before_row``, as a user would."""
        with self._lock:
            tab = self._sheet(spreadsheet_id, sheet)
            _insert(tab, "ROWS", before_row - 1, before_row - 1 + count)

    def delete_rows(self, spreadsheet_id: str, sheet: str, first_row: int, count: int = 1) -> None:
        """Delete rows starting at the 1-based ``first_row``, as a user would."""
        with self._lock:
            tab = self._sheet(spreadsheet_id, sheet)
            _delete(tab, "ROWS", first_row - 1, first_row - 1 + count)

    def insert_columns(self, spreadsheet_id: str, sheet: str, before_column: int, count: int = 1) -> None:
        """Insert empty columns left of the 0-based ``before_column``, as a user would."""
        with self._lock:
            tab = self._sheet(spreadsheet_id, sheet)
            _insert(tab, "COLUMNS", before_column, before_column + count)

    def delete_columns(self, spreadsheet_id: str, sheet: str, first_column: int, count: int = 1) -> None:
        """Delete columns from the 0-based ``first_column``, as a user would (their metadata goes too)."""
        with self._lock:
            tab = self._sheet(spreadsheet_id, sheet)
            _delete(tab, "COLUMNS", first_column, first_column + count)

    def move_column(self, spreadsheet_id: str, sheet: str, column: int, before_column: int) -> None:
        """Drag the 0-based ``column`` to just left of ``before_column`` (index before the move),
        as a user would: its cells and developer metadata go with it."""
        with self._lock:
            tab = self._sheet(spreadsheet_id, sheet)
            order = list(range(tab.column_count))
            order.pop(column)
            order.insert(before_column - (1 if before_column > column else 0), column)
            new_of = {old: new for new, old in enumerate(order)}
            tab.cells = {(r, new_of[c]): cell for (r, c), cell in tab.cells.items()}
            tab.column_metadata = {new_of[c]: m for c, m in tab.column_metadata.items()}

    def developer_metadata(self, spreadsheet_id: str, sheet: str) -> dict[int, list[dict[str, Any]]]:
        """The tab's column developer metadata: 0-based column -> its DeveloperMetadata."""
        with self._lock:
            tab = self._sheet(spreadsheet_id, sheet)
            return {c: [tab.metadata_json(c, m) for m in tab.column_metadata[c]]
                    for c in sorted(tab.column_metadata)}

    # ---------------------------------------------------------------- inspection

    def _sheet(self, spreadsheet_id: str, title: str) -> Sheet:
        tab = self.spreadsheets[spreadsheet_id].find(title)
        if tab is None:
            raise KeyError(title)
        return tab

    def sheet_properties(self, spreadsheet_id: str, sheet: str) -> dict[str, Any]:
        """The tab's ``SheetProperties`` JSON (sheetId, title, gridProperties)."""
        with self._lock:
            ss = self.spreadsheets[spreadsheet_id]
            tab = self._sheet(spreadsheet_id, sheet)
            return tab.properties(ss.sheets.index(tab))

    def grid(self, spreadsheet_id: str, sheet: str, *, render: str = "UNFORMATTED_VALUE") -> list[list[Any]]:
        """Every cell of the grid (rowCount x columnCount), rendered; empty cells are ""."""
        with self._lock:
            tab = self._sheet(spreadsheet_id, sheet)
            return [[_render(tab.cells.get((r, c)), render) for c in range(tab.column_count)]
                    for r in range(tab.row_count)]

    def values(self, spreadsheet_id: str, sheet: str, *, render: str = "UNFORMATTED_VALUE") -> list[list[Any]]:
        """The grid trimmed as ``values.get`` trims it."""
        return _trim(self.grid(spreadsheet_id, sheet, render=render))

    def cell(self, spreadsheet_id: str, sheet: str, a1: str) -> dict[str, Any]:
        """One cell's ``CellData`` (userEnteredValue, effectiveValue, formattedValue, format)."""
        with self._lock:
            tab = self._sheet(spreadsheet_id, sheet)
            box = parse_cells(a1)
            assert box is not None and box.single_cell, a1
            return _cell_data(tab.cells.get((box.r0, box.c0)))

    def is_formula(self, spreadsheet_id: str, sheet: str, a1: str) -> bool:
        """True when the cell holds a formula (not text that looks like one)."""
        return "formulaValue" in (self.cell(spreadsheet_id, sheet, a1).get("userEnteredValue") or {})

    def conditional_formats(self, spreadsheet_id: str, sheet: str) -> list[dict[str, Any]]:
        """The tab's conditional format rules."""
        with self._lock:
            return copy.deepcopy(self._sheet(spreadsheet_id, sheet).conditional_formats)

    def number_format(self, spreadsheet_id: str, sheet: str, a1: str) -> dict[str, Any] | None:
        """The cell's ``userEnteredFormat.numberFormat`` (None when unset)."""
        return (self.cell(spreadsheet_id, sheet, a1).get("userEnteredFormat") or {}).get("numberFormat")

    # ---------------------------------------------------------------- log and faults

    def api_calls(self) -> list[ApiCall]:
        """Every Sheets API request (not the token endpoint), with status and body."""
        with self._lock:
            return list(self._calls)

    def api_requests(self) -> list[ApiRequest]:
        """Every Sheets API request as (method, path, query)."""
        return [ApiRequest(c.method, c.path, c.query) for c in self.api_calls()]

    def count(self, method: str | None = None, path_contains: str | None = None,
              status: int | None = None) -> int:
        """How many logged API requests match."""
        return sum(1 for c in self.api_calls()
                   if (method is None or c.method == method)
                   and (path_contains is None or path_contains in c.path)
                   and (status is None or c.status == status))

    def reset_log(self) -> None:
        """Forget logged requests."""
        with self._lock:
            self._calls.clear()
            self.token_requests = 0

    def fail_next(self, status: int = 429, times: int = 1, *, retry_after: float | None = None,
                  match: str | Callable[[str, str], bool] | None = None,
                  message: str | None = None, applied: bool = False) -> None:
        """Fail the next ``times`` API requests (matching ``match``: a substring of
        "METHOD /path" or a predicate) with Google's error body for ``status``.

        ``applied=True``: the request takes effect first and only its answer is the error,
        as when Google's front end times out on a request the backend has carried out.
        """
        with self._lock:
            self._faults.append(Fault(status, times, retry_after, match, message, applied))

    def fail_always(self, status: int = 500, *, retry_after: float | None = None,
                    match: str | Callable[[str, str], bool] | None = None,
                    message: str | None = None) -> None:
        """Fail every matching API request until ``clear_faults``."""
        with self._lock:
            self._faults.append(Fault(status, None, retry_after, match, message))

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        with self._lock:
            self._faults.clear()

    def revoke_tokens(self) -> None:
        """Invalidate every issued access token (the next API call gets 401)."""
        with self._lock:
            self._tokens.clear()

    # ---------------------------------------------------------------- service accounts

    def service_account_info(self, client_email: str = "leadscore@test-project.iam.gserviceaccount.com",
                             ) -> dict[str, Any]:
        """A service-account key (an RSA key made for this test run) whose token_uri is this fake's."""
        key = _process_key()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        with self._lock:
            self._accounts[client_email] = key.public_key()
        return {
            "type": "service_account",
            "project_id": "test-project",
            "private_key_id": secrets.token_hex(20),
            "private_key": pem,
            "client_email": client_email,
            "client_id": str(secrets.randbelow(10**20)),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_url,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "universe_domain": "googleapis.com",
        }

    def service_account_file(self, directory: str | Path, name: str = "service-account.json",
                             client_email: str = "leadscore@test-project.iam.gserviceaccount.com") -> Path:
        """Write a service-account JSON key file into ``directory``; returns its path."""
        path = Path(directory) / name
        path.write_text(json.dumps(self.service_account_info(client_email), indent=2))
        return path

    # ---------------------------------------------------------------- WSGI

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or request.path
        raw_path = raw.split("?", 1)[0]
        if raw_path.startswith("http://") or raw_path.startswith("https://"):
            raw_path = "/" + raw_path.split("/", 3)[3]
        response = self._token(request) if raw_path == "/token" else self._api(request, raw_path)
        return response(environ, start_response)

    @staticmethod
    def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
        return Response(json.dumps(body), status=status, headers=dict(headers or {}),
                        content_type="application/json; charset=UTF-8")

    def _token(self, request: Request) -> Response:
        with self._lock:
            self.token_requests += 1
        if request.method != "POST":
            return self._json({"error": "invalid_request"}, 405)
        form = request.form
        if form.get("grant_type") != JWT_BEARER_GRANT:
            return self._json({"error": "unsupported_grant_type",
                               "error_description": "Invalid grant_type: " + str(form.get("grant_type"))}, 400)
        assertion = form.get("assertion") or ""
        parts = assertion.split(".")
        try:
            if len(parts) != 3:
                raise ValueError
            header = json.loads(_b64url_decode(parts[0]))
            claims = json.loads(_b64url_decode(parts[1]))
            signature = _b64url_decode(parts[2])
        except ValueError:
            return self._json({"error": "invalid_grant", "error_description": "Invalid JWT."}, 400)
        if header.get("alg") != "RS256" or not all(claims.get(k) for k in ("iss", "aud", "exp", "iat")):
            return self._json({"error": "invalid_grant", "error_description": "Invalid JWT claims."}, 400)
        if not claims.get("scope"):
            return self._json({"error": "invalid_scope",
                               "error_description": "Invalid OAuth scope or ID token audience provided."}, 400)
        if claims["exp"] < time.time():
            return self._json({"error": "invalid_grant",
                               "error_description": "Invalid JWT: Token must be a short-lived token"}, 400)
        with self._lock:
            public_key = self._accounts.get(claims["iss"])
        if public_key is None:
            return self._json({"error": "invalid_grant", "error_description": "Invalid grant: account not found"}, 400)
        try:
            public_key.verify(signature, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return self._json({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, 400)
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = claims["iss"]
        return self._json({"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

    def _api(self, request: Request, raw_path: str) -> Response:
        method = request.method
        path = unquote(raw_path)
        query = parse_qs(request.query_string.decode(), keep_blank_values=True)
        body: Any = None
        headers: dict[str, str] = {}
        try:
            auth = request.headers.get("Authorization", "")
            if not auth.startswith("Bearer "):
                raise SheetsApiError(401, MISSING_CREDENTIALS)
            with self._lock:
                known = auth[7:].strip() in self._tokens
            if not known:
                raise SheetsApiError(401, INVALID_CREDENTIALS)
            fault = self._take_fault(method, path)
            if fault is not None and fault.applied:
                with self._lock, contextlib.suppress(SheetsApiError, ValueError):
                    self._route(method, raw_path, query, json.loads(request.data) if request.data else None)
            if fault is not None:
                if fault.retry_after is not None:
                    headers["Retry-After"] = str(int(fault.retry_after) if float(fault.retry_after).is_integer()
                                                 else fault.retry_after)
                if fault.status == 502:
                    self._log(method, path, query, 502, None)
                    return Response(BAD_GATEWAY_HTML, status=502, headers=headers, content_type="text/html")
                raise SheetsApiError(fault.status, fault.message or FAULT_MESSAGES.get(fault.status, "Error"))
            payload = None
            if request.data:
                try:
                    payload = json.loads(request.data)
                except ValueError:
                    raise _bad("Invalid JSON payload received.") from None
            with self._lock:
                body = self._route(method, raw_path, query, payload)
            fields = (query.get("fields") or [None])[0]
            if fields:
                body = filter_fields(body, parse_field_mask(fields))
            status = 200
        except SheetsApiError as err:
            body, status = err.body(), err.code
        self._log(method, path, query, status, body)
        return self._json(body, status, headers)

    def _log(self, method: str, path: str, query: dict[str, list[str]], status: int, body: Any) -> None:
        with self._lock:
            self._calls.append(ApiCall(method, path, query, status, body))

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path) and (fault.remaining is None or fault.remaining > 0):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    return fault
        return None

    # ---------------------------------------------------------------- routing

    def _route(self, method: str, raw_path: str, query: dict[str, list[str]], payload: Any) -> Any:
        prefix = "/v4/spreadsheets/"
        if not raw_path.startswith(prefix):
            raise SheetsApiError(404, "Requested entity was not found.")
        segments = raw_path[len(prefix):].split("/")
        head = unquote(segments[0])
        sid, _, verb = head.partition(":")
        ss = self.spreadsheets.get(sid)
        if ss is None:
            raise SheetsApiError(404, "Requested entity was not found.")
        writes = method in ("POST", "PUT") and not raw_path.endswith("/developerMetadata:search")
        if ss.access == "none" or (writes and ss.access != "writer"):
            raise SheetsApiError(403, "The caller does not have permission")
        opt = {k: v[-1] for k, v in query.items()}
        if len(segments) == 1:
            if verb == "" and method == "GET":
                return self._get_spreadsheet(ss, query.get("ranges", []),
                                             opt.get("includeGridData", "false").lower() == "true")
            if verb == "batchUpdate" and method == "POST":
                return self._batch_update(ss, payload or {})
        elif segments[1] == "developerMetadata:search" and len(segments) == 2 and method == "POST":
            return self._search_metadata(ss, payload or {})
        elif segments[1].startswith("values"):
            rest = "/".join(segments[1:])
            if rest == "values:batchGet" and method == "GET":
                return {"spreadsheetId": sid, "valueRanges": [
                    self._values_get(ss, a1, opt) for a1 in query.get("ranges", [])]}
            if rest == "values:batchUpdate" and method == "POST":
                return self._values_batch_update(ss, payload or {})
            if rest == "values:batchClear" and method == "POST":
                return self._values_clear(ss, (payload or {}).get("ranges", []))
            if len(segments) == 3 and segments[1] == "values":
                raw_range = segments[2]
                for suffix, want in ((":append", "POST"), (":clear", "POST")):
                    if raw_range.endswith(suffix) and method == want:
                        a1 = unquote(raw_range[: -len(suffix)])
                        if suffix == ":clear":
                            result = self._values_clear(ss, [a1])
                            return {"spreadsheetId": sid, "clearedRange": result["clearedRanges"][0]}
                        return self._values_append(ss, a1, opt, payload or {})
                a1 = unquote(raw_range)
                if method == "GET":
                    return self._values_get(ss, a1, opt)
                if method == "PUT":
                    return self._values_update(ss, a1, opt, payload or {})
        raise SheetsApiError(404, "Requested entity was not found.")

    # ---------------------------------------------------------------- spreadsheets.get

    def _get_spreadsheet(self, ss: Spreadsheet, ranges: list[str], grid_data: bool) -> dict[str, Any]:
        wanted: dict[int, list[Box]] = {}
        if ranges:
            for a1 in ranges:
                sheet, box = ss.resolve(a1)
                wanted.setdefault(sheet.sheet_id, []).append(read_box(sheet, box))
        sheets = []
        for index, sheet in enumerate(ss.sheets):
            if ranges and sheet.sheet_id not in wanted:
                continue
            entry: dict[str, Any] = {"properties": sheet.properties(index)}
            if sheet.conditional_formats:
                entry["conditionalFormats"] = copy.deepcopy(sheet.conditional_formats)
            if grid_data:
                boxes = wanted.get(sheet.sheet_id) or [Box(0, sheet.row_count, 0, sheet.column_count)]
                entry["data"] = [_grid_data(sheet, box) for box in boxes]
            sheets.append(entry)
        return {
            "spreadsheetId": ss.spreadsheet_id,
            "properties": {"title": ss.title, "locale": "en_US", "autoRecalc": "ON_CHANGE",
                           "timeZone": "Etc/GMT",
                           "defaultFormat": {"backgroundColor": {"red": 1, "green": 1, "blue": 1}}},
            "sheets": sheets,
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{ss.spreadsheet_id}/edit",
        }

    # ---------------------------------------------------------------- values

    def _values_get(self, ss: Spreadsheet, a1: str, opt: Mapping[str, str]) -> dict[str, Any]:
        sheet, box = ss.resolve(a1)
        box = read_box(sheet, box)
        render = opt.get("valueRenderOption", "FORMATTED_VALUE")
        if render not in ("FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA"):
            raise _bad(f"Invalid value at 'value_render_option' ({render})")
        major = opt.get("majorDimension", "ROWS")
        if major not in ("ROWS", "COLUMNS", "DIMENSION_UNSPECIFIED"):
            raise _bad(f"Invalid value at 'major_dimension' ({major})")
        assert box.r1 is not None and box.c1 is not None
        rows = [[_render(sheet.cells.get((r, c)), render) for c in range(box.c0, box.c1)]
                for r in range(box.r0, box.r1)]
        if major == "COLUMNS":
            rows = [list(col) for col in zip(*rows, strict=True)] if rows else []
        else:
            major = "ROWS"
        out: dict[str, Any] = {"range": echo_range(sheet, box), "majorDimension": major}
        values = _trim(rows)
        if values:
            out["values"] = values
        return out

    def _write_values(self, ss: Spreadsheet, a1: str, values: Any, major: str, option: str,
                      where: str) -> dict[str, Any]:
        if option not in ("RAW", "USER_ENTERED"):
            if not option:
                raise _bad("'valueInputOption' is required but not specified")
            raise _bad(f"Invalid value at 'value_input_option' ({option})")
        sheet, box = ss.resolve(a1)
        if not isinstance(values, list) or not all(isinstance(v, list) for v in values):
            raise _bad(f"Invalid {where}: values must be a list of lists")
        if major == "COLUMNS":
            width = max((len(v) for v in values), default=0)
            values = [[col[r] if r < len(col) else None for col in values] for r in range(width)]
        n_rows = len(values)
        n_cols = max((len(v) for v in values), default=0)
        if not box.single_cell:
            where_range = echo_range(sheet, box) if box.closed else a1
            if box.r1 is not None and box.r0 + n_rows > box.r1:
                raise _bad(f"Requested writing within range [{where_range}], but tried "
                           f"writing to row [{box.r1 + 1}]")
            if box.c1 is not None and box.c0 + n_cols > box.c1:
                raise _bad(f"Requested writing within range [{where_range}], but tried "
                           f"writing to column [{col_letters(box.c1)}]")
        written = Box(box.r0, box.r0 + max(n_rows, 1), box.c0, box.c0 + max(n_cols, 1))
        check = written if box.single_cell else Box(
            box.r0, box.r1 if box.r1 is not None else written.r1,
            box.c0, box.c1 if box.c1 is not None else written.c1)
        assert check.r1 is not None and check.c1 is not None
        if check.r1 > sheet.row_count or check.c1 > sheet.column_count:
            raise grid_limit_error(sheet, check)
        staged = []
        for i, row in enumerate(values):
            for j, value in enumerate(row):
                cell_where = f"{where}[{i}][{j}]"
                if option == "RAW":
                    extended, auto = raw_extended(value, cell_where), None
                else:
                    extended, auto = user_entered(value, cell_where)
                if value is not None:
                    staged.append((box.r0 + i, box.c0 + j, extended, auto))
        for r, c, extended, auto in staged:
            self._store(sheet, r, c, extended, auto)
        updated_rows = {r for r, _, _, _ in staged}
        updated_cols = {c for _, c, _, _ in staged}
        shown = written if n_rows and n_cols else box.clip(sheet.row_count, sheet.column_count)
        result: dict[str, Any] = {"spreadsheetId": ss.spreadsheet_id, "updatedRange": echo_range(sheet, shown)}
        if staged:
            result.update(updatedRows=len(updated_rows), updatedColumns=len(updated_cols),
                          updatedCells=len(staged))
        return result

    @staticmethod
    def _store(sheet: Sheet, r: int, c: int, extended: dict[str, Any] | None,
               auto_format: dict[str, Any] | None) -> None:
        cell = dict(sheet.cells.get((r, c)) or {})
        cell.pop("effectiveValue", None)
        if extended is None or extended == {"stringValue": ""}:
            cell.pop("userEnteredValue", None)
        else:
            cell["userEnteredValue"] = extended
            fmt = cell.get("userEnteredFormat") or {}
            if auto_format and "numberFormat" not in fmt:
                cell["userEnteredFormat"] = {**fmt, "numberFormat": auto_format}
        if cell:
            sheet.cells[(r, c)] = cell
        else:
            sheet.cells.pop((r, c), None)

    def _values_update(self, ss: Spreadsheet, a1: str, opt: Mapping[str, str],
                       payload: Mapping[str, Any]) -> dict[str, Any]:
        if payload.get("range"):
            body_sheet, body_box = ss.resolve(payload["range"])
            url_sheet, url_box = ss.resolve(a1)
            if (body_sheet.sheet_id, body_box) != (url_sheet.sheet_id, url_box):
                raise _bad(f"Requested range [{a1}] must match the range in the body "
                           f"[{payload['range']}]")
        return self._atomic(ss, lambda s: self._write_values(
            s, a1, payload.get("values", []), payload.get("majorDimension", "ROWS"),
            opt.get("valueInputOption", ""), "values"))

    def _values_batch_update(self, ss: Spreadsheet, payload: Mapping[str, Any]) -> dict[str, Any]:
        option = payload.get("valueInputOption", "")

        def run(s: Spreadsheet) -> dict[str, Any]:
            responses = [self._write_values(s, vr.get("range", ""), vr.get("values", []),
                                            vr.get("majorDimension", "ROWS"), option,
                                            f"data[{i}].values")
                         for i, vr in enumerate(payload.get("data", []))]
            out: dict[str, Any] = {"spreadsheetId": s.spreadsheet_id, "responses": responses}
            written = [r for r in responses if r.get("updatedCells")]
            if written:
                out.update(totalUpdatedRows=sum(r["updatedRows"] for r in written),
                           totalUpdatedColumns=sum(r["updatedColumns"] for r in written),
                           totalUpdatedCells=sum(r["updatedCells"] for r in written),
                           totalUpdatedSheets=len({r["updatedRange"].rpartition("!")[0] for r in written}))
            return out

        return self._atomic(ss, run)

    def _values_clear(self, ss: Spreadsheet, ranges: Sequence[str]) -> dict[str, Any]:
        cleared = []
        for a1 in ranges:
            sheet, box = ss.resolve(a1)
            box = read_box(sheet, box)
            assert box.r1 is not None and box.c1 is not None
            for r in range(box.r0, box.r1):
                for c in range(box.c0, box.c1):
                    self._store(sheet, r, c, None, None)
            cleared.append(echo_range(sheet, box))
        return {"spreadsheetId": ss.spreadsheet_id, "clearedRanges": cleared}

    def _values_append(self, ss: Spreadsheet, a1: str, opt: Mapping[str, str],
                       payload: Mapping[str, Any]) -> dict[str, Any]:
        values = payload.get("values", [])

        def run(draft: Spreadsheet) -> dict[str, Any]:
            sheet, box = draft.resolve(a1)
            box = read_box(sheet, box)
            assert box.r1 is not None and box.c1 is not None
            last = max((r for (r, c), cell in sheet.cells.items()
                        if box.r0 <= r < box.r1 and box.c0 <= c < box.c1 and cell.get("userEnteredValue")),
                       default=box.r0 - 1)
            table = Box(box.r0, max(last + 1, box.r0 + 1), box.c0, box.c1)
            if opt.get("insertDataOption") == "INSERT_ROWS" and last + 1 < sheet.row_count:
                _insert(sheet, "ROWS", last + 1, last + 1 + len(values))
            elif last + 1 + len(values) > sheet.row_count:
                sheet.row_count = last + 1 + len(values)  # append grows the grid
            target = Box(last + 1, last + 2, box.c0, box.c0 + 1)
            updates = self._write_values(draft, echo_range(sheet, target), values,
                                         payload.get("majorDimension", "ROWS"),
                                         opt.get("valueInputOption", ""), "values")
            return {"spreadsheetId": draft.spreadsheet_id, "tableRange": echo_range(sheet, table),
                    "updates": updates}

        return self._atomic(ss, run)

    def _atomic(self, ss: Spreadsheet, action: Callable[[Spreadsheet], dict[str, Any]]) -> dict[str, Any]:
        """Run ``action`` on a copy and keep it only if it succeeds (all or nothing)."""
        draft = copy.deepcopy(ss)
        result = action(draft)
        ss.sheets = draft.sheets
        ss.title = draft.title
        return result

    # ---------------------------------------------------------------- spreadsheets.batchUpdate

    def _batch_update(self, ss: Spreadsheet, payload: Mapping[str, Any]) -> dict[str, Any]:
        requests = payload.get("requests")
        if not isinstance(requests, list) or not requests:
            raise _bad("Must specify at least one request.")

        def run(draft: Spreadsheet) -> dict[str, Any]:
            replies = []
            for i, req in enumerate(requests):
                if not isinstance(req, dict) or not req:
                    raise _bad(f"Invalid requests[{i}]: No request set.")
                if len(req) > 1:
                    raise _bad(f"Invalid requests[{i}]: oneof field 'kind' is already set. "
                               f"Cannot set '{sorted(req)[1]}'")
                kind, body = next(iter(req.items()))
                handler = _REQUEST_HANDLERS.get(kind)
                if handler is None:
                    raise _bad(f"Invalid JSON payload received. Unknown name \"{kind}\" at "
                               f"'requests[{i}]': Cannot find field.")
                try:
                    replies.append(handler(self, draft, body or {}))
                except SheetsApiError as err:
                    if err.code == 400 and not err.message.startswith("Invalid requests"):
                        raise _bad(f"Invalid requests[{i}].{kind}: {err.message}") from None
                    raise
            return {"spreadsheetId": draft.spreadsheet_id, "replies": replies}

        return self._atomic(ss, run)

    # ---------------------------------------------------------------- developer metadata

    @staticmethod
    def _all_metadata(ss: Spreadsheet) -> Iterator[tuple[Sheet, int, dict[str, Any]]]:
        for sheet in ss.sheets:
            for col in sorted(sheet.column_metadata):
                for entry in sheet.column_metadata[col]:
                    yield sheet, col, entry

    def _search_metadata(self, ss: Spreadsheet, payload: Mapping[str, Any]) -> dict[str, Any]:
        filters = payload.get("dataFilters")
        if not isinstance(filters, list) or not filters:
            raise _bad("Must specify at least one data filter.")
        matched: dict[int, dict[str, Any]] = {}
        for i, data_filter in enumerate(filters):
            lookup = data_filter.get("developerMetadataLookup") if isinstance(data_filter, dict) else None
            if not isinstance(lookup, dict) or len(data_filter) != 1:
                raise _bad(f"Invalid dataFilters[{i}]: only developerMetadataLookup filters are supported here.")
            for sheet, col, entry in self._all_metadata(ss):
                if self._lookup_matches(lookup, sheet, col, entry):
                    found = matched.setdefault(entry["metadataId"], {
                        "developerMetadata": sheet.metadata_json(col, entry), "dataFilters": []})
                    found["dataFilters"].append(copy.deepcopy(data_filter))
        return {"matchedDeveloperMetadata": list(matched.values())} if matched else {}

    @staticmethod
    def _lookup_matches(lookup: Mapping[str, Any], sheet: Sheet, col: int, entry: Mapping[str, Any]) -> bool:
        for key in ("metadataId", "metadataKey", "metadataValue", "visibility"):
            if key in lookup and lookup[key] != entry.get(key):
                return False
        if lookup.get("locationType", "COLUMN") != "COLUMN":
            return False
        where = lookup.get("metadataLocation")
        if where:
            rng = where.get("dimensionRange")
            if "sheetId" in where and where["sheetId"] != sheet.sheet_id:
                return False
            if rng and (rng.get("sheetId") != sheet.sheet_id or rng.get("dimension") != "COLUMNS"
                        or not rng.get("startIndex", 0) <= col < rng.get("endIndex", sheet.column_count)):
                return False
        return True

    def _req_create_developer_metadata(self, ss: Spreadsheet, body: Mapping[str, Any]) -> dict[str, Any]:
        meta = dict(body.get("developerMetadata") or {})
        if not meta.get("metadataKey"):
            raise _bad("Invalid developerMetadata: metadataKey is required")
        if meta.get("visibility") not in ("DOCUMENT", "PROJECT"):
            raise _bad("Invalid developerMetadata: visibility must be DOCUMENT or PROJECT")
        rng = (meta.pop("location", None) or {}).get("dimensionRange")
        if not rng or rng.get("dimension") != "COLUMNS":
            raise _bad("Invalid developerMetadata.location: only a column (dimensionRange COLUMNS) is "
                       "supported here")
        sheet = self._grid_sheet(ss, rng.get("sheetId"))
        start, end = rng.get("startIndex"), rng.get("endIndex")
        if not isinstance(start, int) or end != start + 1:
            raise _bad("Invalid developerMetadata.location: the dimension range must be a single row or column")
        if not 0 <= start < sheet.column_count:
            raise _bad(f"Invalid developerMetadata.location: column {start} is outside the grid "
                       f"({sheet.column_count} columns)")
        known = {entry["metadataId"] for _, _, entry in self._all_metadata(ss)}
        if "metadataId" in meta:
            if meta["metadataId"] in known:
                raise _bad(f"Invalid developerMetadata: metadataId {meta['metadataId']} is already in use")
        else:
            meta["metadataId"] = next(i for i in self._metadata_ids if i not in known)
        sheet.column_metadata.setdefault(start, []).append(meta)
        return {"createDeveloperMetadata": {"developerMetadata": sheet.metadata_json(start, meta)}}

    def _grid_sheet(self, ss: Spreadsheet, sheet_id: Any) -> Sheet:
        sheet = ss.by_id(sheet_id if sheet_id is not None else 0)
        if sheet is None:
            raise _bad(f"No grid with id: {sheet_id if sheet_id is not None else 0}")
        return sheet

    def _grid_range(self, ss: Spreadsheet, rng: Mapping[str, Any]) -> tuple[Sheet, Box]:
        sheet = self._grid_sheet(ss, rng.get("sheetId"))
        r0, c0 = rng.get("startRowIndex", 0), rng.get("startColumnIndex", 0)
        r1 = rng.get("endRowIndex", sheet.row_count)
        c1 = rng.get("endColumnIndex", sheet.column_count)
        if r1 > sheet.row_count:
            raise _bad(f"Range ({always_quoted(sheet.title)}!{box_a1(Box(r0, r1, c0, max(c1, c0 + 1)))}) "
                       f"exceeds grid limits. Max rows: {sheet.row_count}, max columns: {sheet.column_count}")
        if c1 > sheet.column_count:
            raise _bad(f"Range ({always_quoted(sheet.title)}!{box_a1(Box(r0, max(r1, r0 + 1), c0, c1))}) "
                       f"exceeds grid limits. Max rows: {sheet.row_count}, max columns: {sheet.column_count}")
        if r0 < 0 or c0 < 0 or r0 > r1 or c0 > c1:
            raise _bad("Invalid range: start index must not exceed end index")
        return sheet, Box(r0, r1, c0, c1)

    def _req_update_sheet_properties(self, ss: Spreadsheet, body: Mapping[str, Any]) -> dict[str, Any]:
        props = body.get("properties") or {}
        fields = body.get("fields")
        if not fields:
            raise _bad("At least one field must be updated, but 'fields' is empty.")
        sheet = self._grid_sheet(ss, props.get("sheetId"))
        current = {"title": sheet.title,
                   "gridProperties": {"rowCount": sheet.row_count, "columnCount": sheet.column_count,
                                      "frozenRowCount": sheet.frozen_rows}}
        apply_mask(current, props, fields)
        title = current.get("title") or sheet.title
        if title != sheet.title and any(s.title == title for s in ss.sheets if s is not sheet):
            raise _bad(f"A sheet with the name \"{title}\" already exists. Please enter another name.")
        grid = current.get("gridProperties") or {}
        rows, cols = grid.get("rowCount", 0), grid.get("columnCount", 0)
        if rows < 1 or cols < 1:
            raise _bad("The grid must have at least one row and one column.")
        if rows * cols > 10_000_000:
            raise _bad("This action would increase the number of cells in the workbook above the limit "
                       "of 10000000 cells.")
        sheet.title, sheet.row_count, sheet.column_count = title, rows, cols
        sheet.frozen_rows = grid.get("frozenRowCount", 0)
        sheet.drop_outside()
        return {}

    def _req_append_dimension(self, ss: Spreadsheet, body: Mapping[str, Any]) -> dict[str, Any]:
        sheet = self._grid_sheet(ss, body.get("sheetId"))
        length = body.get("length", 0)
        if length < 1:
            raise _bad("length must be at least 1")
        if body.get("dimension") == "ROWS":
            sheet.row_count += length
        elif body.get("dimension") == "COLUMNS":
            sheet.column_count += length
        else:
            raise _bad("dimension must be ROWS or COLUMNS")
        if sheet.row_count * sheet.column_count > 10_000_000:
            raise _bad("This action would increase the number of cells in the workbook above the limit "
                       "of 10000000 cells.")
        return {}

    def _dimension_range(self, ss: Spreadsheet, rng: Mapping[str, Any]) -> tuple[Sheet, str, int, int]:
        sheet = self._grid_sheet(ss, rng.get("sheetId"))
        dimension = rng.get("dimension")
        if dimension not in ("ROWS", "COLUMNS"):
            raise _bad("dimension must be ROWS or COLUMNS")
        size = sheet.row_count if dimension == "ROWS" else sheet.column_count
        start, end = rng.get("startIndex", 0), rng.get("endIndex", size)
        if not 0 <= start < end:
            raise _bad("Invalid dimension range: startIndex must be less than endIndex")
        return sheet, dimension, start, end

    def _req_insert_dimension(self, ss: Spreadsheet, body: Mapping[str, Any]) -> dict[str, Any]:
        sheet, dimension, start, end = self._dimension_range(ss, body.get("range") or {})
        size = sheet.row_count if dimension == "ROWS" else sheet.column_count
        if start > size:
            raise _bad(f"Cannot insert {dimension.lower()} at index {start}: the grid has {size}.")
        _insert(sheet, dimension, start, end)
        return {}

    def _req_delete_dimension(self, ss: Spreadsheet, body: Mapping[str, Any]) -> dict[str, Any]:
        sheet, dimension, start, end = self._dimension_range(ss, body.get("range") or {})
        size = sheet.row_count if dimension == "ROWS" else sheet.column_count
        if end > size or end - start >= size:
            raise _bad("You can't delete all the rows/columns on the sheet." if end - start >= size
                       else f"Invalid dimension range: endIndex {end} is past the grid's {size}")
        _delete(sheet, dimension, start, end)
        return {}

    def _req_add_conditional_format_rule(self, ss: Spreadsheet, body: Mapping[str, Any]) -> dict[str, Any]:
        rule = body.get("rule") or {}
        ranges = rule.get("ranges") or []
        if not ranges:
            raise _bad("Invalid ConditionalFormatRule: at least one range is required")
        if ("booleanRule" in rule) == ("gradientRule" in rule):
            raise _bad("Invalid ConditionalFormatRule: exactly one of booleanRule or gradientRule is required")
        sheets = {self._grid_range(ss, rng)[0].sheet_id for rng in ranges}
        if len(sheets) != 1:
            raise _bad("All ranges of a conditional format rule must be on the same sheet")
        gradient = rule.get("gradientRule")
        if gradient is not None and not (gradient.get("minpoint") and gradient.get("maxpoint")):
            raise _bad("Invalid gradientRule: minpoint and maxpoint are required")
        sheet = self._grid_sheet(ss, next(iter(sheets)))
        index = body.get("index", 0)
        sheet.conditional_formats.insert(index, copy.deepcopy(dict(rule)))
        return {}

    def _req_repeat_cell(self, ss: Spreadsheet, body: Mapping[str, Any]) -> dict[str, Any]:
        sheet, box = self._grid_range(ss, body.get("range") or {})
        fields = body.get("fields")
        if not fields:
            raise _bad("At least one field must be updated, but 'fields' is empty.")
        source = body.get("cell") or {}
        assert box.r1 is not None and box.c1 is not None
        for r in range(box.r0, box.r1):
            for c in range(box.c0, box.c1):
                self._apply_cell(sheet, r, c, source, fields)
        return {}

    def _req_update_cells(self, ss: Spreadsheet, body: Mapping[str, Any]) -> dict[str, Any]:
        fields = body.get("fields")
        if not fields:
            raise _bad("At least one field must be updated, but 'fields' is empty.")
        rows = body.get("rows") or []
        if "start" in body:
            start = body["start"]
            sheet = self._grid_sheet(ss, start.get("sheetId"))
            r0, c0 = start.get("rowIndex", 0), start.get("columnIndex", 0)
            width = max((len(r.get("values") or []) for r in rows), default=0)
            if r0 + len(rows) > sheet.row_count:
                raise _bad(f"GridCoordinate.rowIndex[{r0 + len(rows) - 1}] is after last row in "
                           f"grid[{sheet.row_count - 1}]")
            if c0 + width > sheet.column_count:
                raise _bad(f"GridCoordinate.columnIndex[{c0 + width - 1}] is after last col in "
                           f"grid[{sheet.column_count - 1}]")
            box = Box(r0, r0 + len(rows), c0, c0 + width)
        elif "range" in body:
            sheet, box = self._grid_range(ss, body["range"])
        else:
            raise _bad("Either start or range must be set")
        for i, row in enumerate(rows):
            for j, cell in enumerate(row.get("values") or []):
                r, c = box.r0 + i, box.c0 + j
                assert box.r1 is not None and box.c1 is not None
                if r >= box.r1 or c >= box.c1:
                    raise _bad("The rows given do not fit the range")
                self._apply_cell(sheet, r, c, cell or {}, fields)
        return {}

    @staticmethod
    def _apply_cell(sheet: Sheet, r: int, c: int, source: Mapping[str, Any], fields: str) -> None:
        cell = sheet.cells.get((r, c)) or {}  # the batch runs on a draft copy: edit in place
        touched_value = fields.strip() == "*" or any(p[0] == "userEnteredValue" for p in mask_paths(fields))
        apply_mask(cell, source, fields)
        if touched_value:
            cell.pop("effectiveValue", None)
            uev = cell.get("userEnteredValue")
            if uev is not None and len(uev) != 1:
                raise _bad("Invalid CellData: userEnteredValue must set exactly one value")
        cell.pop("formattedValue", None)
        if cell:
            sheet.cells[(r, c)] = cell
        else:
            sheet.cells.pop((r, c), None)

    def _req_sort_range(self, ss: Spreadsheet, body: Mapping[str, Any]) -> dict[str, Any]:
        sheet, box = self._grid_range(ss, body.get("range") or {})
        _sort(sheet, box, body.get("sortSpecs") or [{"dimensionIndex": box.c0, "sortOrder": "ASCENDING"}])
        return {}

    def _req_add_sheet(self, ss: Spreadsheet, body: Mapping[str, Any]) -> dict[str, Any]:
        props = body.get("properties") or {}
        title = props.get("title") or f"Sheet{len(ss.sheets) + 1}"
        if any(s.title == title for s in ss.sheets):
            raise _bad(f"A sheet with the name \"{title}\" already exists. Please enter another name.")
        grid = props.get("gridProperties") or {}
        sheet = Sheet(props.get("sheetId", next(self._sheet_ids)), title,
                      grid.get("rowCount", 1000), grid.get("columnCount", 26))
        ss.sheets.append(sheet)
        return {"addSheet": {"properties": sheet.properties(len(ss.sheets) - 1)}}


def _cell_data(cell: Mapping[str, Any] | None) -> dict[str, Any]:
    if not cell:
        return {}
    out: dict[str, Any] = {}
    if cell.get("userEnteredValue"):
        out["userEnteredValue"] = copy.deepcopy(cell["userEnteredValue"])
        ev = effective_value(cell)
        if ev is not None:
            out["effectiveValue"] = copy.deepcopy(ev)
        fv = formatted_value(cell)
        if fv is not None:
            out["formattedValue"] = fv
    if cell.get("userEnteredFormat"):
        out["userEnteredFormat"] = copy.deepcopy(cell["userEnteredFormat"])
        out["effectiveFormat"] = copy.deepcopy(cell["userEnteredFormat"])
    return out


def _grid_data(sheet: Sheet, box: Box) -> dict[str, Any]:
    assert box.r1 is not None and box.c1 is not None
    rows: list[dict[str, Any]] = []
    for r in range(box.r0, box.r1):
        values = [_cell_data(sheet.cells.get((r, c))) for c in range(box.c0, box.c1)]
        while values and not values[-1]:
            values.pop()
        rows.append({"values": values} if values else {})
    while rows and not rows[-1]:
        rows.pop()
    out: dict[str, Any] = {}
    if box.r0:
        out["startRow"] = box.r0
    if box.c0:
        out["startColumn"] = box.c0
    if rows:
        out["rowData"] = rows
    out["rowMetadata"] = [{"pixelSize": 21} for _ in range(box.r0, box.r1)]
    columns = []
    for c in range(box.c0, box.c1):
        props: dict[str, Any] = {"pixelSize": 100}
        if sheet.column_metadata.get(c):
            props["developerMetadata"] = [sheet.metadata_json(c, m) for m in sheet.column_metadata[c]]
        columns.append(props)
    out["columnMetadata"] = columns
    return out


def _shift_index(x: int, at: int, delta: int) -> int:
    if delta > 0:
        return x + delta if x >= at else x
    return x + delta if x >= at - delta else min(x, at)


def _shift_rules(sheet: Sheet, dimension: str, at: int, delta: int) -> None:
    keys = ("startRowIndex", "endRowIndex") if dimension == "ROWS" else ("startColumnIndex", "endColumnIndex")
    for rule in sheet.conditional_formats:
        for rng in rule.get("ranges", []):
            start_key, end_key = keys
            if start_key in rng:
                rng[start_key] = _shift_index(rng[start_key], at, delta)
            if end_key in rng:
                rng[end_key] = _shift_index(rng[end_key], at, delta) if delta < 0 or rng[end_key] > at \
                    else rng[end_key]


def _insert(sheet: Sheet, dimension: str, start: int, end: int) -> None:
    n = end - start
    axis = 0 if dimension == "ROWS" else 1
    moved = {}
    for key, cell in sheet.cells.items():
        new = list(key)
        if key[axis] >= start:
            new[axis] += n
        moved[tuple(new)] = cell
    sheet.cells = moved  # type: ignore[assignment]
    if dimension == "ROWS":
        sheet.row_count += n
    else:
        sheet.column_count += n
        sheet.column_metadata = {c + n if c >= start else c: m for c, m in sheet.column_metadata.items()}
    _shift_rules(sheet, dimension, start, n)


def _delete(sheet: Sheet, dimension: str, start: int, end: int) -> None:
    n = end - start
    axis = 0 if dimension == "ROWS" else 1
    moved = {}
    for key, cell in sheet.cells.items():
        if start <= key[axis] < end:
            continue
        new = list(key)
        if key[axis] >= end:
            new[axis] -= n
        moved[tuple(new)] = cell
    sheet.cells = moved  # type: ignore[assignment]
    if dimension == "ROWS":
        sheet.row_count -= n
    else:
        sheet.column_count -= n
        sheet.column_metadata = {c - n if c >= end else c: m for c, m in sheet.column_metadata.items()
                                 if not start <= c < end}
    _shift_rules(sheet, dimension, start, -n)


def _sort_key(cell: Mapping[str, Any] | None) -> tuple[int, Any]:
    ev = effective_value(cell or {})
    if ev is None:
        return (3, "")
    if "numberValue" in ev:
        return (0, ev["numberValue"])
    if "stringValue" in ev:
        return (1, ev["stringValue"].casefold())
    if "boolValue" in ev:
        return (2, ev["boolValue"])
    return (2, "")


def _sort(sheet: Sheet, box: Box, specs: Sequence[Mapping[str, Any]]) -> None:
    assert box.r1 is not None and box.c1 is not None
    rows = list(range(box.r0, box.r1))
    snapshot = {r: {c: sheet.cells.get((r, c)) for c in range(box.c0, box.c1)} for r in rows}
    order = list(rows)
    for spec in reversed(specs):
        col = spec.get("dimensionIndex", box.c0)
        descending = spec.get("sortOrder") == "DESCENDING"
        # Blank cells always sort last, whatever the order.
        filled = [r for r in order if effective_value(snapshot[r].get(col) or {}) is not None]
        blank = [r for r in order if r not in set(filled)]
        filled.sort(key=lambda r: _sort_key(snapshot[r].get(col)), reverse=descending)
        order = filled + blank
    for target, source in zip(rows, order, strict=True):
        for c in range(box.c0, box.c1):
            cell = snapshot[source][c]
            if cell is None:
                sheet.cells.pop((target, c), None)
            else:
                sheet.cells[(target, c)] = cell


_REQUEST_HANDLERS: dict[str, Callable[[SheetsFake, Spreadsheet, Any], dict[str, Any]]] = {
    "updateSheetProperties": SheetsFake._req_update_sheet_properties,
    "appendDimension": SheetsFake._req_append_dimension,
    "insertDimension": SheetsFake._req_insert_dimension,
    "deleteDimension": SheetsFake._req_delete_dimension,
    "addConditionalFormatRule": SheetsFake._req_add_conditional_format_rule,
    "repeatCell": SheetsFake._req_repeat_cell,
    "updateCells": SheetsFake._req_update_cells,
    "sortRange": SheetsFake._req_sort_range,
    "addSheet": SheetsFake._req_add_sheet,
    "createDeveloperMetadata": SheetsFake._req_create_developer_metadata,
}


# --------------------------------------------------------------------------- pytest helpers


def settings_for(fake: SheetsFake, credentials_file: str | Path, **overrides: Any) -> Any:
    """``Settings`` pointing the backend at this fake with the given key file."""
    from backend.config import Settings

    return Settings(sheets_api_url=fake.url, credentials_file=str(credentials_file), **overrides)


def _no_access_boundary_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep google-auth from starting its background lookup against Google's real IAM API."""
    from google.auth import credentials as ga_credentials

    cls = getattr(ga_credentials, "CredentialsWithRegionalAccessBoundary", None)
    if cls is not None and hasattr(cls, "_is_regional_access_boundary_lookup_required"):
        monkeypatch.setattr(cls, "_is_regional_access_boundary_lookup_required", lambda self: False)


@pytest.fixture(name="sheets_fake")
def sheets_fake_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[SheetsFake]:
    """A started ``SheetsFake`` (stopped after the test)."""
    _no_access_boundary_lookup(monkeypatch)
    with SheetsFake() as fake:
        yield fake


@pytest.fixture(name="sheets_settings")
def sheets_settings_fixture(sheets_fake: SheetsFake, tmp_path: Path) -> Any:
    """``Settings`` for the backend: the fake's URL and a fresh service-account key file."""
    return settings_for(sheets_fake, sheets_fake.service_account_file(tmp_path))
