"""``POST /v1/sheets/score``: score sheet rows, then write the output columns into the sheet."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import requests
from flask import Blueprint, Response
from google.auth import exceptions as google_exceptions
from gspread import exceptions as gspread_exceptions

from backend.core.outputs import not_scored_text, sheets_datetime
from backend.errors import SheetsError
from backend.sheets.writer import SheetRow
from backend.web.context import require_auth, timed
from backend.web.payloads import SheetScoreRequest, json_response, parse_sheet_score_request
from backend.web.scorer import Scored, parse_and_score
from backend.web.state import app_state

bp = Blueprint("sheets", __name__, url_prefix="/v1/sheets")
bp.before_request(require_auth)


@bp.post("/score")
def score_and_write() -> Response:
    """Parse → score all rows in one call → one batched write → report."""
    req, scored = parse_and_score(parse_sheet_score_request)
    report = _write(req, scored)
    return json_response({
        "model": scored.model,
        **report,
        "results": [{"row": number, **res.to_json()} for number, res in zip(req.numbers, scored.rows, strict=True)],
        "warnings": [*(_in_sheet_rows(w, req.numbers) for w in scored.warnings), *report["warnings"]],
    })


def _write(req: SheetScoreRequest, scored: Scored) -> dict[str, Any]:
    """Write the scored rows in one call; rows that could not be scored are skipped, with why."""
    scored_at = sheets_datetime(datetime.now(UTC))
    rows: list[SheetRow] = []
    cells: list[dict[str, Any]] = []
    not_scored: dict[int, dict[str, Any]] = {}
    skipped: list[dict[str, Any]] = []
    for number, values, res in zip(req.numbers, req.rows, scored.rows, strict=True):
        if not res.scored:
            entry = {"row": number, "code": "not_scored", "reason": not_scored_text(res.error)}
            if all(v is None or str(v).strip() == "" for v in values):
                skipped.append(entry)  # an empty row: nothing to score, nothing to write
                continue
            # Still written: blank scores and the reason replace any stale score in the row.
            not_scored[number] = entry
        rows.append(SheetRow(number, values))
        cells.append(res.cells(scored_at=scored_at, model_version=scored.version))
    if not rows:
        return {"written": [], "skipped": skipped, "columns": {}, "created_columns": [], "warnings": []}
    with timed("write"):
        try:
            report = app_state().sheets_writer().write_scores(
                req.spreadsheet_id, req.sheet, req.header, rows, cells, key_columns=req.key_columns)
        except (gspread_exceptions.GSpreadException, requests.RequestException,
                google_exceptions.GoogleAuthError) as exc:
            raise SheetsError("Google Sheets could not be reached or refused the write, so no "
                              "scores were written. Try again in a minute.") from exc
    cleared = [not_scored[n] for n in report.written if n in not_scored]
    return {
        "written": [n for n in report.written if n not in not_scored],
        "skipped": sorted([*report.skipped, *cleared, *skipped], key=lambda item: item["row"]),
        "columns": dict(report.columns),
        "created_columns": list(report.created_columns),
        "warnings": list(report.warnings),
    }


def _in_sheet_rows(warning: dict[str, Any], numbers: list[int]) -> dict[str, Any]:
    """A warning whose ``rows`` are positions in the request, re-expressed as sheet row numbers."""
    if not warning.get("rows"):
        return warning
    return {**warning, "rows": [numbers[i] for i in warning["rows"] if 0 <= i < len(numbers)]}
