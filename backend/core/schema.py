"""Schema inference: what each of the user's columns is, and how to read its cells.

Sheets are not cleaned for the product.  A column of amounts holds ``$12,000``, ``12k``
and ``1.2M``; a yes/no column holds ``Yes``, ``TRUE`` and ``1``; categories come in
stray case and spaces; ``Select`` and ``N/A`` mean "missing".  Everything here works on
whole columns (pandas vectorized string ops), never cell by cell, and the inferred
:class:`Schema` is saved with the model so training and scoring read cells identically.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from backend.core.cells import (
    FALSE_WORDS,
    PLACEHOLDERS,
    TRUE_WORDS,
    clean_cell,
    decide_dayfirst,
    is_blank,
    looks_like_dates,
    per_distinct,
    read_booleans,
    read_dates,
    read_numbers,
)
from backend.core.outputs import OPTIONAL_OUTPUT_COLUMNS, OUTPUT_COLUMNS
from backend.errors import BadInput

_ID_NAME = re.compile(r"(^|[\s_#-])(id|uuid|guid|key|number|no|num|#)$|^(id|#)[\s_]|e-?mail|phone|"
                      r"^name$|[\s_]name$|url|website|linkedin|address", re.IGNORECASE)
_DATE_NAME = re.compile(r"date|day|created|signup|signed|closed|updated|(^|[\s_])(at|on|when)$", re.IGNORECASE)

FEATURE_ROLES = ("numeric", "boolean", "category", "date")
OTHER_LEVEL = "(other)"
MIN_LEVEL_ROWS = 20       # a category level needs this many training rows to be learnt on its own
MIN_PARSED_SHARE = 0.8    # numbers / dates: the share of filled cells that must read for the role
MIN_BOOLEAN_SHARE = 0.95  # yes/no: stricter, since other words in such a column usually mean something
MAX_RARE_KEPT = 5000      # rare levels remembered (to say "rare in training" rather than "unseen")

__all__ = ["FALSE_WORDS", "PLACEHOLDERS", "TRUE_WORDS", "clean_cell", "is_blank", "per_distinct"]


def normalize_name(name: object) -> str:
    """Header text as matched between training and scoring: trimmed, spaces folded, case-folded."""
    return re.sub(r"\s+", " ", str(name if name is not None else "")).strip().casefold()


def normalize_text(values: pd.Series) -> pd.Series:
    """Cells as comparable text: trimmed, inner spaces folded, case-folded; missing → ''."""
    out = per_distinct(values, lambda v: "" if is_blank(v) else clean_cell(v), "")
    return pd.Series(out, index=values.index, dtype=object)


def normalize_label(values: pd.Series) -> pd.Series:
    """Outcome cells as comparable text: like :func:`normalize_text`, and ``1.0`` reads as ``1``."""
    return normalize_text(values).str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True)


def missing_mask(values: pd.Series) -> np.ndarray:
    """True where a cell is blank, NaN or a placeholder such as ``Select`` or ``N/A``."""
    return per_distinct(values, lambda v: is_blank(v) or clean_cell(v) in PLACEHOLDERS, True).astype(bool)


def parse_numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Read a column of numbers in the forms sheets hold them (see :mod:`backend.core.cells`).

    Returns ``(numbers, unparsed)``: float values (NaN where missing) and a mask of
    non-blank cells that are not numbers, or out of range (they become NaN too, and are
    reported).  Ranges such as ``10-50`` read as their midpoint.
    """
    nums, bad, _ = read_numbers(values)
    return nums, bad


