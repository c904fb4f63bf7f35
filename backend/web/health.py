"""Unauthenticated service endpoints: liveness with the loaded model, and the API document."""

from __future__ import annotations

from flask import Blueprint, Response

from backend.web.payloads import json_response
from backend.web.state import app_state, current_bundle, model_quality

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """Serving, with the loaded model's name, version and quality; 503 problem when there is none.

    A model that failed its gates and was promoted with ``--force`` is served, and marked: status
    ``degraded`` and ``model.quality.forced``.
    """
    bundle = current_bundle()
    quality = model_quality(bundle)
    return json_response({"status": "degraded" if quality["forced"] else "ok",
                          "model": {**bundle.ref, "quality": quality}})


@bp.get("/v1/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 document describing this API."""
    response = Response(app_state().openapi(), mimetype="application/json")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
