"""``POST /v1/regions``: where to sell, from the whole sheet's rows and the company's sites.

Parse → :func:`backend.core.regions.build_report` → serialize.  When a model is being served
and reads this sheet's columns, targets are ranked by its expected value; otherwise by the
value of their industry (the response says which).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from flask import Blueprint, Response

from backend.errors import BadInput, LeadScoreError
from backend.web.context import require_auth, timed
from backend.web.payloads import json_response, parse_score_request, read_json
from backend.web.state import current_bundle

bp = Blueprint("regions", __name__, url_prefix="/v1")
bp.before_request(require_auth)

MAX_ROWS = 50_000   # the report reads the whole sheet, not a chunk of it
_EXAMPLE = ('{"header": [...], "rows": [[...], ...], "target": "Status", "positive": "Won", '
            '"zip": "ZIP", "sites": [{"name": "Houston", "zip": "77002"}]}')
_FIELDS = {"header", "rows", "target", "positive", "value", "industry", "zip", "sites", "radius", "top_sites",
           "use_model"}


def _text(body: dict[str, Any], name: str, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise BadInput(f"'{name}' is required: {_EXAMPLE}.")
        return None
    if not isinstance(value, str) or len(value) > 200:
        raise BadInput(f"'{name}' must be a column name or value as text (at most 200 characters).")
    return value.strip()


def _sites(value: Any) -> pd.DataFrame:
    if not isinstance(value, list) or not value or len(value) > 200:
        raise BadInput("'sites' must list the company's sites (1 to 200), each as {\"name\": \"Houston\", "
                       "\"zip\": \"77002\"}.")
    for i, site in enumerate(value):
        if not isinstance(site, dict) or set(site) != {"name", "zip"}:
            raise BadInput(f"sites[{i}] must be an object with exactly 'name' and 'zip'.")
        if not isinstance(site["name"], str) or not isinstance(site["zip"], (str, int)):
            raise BadInput(f"sites[{i}]: the name must be text and the zip a ZIP code such as \"77002\".")
    return pd.DataFrame({"name": [s["name"] for s in value], "zip": [s["zip"] for s in value]}, dtype=object)


def _number(body: dict[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise BadInput(f"'{name}' must be a number from {low:g} to {high:g}.")
    return float(value)


def _rows(frame: pd.DataFrame) -> dict[str, Any]:
    """A table as a header and rows of JSON values (blank where pandas has no value)."""
    cells = frame.astype(object).where(frame.notna(), None)
    return {"header": [str(c) for c in frame.columns], "rows": cells.to_numpy().tolist()}


def _expected_value(frame: pd.DataFrame, notes: list[str]) -> np.ndarray | None:
    from backend.core.regions import model_expected_value

    try:
        return model_expected_value(current_bundle(), frame)
    except LeadScoreError as exc:
        notes.append(f"Targets were not ranked by the model: {exc.detail}")
        return None


@bp.post("/regions")
def where_to_sell() -> Response:
    """Customers and prospects per site and region, industries, and the targets to call first."""
    from backend.core.geo import detect_zip_column, sites_from_frame
    from backend.core.regions import build_report
    from backend.core.scoring import rows_to_frame

    body = read_json()
    if not isinstance(body, dict):
        raise BadInput(f"Send a JSON object: {_EXAMPLE}.")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise BadInput(f"Unknown field(s) {', '.join(unknown)}: {_EXAMPLE}.")
    table = parse_score_request({"header": body.get("header"), "rows": body.get("rows")}, max_rows=MAX_ROWS)
    with timed("validate"):
        target, positive = _text(body, "target", True), _text(body, "positive", True)
        sites = sites_from_frame(_sites(body.get("sites")))
        radius = _number(body, "radius", 100.0, 1.0, 3000.0)
        top_sites = int(_number(body, "top_sites", 1, 1, 50))
        frame = rows_to_frame(table.header, table.rows)
        zip_column = _text(body, "zip") or detect_zip_column(frame)
        if zip_column is None:
            raise BadInput("No column of ZIP codes was found (a header such as 'ZIP' or 'Postal Code' with 5-digit "
                           "US ZIP codes). Choose the ZIP column.")
    notes: list[str] = []
    with timed("score"):
        expected = _expected_value(frame, notes) if body.get("use_model", True) is not False else None
        report = build_report(frame, target=target or "", positive=positive or "", zip_column=zip_column,
                              sites=sites, value=_text(body, "value"), industry=_text(body, "industry"),
                              radius=radius, top_sites=top_sites, expected_value=expected)
    return json_response({
        "summary": report.summary,
        "notes": notes + report.notes,
        "ranked_by": report.ranked_by,
        "zip_column": zip_column,
        "located": report.located,
        "regions": _rows(report.regions),
        "industries": _rows(report.industries) if report.industries is not None else None,
        "targets": _rows(report.targets),
    })