def parse_booleans(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Read yes/no cells (``Yes/No``, ``TRUE/FALSE``, ``Y/N``, ``1/0``, any case) as 1.0/0.0, NaN if missing."""
    return read_booleans(values)


def parse_dates(values: pd.Series, dayfirst: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read date cells as days since 1970-01-01 UTC (NaN if missing); ``dayfirst`` as decided for the column."""
    return read_dates(values, bool(dayfirst))


def parse_categories(values: pd.Series) -> pd.Series:
    """Category cells as normalized text; placeholders become NaN."""
    out = per_distinct(values, lambda v: None if is_blank(v) or clean_cell(v) in PLACEHOLDERS else clean_cell(v), None)
    return pd.Series(out, index=values.index, dtype=object)


@dataclass
class Column:
    """One of the user's columns: its role and what was learnt about it."""

    name: str
    role: str
    reason: str = ""
    levels: list[str] = field(default_factory=list)   # category levels kept (normalized)
    labels: dict[str, str] = field(default_factory=dict)  # normalized level → its most frequent spelling
    currency: bool = False                              # numbers typed as money ($…)
    percent: bool = False
    dayfirst: bool | None = None                        # dates: 04.06.2026 is 4 June (True) or 6 April
    rare: list[str] = field(default_factory=list)       # category values pooled as rare (normalized)
    min_level_rows: int | None = None                   # categories: rows a level needed to be kept

    def label(self, level: str) -> str:
        """A category level as the team spells it most often."""
        return self.labels.get(level, level)

    @property
    def key(self) -> str:
        """The normalized header used to match this column at scoring time."""
        return normalize_name(self.name)

    @property
    def is_feature(self) -> bool:
        """True when the model reads this column."""
        return self.role in FEATURE_ROLES


@dataclass
class Schema:
    """The columns a model was trained on, saved with it (card and preprocess.json)."""

    columns: list[Column]

    @property
    def features(self) -> list[Column]:
        """Columns the model reads, in training order."""
        return [c for c in self.columns if c.is_feature]

    @property
    def excluded(self) -> list[Column]:
        """Columns the model does not read, each with the reason."""
        return [c for c in self.columns if not c.is_feature]

    def to_dict(self) -> list[dict[str, Any]]:
        """JSON-ready description for the model card."""
        out = []
        for c in self.columns:
            d = asdict(c)
            d.pop("labels")
            d["rare_levels"] = len(d.pop("rare"))
            if c.role != "category":
                for key in ("levels", "rare_levels", "min_level_rows"):
                    d.pop(key)
            if c.role != "date":
                d.pop("dayfirst")
            out.append(d)
        return out

    def to_json(self) -> list[dict[str, Any]]:
        """Everything fitted about the columns, as JSON data (saved in the bundle)."""
        return [asdict(c) for c in self.columns]

    @classmethod
    def from_json(cls, data: Sequence[Mapping[str, Any]]) -> Schema:
        """The schema saved by :meth:`to_json` (unknown keys are refused: no silent drift)."""
        allowed = set(Column.__dataclass_fields__)
        columns = []
        for item in data:
            extra = set(item) - allowed
            if extra:
                raise ValueError(f"unknown column fields {sorted(extra)}")
            columns.append(Column(**item))
        return cls(columns)


@dataclass(frozen=True)
class RoleOverrides:
    """User-chosen roles that win over inference (``--drop``, ``--id``, ``--category`` …)."""

    drop: Sequence[str] = ()
    ids: Sequence[str] = ()
    categorical: Sequence[str] = ()
    numeric: Sequence[str] = ()
    dates: Sequence[str] = ()
    keep: Sequence[str] = ()
    dayfirst: bool | None = None   # --dayfirst: numeric dates are day/month/year in every date column

    def role_for(self, name: str) -> str | None:
        """The forced role for a column, if the user named it."""
        key = normalize_name(name)
        for names, role in ((self.drop, "dropped"), (self.ids, "id"), (self.categorical, "category"),
                            (self.numeric, "numeric"), (self.dates, "date")):
            if key in {normalize_name(n) for n in names}:
                return role
        return None

    def all_names(self) -> set[str]:
        """Every column the user named, normalized."""
        return {normalize_name(n) for group in (self.drop, self.ids, self.categorical, self.numeric,
                                                  self.dates, self.keep) for n in group}


def resolve_column(frame: pd.DataFrame, name: str, what: str) -> str:
    """Find a column by header text (trimmed, case-insensitive) or raise a clear error."""
    key = normalize_name(name)
    for col in frame.columns:
        if normalize_name(col) == key:
            return str(col)
    shown = ", ".join(str(c) for c in list(frame.columns)[:12])
    raise BadInput(f"The {what} column '{name}' is not in the sheet. Columns found: {shown}. "
                   f"Pass the header text exactly as it appears in row 1.", column=name)


def _levels(values: pd.Series, min_rows: int, max_levels: int) -> tuple[list[str], dict[str, str], list[str]]:
    """(levels kept, their most frequent spellings, rare values) of a category column's filled cells."""
    norm = normalize_text(values)
    spelled = per_distinct(values, lambda v: " ".join(str(v).split()), "")
    counts = norm.value_counts()
    kept = [str(x) for x in counts[counts >= max(min_rows, 1)].index[:max_levels]]
    rare = [str(x) for x in counts.index if str(x) not in set(kept)][:MAX_RARE_KEPT]
    pairs = pd.DataFrame({"level": norm.to_numpy(dtype=object), "text": spelled}).value_counts()
    best = pairs.reset_index().drop_duplicates("level")  # value_counts sorts by count: first = most frequent
    spelling = dict(zip(best["level"], best["text"]))
    return kept, {level: str(spelling[level]) for level in kept}, rare


def _category(name: str, values: pd.Series, min_rows: int, max_levels: int, reason: str | None = None) -> Column:
    kept, labels, rare = _levels(values, min_rows, max_levels)
    if not kept:
        return Column(name, "text", f"no value repeats in {min_rows} rows or more, too few to learn from")
    pooled = f"; {len(rare)} rarer {'value' if len(rare) == 1 else 'values'} pooled as one" if rare else ""
    why = reason or f"{len(kept)} {'value' if len(kept) == 1 else 'values'} with at least {min_rows} rows each{pooled}"
    return Column(name, "category", why, levels=kept, labels=labels, rare=rare, min_level_rows=min_rows)


def _date_column(name: str, values: pd.Series, reason: str, dayfirst: bool | None) -> Column:
    decided, evidence = decide_dayfirst(values)
    if dayfirst is not None and decided is not None:
        decided, evidence = dayfirst, "day-first (--dayfirst)" if dayfirst else evidence
    return Column(name, "date", reason + (f"; {evidence}" if evidence else ""), dayfirst=decided)


def _infer_one(name: str, values: pd.Series, min_level_count: int, max_levels: int,
               dayfirst: bool | None = None) -> Column:
    present = ~missing_mask(values)
    k = int(present.sum())
    if k == 0:
        return Column(name, "empty", "no values")
    live = values[present]
    nums, bad, _ = read_numbers(live)
    norm = normalize_text(live)
    distinct = norm.nunique()
    # Numbers under a header such as "Time Spent on Website" are measurements, not ids: an
    # id-like header counts only with mostly unique values (a header alone never makes an id).
    if _ID_NAME.search(normalize_name(name)) and distinct > 0.5 * k:
        return Column(name, "id", "identifier-like header with mostly unique values")
    bools, bad_b = read_booleans(live)
    if distinct == 1:
        return Column(name, "constant", "one value in every row")
    if (1 - bad_b.mean() >= MIN_BOOLEAN_SHARE and set(np.unique(bools[~np.isnan(bools)])) <= {0.0, 1.0}
            and distinct <= 12):
        return Column(name, "boolean", "yes/no values")
    read_share = 1 - bad.mean()
    if read_share >= MIN_PARSED_SHARE:
        finite = nums[~np.isnan(nums)]
        if (_DATE_NAME.search(normalize_name(name)) and len(finite)
                and np.all((finite >= 20_000) & (finite <= 80_000))):
            return _date_column(name, live, "dates (spreadsheet day numbers)", dayfirst)
        if (k >= 50 and len(np.unique(finite)) >= 0.98 * k and np.all(finite == np.round(finite))
                and (np.all(np.diff(finite) > 0) or np.all(np.diff(finite) < 0))):
            return Column(name, "id", "a unique, ordered whole number in every row")
        return Column(name, "numeric", "numbers" if read_share == 1 else f"numbers ({read_share:.0%} of cells read)",
                      currency=bool(norm.str.contains(r"[$€£¥₹]|usd|eur|gbp", regex=True).mean() > 0.05),
                      percent=bool(norm.str.endswith("%").mean() > 0.5))
    if looks_like_dates(live) >= 0.5:
        decided, _ = decide_dayfirst(live)
        _, bad_d = read_dates(live, bool(dayfirst if dayfirst is not None else decided))
        share = 1 - bad_d.mean()
        if share >= MIN_PARSED_SHARE:
            why = "dates" if share == 1 else f"dates ({share:.0%} of cells read)"
            return _date_column(name, live, why, dayfirst)
    if k >= 20 and distinct >= 0.95 * k:
        return Column(name, "id", "a different value in almost every row")
    if norm.str.len().median() > 40 or (k >= 50 and distinct > 0.5 * k):
        return Column(name, "text", "free text (a different value in most rows)")
    return _category(name, live, min_level_count, max_levels)


def infer_schema(frame: pd.DataFrame, *, target: str | None = None, value: str | None = None,
                 overrides: RoleOverrides | None = None, min_level_rows: int = MIN_LEVEL_ROWS,
                 max_levels: int = 50) -> Schema:
    """Infer every column's role from the cells, honouring the user's overrides.

    A category level is kept when at least ``min_level_rows`` rows hold it (a count, not a
    share of the sheet, so a big sheet does not pool a city with 45 leads); rarer values
    are pooled into one level and remembered as rare.
    """
    overrides = overrides or RoleOverrides()
    known = {normalize_name(c) for c in frame.columns}
    unknown = sorted(n for n in overrides.all_names() if n not in known)
    if unknown:
        raise BadInput(f"Column(s) named in the options are not in the sheet: {', '.join(unknown)}. "
                       f"Pass the header text exactly as it appears in row 1.", column=unknown[0])
    output_keys = {normalize_name(c) for c in (*OUTPUT_COLUMNS, *OPTIONAL_OUTPUT_COLUMNS)}
    min_count = max(1, int(min_level_rows))
    columns: list[Column] = []
    for name in frame.columns:
        key = normalize_name(name)
        if target is not None and key == normalize_name(target):
            columns.append(Column(str(name), "target", "the outcome"))
        elif value is not None and key == normalize_name(value):
            columns.append(Column(str(name), "value", "the deal value (trains the MRR model)"))
        elif key in output_keys:
            columns.append(Column(str(name), "output", "written by the product; never a feature"))
        else:
            forced = overrides.role_for(str(name))
            inferred = _infer_one(str(name), frame[name], min_count, max_levels, overrides.dayfirst)
            if forced in (None, inferred.role):
                columns.append(inferred)
            elif forced in ("dropped", "id"):
                columns.append(Column(str(name), forced, "excluded by the user"))
            elif forced == "category":
                live = frame[name][~missing_mask(frame[name])]
                forced_col = _category(str(name), live, min_count, max_levels, "set by the user (--categorical)")
                if forced_col.role != "category":  # e.g. unique values: keep them all as levels
                    forced_col = _category(str(name), live, 1, max_levels, "set by the user (--categorical)")
                columns.append(forced_col)
            elif forced == "date":
                columns.append(_date_column(str(name), frame[name], "set by the user (--date)", overrides.dayfirst))
            else:
                columns.append(Column(str(name), forced, "set by the user"))
    return Schema(columns)


def match_columns(schema: Schema, header: Iterable[object]) -> tuple[dict[str, int], list[str], list[str]]:
    """Map each feature column to its position in ``header``.

    Returns ``(positions, missing, unknown)``: positions by column name, the model's
    columns not present, and the header's columns the model does not know.
    """
    positions: dict[str, int] = {}
    by_key: dict[str, int] = {}
    for i, h in enumerate(header):
        by_key.setdefault(normalize_name(h), i)
    known = {c.key for c in schema.columns}
    for col in schema.features:
        if col.key in by_key:
            positions[col.name] = by_key[col.key]
    missing = [c.name for c in schema.features if c.name not in positions]
    unknown = [str(h) for h in header if normalize_name(h) and normalize_name(h) not in known]
    return positions, missing, unknown


def describe_overrides(overrides: RoleOverrides) -> Mapping[str, list[str] | bool]:
    """The user's overrides as recorded in the card."""
    return {k: (v if isinstance(v, bool) else list(v)) for k, v in asdict(overrides).items() if v}
