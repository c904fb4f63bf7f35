"""The HTTP API: a Flask app factory with one blueprint per area.

``create_app()`` builds an app from :class:`~backend.config.Settings` (read from the
environment when not given).  Nothing happens at import time; the model bundle and the
Sheets writer are created on first need (or injected) and kept on the app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Flask

from backend.config import Settings
from backend.web import context, problems
from backend.web.state import EXTENSION, AppState

if TYPE_CHECKING:
    from backend.store.bundle import ModelBundle


def create_app(settings: Settings | None = None, *, bundle: ModelBundle | None = None,
               sheets_writer: Any = None) -> Flask:
    """Build the app; ``bundle`` and ``sheets_writer`` override the lazily loaded ones."""
    from backend.web import (  # here: keeps `import backend.web` light
        audit,
        health,
        jobs,
        model,
        regions,
        score,
        sheet_score,
    )

    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=settings.max_body_bytes)
    app.extensions[EXTENSION] = AppState(settings, bundle=bundle, sheets_writer=sheets_writer)
    context.install(app)
    problems.register(app)
    audit.install(app)
    for blueprint in (health.bp, model.bp, score.bp, sheet_score.bp, regions.bp, jobs.bp):
        app.register_blueprint(blueprint)
    return app


__all__ = ["create_app"]
