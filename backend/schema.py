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

from backend.errors import BadInput
from backend.outputs import OUTPUT_COLUMNS

# Cell texts that mean "no value" (compared after trimming and case-folding).
PLACEHOLDERS = frozenset({
    "", "select", "unknown", "n/a", "na", "-", "--", "—", "nan", "null", "#n/a", "?",
    "not provided", "not available", "tbd", "(blank)", "none provided",
})
TRUE_WORDS = frozenset({"yes", "y", "true", "t", "1", "1.0"})
FALSE_WORDS = frozenset({"no", "n", "false", "f", "0", "0.0"})

_NUMBER = re.compile(
    r"^(?P<open>\()?\s*(?P<sign>[-+])?\s*(?P<cur>[$€£¥])?\s*(?P<sign2>[-+])?"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d*)?|\d+(?:\.\d*)?|\.\d+)\s*"
    r"(?P<suf>k|m|mm|b|bn|%)?\s*(?P<close>\))?$",
    re.IGNORECASE,
)
_SUFFIX = {"k": 1e3, "m": 1e6, "mm": 1e6, "b": 1e9, "bn": 1e9, "%": 0.01}
_DATE_LIKE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}([ t]\d{1,2}:\d{2}.*)?$|^\d{1,2}[/.]\d{1,2}[/.]\d{2,4}$")
_ID_NAME = re.compile(r"(^|[\s_#-])(id|uuid|guid|key|number|no|num|#)$|^(id|#)[\s_]|e-?mail|phone|"
                      r"^name$|[\s_]name$|url|website|linkedin|address", re.IGNORECASE)

ROLES = ("numeric", "boolean", "category", "date", "id", "text", "empty", "constant",
         "target", "value", "output", "dropped")
FEATURE_ROLES = ("numeric", "boolean", "category", "date")
OTHER_LEVEL = "(other)"


def normalize_name(name: object) -> str:
    """Header text as matched between training and scoring: trimmed, spaces folded, case-folded."""
    return re.sub(r"\s+", " ", str(name if name is not None else "")).strip().casefold()


def normalize_text(values: pd.Series) -> pd.Series:
    """Cells as comparable text: trimmed, inner spaces folded, case-folded; missing → ''."""
    text = values.astype(object).where(values.notna(), "").astype(str)
    return text.str.strip().str.replace(r"\s+", " ", regex=True).str.casefold()


def missing_mask(values: pd.Series) -> np.ndarray:
    """True where a cell is blank, NaN or a placeholder such as ``Select`` or ``N/A``."""
    return (values.isna() | normalize_text(values).isin(PLACEHOLDERS)).to_numpy()


def parse_numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Read a column of numbers in the forms sheets hold them.

    Returns ``(numbers, unparsed)``: float values (NaN where missing) and a mask of
    non-blank cells that are not numbers (they become NaN too, and are reported).
    Handles ``$12,000``, ``12k``, ``1.2M``, ``45%`` (0.45), ``1,234.5``, ``(300)`` (-300).
    """
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy(dtype=float), np.zeros(len(values), dtype=bool)
    if pd.api.types.is_numeric_dtype(values.dtype):
        out = values.to_numpy(dtype=float, na_value=np.nan, copy=True)
        return out, np.zeros(len(values), dtype=bool)
    obj = values.astype(object)
    is_bool = obj.map(type).eq(bool).to_numpy() if len(obj) else np.zeros(0, dtype=bool)
    out = pd.to_numeric(obj.where(~is_bool, np.nan), errors="coerce").to_numpy(dtype=float, copy=True)
    todo = np.isnan(out) & ~missing_mask(obj) & ~is_bool
    unparsed = np.zeros(len(obj), dtype=bool)
    if todo.any():
        text = normalize_text(obj[todo])
        parts = text.str.extract(_NUMBER)
        ok = parts["num"].notna().to_numpy()
        num = pd.to_numeric(parts["num"].str.replace(",", "", regex=False), errors="coerce").to_numpy(dtype=float)
        scale = parts["suf"].map(_SUFFIX).fillna(1.0).to_numpy(dtype=float)
        negative = (parts["sign"].eq("-") | parts["sign2"].eq("-")
                    | (parts["open"].notna() & parts["close"].notna())).to_numpy()
        parsed = np.where(negative, -1.0, 1.0) * num * scale
        idx = np.flatnonzero(todo)
        out[idx[ok]] = parsed[ok]
        unparsed[idx[~ok]] = True
    return out, unparsed


def parse_booleans(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Read yes/no cells (``Yes/No``, ``TRUE/FALSE``, ``Y/N``, ``1/0``) as 1.0/0.0, NaN if missing."""
    text = normalize_text(values)
    out = np.full(len(values), np.nan)
    out[text.isin(TRUE_WORDS).to_numpy()] = 1.0
    out[text.isin(FALSE_WORDS).to_numpy()] = 0.0
    unparsed = np.isnan(out) & ~missing_mask(values)
    return out, unparsed


