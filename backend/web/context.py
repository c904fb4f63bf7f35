"""Per-request context: the request id, Server-Timing phases and the auth hook."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, Response, g, request

from backend.web.state import app_state

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


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


def _begin() -> None:
    g.started = time.perf_counter()
    request_id()


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
    return response


def install(app: Flask) -> None:
    """Register the request-id and timing hooks on ``app``."""
    app.before_request(_begin)
    app.after_request(_finish)
