"""Request bodies in (orjson, then shape checks) and JSON responses out.

The checks follow ``openapi.json`` (``ScoreRequest`` / ``SheetScoreRequest``) and say in
each message what to send instead.  They look at shapes only: what the cells mean is the
scoring core's business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson
from flask import Response, request

from backend.errors import BadInput, TooLarge
from backend.web.context import timed

Cell = str | int | float | bool | None
_CELL_TYPES = frozenset({str, int, float, bool, type(None)})
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_SPREADSHEET_ID = re.compile(r"[A-Za-z0-9_-]{10,200}")
MAX_SHEET_ROWS = 10_000_000  # a Google Sheet holds at most 10 million cells, so no more rows
_SCORE_EXAMPLE = '{"header": ["Company", ...], "rows": [["Acme", ...], ...]}'
_SHEET_EXAMPLE = ('{"spreadsheet_id": "...", "sheet": "Leads", "header": [...], '
                  '"rows": [{"row": 2, "values": [...]}, ...]}')


@dataclass(frozen=True)
class ScoreRequest:
    """A checked ``/v1/score`` body: header texts and rectangular rows."""

    header: list[str]
    rows: list[list[Cell]]
    rules: Any = None   # a points rulebook (YAML text or the Scoring Rules tab's rows), read by the core
    model: str | None = None  # a model name; None: the default model


@dataclass(frozen=True)
class SheetScoreRequest:
    """A checked ``/v1/sheets/score`` body; ``numbers[i]`` is the sheet row of ``rows[i]``."""

    spreadsheet_id: str
    sheet: str
    header: list[str]
    numbers: list[int]
    rows: list[list[Cell]]
    key_columns: list[str] | None
    rules: Any = None
    model: str | None = None  # a model name; None: the sheet's own model when it has one, else the default


def json_response(payload: Any, status: int = 200) -> Response:
    """Serialize with orjson (timed as ``serialize``) as ``application/json``."""
    with timed("serialize"):
        body = orjson.dumps(payload, option=_JSON_OPTIONS)
    return Response(body, status=status, mimetype="application/json")


def read_json() -> Any:
    """The request body parsed with orjson (timed as ``parse``); 400 when it is not JSON."""
    with timed("parse"):
        raw = request.get_data(cache=False)  # werkzeug enforces MAX_CONTENT_LENGTH here (413)
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            what = "empty" if not raw else f"not valid JSON ({exc.msg} at character {exc.pos})"
            raise BadInput(f"The request body is {what}. Send a JSON object with "
                           "Content-Type: application/json.") from exc


def parse_score_request(payload: Any, *, max_rows: int) -> ScoreRequest:
    """Check a ``/v1/score`` body: ``{"header": [...], "rows": [[...], ...]}``."""
    with timed("validate"):
        body = json_object(payload, required=("header", "rows"), optional=("rules", "model"), example=_SCORE_EXAMPLE)
        header = _header(body["header"])
        rows = body["rows"]
        if not isinstance(rows, list):
            raise BadInput(f"'rows' must be a list of rows, each a list of cell values: {_SCORE_EXAMPLE}.")
        _row_limit(len(rows), max_rows)
        width = len(header)
        return ScoreRequest(header, [_cells(row, width, f"rows[{i}]") for i, row in enumerate(rows)],
                            body.get("rules"), _model_name(body.get("model")))


def parse_sheet_score_request(payload: Any, *, max_rows: int) -> SheetScoreRequest:
    """Check a ``/v1/sheets/score`` body (see ``SheetScoreRequest`` in openapi.json)."""
    with timed("validate"):
        body = json_object(payload, required=("spreadsheet_id", "sheet", "header", "rows"),
                       optional=("key_columns", "rules", "model"), example=_SHEET_EXAMPLE)
        spreadsheet_id = body["spreadsheet_id"]
        if not isinstance(spreadsheet_id, str) or not _SPREADSHEET_ID.fullmatch(spreadsheet_id):
            raise BadInput("'spreadsheet_id' must be the id from the sheet's URL "
                           "(docs.google.com/spreadsheets/d/<id>/edit): 10-200 letters, digits, '-' or '_'.")
        sheet = body["sheet"]
        if not isinstance(sheet, str) or not 1 <= len(sheet) <= 100:
            raise BadInput("'sheet' must be the tab's name (1-100 characters).")
        header = _header(body["header"])
        items = body["rows"]
        if not isinstance(items, list):
            raise BadInput(f"'rows' must be a list of {{\"row\": <sheet row number>, \"values\": [...]}}: "
                           f"{_SHEET_EXAMPLE}.")
        _row_limit(len(items), max_rows)
        numbers: list[int] = []
        rows: list[list[Cell]] = []
        seen: set[int] = set()
        for i, item in enumerate(items):
            if not isinstance(item, dict) or set(item) != {"row", "values"}:
                raise BadInput(f"rows[{i}] must be an object with exactly 'row' (the sheet row number) "
                               "and 'values' (that row's cells).")
            number = item["row"]
            if type(number) is float and number.is_integer() and abs(number) <= MAX_SHEET_ROWS:
                number = int(number)
            if type(number) is not int or not 2 <= number <= MAX_SHEET_ROWS:
                raise BadInput(f"rows[{i}].row must be a sheet row number from 2 (row 1 is the header) "
                               f"to {MAX_SHEET_ROWS:,}, the most rows a sheet can have.",
                               row=number if type(number) is int and 0 <= number <= MAX_SHEET_ROWS else None)
            if number in seen:
                raise BadInput(f"Sheet row {number} is sent twice. Send each row once.", row=number)
            seen.add(number)
            numbers.append(number)
            rows.append(_cells(item["values"], len(header), f"Sheet row {number}", row=number))
        key_columns = body.get("key_columns")
        if key_columns is not None:
            if not isinstance(key_columns, list) or not all(isinstance(k, str) for k in key_columns):
                raise BadInput("'key_columns' must be a list of header names.")
            missing = [k for k in key_columns if k not in header]
            if missing:
                raise BadInput(f"key_columns {missing} are not in the header. Name columns exactly "
                               "as the header row spells them.", column=missing[0])
        return SheetScoreRequest(spreadsheet_id, sheet, header, numbers, rows, key_columns, body.get("rules"),
                                 _model_name(body.get("model")))


def _model_name(value: Any) -> str | None:
    """The optional ``model`` field: a model name (checked), or None when absent."""
    if value is None:
        return None
    from backend.store.workspaces import check_model_name

    return check_model_name(value)


def json_object(payload: Any, *, required: tuple[str, ...], optional: tuple[str, ...],
                example: str) -> dict[str, Any]:
    """A request body checked to be an object with the required fields and no unknown ones."""
    if not isinstance(payload, dict):
        raise BadInput(f"The request body must be a JSON object: {example}.")
    missing = [key for key in required if key not in payload]
    if missing:
        raise BadInput(f"The request body has no {', '.join(repr(k) for k in missing)}: {example}.")
    unknown = sorted(set(payload) - set(required) - set(optional))
    if unknown:
        raise BadInput(f"The request body has unknown field(s) {', '.join(repr(k) for k in unknown)}; "
                       f"it takes {', '.join(required + optional)}.")
    return payload


def _header(header: Any) -> list[str]:
    """Header cells as text (a number or checkbox in the header row is its text)."""
    if not isinstance(header, list) or not header:
        raise BadInput("'header' must be the sheet's header row: a non-empty list of column names.")
    names: list[str] = []
    for i, name in enumerate(header):
        if isinstance(name, str):
            names.append(name)
        elif name is None:
            names.append("")
        elif isinstance(name, bool):
            names.append("TRUE" if name else "FALSE")
        elif isinstance(name, int | float):
            names.append(str(int(name)) if float(name).is_integer() and abs(name) < 1e15 else repr(name))
        else:
            raise BadInput(f"header[{i}] is a {_kind(name)}; each header cell must be a column name (text).")
    return names


def _row_limit(count: int, max_rows: int) -> None:
    if count > max_rows:
        raise TooLarge(f"{count:,} rows were sent; this server scores at most {max_rows:,} rows per "
                       f"request. Score fewer rows at a time (select up to {max_rows:,}).")


def _cells(values: Any, width: int, where: str, *, row: int | None = None) -> list[Cell]:
    """A row as exactly ``width`` cells: short rows are padded with blanks."""
    if not isinstance(values, list):
        raise BadInput(f"{where} must be a list of cell values (as Range.getValues() gives), "
                       f"not a {_kind(values)}.", row=row)
    if not _CELL_TYPES.issuperset(map(type, values)):
        index, cell = next((j, c) for j, c in enumerate(values) if type(c) not in _CELL_TYPES)
        raise BadInput(f"{where}, cell {index + 1} holds a {_kind(cell)}; a cell must be text, a "
                       "number, true/false or empty.", row=row)
    size = len(values)
    if size == width:
        return values
    if size < width:
        return values + [None] * (width - size)
    if any(cell is not None and cell != "" for cell in values[width:]):
        raise BadInput(f"{where} has {size} values but the header has {width} columns, so some values "
                       "belong to no column. Send the header row of the same range as the rows.",
                       row=row)
    return values[:width]


def _kind(value: Any) -> str:
    return {dict: "JSON object", list: "list", str: "text", bool: "true/false",
            type(None): "null"}.get(type(value), "number")
