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
    rules = getattr(req, "rules", None)
    try:
        name, bundle = choose_model(req.model, getattr(req, "spreadsheet_id", None))
    except ModelUnavailable:
        if rules is None:
            raise
        name, bundle = None, None  # no model at all: the rules alone score the rows
    if rules is not None:
        return _score_with_rules(req.header, req.rows, rules, bundle, name)
    return score(req.header, req.rows, bundle=bundle, name=name)


def score(header: list[str], rows: list[list[Any]], *, bundle: ModelBundle | None = None,
          name: str | None = None) -> Scored:
    """Score all rows with one model (default: the current one) in one vectorized call (timed as ``score``)."""
    bundle = bundle or current_bundle()
    with timed("score"):
        result = score_rows(bundle, header, rows)
        return Scored(scored_ref(name, bundle), result.rows(), result.warnings)


def _score_with_rules(header: list[str], rows: list[list[Any]], rules: Any, bundle: ModelBundle | None,
                      name: str | None) -> Scored:
    """A rulebook's points beside the model's results; the rules alone when there is no usable model."""
    with timed("score"):
        book = rulebook_from_request(rules)
        frame = rows_to_frame(header, rows)
        points = book.evaluate(frame)
        try:
            if bundle is None:
                raise ModelUnavailable("No model is installed")
            result = score_frame(bundle, frame)
        except (ModelUnavailable, NoUsableColumns) as exc:
            model = {"name": "rules", "version": "rules"}
            note = {"code": "rules_only",
                    "message": f"Scored by the rules alone ({exc.detail.split('. ')[0]}): Lead Score cuts the "
                               f"0–{book.max_points:g} point range in tenths."}
            return Scored(model, _rows(rules_only_results(points)), [note])
        return Scored(scored_ref(name, bundle), _rows(with_rule_results(result.results, points)), result.warnings)


def _rows(results: list[dict[str, Any]]) -> list[LeadResult]:
    return [LeadResult.from_json(r) for r in results]
