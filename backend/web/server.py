"""Serve the API with a production WSGI server (never Flask's development server).

gunicorn where it runs (Linux, macOS): 2 worker processes forked from a master that has
already built the app and loaded the model, so the bundle is read once.  waitress where
gunicorn cannot run (Windows).  A server reachable from other machines must have sign-in
configured: :func:`run` refuses a non-loopback address otherwise.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from flask import Flask

from backend.config import Settings
from backend.errors import LeadScoreError
from backend.web import create_app
from backend.web.auth import is_loopback
from backend.web.state import EXTENSION

log = logging.getLogger(__name__)

WORKERS = 2
THREADS = 4
TIMEOUT_SECONDS = 120        # a Sheets write with retries can take a while
_NEWER_GUNICORN_SETTINGS = frozenset({"control_socket_disable"})  # skipped where gunicorn lacks them
ACCESS_LOG_FORMAT = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms rid=%({x-request-id}o)s'


class InsecureBind(LeadScoreError):
    """A non-loopback address was asked for while no sign-in is configured."""

    title = "Refusing to serve without sign-in"
    slug = "insecure-bind"


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
    if _gunicorn_available():
        _serve_gunicorn(app, host, port)
    else:
        _serve_waitress(app, host, port)


def _gunicorn_available() -> bool:
    if sys.platform == "win32":
        return False
    try:
        import gunicorn.app.base  # noqa: F401
    except ImportError:
        return False
    return True


def _bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _serve_gunicorn(app: Flask, host: str, port: int) -> None:
    from gunicorn.app.base import BaseApplication

    class _Server(BaseApplication):
        """gunicorn serving an app built in this process (preloaded before fork)."""

        def __init__(self, application: Flask, options: dict[str, Any]) -> None:
            self.application = application
            self.options = options
            super().__init__()

        def load_config(self) -> None:
            for key, value in self.options.items():
                if key in self.cfg.settings or key not in _NEWER_GUNICORN_SETTINGS:
                    self.cfg.set(key, value)

        def load(self) -> Flask:
            return self.application

    log.info("serving with gunicorn on http://%s (%d workers)", _bind_address(host, port), WORKERS)
    _Server(app, {
        "bind": _bind_address(host, port),
        "workers": WORKERS,
        "worker_class": "gthread",
        "threads": THREADS,
        "preload_app": True,
        "timeout": TIMEOUT_SECONDS,
        "graceful_timeout": 30,
        "accesslog": "-",
        "access_log_format": ACCESS_LOG_FORMAT,
        "errorlog": "-",
        "forwarded_allow_ips": "127.0.0.1,::1",
        "control_socket_disable": True,  # no runtime control socket in the user's home directory
    }).run()


def _serve_waitress(app: Flask, host: str, port: int) -> None:
    import waitress

    log.info("serving with waitress on http://%s", _bind_address(host, port))
    waitress.serve(app, host=host, port=port, threads=THREADS,
                   max_request_body_size=app.config["MAX_CONTENT_LENGTH"] + 1024)
