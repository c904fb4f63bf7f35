"""Serve the API with a production WSGI server (never Flask's development server).

waitress, on every platform, in 2 processes forked after the app is built and the model
loaded (one where there is no ``fork``).  Its I/O thread reads each request (headers and
body) in full, without blocking, before a worker thread sees it, so clients that send slowly, or never
finish, cost a socket and a little memory, not a worker: ``/healthz`` and other callers are
served meanwhile.  Idle connections are closed after ``CHANNEL_TIMEOUT`` seconds, headers are
capped at ``MAX_HEADER_BYTES`` and bodies at the configured limit.  waitress's own error
answers (a malformed request, headers too large) are problem+json like the app's.

A server reachable from other machines must have sign-in configured: :func:`run` refuses a
non-loopback address otherwise.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson
from flask import Flask

from backend.config import Settings
from backend.errors import LeadScoreError
from backend.web import create_app
from backend.web.auth import is_loopback
from backend.web.problems import PROBLEM_JSON, PROBLEM_TYPE
from backend.web.state import EXTENSION

log = logging.getLogger(__name__)

WORKERS = 2                  # processes (where fork exists): scoring is CPU-bound
THREADS = 8                  # requests handled at once per process; slow clients do not hold one
CHANNEL_TIMEOUT = 30         # seconds a connection may stay silent before it is closed
CONNECTION_LIMIT = 1000      # open connections (slow or idle) before new ones wait in the backlog
MAX_HEADER_BYTES = 64 * 1024


class InsecureBind(LeadScoreError):
    """A non-loopback address was asked for while no sign-in is configured."""


def check_bind(host: str, settings: Settings) -> None:
    """Raise InsecureBind when ``host`` is reachable from other machines and auth is off."""
    if not settings.auth_configured and not is_loopback(host):
        raise InsecureBind(
            f"Refusing to listen on {host or 'all interfaces'} without sign-in: anyone who can "
            "reach it could score and write to your sheets. Set LEADSCORE_API_KEYS and/or "
            "LEADSCORE_OIDC_AUDIENCE (with LEADSCORE_ALLOWED_DOMAINS), or serve on 127.0.0.1.")


def build_app(settings: Settings) -> Flask:
    """The app with its model already loaded (fails fast when there is none)."""
    app = create_app(settings)
    bundle = app.extensions[EXTENSION].bundle()
    log.info("loaded model %s %s from %s", bundle.name, bundle.version, settings.model_dir)
    return app


def run(host: str, port: int, settings: Settings | None = None) -> None:
    """Serve on ``host:port`` until stopped (SIGTERM / Ctrl-C)."""
    settings = settings or Settings.from_env()
    check_bind(host, settings)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.oidc_audience and not settings.allowed_domains:
        log.warning("LEADSCORE_OIDC_AUDIENCE is set but LEADSCORE_ALLOWED_DOMAINS is empty: "
                    "no Google account will be allowed to sign in")
    app = build_app(settings)
    _serve_waitress(app, host, port)


def _bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _problem_error(self: Any, ident: str | None = None) -> tuple[str, list[tuple[str, str]], bytes]:
    """waitress's own error answers (400, 413, 431, 500…) as problem+json, like the app's."""
    status = int(self.code)
    slug = str(self.reason).lower().replace(" ", "-")
    body = orjson.dumps({"type": PROBLEM_TYPE + slug, "title": str(self.reason), "status": status,
                         "detail": f"{self.reason}: {str(self.body).strip()}".rstrip(": ")})
    return f"{status} {self.reason}", [("Content-Type", PROBLEM_JSON)], body


def _serve_waitress(app: Flask, host: str, port: int) -> None:
    """Serve ``app``: ``WORKERS`` processes forked after the app is built (one where there is
    no ``fork``), each a waitress server with ``THREADS`` threads on one shared socket."""
    import waitress
    from waitress import utilities

    utilities.Error.to_response = _problem_error  # type: ignore[method-assign]
    options: dict[str, Any] = {
        "threads": THREADS, "channel_timeout": CHANNEL_TIMEOUT, "connection_limit": CONNECTION_LIMIT,
        "asyncore_use_poll": True, "max_request_header_size": MAX_HEADER_BYTES, "ident": "leadscore",
        "max_request_body_size": app.config["MAX_CONTENT_LENGTH"] + 1024,
    }
    if not hasattr(os, "fork") or WORKERS < 2:
        with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
            signal.signal(signal.SIGTERM, _stop)
        log.info("serving with waitress on http://%s (%d threads)", _bind_address(host, port), THREADS)
        waitress.serve(app, host=host, port=port, **options)
        log.info("stopped")
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.create_server((host, port), family=family, backlog=1024)
    log.info("serving with waitress on http://%s (%d processes x %d threads)",
             _bind_address(host, port), WORKERS, THREADS)
    _supervise(lambda: waitress.serve(app, sockets=[listener], **options), WORKERS)
    listener.close()
    log.info("stopped")


def _supervise(serve: Callable[[], None], workers: int) -> None:
    """Fork ``workers`` processes running ``serve``; replace one that dies; on SIGTERM or
    SIGINT stop them all (each finishes its running requests) and return."""
    children: set[int] = set()
    stopping = False

    def spawn() -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            code = 0
            try:
                signal.signal(signal.SIGTERM, _stop)
                signal.signal(signal.SIGINT, signal.default_int_handler)
                serve()
            except (SystemExit, KeyboardInterrupt):
                pass
            except BaseException:
                log.exception("worker %d failed", os.getpid())
                code = 1
            finally:
                os._exit(code)
        children.add(pid)

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for _ in range(workers):
        spawn()
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        children.discard(pid)
        if not stopping:
            log.warning("worker %d exited (status %d); starting another", pid, status)
            time.sleep(1.0)
            spawn()


def _stop(signum: int, frame: Any) -> None:
    """SIGTERM: leave waitress's loop; it lets running requests finish, then returns."""
    raise SystemExit(0)
