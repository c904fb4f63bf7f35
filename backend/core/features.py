"""Turn the user's cells into the model's feature matrix, identically at train and score time.

Dates never become "now minus date": a lead's features depend on its cells only, so the
same lead gets the same score today and in a year.  Each date column is read one of two
ways, fixed at training and saved with the model (and described in the card):

    interval      days between this date and the lead's creation date in the same row
                  (e.g. a first call 3 days after the lead came in)
    window        days since the first day of the training window (the creation date
                  itself, or any date when the sheet has no creation date): new leads
                  sit at or past the window's end, where the newest history sits
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from backend.core.cells import Memo, read_booleans, read_dates, read_numbers
from backend.core.geo import GeoFeatures
from backend.core.schema import (
    OTHER_LEVEL,
    PLACEHOLDERS,
    Column,
    Schema,
    clean_cell,
    is_blank,
    match_columns,
    normalize_name,
    parse_dates,
    per_distinct,
)


def today_days() -> float:
    """Now, in days since 1970-01-01 UTC (only legacy bundles read dates as ages from it)."""
    return time.time() / 86400.0


_CREATED_NAME = re.compile(r"creat|submit|received|registered|inquiry|enquiry|added|lead date|first seen|"
                           r"sign ?up|opened|engage", re.IGNORECASE)


def day_text(days: float) -> str:
    """Days since 1970-01-01 as an ISO date."""
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=float(days))).date().isoformat()


def creation_column(schema: Schema, frame: pd.DataFrame) -> str | None:
    """The lead's creation date: a date column named like it, else the earliest, almost always filled one."""
    dates = [c for c in schema.features if c.role == "date" and c.name in frame.columns]
    if not dates:
        return None
    named = [c for c in dates if _CREATED_NAME.search(c.name)]
    if named:
        return named[0].name
    best = None
    for c in dates:
        days, _ = parse_dates(frame[c.name], c.dayfirst)
        if np.isnan(days).mean() <= 0.05:
            median = float(np.nanmedian(days))
            if best is None or median < best[1]:
                best = (c.name, median)
    return best[0] if best else None


