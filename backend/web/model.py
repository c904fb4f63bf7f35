"""``GET /v1/model``: the active model's card; ``/v1/model/segments``: its segments; ``/v1/model/report``."""

from __future__ import annotations

from flask import Blueprint, Response

from backend.reports.model_report import report_html
from backend.store.model_health import summary
from backend.web.context import require_auth
from backend.web.payloads import json_response
from backend.web.state import current_bundle, model_quality

bp = Blueprint("model", __name__, url_prefix="/v1")
bp.before_request(require_auth)


@bp.get("/model")
def card() -> Response:
    """The model card (features, metrics, thresholds, trained_at, data hash) and how it is served."""
    bundle = current_bundle()
    return json_response({**bundle.card, "serving": model_quality(bundle),
                          "health": summary(bundle.card, name=None, active=True, report_url="/v1/model/report")})


@bp.get("/model/segments")
def model_segments() -> Response:
    """The active model's segment table (kinds of lead, share, conversion, MRR if won, recommendation)."""
    bundle = current_bundle()
    body = {"model": bundle.ref}
    if bundle.segments is None:
        return json_response({**body, "method": None, "base_rate": None, "segments": [],
                              "note": "This model has no segments (trained before segments existed): its Segment "
                                      "column is likely / less likely × bigger / smaller deal. Retrain to get them."})
    return json_response({**body, **bundle.segments.summary()})


@bp.get("/model/report")
def report() -> Response:
    """The model report (self-contained HTML: plots are embedded images, no external requests)."""
    response = Response(report_html(current_bundle()), mimetype="text/html")
    response.headers["Content-Security-Policy"] = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    return response
