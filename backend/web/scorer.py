"""Calling the scoring core from a request: the current bundle (and a rulebook, if sent), one timed call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import g

from backend.core.outputs import LeadResult
from backend.core.rules import rulebook_from_request, rules_only_results, with_rule_results
from backend.core.scoring import rows_to_frame, score_frame, score_rows
from backend.errors import ModelUnavailable, NoUsableColumns
from backend.web.context import timed
from backend.web.payloads import read_json
from backend.web.state import current_bundle, current_settings
from backend.web.workspace import choose_model, scored_ref

if TYPE_CHECKING:
    from backend.store.bundle import ModelBundle


@dataclass(frozen=True)
class Scored:
    """What a view needs from scoring: the model used, per-row results and warnings."""

    model: dict[str, str]
    rows: list[LeadResult] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def version(self) -> str:
        """The version of the model that scored."""
        return self.model["version"]


def parse_and_score(parse: Callable[..., Any]) -> tuple[Any, Scored]:
    """Read the JSON body, check it with ``parse`` (within the row limit), score its rows."""
    req = parse(read_json(), max_rows=current_settings().max_rows)
    g.audit_rows = len(req.rows)
    g.audit_sheet = getattr(req, "spreadsheet_id", None)
    return req, score_request(req)


def score_request(req: Any) -> Scored:
    """Score a checked request with the model it names (or the sheet's own, or the default) and its rulebook."""
    if req.rules is None:
        name, bundle = choose_model(req.model, getattr(req, "spreadsheet_id", None))
        return score(req.header, req.rows, bundle=bundle, name=name)
    return _score_with_rules(req)


def score(header: list[str], rows: list[list[Any]], *, bundle: ModelBundle | None = None,
          name: str | None = None) -> Scored:
    """Score all rows with one model (default: the current one) in one vectorized call (timed as ``score``)."""
    bundle = bundle or current_bundle()
    with timed("score"):
        result = score_rows(bundle, header, rows)
        return Scored(scored_ref(name, bundle), result.rows(), result.warnings)


def _score_with_rules(req: Any) -> Scored:
    """A rulebook's points beside the model's results; the rules alone when there is no usable model."""
    with timed("score"):
        book = rulebook_from_request(req.rules)
        frame = rows_to_frame(req.header, req.rows)
        points = book.evaluate(frame)
        try:
            name, bundle = choose_model(req.model, getattr(req, "spreadsheet_id", None))
            result = score_frame(bundle, frame)
        except (ModelUnavailable, NoUsableColumns) as exc:
            model = {"name": "rules", "version": "rules"}
            note = {"code": "rules_only",
                    "message": f"Scored by the rules alone ({exc.detail.split('. ')[0]}): Lead Score cuts the "
                               f"0–{book.max_points:g} point range in tenths."}
            return Scored(model, rules_only_results(points), [note])
        return Scored(scored_ref(name, bundle), with_rule_results(result.rows(), points), result.warnings)
