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
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd

from backend.core.outputs import OUTPUT_COLUMNS
from backend.errors import BadInput

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

FEATURE_ROLES = ("numeric", "boolean", "category", "date")
OTHER_LEVEL = "(other)"


def normalize_name(name: object) -> str:
    """Header text as matched between training and scoring: trimmed, spaces folded, case-folded."""
    return re.sub(r"\s+", " ", str(name if name is not None else "")).strip().casefold()


def clean_cell(value: object) -> str:
    """One cell as comparable text: trimmed, inner spaces folded, case-folded."""
    return " ".join(str(value).split()).casefold()


def is_blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NA or value is pd.NaT


def per_distinct(values: pd.Series | np.ndarray, fn: Any, blank: Any) -> list[Any]:
    """Apply ``fn`` once per distinct cell and spread the results over the column.

    Sheets repeat values (sources, yes/no, amounts), so this keeps parsing cost to the
    number of distinct cells; ``pd.factorize`` hashes mixed str / int / float cells.
    """
    arr = values.to_numpy(dtype=object) if isinstance(values, pd.Series) else np.asarray(values, dtype=object)
    codes, uniques = pd.factorize(arr, use_na_sentinel=True)
    mapped = [fn(u) for u in uniques]
    mapped.append(blank)  # code -1 (NaN / None) picks the last entry
    table = np.empty(len(mapped), dtype=object)
    table[:] = mapped
    return table[codes]


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


_NAN_PAIR = (np.nan, False)


def _number(value: object) -> tuple[float, bool]:
    """(number, unparsed) for one cell."""
    if type(value) is str:
        try:  # the common case, a plain number as text (float() ignores surrounding spaces)
            number = float(value)
            if number - number == 0:  # finite: not nan / inf
                return number, False
        except ValueError:
            pass
        text = clean_cell(value)
        if text in PLACEHOLDERS:
            return _NAN_PAIR
        m = _NUMBER.match(text)
        if m is None:
            return np.nan, True
        number = float(m["num"].replace(",", "")) * _SUFFIX.get((m["suf"] or "").lower(), 1.0)
        negative = m["sign"] == "-" or m["sign2"] == "-" or (m["open"] is not None and m["close"] is not None)
        return (-number if negative else number), False
    if isinstance(value, (bool, np.bool_, int, float, np.integer, np.floating)):
        return float(value), False
    return _NAN_PAIR if is_blank(value) else (np.nan, True)


def parse_numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Read a column of numbers in the forms sheets hold them.

    Returns ``(numbers, unparsed)``: float values (NaN where missing) and a mask of
    non-blank cells that are not numbers (they become NaN too, and are reported).
    Handles ``$12,000``, ``12k``, ``1.2M``, ``45%`` (0.45), ``1,234.5``, ``(300)`` (-300).
    """
    if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
        return values.to_numpy(dtype=float, na_value=np.nan, copy=True), np.zeros(len(values), dtype=bool)
    pairs = per_distinct(values, _number, _NAN_PAIR)
    if len(pairs) == 0:
        return np.zeros(0), np.zeros(0, dtype=bool)
    nums, bad = zip(*pairs)
    return np.array(nums, dtype=float), np.array(bad, dtype=bool)


def _boolean(value: object) -> float | None:
    if is_blank(value):
        return np.nan
    text = clean_cell(value)
    if text in TRUE_WORDS:
        return 1.0
    if text in FALSE_WORDS:
        return 0.0
    return np.nan if text in PLACEHOLDERS else None  # None marks "not a yes/no"


def parse_booleans(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Read yes/no cells (``Yes/No``, ``TRUE/FALSE``, ``Y/N``, ``1/0``) as 1.0/0.0, NaN if missing."""
    raw = per_distinct(values, _boolean, np.nan)
    unparsed = np.array([v is None for v in raw], dtype=bool)
    out = np.where(unparsed, np.nan, raw).astype(float) if len(raw) else np.zeros(0)
    return out, unparsed


_EPOCH = datetime(1970, 1, 1)
_US_DATE = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{2,4})$")


def _days(value: object) -> tuple[float, bool]:
    """(days since 1970-01-01 UTC, unparsed) for one date cell."""
    if is_blank(value):
        return _NAN_PAIR
    if isinstance(value, datetime):
        stamp = value
    elif isinstance(value, date):
        stamp = datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip()
        if clean_cell(text) in PLACEHOLDERS:
            return _NAN_PAIR
        m = _US_DATE.match(text)
        try:
            if m:
                year = int(m[3]) + (2000 if len(m[3]) == 2 else 0)
                stamp = datetime(year, int(m[1]), int(m[2]))
            else:
                try:
                    stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
                except ValueError:
                    stamp = pd.Timestamp(text).to_pydatetime()
        except (ValueError, OverflowError, TypeError):
            return np.nan, True
    if stamp is pd.NaT or not isinstance(stamp, datetime):
        return np.nan, True
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    return (stamp - _EPOCH).total_seconds() / 86400.0, False


def parse_dates(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Read date cells (ISO, m/d/y, datetime objects) as days since 1970-01-01 UTC (NaN if missing)."""
    pairs = per_distinct(values, _days, _NAN_PAIR)
    if len(pairs) == 0:
        return np.zeros(0), np.zeros(0, dtype=bool)
    days, bad = zip(*pairs)
    return np.array(days, dtype=float), np.array(bad, dtype=bool)


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
            if c.role != "category":
                d.pop("levels")
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
    present = ~missing_mask(values)
    k = int(present.sum())
    if k == 0:
        return Column(name, "empty", "no values")
    live = values[present]
    nums, bad = parse_numbers(live)
    if _ID_NAME.search(normalize_name(name)):
        uniq = normalize_text(live).nunique()
        # Numbers under a header such as "Time Spent on Website" are measurements, not ids,
        # unless nearly every row has its own value.
        if uniq > 0.5 * k:  # by cardinality: a header alone never makes an id
            return Column(name, "id", "identifier-like header with mostly unique values")
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
    looks_date = (text.map(lambda v: hasattr(v, "year")).to_numpy()
                  | normalize_text(text).str.match(_DATE_LIKE).to_numpy())
    if looks_date.mean() >= 0.9:
        return Column(name, "date", "dates (read without the clock: the card says how)")
    norm = normalize_text(live)
    if k >= 20 and distinct >= 0.95 * k:
        return Column(name, "id", "a different value in almost every row")
    if norm.str.len().median() > 40 or (k >= 50 and distinct > 0.5 * k):
        return Column(name, "text", "free text")
    counts = norm.value_counts()
    kept = counts[counts >= max(min_level_count, 1)].index[:max_levels]
    raw = live.astype(str).str.strip()
    first_seen = pd.Series(raw.to_numpy(dtype=object), index=norm.to_numpy(dtype=object))
    first_seen = first_seen[~first_seen.index.duplicated()]
    labels = {str(level): str(first_seen[level]) for level in kept}
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
