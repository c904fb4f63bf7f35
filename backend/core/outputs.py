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
RULE_POINTS = "Rule Points"   # written beside Lead Score when a points rulebook is used

OUTPUT_COLUMNS: tuple[str, ...] = (
    LEAD_SCORE,
    CLOSE_PROBABILITY,
    PREDICTED_MRR,
    SCORE_REASONS,
    SEGMENT,
    SCORED_AT,
    MODEL_VERSION,
)

# Columns the product writes only in some modes (never features either).
OPTIONAL_OUTPUT_COLUMNS: tuple[str, ...] = (RULE_POINTS,)

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
    rule_points: float | None = None  # with a points rulebook: the lead's points …
    rule_score: int | None = None     # … the rules' own 1-10 score beside a model's …
    rule_reasons: tuple[str, ...] = ()  # … and the rules that fired

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
        probability = result.get("close_probability")  # None when the rules alone scored the row
        points, rule_score = result.get("rule_points"), result.get("rule_score")
        return cls(int(result["lead_score"]), None if probability is None else float(probability),
                   None if mrr is None else float(mrr), tuple(result.get("reasons") or ()),
                   result.get("segment"), None, None if points is None else float(points),
                   None if rule_score is None else int(rule_score), tuple(result.get("rule_reasons") or ()))

    def to_json(self) -> dict[str, Any]:
        """The ``/v1/score`` result shape (probabilities to 4 places, money to cents)."""
        score, probability, mrr = self.lead_score, self.close_probability, self.predicted_mrr
        if score is None:
            return {"lead_score": None, "close_probability": None, "predicted_mrr": None,
                    "reasons": [], "segment": None, "error": self.error}
        out: dict[str, Any] = {
            "lead_score": int(score),
            "close_probability": None if probability is None else round(float(probability), 4),
            "predicted_mrr": None if mrr is None else round(float(mrr), 2),
            "reasons": list(self.reasons), "segment": self.segment}
        if self.rule_points is not None:
            out["rule_points"] = self.rule_points
        if self.rule_score is not None:
            out.update(rule_score=self.rule_score, rule_reasons=list(self.rule_reasons))
        return out

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
        cells = {LEAD_SCORE: json["lead_score"],
                 CLOSE_PROBABILITY: blank if json["close_probability"] is None else json["close_probability"],
                 PREDICTED_MRR: blank if json["predicted_mrr"] is None else json["predicted_mrr"],
                 SCORE_REASONS: "; ".join(self.reasons), SEGMENT: self.segment or blank,
                 SCORED_AT: scored_at, MODEL_VERSION: model_version}
        if self.rule_points is not None:
            cells[RULE_POINTS] = self.rule_points
        return cells


def result_to_cells(result: Mapping[str, Any], *, scored_at: str | float, model_version: str) -> dict[str, Any]:
    """Cells of one result in the ``/v1/score`` shape (see :meth:`LeadResult.cells`)."""
    return LeadResult.from_json(result).cells(scored_at=scored_at, model_version=model_version)
