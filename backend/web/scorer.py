"""Calling the scoring core from a request: the current bundle, one timed call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import g

from backend.core.outputs import LeadResult
from backend.core.scoring import score_rows
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
    name, bundle = choose_model(req.model, getattr(req, "spreadsheet_id", None))
    return req, score(req.header, req.rows, bundle=bundle, name=name)


def score(header: list[str], rows: list[list[Any]], *, bundle: ModelBundle | None = None,
          name: str | None = None) -> Scored:
    """Score all rows with one model (default: the current one) in one vectorized call (timed as ``score``)."""
    bundle = bundle or current_bundle()
    with timed("score"):
        result = score_rows(bundle, header, rows)
        return Scored(scored_ref(name, bundle), result.rows(), result.warnings)
