"""``POST /v1/score``: score rows given in the shape ``Range.getValues()`` returns."""

from __future__ import annotations

from flask import Blueprint, Response

from backend.web.context import require_auth
from backend.web.payloads import json_response, parse_score_request, read_json
from backend.web.scorer import score
from backend.web.state import current_settings

bp = Blueprint("score", __name__, url_prefix="/v1")
bp.before_request(require_auth)


@bp.post("/score")
def score_leads() -> Response:
    """Parse → score all rows in one call → serialize."""
    req = parse_score_request(read_json(), max_rows=current_settings().max_rows)
    scored = score(req.header, req.rows, req.rules)
    return json_response({"model": scored.model, "results": scored.results, "warnings": scored.warnings})
