"""``GET /v1/model``: the active model's card."""

from __future__ import annotations

from flask import Blueprint, Response

from backend.web.context import require_auth
from backend.web.payloads import json_response
from backend.web.state import current_bundle

bp = Blueprint("model", __name__, url_prefix="/v1")
bp.before_request(require_auth)


@bp.get("/model")
def card() -> Response:
    """The model card: features, metrics, thresholds, trained_at, data hash."""
    return json_response(current_bundle().card)
