"""One exception hierarchy for the whole product.

Every error carries what a sales rep needs to act on it: a detail sentence naming the
column / row and what to do (and, where known, the column and row themselves).  The
exceptions carry no HTTP or process wording: the web edge maps each class to a status and
an ``application/problem+json`` body (``backend.web.problems``), the CLI to an exit code
(``backend.cli``).
"""

from __future__ import annotations

from typing import Any


class LeadScoreError(Exception):
    """Base class: a problem the user can act on."""

    def __init__(self, detail: str, *, column: str | None = None, row: int | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.column = column
        self.row = row
        self.extra = dict(extra or {})


class BadInput(LeadScoreError):
    """Input data that cannot be used as given (file, column, cell, request field)."""


class NoUsableColumns(LeadScoreError):
    """None of the model's columns are present in the rows sent."""


class TooLarge(LeadScoreError):
    """Too many rows or too large a body."""


class Unauthorized(LeadScoreError):
    """Missing or invalid credentials."""


class Forbidden(LeadScoreError):
    """Valid credentials that are not allowed here."""


class ModelUnavailable(LeadScoreError):
    """No model bundle is installed, or it cannot be loaded."""


class BundleIntegrityError(ModelUnavailable):
    """A bundle file does not match the sha256 recorded in its card."""


class QualityGateFailed(LeadScoreError):
    """A trained model did not pass the quality gates."""


class NotFound(LeadScoreError):
    """A named thing (model, upload, training job) that does not exist."""


class Busy(LeadScoreError):
    """The server is already doing as much of this as it can; try again shortly."""


class SheetsError(LeadScoreError):
    """The Google Sheets API failed or refused a request."""
