"""``POST /v1/sheets/score``: score sheet rows, then write the output columns into the sheet."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import requests
from flask import Blueprint, Response
from google.auth import exceptions as google_exceptions
from gspread import exceptions as gspread_exceptions

from backend.errors import SheetsError
from backend.outputs import result_to_cells
from backend.scoring import score_rows
from backend.sheets import SheetRow
from backend.web.context import require_auth, timed
from backend.web.payloads import SheetScoreRequest, json_response, parse_sheet_score_request, read_json
from backend.web.state import app_state, current_bundle, current_settings, model_ref

bp = Blueprint("sheets", __name__, url_prefix="/v1/sheets")
bp.before_request(require_auth)

_RESULT_FIELDS = ("lead_score", "close_probability", "predicted_mrr", "segment", "reasons", "error")


@bp.post("/score")
def score_and_write() -> Response:
    """Parse → score all rows in one call → one batched write → report."""
    req = parse_sheet_score_request(read_json(), max_rows=current_settings().max_rows)
    bundle = current_bundle()
    with timed("score"):
        result = score_rows(bundle, req.header, req.rows)
    written, skipped, columns, created = _write(req, result.results, str(bundle.version))
    return json_response({
        "model": model_ref(bundle),
        "written": written,
        "skipped": skipped,
        "results": [{"row": number, **{k: res[k] for k in _RESULT_FIELDS if k in res}}
                    for number, res in zip(req.numbers, result.results, strict=True)],
        "columns": columns,
        "created_columns": created,
        "warnings": result.warnings,
    })


def _write(req: SheetScoreRequest, results: list[dict[str, Any]],
           model_version: str) -> tuple[list[int], list[dict[str, Any]], dict[str, str], list[str]]:
    """Write the scored rows in one call; rows that could not be scored are skipped, with why."""
    scored_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows: list[SheetRow] = []
    cells: list[dict[str, Any]] = []
    not_scored: list[dict[str, Any]] = []
    for number, values, res in zip(req.numbers, req.rows, results, strict=True):
        if res.get("lead_score") is None:
            not_scored.append({"row": number,
                               "reason": f"Not scored: {res.get('error') or 'no usable values'}"})
        else:
            rows.append(SheetRow(number, values))
            cells.append(result_to_cells(res, scored_at=scored_at, model_version=model_version))
    if not rows:
        return [], not_scored, {}, []
    with timed("write"):
        try:
            report = app_state().sheets_writer().write_scores(
                req.spreadsheet_id, req.sheet, req.header, rows, cells, key_columns=req.key_columns)
        except (gspread_exceptions.GSpreadException, requests.RequestException,
                google_exceptions.GoogleAuthError) as exc:
            raise SheetsError("Google Sheets could not be reached or refused the write; nothing "
                              "was reported written. Try again in a minute.") from exc
    skipped = sorted([*report.skipped, *not_scored], key=lambda item: item["row"])
    return list(report.written), skipped, dict(report.columns), list(report.created_columns)
