"""The output columns the product adds to a sheet, and how a result becomes cells.

These header texts are a contract with users (DESIGN.md); the add-on and the Sheets
adapter find the columns by exactly this text.
"""

from __future__ import annotations

from collections.abc import Mapping
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


def result_to_cells(result: Mapping[str, Any], *, scored_at: str | float, model_version: str) -> dict[str, Any]:
    """Map one scoring result (the ``/v1/score`` shape) to cell values by output header.

    Values are plain JSON scalars written with ``RAW`` input: a reason or segment text that
    starts with ``=`` stays text.  A row that could not be scored gets blanks and its reason.
    """
    if result.get("lead_score") is None:
        return {
            LEAD_SCORE: "",
            CLOSE_PROBABILITY: "",
            PREDICTED_MRR: "",
            SCORE_REASONS: f"Not scored: {result.get('error') or 'no usable values'}",
            SEGMENT: "",
            SCORED_AT: scored_at,
            MODEL_VERSION: model_version,
        }
    mrr = result.get("predicted_mrr")
    probability = result.get("close_probability")  # None when the rules alone scored the row
    extra = {RULE_POINTS: result["rule_points"]} if result.get("rule_points") is not None else {}
    return {
        LEAD_SCORE: int(result["lead_score"]),
        CLOSE_PROBABILITY: "" if probability is None else round(float(probability), 4),
        PREDICTED_MRR: "" if mrr is None else round(float(mrr), 2),
        SCORE_REASONS: "; ".join(result.get("reasons") or []),
        SEGMENT: result.get("segment") or "",
        SCORED_AT: scored_at,
        MODEL_VERSION: model_version,
        **extra,
    }
