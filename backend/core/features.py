"""Turn the user's cells into the model's feature matrix, identically at train and score time."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from backend.core.geo import GeoFeatures
from backend.core.schema import (
    OTHER_LEVEL,
    PLACEHOLDERS,
    Column,
    Schema,
    clean_cell,
    is_blank,
    match_columns,
    parse_booleans,
    parse_dates,
    parse_numbers,
    per_distinct,
)


def today_days() -> float:
    """Now, in days since 1970-01-01 UTC (the reference for date ages)."""
    return time.time() / 86400.0


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

    Features are one per model column (numbers, yes/no as 0/1, dates as age in days,
    categories as pandas categoricals with fixed levels for XGBoost's native support),
    so each feature's contribution belongs to exactly one of the user's columns.
    """

    def __init__(self, schema: Schema, geo: GeoFeatures | None = None) -> None:
        self.schema = schema
        self.geo = geo  # distance / nearest site / region columns derived from a ZIP column
        self.columns_: list[Column] = schema.features
        self.feature_names_: list[str] = [f"f{i}" for i in range(len(self.columns_))]
        self.categories_: dict[str, list[str]] = {
            c.name: [*c.levels, OTHER_LEVEL] for c in self.columns_ if c.role == "category"}

    def to_json(self) -> dict[str, Any]:
        """The fitted preprocessing as plain data (no pickle: loading it never runs code)."""
        data: dict[str, Any] = {"format": 1, "columns": self.schema.to_json()}
        if self.geo is not None:
            data["geo"] = self.geo.to_json()
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureBuilder:
        """Rebuild the preprocessing saved by :meth:`to_json`."""
        if data.get("format") != 1:
            raise ValueError(f"unsupported preprocessing format {data.get('format')!r}")
        geo = GeoFeatures.from_json(data["geo"]) if data.get("geo") else None
        return cls(Schema.from_json(data["columns"]), geo=geo)

    def augment(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with the columns the builder derives (the geo features), when it has any."""
        return self.geo.augment(frame) if self.geo is not None else frame

    def reword(self, reasons: list[list[str]], augmented: pd.DataFrame) -> list[list[str]]:
        """Reasons about derived columns in plain words ('12 mi from Houston ↑')."""
        return self.geo.reword(reasons, augmented) if self.geo is not None else reasons

    @property
    def feature_types_(self) -> list[str]:
        """XGBoost feature types: ``c`` for categories (codes), ``q`` for numbers."""
        return ["c" if c.role == "category" else "q" for c in self.columns_]

    def transform_matrix(self, frame: pd.DataFrame, *, now_days: float | None = None
                         ) -> tuple[np.ndarray, TransformReport]:
        """The features as one float matrix: numbers, and category codes in the fixed level order.

        Row order is ``frame``'s; NaN is missing.  Scoring feeds this straight to XGBoost.
        """
        now = today_days() if now_days is None else now_days
        frame = self.augment(frame)
        positions, missing, unknown = match_columns(self.schema, frame.columns)
        report = TransformReport(missing=missing, unknown=unknown)
        n = len(frame)
        matrix = np.full((n, len(self.columns_)), np.nan)
        present_any = np.zeros(n, dtype=bool)
        cells = frame.to_numpy(dtype=object)  # one conversion; columns are slices of it
        for j, col in enumerate(self.columns_):
            if col.name not in positions:
                continue
            values = pd.Series(cells[:, positions[col.name]], dtype=object, copy=False)
            if col.role == "category":
                levels = self.categories_[col.name]
                index = {level: i for i, level in enumerate(levels)}
                other = index[OTHER_LEVEL]
                codes = per_distinct(values, partial(_category_code, index=index), -1).astype(np.int64)
                unseen = codes == -2
                if unseen.any():
                    report.unseen[col.name] = sorted({str(v).strip() for v in values[unseen]})[:10]
                    codes[unseen] = other
                present = codes >= 0
                present_any |= present
                matrix[present, j] = codes[present]
                continue
            if col.role == "numeric":
                nums, bad = parse_numbers(values)
            elif col.role == "boolean":
                nums, bad = parse_booleans(values)
            else:  # date → age in days
                days, bad = parse_dates(values, col.dayfirst)
                nums = now - days
            if bad.any():
                report.unparsed[col.name] = np.flatnonzero(bad).tolist()
            present_any |= ~np.isnan(nums)
            matrix[:, j] = nums
        report.empty_rows = np.flatnonzero(~present_any).tolist()
        return matrix, report

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
