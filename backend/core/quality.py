"""The data-quality report: what training read in each of the user's columns, and why.

For every column: the role it was given and why, how many cells were read, blank or could
not be read (with up to three examples of the unreadable ones), and the exact command-line
option that would change its role.  Columns left out are listed with the option that would
keep them.  The report goes into the model card (``data_quality``), is printed by
``train`` and is a section of ``report.html``; nothing a sheet holds is dropped silently.
"""

from __future__ import annotations

import shlex
from typing import Any

import numpy as np
import pandas as pd

from backend.core.cells import looks_like_dates, read_booleans, read_dates, read_numbers
from backend.core.schema import MIN_LEVEL_ROWS, MIN_PARSED_SHARE, Column, Schema, clean_cell, missing_mask

EXAMPLES = 3


def _flag(option: str, name: str) -> str:
    return f"{option} {shlex.quote(name)}"


def _examples(values: pd.Series, mask: np.ndarray) -> list[str]:
    texts = [" ".join(str(v).split()) for v in values[mask].to_numpy(dtype=object)]
    return list(dict.fromkeys(texts))[:EXAMPLES]


def _read_as(col: Column, values: pd.Series) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(unreadable, blank, extra facts) for a column read in its role."""
    blank = missing_mask(values)
    extra: dict[str, Any] = {}
    if col.role in ("numeric", "value"):
        _, bad, ranged = read_numbers(values)
        extra["ranges"] = int(ranged.sum())
    elif col.role == "boolean":
        _, bad = read_booleans(values)
    elif col.role == "date":
        _, bad = read_dates(values, bool(col.dayfirst))
        if col.dayfirst is not None:
            extra["dayfirst"] = col.dayfirst
    else:
        bad = np.zeros(len(values), dtype=bool)
        if col.role == "category":
            norm = values[~blank].map(clean_cell)
            extra["levels"] = len(col.levels)
            extra["pooled_rows"] = int((~norm.isin(set(col.levels))).sum())
            extra["pooled_values"] = len(col.rare)
    return bad & ~blank, blank, extra


def _other_reading(values: pd.Series) -> str | None:
    """The role most of an excluded column's cells would read as: numeric, date or None."""
    live = values[~missing_mask(values)]
    if len(live) == 0:
        return None
    _, bad, _ = read_numbers(live)
    if 1 - bad.mean() >= 0.5:
        return "numeric"
    if looks_like_dates(live) >= 0.5:
        return "date"
    return None


def _change(col: Column, values: pd.Series) -> tuple[str | None, str]:
    """The option that changes a feature column's role, and what it would do."""
    if col.role in ("numeric", "boolean"):
        return _flag("--categorical", col.name), "read it as categories instead"
    if col.role == "date":
        if col.dayfirst is False and "can only be read" not in col.reason:
            return "--dayfirst", "read dates such as 04.06.2026 as 4 June instead of 6 April"
        return _flag("--drop", col.name), "leave it out"
    other = _other_reading(values)
    if other == "numeric":
        return _flag("--numeric", col.name), "read it as numbers instead"
    if other == "date":
        return _flag("--date", col.name), "read it as dates instead"
    return _flag("--drop", col.name), "leave it out"


def _keep(col: Column, values: pd.Series) -> tuple[str | None, str]:
    """The option that would make an excluded column a feature, and what it would do."""
    if col.role == "leakage":
        return _flag("--keep", col.name), "use it anyway (only if it is known before the outcome)"
    if col.role == "dropped":
        return f"(leave out {_flag('--drop', col.name)})", "use it again"
    if col.role in ("id", "text"):
        other = _other_reading(values)
        option = {"numeric": "--numeric", "date": "--date"}.get(other or "", "--categorical")
        effect = {"--numeric": "read it as numbers", "--date": "read it as dates"}.get(option,
                                                                                       "use its values as categories")
        return _flag(option, col.name), effect
    return None, "nothing to learn from" if col.role in ("empty", "constant") else ""


