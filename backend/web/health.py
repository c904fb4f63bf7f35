"""Unauthenticated service endpoints: liveness with the loaded model, and the API document."""

from __future__ import annotations

from flask import Blueprint, Response

from backend.web.payloads import json_response
from backend.web.state import app_state, current_bundle

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """Serving, with the loaded model's name and version; 503 problem when there is none."""
    return json_response({"status": "ok", "model": current_bundle().ref})


@bp.get("/v1/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 document describing this API."""
    response = Response(app_state().openapi(), mimetype="application/json")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
