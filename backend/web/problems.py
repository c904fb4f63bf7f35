"""The one place errors become ``application/problem+json`` (RFC 9457) responses.

Every problem carries the request id and is logged with it.  Anything unexpected is logged
with its traceback here, server-side, and the caller gets a generic problem: no traceback,
no exception text, ever leaves the server.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from backend.errors import (
    BadInput,
    BundleIntegrityError,
    Busy,
    Forbidden,
    LeadScoreError,
    ModelUnavailable,
    NotFound,
    NoUsableColumns,
    QualityGateFailed,
    SheetsError,
    TooLarge,
    Unauthorized,
)
from backend.web.auth import AuthUnavailable
from backend.web.context import CredentialsInUrl, CrossSiteRequest, UnsupportedMediaType, request_id
from backend.web.state import current_settings

log = logging.getLogger("backend.web")

PROBLEM_TYPE = "https://leadscore.dev/problems/"
PROBLEM_JSON = "application/problem+json"

# Each error class → (HTTP status, title, type slug).  The most specific class wins (MRO).
PROBLEMS: dict[type[LeadScoreError], tuple[int, str, str]] = {
    LeadScoreError: (400, "Bad request", "bad-request"),
    BadInput: (400, "Bad input", "bad-input"),
    NoUsableColumns: (422, "No usable columns", "no-usable-columns"),
    TooLarge: (413, "Request too large", "too-large"),
    Unauthorized: (401, "Not signed in", "unauthorized"),
    Forbidden: (403, "Not allowed", "forbidden"),
    ModelUnavailable: (503, "No model available", "model-unavailable"),
    BundleIntegrityError: (503, "Model bundle failed its integrity check", "bundle-integrity"),
    QualityGateFailed: (422, "Model failed its quality gates", "quality-gate"),
    NotFound: (404, "Not found", "not-found"),
    Busy: (503, "Busy", "busy"),
    SheetsError: (502, "Google Sheets did not accept the write", "sheets-api"),
    AuthUnavailable: (503, "Sign-in could not be checked", "auth-unavailable"),
    CredentialsInUrl: (400, "Credentials in the URL", "credentials-in-url"),
    CrossSiteRequest: (403, "Not allowed", "cross-site-request"),
    UnsupportedMediaType: (415, "Unsupported media type", "unsupported-media-type"),
}


def http_status(exc: LeadScoreError) -> int:
    """The HTTP status an error maps to."""
    return _problem_kind(exc)[0]


def _problem_kind(exc: LeadScoreError) -> tuple[int, str, str]:
    for cls in type(exc).__mro__:
        if cls in PROBLEMS:
            return PROBLEMS[cls]
    return PROBLEMS[LeadScoreError]


def to_problem(exc: LeadScoreError) -> dict[str, Any]:
    """The RFC 9457 problem body of a product error (without the request id)."""
    status, title, slug = _problem_kind(exc)
    body: dict[str, Any] = {"type": PROBLEM_TYPE + slug, "title": title, "status": status, "detail": exc.detail}
    if exc.column is not None:
        body["column"] = exc.column
    if exc.row is not None:
        body["row"] = exc.row
    body.update(exc.extra)
    return body


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """Serialize a problem body (adding the request id) as problem+json."""
    body = {**body, "request_id": request_id()}
    payload = orjson.dumps(body, default=str, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    response = Response(payload, status=int(body["status"]), mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _log(body: dict[str, Any]) -> None:
    log.warning("request_id=%s %s %s -> %s %s: %s", request_id(), request.method, request.path,
                body["status"], body["type"].rsplit("/", 1)[-1], body["detail"])


def handle_lead_score_error(exc: LeadScoreError) -> Response:
    """A product error: its own status, title and actionable detail."""
    body = to_problem(exc)
    _log(body)
    headers = {"WWW-Authenticate": 'Bearer realm="leadscore"'} if body["status"] == 401 else None
    return problem_response(body, headers)


def handle_http_exception(exc: HTTPException) -> Response:
    """Routing and protocol errors raised by Flask / Werkzeug (404, 405, 413…)."""
    if isinstance(exc, RequestEntityTooLarge):
        limit = current_settings().max_body_bytes
        return handle_lead_score_error(TooLarge(
            f"The request body is larger than this server accepts ({limit:,} bytes). "
            "Score fewer rows at a time."))
    status = exc.code or 500
    if status == 404:
        detail = f"There is no endpoint {request.method} {request.path}. See /v1/openapi.json."
    elif status == 405:
        detail = f"{request.path} does not accept {request.method}. See /v1/openapi.json."
    else:
        detail = exc.description or exc.name
    body = {"type": PROBLEM_TYPE + exc.name.lower().replace(" ", "-"), "title": exc.name,
            "status": status, "detail": detail}
    _log(body)
    headers = {"Allow": ", ".join(exc.valid_methods)} if getattr(exc, "valid_methods", None) else None
    return problem_response(body, headers)


def handle_unexpected(exc: Exception) -> Response:
    """A bug: log the traceback here, tell the caller only the request id."""
    if isinstance(exc, HTTPException):  # Flask routes these here only when unhandled above
        return handle_http_exception(exc)
    rid = request_id()
    log.exception("request_id=%s %s %s -> 500 unexpected error", rid, request.method, request.path)
    return problem_response({
        "type": PROBLEM_TYPE + "internal-error",
        "title": "Internal error",
        "status": 500,
        "detail": f"Something went wrong on the server. It has been logged; quote request id "
                  f"{rid} when reporting it.",
    })


def register(app: Flask) -> None:
    """Map the error hierarchy (and everything else) to problem+json on ``app``."""
    app.register_error_handler(LeadScoreError, handle_lead_score_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
