"""Unauthenticated service endpoints: liveness with the loaded model, and the API document."""

from __future__ import annotations

from flask import Blueprint, Response

from backend.store.model_health import forced
from backend.web.payloads import json_response
from backend.web.state import app_state, current_bundle

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """Serving, with the loaded model's name and version (degraded: it failed its gates); 503 when none."""
    bundle = current_bundle()
    return json_response({"status": "degraded" if forced(bundle.card, active=True) else "ok", "model": bundle.ref})


@bp.get("/v1/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 document describing this API."""
    response = Response(app_state().openapi(), mimetype="application/json")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
