"""The output columns the product adds to a sheet, and how a result becomes cells.

These header texts are a contract with users (DESIGN.md); the add-on and the Sheets
adapter find the columns by exactly this text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

LEAD_SCORE = "Lead Score"
CLOSE_PROBABILITY = "Close Probability"
PREDICTED_MRR = "Predicted MRR"
SCORE_REASONS = "Score Reasons"
SEGMENT = "Segment"
SCORED_AT = "Scored At"
MODEL_VERSION = "Model Version"

OUTPUT_COLUMNS: tuple[str, ...] = (
    LEAD_SCORE,
    CLOSE_PROBABILITY,
    PREDICTED_MRR,
    SCORE_REASONS,
    SEGMENT,
    SCORED_AT,
    MODEL_VERSION,
)

# Sheets API number formats applied once to the output columns.
NUMBER_FORMATS: dict[str, dict[str, str]] = {
    LEAD_SCORE: {"type": "NUMBER", "pattern": "0"},
    CLOSE_PROBABILITY: {"type": "PERCENT", "pattern": "0.0%"},
    PREDICTED_MRR: {"type": "CURRENCY", "pattern": "$#,##0"},
    SCORED_AT: {"type": "DATE_TIME", "pattern": "yyyy-mm-dd hh:mm"},
}


SHEETS_EPOCH = datetime(1899, 12, 30, tzinfo=UTC)


def sheets_datetime(moment: datetime) -> float:
    """A moment as a Sheets date-time serial number (days since 1899-12-30), so that the
    ``Scored At`` cell is a real date the sheet can sort and format, written with RAW input."""
    return round((moment.astimezone(UTC) - SHEETS_EPOCH).total_seconds() / 86400.0, 6)


def not_scored_text(error: str | None) -> str:
    """The ``Score Reasons`` text of a row that could not be scored."""
    return f"Not scored: {error or 'no usable values'}"


@dataclass(frozen=True)
class LeadResult:
    """One lead's scores: the one per-row result type; JSON, cells and frames derive from it."""

    lead_score: int | None
    close_probability: float | None
    predicted_mrr: float | None
    reasons: tuple[str, ...] = ()
    segment: str | None = None
    error: str | None = None          # why the row could not be scored (then the scores are None)

    @property
    def scored(self) -> bool:
        """True when the row got a score."""
        return self.lead_score is not None

    @classmethod
    def failed(cls, error: str) -> LeadResult:
        """A row that could not be scored, and why."""
        return cls(None, None, None, (), None, error)

    @classmethod
    def from_json(cls, result: Mapping[str, Any]) -> LeadResult:
        """Back from the ``/v1/score`` result shape."""
        if result.get("lead_score") is None:
            return cls.failed(result.get("error") or "no usable values")
        mrr = result.get("predicted_mrr")
        return cls(int(result["lead_score"]), float(result["close_probability"]),
                   None if mrr is None else float(mrr), tuple(result.get("reasons") or ()),
                   result.get("segment"))

    def to_json(self) -> dict[str, Any]:
        """The ``/v1/score`` result shape (probabilities to 4 places, money to cents)."""
        if not self.scored:
            return {"lead_score": None, "close_probability": None, "predicted_mrr": None,
                    "reasons": [], "segment": None, "error": self.error}
        return {"lead_score": int(self.lead_score),  # type: ignore[arg-type]
                "close_probability": round(float(self.close_probability), 4),  # type: ignore[arg-type]
                "predicted_mrr": None if self.predicted_mrr is None else round(float(self.predicted_mrr), 2),
                "reasons": list(self.reasons), "segment": self.segment}

    def cells(self, *, scored_at: str | float, model_version: str, blank: Any = "") -> dict[str, Any]:
        """Cell values by output header.

        Values are plain JSON scalars written with ``RAW`` input: a reason or segment text that
        starts with ``=`` stays text.  A row that could not be scored gets ``blank`` scores and
        its reason, so a stale score in that row is replaced.
        """
        if not self.scored:
            return {LEAD_SCORE: blank, CLOSE_PROBABILITY: blank, PREDICTED_MRR: blank,
                    SCORE_REASONS: not_scored_text(self.error), SEGMENT: blank,
                    SCORED_AT: scored_at, MODEL_VERSION: model_version}
        json = self.to_json()
        return {LEAD_SCORE: json["lead_score"], CLOSE_PROBABILITY: json["close_probability"],
                PREDICTED_MRR: blank if json["predicted_mrr"] is None else json["predicted_mrr"],
                SCORE_REASONS: "; ".join(self.reasons), SEGMENT: self.segment or blank,
                SCORED_AT: scored_at, MODEL_VERSION: model_version}


def result_to_cells(result: Mapping[str, Any], *, scored_at: str | float, model_version: str) -> dict[str, Any]:
    """Cells of one result in the ``/v1/score`` shape (see :meth:`LeadResult.cells`)."""
    return LeadResult.from_json(result).cells(scored_at=scored_at, model_version=model_version)
