"""``POST /v1/score``: score rows given in the shape ``Range.getValues()`` returns."""

from __future__ import annotations

from flask import Blueprint, Response

from backend.web.context import require_auth
from backend.web.payloads import json_response, parse_score_request
from backend.web.scorer import parse_and_score

bp = Blueprint("score", __name__, url_prefix="/v1")
bp.before_request(require_auth)


@bp.post("/score")
def score_leads() -> Response:
    """Parse → score all rows in one call → serialize."""
    _, scored = parse_and_score(parse_score_request)
    return json_response({"model": scored.model, "results": [row.to_json() for row in scored.rows],
                          "warnings": scored.warnings})
