"""What one app holds for its whole life: settings, the model bundle, the Sheets writer.

Everything expensive is created on first need and kept here (``app.extensions``), never in a
module global, so each app (and each test) has its own and nothing happens at import time.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import current_app

from backend.config import Settings
from backend.errors import LeadScoreError, SheetsError
from backend.store.model_health import forced
from backend.web.auth import Authenticator

if TYPE_CHECKING:
    from backend.sheets.writer import SheetsWriter
    from backend.store.bundle import ModelBundle
    from backend.store.registry import ActiveModel

EXTENSION = "leadscore"
OPENAPI_PATH = Path(__file__).resolve().parent.parent / "openapi.json"


class AppState:
    """Long-lived objects of one app; the bundle and writer are loaded lazily, once."""

    def __init__(self, settings: Settings, *, bundle: ModelBundle | None = None, sheets_writer: Any = None,
                 authenticator: Authenticator | None = None) -> None:
        self.settings = settings
        self.authenticator = authenticator or Authenticator(settings)
        self._bundle = bundle  # injected: served as is; otherwise the registry's active model
        self._active: ActiveModel | None = None
        self._writer = sheets_writer
        self._openapi: bytes | None = None
        self._lock = threading.Lock()

    def bundle(self) -> ModelBundle:
        """The model to score with: the injected bundle, or the registry's active version.

        The active version is loaded on first call and swapped without a restart when
        ``models promote`` / ``rollback`` / ``retrain`` change ``active.json`` (checked at most
        once a second); raises ModelUnavailable when no model can be loaded.
        """
        if self._bundle is not None:
            return self._bundle
        active = self._active
        if active is None:
            with self._lock:
                if self._active is None:
                    from backend.store.bundle import ModelBundle
                    from backend.store.registry import ActiveModel
                    self._active = ActiveModel(self.settings.fallback_dir,
                                               loader=lambda path: ModelBundle.load(path))
                active = self._active
        return active.get()

    def sheets_writer(self) -> Any:
        """The Sheets writer, built from the settings' service account on first call."""
        writer = self._writer
        if writer is None:
            with self._lock:
                if self._writer is None:
                    self._writer = _build_writer(self.settings)
                writer = self._writer
        return writer

    def openapi(self) -> bytes:
        """The OpenAPI document's bytes, read once."""
        if self._openapi is None:
            self._openapi = OPENAPI_PATH.read_bytes()
        return self._openapi


def _build_writer(settings: Settings) -> SheetsWriter:
    from backend.sheets.writer import SheetsWriter, client_from_settings
    try:
        client = client_from_settings(settings)
    except LeadScoreError:
        raise
    except Exception as exc:  # missing or unreadable service-account file, bad key…
        raise SheetsError("The server could not sign in to Google Sheets with its service "
                          "account. Its administrator must set GOOGLE_APPLICATION_CREDENTIALS "
                          "to a valid key file.") from exc
    return SheetsWriter(client)


def app_state() -> AppState:
    """The current app's state."""
    return current_app.extensions[EXTENSION]


def current_bundle() -> ModelBundle:
    """The one way views reach the model bundle (so the registry can swap it later)."""
    return app_state().bundle()


def current_settings() -> Settings:
    """The current app's settings."""
    return app_state().settings


def model_quality(bundle: ModelBundle) -> dict[str, Any]:
    """Whether the served model passed its quality gates; a failing one is served only when forced."""
    gates = bundle.card.get("gates") or {}
    passed = not forced(bundle.card, active=True)  # one definition, shared with the model health summary
    failures = [str(f) for f in gates.get("failures") or []]
    out: dict[str, Any] = {"gates_passed": passed, "forced": not passed, "failures": failures}
    if not passed:
        out["message"] = ("This model failed its quality gates and is served only because it was promoted with "
                          "--force: treat its scores with care. " + " ".join(failures[:2])).strip()
    return out
