"""Per-request context: the request id, Server-Timing phases, the access log and the auth hook.

Also where hostile requests are turned away early: credentials in the URL (they end up in
logs and browser history) and, when no sign-in is configured, posts that are not JSON or
that a web page on another site sent (a browser can post ``text/plain`` anywhere without
asking first).  The access log names the path, never the query string.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, Response, g, request

from backend.errors import BadInput, Forbidden, LeadScoreError
from backend.web.state import app_state

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_CREDENTIAL_PARAMS = frozenset({"api_key", "apikey", "api-key", "key", "x-api-key", "x_api_key", "token",
                                "access_token", "id_token", "auth", "authorization", "bearer"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
access_log = logging.getLogger("backend.web.access")


class CredentialsInUrl(BadInput):
    """An API key or token was put in the query string."""


class CrossSiteRequest(Forbidden):
    """A browser page on another site posted to a server without sign-in."""


class UnsupportedMediaType(LeadScoreError):
    """A request body that is not declared as JSON."""


def request_id() -> str:
    """This request's id: the caller's ``X-Request-ID`` when sane, else a fresh one."""
    rid = g.get("request_id")
    if rid is None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        rid = incoming if _SANE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        g.request_id = rid
    return rid


@contextmanager
def timed(phase: str) -> Iterator[None]:
    """Record how long a phase took, for the ``Server-Timing`` response header."""
    start = time.perf_counter()
    try:
        yield
    finally:
        g.setdefault("timings", []).append((phase, time.perf_counter() - start))


def require_auth() -> None:
    """Blueprint ``before_request`` hook: authenticate the caller or raise 401 / 403."""
    with timed("auth"):
        g.principal = app_state().authenticator.authenticate(
            authorization=request.headers.get("Authorization"),
            api_key=request.headers.get("X-API-Key"),
            remote_addr=request.remote_addr,
        )
    if g.principal.method == "loopback" and request.method not in _SAFE_METHODS:
        _refuse_cross_site()


def _refuse_cross_site() -> None:
    """Without sign-in, only same-origin (or non-browser) JSON posts are taken."""
    origin = request.headers.get("Origin")
    fetch_site = request.headers.get("Sec-Fetch-Site", "").lower()
    if fetch_site in ("cross-site", "same-site") or (
            origin is not None and origin.rstrip("/") != request.host_url.rstrip("/")):
        raise CrossSiteRequest(
            "This server has no sign-in configured, so it refuses requests sent by other web sites "
            "(a page in a browser). Call it from the add-on or a program on this machine, or set "
            "LEADSCORE_API_KEYS / LEADSCORE_OIDC_AUDIENCE.")
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("Send the request body as JSON with the header "
                                   "Content-Type: application/json.")


def _begin() -> None:
    g.started = time.perf_counter()
    request_id()
    exposed = sorted(name for name in request.args if name.lower() in _CREDENTIAL_PARAMS)
    if exposed:
        raise CredentialsInUrl(
            f"Credentials are not accepted in the URL ('{exposed[0]}=…'): URLs end up in logs, proxies "
            "and browser history. Send the API key in the X-API-Key header (or sign in with Google), "
            "and replace that key: it has been exposed.")


def _finish(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = request_id()
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    timings = list(g.get("timings", ()))
    started = g.get("started")
    if started is not None:
        timings.append(("total", time.perf_counter() - started))
    if timings:
        response.headers["Server-Timing"] = ", ".join(
            f"{name};dur={seconds * 1000:.2f}" for name, seconds in timings)
    total = (time.perf_counter() - started) * 1000 if started is not None else 0.0
    access_log.info('%s "%s %s" %s %s %.0fms rid=%s', request.remote_addr, request.method, request.path,
                    response.status_code, response.content_length or 0, total, request_id())
    return response


def install(app: Flask) -> None:
    """Register the request-id and timing hooks on ``app``."""
    app.before_request(_begin)
    app.after_request(_finish)