def fit_dates(schema: Schema, frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """How each date column becomes a time-stable number (see the module docstring)."""
    created = creation_column(schema, frame)
    out: dict[str, dict[str, Any]] = {}
    for col in schema.features:
        if col.role != "date" or col.name not in frame.columns:
            continue
        days, _ = parse_dates(frame[col.name], col.dayfirst)
        start = float(np.floor(np.nanmin(days))) if (~np.isnan(days)).any() else 0.0
        end = float(np.floor(np.nanmax(days))) if (~np.isnan(days)).any() else 0.0
        if created is not None and col.name != created:
            out[col.name] = {"use": "interval", "relative_to": created, "origin": 0.0,
                             "how": f"days between {col.name} and {created} in the same row"}
        else:
            out[col.name] = {"use": "window", "relative_to": None, "origin": start,
                             "how": f"days since {day_text(start)}, the first day of the training window "
                                    f"(which ends {day_text(end)})"}
    return out


def column_reader(frame: pd.DataFrame) -> Callable[[int], Any]:
    """Column by position: slices of one object matrix for a frame of Python cells (a request's rows),
    the column itself otherwise (text held by Arrow stays there, hashed without a Python object per cell)."""
    if all(dtype == np.dtype(object) for dtype in frame.dtypes):
        cells = frame.to_numpy(dtype=object)
        return lambda pos: cells[:, pos]
    return lambda pos: frame.iloc[:, pos]


def _category_code(value: object, index: dict[str, int]) -> int:
    """Level code of one cell: -1 missing, -2 a value never seen in training."""
    if is_blank(value):
        return -1
    text = clean_cell(value)
    if text in PLACEHOLDERS:
        return -1
    return index.get(text, -2)


@dataclass
class TransformReport:
    """What the feature builder noticed in the rows it was given."""

    missing: list[str] = field(default_factory=list)          # model columns not in the header
    unknown: list[str] = field(default_factory=list)          # header columns the model ignores
    unseen: dict[str, list[str]] = field(default_factory=dict)  # column → unseen category values
    unparsed: dict[str, list[int]] = field(default_factory=dict)  # column → row positions
    empty_rows: list[int] = field(default_factory=list)       # rows with no model value at all


class FeatureBuilder:
    """Fitted preprocessing: the schema plus the category levels it learnt.

    Features are one per model column (numbers, yes/no as 0/1, dates as time-stable days,
    categories as pandas categoricals with fixed levels for XGBoost's native support),
    so each feature's contribution belongs to exactly one of the user's columns.
    """

    def __init__(self, schema: Schema, dates: Mapping[str, Mapping[str, Any]] | None = None,
                 geo: GeoFeatures | None = None) -> None:
        self.schema = schema
        # Per date column: how it becomes a number (fit_dates). Unfitted: days since 1970, still time-stable.
        self.dates_: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (dates or {}).items()}
        self.legacy_ages_ = False  # format-1 bundles read dates as an age from the scoring day
        self.geo = geo  # distance / nearest site / region columns derived from a ZIP column
        self.columns_: list[Column] = schema.features
        self.feature_names_: list[str] = [f"f{i}" for i in range(len(self.columns_))]
        self.categories_: dict[str, list[str]] = {
            c.name: [*c.levels, OTHER_LEVEL] for c in self.columns_ if c.role == "category"}
        # Scoring reads the same cells again and again: each column keeps what its cells read as.
        self._memos = [Memo() for _ in self.columns_]
        self._level_index = {name: {level: i for i, level in enumerate(levels)}
                             for name, levels in self.categories_.items()}
        # What each header sent so far matched (a sheet sends the same header with every request).
        self._headers: dict[tuple[str, ...], tuple[tuple[dict[str, int], list[str], list[str]], dict[str, int]]] = {}
        self._reason_memos: list[dict[Any, tuple[str, str]]] = [{} for _ in self.columns_]
        self.column_keys_: list[str] = [c.key for c in self.columns_]

    def _header(self, header: pd.Index) -> tuple[tuple[dict[str, int], list[str], list[str]], dict[str, int]]:
        key = tuple(str(h) for h in header)
        found = self._headers.get(key)
        if found is None:
            if len(self._headers) >= 64:
                self._headers.clear()
            positions = {normalize_name(h): i for i, h in reversed(list(enumerate(header)))}
            found = self._headers[key] = (match_columns(self.schema, header), positions)
        return found

    def header_positions(self, header: pd.Index) -> dict[str, int]:
        """Normalized header text → its first position (remembered per header)."""
        return self._header(header)[1]

    def _match(self, header: pd.Index) -> tuple[dict[str, int], list[str], list[str]]:
        """Model columns by header position, missing and unknown columns (remembered per header)."""
        return self._header(header)[0]

    def reason_memos(self, *, today_dependent: bool = False) -> list[dict[Any, tuple[str, str]]]:
        """Per column, reason texts already written (fresh ones when the words depend on the day)."""
        return [{} for _ in self.columns_] if today_dependent else self._reason_memos

    def to_json(self) -> dict[str, Any]:
        """The fitted preprocessing as plain data (no pickle: loading it never runs code)."""
        data: dict[str, Any] = {"format": 2, "columns": self.schema.to_json(), "dates": self.dates_}
        if self.geo is not None:
            data["geo"] = self.geo.to_json()
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureBuilder:
        """Rebuild the preprocessing saved by :meth:`to_json`."""
        if data.get("format") not in (1, 2):
            raise ValueError(f"unsupported preprocessing format {data.get('format')!r}")
        geo = GeoFeatures.from_json(data["geo"]) if data.get("geo") else None
        builder = cls(Schema.from_json(data["columns"]), data.get("dates") or {}, geo=geo)
        builder.legacy_ages_ = data.get("format") == 1
        return builder

    def augment(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with the columns the builder derives (the geo features), when it has any."""
        return self.geo.augment(frame) if self.geo is not None else frame

    def reword(self, reasons: list[list[str]], augmented: pd.DataFrame) -> list[list[str]]:
        """Reasons about derived columns in plain words ('12 mi from Houston ↑')."""
        return self.geo.reword(reasons, augmented) if self.geo is not None else reasons

    def date_usage(self) -> list[dict[str, Any]]:
        """How each date column is read, for the card."""
        return [{"column": c.name, **self.dates_.get(c.name, {"use": "days since 1970-01-01", "how": ""})}
                for c in self.columns_ if c.role == "date"]

    @property
    def feature_types_(self) -> list[str]:
        """XGBoost feature types: ``c`` for categories (codes), ``q`` for numbers."""
        return ["c" if c.role == "category" else "q" for c in self.columns_]

    def transform_matrix(self, frame: pd.DataFrame, *, now_days: float | None = None
                         ) -> tuple[np.ndarray, TransformReport]:
        """The features as one float matrix: numbers, and category codes in the fixed level order.

        Row order is ``frame``'s; NaN is missing.  Scoring feeds this straight to XGBoost.
        """
        frame = self.augment(frame)
        positions, missing, unknown = self._match(frame.columns)
        report = TransformReport(missing=list(missing), unknown=list(unknown))
        n = len(frame)
        matrix = np.full((n, len(self.columns_)), np.nan)
        present_any = np.zeros(n, dtype=bool)
        cells = column_reader(frame)
        days_by_name: dict[str, np.ndarray] = {}  # date columns read once (an interval reads two)
        for j, col in enumerate(self.columns_):
            if col.name not in positions:
                continue
            values = cells(positions[col.name])
            memo = self._memos[j]
            if col.role == "category":
                index = self._level_index[col.name]
                other = index[OTHER_LEVEL]
                codes = per_distinct(values, partial(_category_code, index=index), -1, memo).astype(np.int64)
                unseen = codes == -2
                if unseen.any():
                    texts = np.asarray(values, dtype=object)[unseen]
                    report.unseen[col.name] = sorted({str(v).strip() for v in texts})[:10]
                    codes[unseen] = other
                present = codes >= 0
                present_any |= present
                matrix[present, j] = codes[present]
                continue
            if col.role == "numeric":
                nums, bad, _ = read_numbers(values, memo)
            elif col.role == "boolean":
                nums, bad = read_booleans(values, memo)
            else:
                days, bad = self._days(j, col, cells, positions, days_by_name)
                nums = self._date_feature(col, days, cells, positions, days_by_name, now_days)
            if bad.any():
                report.unparsed[col.name] = np.flatnonzero(bad).tolist()
            present_any |= ~np.isnan(nums)
            matrix[:, j] = nums
        report.empty_rows = np.flatnonzero(~present_any).tolist()
        return matrix, report

    def _days(self, j: int, col: Column, cells: Callable[[int], Any], positions: dict[str, int],
              done: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """A date column's days since 1970 and its unreadable cells (read once per call)."""
        days, bad = read_dates(cells(positions[col.name]), bool(col.dayfirst), self._memos[j])
        done[col.name] = days
        return days, bad

    def _date_feature(self, col: Column, days: np.ndarray, cells: Callable[[int], Any], positions: dict[str, int],
                      done: dict[str, np.ndarray], now_days: float | None) -> np.ndarray:
        """A date column as a time-stable number (an interval in the row, or days into the window)."""
        if self.legacy_ages_:
            return (today_days() if now_days is None else now_days) - days
        info = self.dates_.get(col.name) or {}
        base = info.get("relative_to")
        if base:
            if base not in positions:
                return np.full(len(days), np.nan)
            base_days = done.get(base)
            if base_days is None:
                k = next((i for i, c in enumerate(self.columns_) if c.name == base), None)
                if k is not None:
                    base_days = self._days(k, self.columns_[k], cells, positions, done)[0]
                else:  # the creation column is not a feature itself
                    base_days = read_dates(cells(positions[base]), False)[0]
            return days - base_days
        return days - float(info.get("origin", 0.0))

    def transform(self, frame: pd.DataFrame, *, now_days: float | None = None
                  ) -> tuple[pd.DataFrame, TransformReport]:
        """The features as a frame (categories as pandas categoricals with fixed levels)."""
        matrix, report = self.transform_matrix(frame, now_days=now_days)
        data: dict[str, object] = {}
        for j, (fname, col) in enumerate(zip(self.feature_names_, self.columns_)):
            if col.role == "category":
                codes = np.where(np.isnan(matrix[:, j]), -1, matrix[:, j]).astype(np.int64)
                data[fname] = pd.Categorical.from_codes(codes, categories=self.categories_[col.name])
            else:
                data[fname] = matrix[:, j]
        return pd.DataFrame(data, index=frame.index), report
