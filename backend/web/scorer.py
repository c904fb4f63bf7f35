"""Calling the scoring core from a request: the current bundle (and a rulebook, if sent), one timed call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backend.core.rules import rulebook_from_request, rules_only_results, with_rule_results
from backend.core.scoring import rows_to_frame, score_frame, score_rows
from backend.errors import ModelUnavailable, NoUsableColumns
from backend.web.context import timed
from backend.web.state import current_bundle


@dataclass(frozen=True)
class Scored:
    """What a view needs from scoring: the model used, per-row results and warnings."""

    model: dict[str, str]
    version: str
    results: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)


def score(header: list[str], rows: list[list[Any]], rules: Any = None) -> Scored:
    """Score all rows with the current model in one vectorized call (timed as ``score``).

    With a rulebook, its points are added beside the model's results; with no model installed
    (or none of its columns in the sheet), the rules alone score the rows.
    """
    if rules is not None:
        return _score_with_rules(header, rows, rules)
    bundle = current_bundle()
    model = {"name": str(bundle.name), "version": str(bundle.version)}
    with timed("score"):
        result = score_rows(bundle, header, rows)
        return Scored(model, model["version"], result.results, result.warnings)


def _score_with_rules(header: list[str], rows: list[list[Any]], rules: Any) -> Scored:
    with timed("score"):
        book = rulebook_from_request(rules)
        frame = rows_to_frame(header, rows)
        points = book.evaluate(frame)
        try:
            bundle = current_bundle()
            result = score_frame(bundle, frame)
        except (ModelUnavailable, NoUsableColumns) as exc:
            model = {"name": "rules", "version": "rules"}
            note = {"code": "rules_only",
                    "message": f"Scored by the rules alone ({exc.detail.split('. ')[0]}): Lead Score cuts the "
                               f"0–{book.max_points:g} point range in tenths."}
            return Scored(model, model["version"], rules_only_results(points), [note])
        model = {"name": str(bundle.name), "version": str(bundle.version)}
        return Scored(model, model["version"], with_rule_results(result.results, points), result.warnings)
