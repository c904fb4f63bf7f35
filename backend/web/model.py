"""``GET /v1/model``: the active model's card; ``GET /v1/model/report``: its HTML report."""

from __future__ import annotations

from flask import Blueprint, Response

from backend.reports.model_report import report_html
from backend.store.model_health import summary
from backend.web.context import require_auth
from backend.web.payloads import json_response
from backend.web.state import current_bundle

bp = Blueprint("model", __name__, url_prefix="/v1")
bp.before_request(require_auth)


@bp.get("/model")
def card() -> Response:
    """The model card: features, metrics, thresholds, trained_at, data hash."""
    bundle = current_bundle()
    return json_response({**bundle.card, "health": summary(bundle.card, name=None, active=True,
                                                           report_url="/v1/model/report")})


@bp.get("/model/report")
def report() -> Response:
    """The model report (self-contained HTML: plots are embedded images, no external requests)."""
    response = Response(report_html(current_bundle()), mimetype="text/html")
    response.headers["Content-Security-Policy"] = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    return response
