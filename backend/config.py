"""Settings: one frozen dataclass read from ``LEADSCORE_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

DEFAULT_SHEETS_API_URL = "https://sheets.googleapis.com"
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "models"


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with safe defaults. Nothing is read at import time."""

    model_dir: Path = DEFAULT_MODEL_DIR
    api_keys: tuple[str, ...] = ()            # plain keys or "sha256:<hex>"
    oidc_audience: str | None = None          # the Apps Script project's OAuth client id
    allowed_domains: tuple[str, ...] = ()     # email domains or full addresses
    max_rows: int = 2000
    max_body_bytes: int = 8 * 1024 * 1024
    sheets_api_url: str = DEFAULT_SHEETS_API_URL
    credentials_file: str | None = None       # GOOGLE_APPLICATION_CREDENTIALS
    mlflow_uri: str | None = None             # also log training runs to this MLflow tracking server
    mlflow_experiment: str = "lead-score"
    fallback_model_dir: Path | None = None    # the registry for requests naming no model (default: model_dir)
    audit_db: Path | None = None              # the audit log (SQLite; default: <model_dir>/audit.sqlite3)

    @property
    def auth_configured(self) -> bool:
        """True when at least one way of authenticating callers is set up."""
        return bool(self.api_keys or self.oidc_audience)

    @property
    def fallback_dir(self) -> Path:
        """The registry serving requests that name no model (the bundled sample by default)."""
        return Path(self.fallback_model_dir or self.model_dir)

    @property
    def audit_path(self) -> Path:
        """Where the audit log of scoring and training requests is kept."""
        return Path(self.audit_db or Path(self.model_dir) / "audit.sqlite3")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read settings from the environment (or the mapping given); overrides win."""
        env = os.environ if environ is None else environ
        base = cls(
            model_dir=Path(env.get("LEADSCORE_MODEL_DIR") or DEFAULT_MODEL_DIR),
            api_keys=_split(env.get("LEADSCORE_API_KEYS")),
            oidc_audience=env.get("LEADSCORE_OIDC_AUDIENCE") or None,
            allowed_domains=tuple(d.lower() for d in _split(env.get("LEADSCORE_ALLOWED_DOMAINS"))),
            max_rows=int(env.get("LEADSCORE_MAX_ROWS") or 2000),
            max_body_bytes=int(env.get("LEADSCORE_MAX_BODY_BYTES") or 8 * 1024 * 1024),
            sheets_api_url=(env.get("LEADSCORE_SHEETS_API_URL") or DEFAULT_SHEETS_API_URL).rstrip("/"),
            credentials_file=env.get("GOOGLE_APPLICATION_CREDENTIALS") or None,
            mlflow_uri=env.get("LEADSCORE_MLFLOW_URI") or None,
            mlflow_experiment=env.get("LEADSCORE_MLFLOW_EXPERIMENT") or "lead-score",
            fallback_model_dir=Path(env["LEADSCORE_FALLBACK_MODEL_DIR"]) if env.get("LEADSCORE_FALLBACK_MODEL_DIR")
            else None,
            audit_db=Path(env["LEADSCORE_AUDIT_DB"]) if env.get("LEADSCORE_AUDIT_DB") else None,
        )
        return replace(base, **overrides) if overrides else base