def data_quality(frame: pd.DataFrame, schema: Schema, *, won: np.ndarray | None = None) -> dict[str, Any]:
    """Per column: role, why, cells read / blank / unreadable (with examples), and the option that changes it.

    ``frame`` is every row training was given (open leads too); ``won`` marks the won rows,
    whose value cells train the MRR model.
    """
    n = len(frame)
    columns: list[dict[str, Any]] = []
    excluded: list[dict[str, Any]] = []
    for col in schema.columns:
        if col.name not in frame.columns:
            continue
        values = frame[col.name]
        entry: dict[str, Any] = {"name": col.name, "role": col.role, "why": col.reason}
        if col.is_feature or col.role in ("value", "target"):
            bad, blank, extra = _read_as(col, values)
            entry.update(read=int(n - bad.sum() - blank.sum()), blank=int(blank.sum()),
                         unreadable=int(bad.sum()), examples=_examples(values, bad), **extra)
            if col.is_feature:
                entry["flag"], entry["flag_effect"] = _change(col, values)
            if col.role == "value" and won is not None:
                text_won = bad & np.asarray(won, dtype=bool)
                entry["won_rows_with_text"] = int(text_won.sum())
                entry["won_examples"] = _examples(values, text_won)
            columns.append(entry)
        else:
            entry["flag"], entry["flag_effect"] = _keep(col, values)
            excluded.append(entry)
    return {"rows": n, "category_min_rows": _min_rows(schema), "min_parsed_share": MIN_PARSED_SHARE,
            "columns": columns, "excluded": excluded}


def _min_rows(schema: Schema) -> int:
    counts = [c.min_level_rows for c in schema.columns if c.min_level_rows]
    return int(min(counts)) if counts else MIN_LEVEL_ROWS


def quality_notes(report: dict[str, Any]) -> list[str]:
    """Plain sentences for the card's notes: cells that could not be read, value rows left out."""
    notes = []
    unread = [c for c in report["columns"] if c["unreadable"] and c["role"] not in ("value", "target")]
    if unread:
        parts = ", ".join(f"{c['name']} {c['unreadable']}" for c in unread)
        notes.append(f"Cells that could not be read were treated as blank ({parts}); the data-quality section "
                     "shows examples. Fix them in the sheet to use them.")
    for c in report["columns"]:
        if c["role"] == "value" and c.get("won_rows_with_text"):
            shown = ", ".join(f"'{e}'" for e in c["won_examples"])
            notes.append(f"The value column '{c['name']}' holds text instead of an amount in "
                         f"{c['won_rows_with_text']} won row(s) (e.g. {shown}): those rows are left out of the MRR "
                         "model (they still train the close probability). Write amounts such as 1200, $1,200 or "
                         "1.2k to use them.")
    return notes


def format_quality(report: dict[str, Any]) -> list[str]:
    """The data-quality report as lines of text for the terminal."""
    lines = [f"Data quality ({report['rows']:,} rows; a category value needs {report['category_min_rows']} rows to "
             f"count on its own; numbers and dates keep their role when {report['min_parsed_share']:.0%} of "
             "filled cells read):"]
    for c in report["columns"]:
        facts = f"{c['read']} read, {c['blank']} blank, {c['unreadable']} unreadable"
        if c.get("ranges"):
            facts += f", {c['ranges']} ranges read as their midpoint"
        if c.get("pooled_rows"):
            facts += f", {c['pooled_rows']} rows with a rare value (pooled)"
        lines.append(f"  {c['name']} — {c['role']}: {c['why']}. {facts}.")
        if c["examples"]:
            lines.append("      could not read: " + ", ".join(f"'{e}'" for e in c["examples"]))
        if c.get("flag"):
            lines.append(f"      {c['flag']} to {c['flag_effect']}")
    for c in report["excluded"]:
        keep = f" {c['flag']} to {c['flag_effect']}." if c.get("flag") else ""
        lines.append(f"  {c['name']} — left out ({c['role']}): {c['why']}.{keep}")
    return lines