def parse_dates(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Read date cells (ISO, m/d/y, datetime objects) as days since 1970-01-01 UTC (NaN if missing)."""
    obj = values.astype(object).where(~missing_mask(values), None)
    stamps = pd.Series(pd.to_datetime(obj, errors="coerce", format="mixed", utc=True))
    days = ((stamps - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(days=1)).to_numpy(dtype=float, na_value=np.nan)
    unparsed = np.isnan(days) & obj.notna().to_numpy()
    return days, unparsed


def parse_categories(values: pd.Series) -> pd.Series:
    """Category cells as normalized text; placeholders become NaN."""
    text = normalize_text(values)
    return text.where(~text.isin(PLACEHOLDERS))


@dataclass
class Column:
    """One of the user's columns: its role and what was learnt about it."""

    name: str
    role: str
    reason: str = ""
    levels: list[str] = field(default_factory=list)   # category levels kept (normalized)
    labels: dict[str, str] = field(default_factory=dict)  # normalized level → text as first seen
    currency: bool = False                              # numbers typed as money ($…)
    percent: bool = False

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
    """The columns a model was trained on, saved with it (card and joblib)."""

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
            if c.role != "category":
                d.pop("levels")
            out.append(d)
        return out


@dataclass(frozen=True)
class RoleOverrides:
    """User-chosen roles that win over inference (``--drop``, ``--id``, ``--category`` …)."""

    drop: Sequence[str] = ()
    ids: Sequence[str] = ()
    categorical: Sequence[str] = ()
    numeric: Sequence[str] = ()
    dates: Sequence[str] = ()
    keep: Sequence[str] = ()

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


def _infer_one(name: str, values: pd.Series, min_level_count: int, max_levels: int) -> Column:
    n = len(values)
    present = ~missing_mask(values)
    k = int(present.sum())
    if k == 0:
        return Column(name, "empty", "no values")
    if _ID_NAME.search(normalize_name(name)):
        uniq = normalize_text(values[present]).nunique()
        if uniq > 0.5 * k or uniq > 50:
            return Column(name, "id", "identifier-like header with mostly unique values")
    live = values[present]
    nums, bad = parse_numbers(live)
    bools, bad_b = parse_booleans(live)
    distinct = normalize_text(live).nunique()
    if distinct == 1:
        return Column(name, "constant", "one value in every row")
    if bad_b.mean() <= 0.02 and set(np.unique(bools[~np.isnan(bools)])) <= {0.0, 1.0} and distinct <= 12:
        return Column(name, "boolean", "yes/no values")
    if bad.mean() <= 0.05:
        finite = nums[~np.isnan(nums)]
        if (k >= 50 and len(np.unique(finite)) >= 0.98 * k and np.all(finite == np.round(finite))
                and (np.all(np.diff(finite) > 0) or np.all(np.diff(finite) < 0))):
            return Column(name, "id", "a unique, ordered whole number in every row")
        text = normalize_text(live)
        return Column(name, "numeric", "numbers",
                      currency=bool(text.str.contains(r"[$€£¥]", regex=True).mean() > 0.05),
                      percent=bool(text.str.endswith("%").mean() > 0.5))
    text = live.astype(object)
    looks_date = text.map(lambda v: hasattr(v, "year")).to_numpy() | normalize_text(text).str.match(_DATE_LIKE).to_numpy()
    if looks_date.mean() >= 0.9:
        return Column(name, "date", "dates (used as an age in days)")
    norm = normalize_text(live)
    if k >= 20 and distinct >= 0.95 * k:
        return Column(name, "id", "a different value in almost every row")
    if norm.str.len().median() > 40 or (k >= 50 and distinct > 0.5 * k):
        return Column(name, "text", "free text")
    counts = norm.value_counts()
    kept = counts[counts >= max(min_level_count, 1)].index[:max_levels]
    labels: dict[str, str] = {}
    raw = live.astype(str).str.strip()
    for level, first in zip(norm, raw):
        if level in kept and level not in labels:
            labels[level] = first
    if len(kept) == 0:
        return Column(name, "text", "no value repeats often enough to learn from")
    return Column(name, "category", f"{len(kept)} levels", levels=[str(x) for x in kept],
                  labels=labels)


def infer_schema(frame: pd.DataFrame, *, target: str | None = None, value: str | None = None,
                 overrides: RoleOverrides | None = None, min_level_share: float = 0.005,
                 max_levels: int = 50) -> Schema:
    """Infer every column's role from the cells, honouring the user's overrides."""
    overrides = overrides or RoleOverrides()
    known = {normalize_name(c) for c in frame.columns}
    unknown = sorted(n for n in overrides.all_names() if n not in known)
    if unknown:
        raise BadInput(f"Column(s) named in the options are not in the sheet: {', '.join(unknown)}.",
                       column=unknown[0])
    output_keys = {normalize_name(c) for c in OUTPUT_COLUMNS}
    min_count = max(5, int(min_level_share * len(frame)))
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
            inferred = _infer_one(str(name), frame[name], min_count, max_levels)
            if forced in (None, inferred.role):
                columns.append(inferred)
            elif forced in ("dropped", "id"):
                columns.append(Column(str(name), forced, "excluded by the user"))
            elif forced == "category":
                forced_col = _infer_one(str(name), frame[name].astype(str), min_count, max_levels)
                if forced_col.role != "category":  # e.g. unique values: keep them all as levels
                    norm = parse_categories(frame[name]).dropna()
                    forced_col = Column(str(name), "category", "set by the user",
                                        levels=list(norm.value_counts().index[:max_levels]))
                columns.append(forced_col)
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


def describe_overrides(overrides: RoleOverrides) -> Mapping[str, list[str]]:
    """The user's overrides as recorded in the card."""
    return {k: list(v) for k, v in asdict(overrides).items() if v}
