"""One exception hierarchy for the whole product.

Every error carries what a sales rep needs to act on it: a short title, a detail
sentence naming the column / row and what to do, the HTTP status it maps to and the
CLI exit code.  The HTTP layer turns these into ``application/problem+json``; the
CLI prints ``detail`` on one line and exits with ``exit_code``.
"""

from __future__ import annotations

from typing import Any


class LeadScoreError(Exception):
    """Base class: a problem the user can act on."""

    status: int = 400
    title: str = "Bad request"
    slug: str = "bad-request"
    exit_code: int = 2

    def __init__(self, detail: str, *, column: str | None = None, row: int | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.column = column
        self.row = row
        self.extra = dict(extra or {})

    def to_problem(self) -> dict[str, Any]:
        """The RFC 9457 problem body (without instance / request id)."""
        body: dict[str, Any] = {
            "type": f"https://leadscore.dev/problems/{self.slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.column is not None:
            body["column"] = self.column
        if self.row is not None:
            body["row"] = self.row
        body.update(self.extra)
        return body


class BadInput(LeadScoreError):
    """Input data that cannot be used as given (file, column, cell)."""

    title = "Bad input"
    slug = "bad-input"


class NoUsableColumns(LeadScoreError):
    """None of the model's columns are present in the rows sent."""

    status = 422
    title = "No usable columns"
    slug = "no-usable-columns"


class TooLarge(LeadScoreError):
    """Too many rows or too large a body."""

    status = 413
    title = "Request too large"
    slug = "too-large"


class Unauthorized(LeadScoreError):
    """Missing or invalid credentials."""

    status = 401
    title = "Not signed in"
    slug = "unauthorized"


class Forbidden(LeadScoreError):
    """Valid credentials that are not allowed here."""

    status = 403
    title = "Not allowed"
    slug = "forbidden"


class ModelUnavailable(LeadScoreError):
    """No model bundle is installed, or it cannot be loaded."""

    status = 503
    title = "No model available"
    slug = "model-unavailable"


class BundleIntegrityError(ModelUnavailable):
    """A bundle file does not match the sha256 recorded in its card."""

    title = "Model bundle failed its integrity check"
    slug = "bundle-integrity"


class QualityGateFailed(LeadScoreError):
    """A trained model did not pass the quality gates."""

    status = 422
    title = "Model failed its quality gates"
    slug = "quality-gate"
    exit_code = 3


class SheetsError(LeadScoreError):
    """The Google Sheets API failed or refused a request."""

    status = 502
    title = "Google Sheets did not accept the write"
    slug = "sheets-api"
