"""Score leads: one vectorized call over a whole frame.

    close probability = Platt-calibrated XGBoost classifier
    predicted MRR     = XGBoost regressor trained on won rows (log1p target): MRR *if won*
    lead score        = 1 + number of saved cut-points below p × MRR (p alone without a
                        value model); the 9 cut-points are the deciles of that expected
                        value on held-out rows at training time, so a 10 is a lead in the
                        top tenth of historical leads
    reasons           = per-lead contributions (XGBoost TreeSHAP) summed back to the user's
                        columns, on the log of the expected value:
                        d log(p·MRR) ≈ (1 − p)·d logit(p) + d log(MRR)
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from backend.core.explain import Explainer, explainer
from backend.core.features import FeatureBuilder, TransformReport, column_reader, day_text, today_days
from backend.core.outputs import (
    CLOSE_PROBABILITY,
    LEAD_SCORE,
    MODEL_VERSION,
    PREDICTED_MRR,
    SCORE_REASONS,
    SCORED_AT,
    SEGMENT,
    LeadResult,
    not_scored_text,
)
from backend.core.rules import add_rule_features, bundle_rulebook
from backend.core.schema import OTHER_LEVEL, PLACEHOLDERS, Column, clean_cell, is_blank, normalize_name
from backend.errors import BadInput, NoUsableColumns
from backend.store.bundle import ModelBundle

TOP_REASONS = 3
_KIND = {"numeric": "numbers", "boolean": "yes/no", "date": "dates"}


@dataclass
class Predictions:
    """Raw model outputs for a feature matrix."""

    probability: np.ndarray
    mrr: np.ndarray | None
    expected_value: np.ndarray
    contributions: np.ndarray | None = None  # rows × model columns, on log expected value
    classifier_contributions: np.ndarray | None = None  # rows × model columns, classifier log-odds


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically safe logistic function."""
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))


def as_matrix(features: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """A feature frame as one float matrix (category codes, NaN missing) and XGBoost feature types."""
    columns, types = [], []
    for name in features.columns:
        series = features[name]
        if isinstance(series.dtype, pd.CategoricalDtype):
            codes = series.cat.codes.to_numpy().astype(float)
            codes[codes < 0] = np.nan
            columns.append(codes)
            types.append("c")
        else:
            columns.append(series.to_numpy(dtype=float))
            types.append("q")
    return (np.column_stack(columns) if columns else np.empty((len(features), 0))), types


def feature_matrix(features: pd.DataFrame | np.ndarray, builder: FeatureBuilder) -> xgb.DMatrix:
    """A DMatrix straight from numpy: category codes (fixed level order) plus numbers.

    The same values XGBoost reads from the pandas categoricals at training time (the level
    list never changes), without pandas' per-column conversion cost at scoring time.
    """
    matrix = features if isinstance(features, np.ndarray) else as_matrix(features)[0]
    return xgb.DMatrix(matrix, feature_names=builder.feature_names_, feature_types=builder.feature_types_,
                       enable_categorical=True, nthread=1)


def predict(bundle: ModelBundle, features: pd.DataFrame | np.ndarray, *, contributions: bool = False,
            classifier_contributions: bool = False) -> Predictions:
    """Calibrated probability, MRR if won, expected value (and contributions) for all rows at once.

    One DMatrix for every call.  The probability and MRR come from the boosters' plain
    predictions whether or not contributions are asked for, so scores never depend on it;
    ``contributions`` adds both boosters' (for reasons), ``classifier_contributions`` only the
    classifier's (for segments).
    """
    dmatrix = feature_matrix(features, bundle.features)
    margin = bundle.classifier.predict(dmatrix, output_margin=True, validate_features=False)
    cal = bundle.card["calibration"]
    probability = sigmoid(cal["a"] * margin + cal["b"])
    mrr = None
    if bundle.regressor is not None:
        mrr = np.clip(np.expm1(bundle.regressor.predict(dmatrix, validate_features=False)), 0.0, None)
    expected = probability * mrr if mrr is not None else probability.copy()
    contrib = c_clf = None
    if contributions or classifier_contributions:
        # Saabas contributions (approx_contribs, written into vector-leaf trees: core/explain.py): the same
        # per-tree attribution idea as TreeSHAP at a fraction of the cost; reasons only need each lead's top
        # drivers and their direction.
        c_clf = _explainer(bundle, bundle.classifier).contributions(dmatrix)
    if contributions:
        contrib = (1.0 - probability)[:, None] * cal["a"] * c_clf
        if bundle.regressor is not None:
            contrib = contrib + _explainer(bundle, bundle.regressor).contributions(dmatrix)
    return Predictions(probability, mrr, expected, contrib, c_clf)


def _explainer(bundle: ModelBundle, booster: xgb.Booster) -> Explainer:
    return explainer(booster, bundle.features.feature_names_, bundle.features.feature_types_)


def lead_scores(expected_value: np.ndarray, cutpoints: Sequence[float]) -> np.ndarray:
    """1–10: one plus the number of held-out decile cut-points at or below each expected value."""
    return 1 + np.searchsorted(np.asarray(cutpoints, dtype=float), expected_value, side="right")


def segments(probability: np.ndarray, mrr: np.ndarray | None, thresholds: dict[str, Any]) -> np.ndarray:
    """Name each lead's kind: likely or not (decision threshold) × bigger or smaller deal.

    The fallback for bundles trained without segments (``bundle.segments``: segments.py).
    """
    likely = probability >= thresholds["decision"]
    if mrr is None:
        return np.where(likely, "Likely to close", "Nurture")
    big = mrr >= thresholds["segment_mrr"]
    return np.select(
        [likely & big, likely & ~big, ~likely & big],
        ["Priority: likely, bigger deal", "Quick win: likely, smaller deal", "Big bet: less likely, bigger deal"],
        default="Nurture: less likely, smaller deal",
    )


def compact_number(value: float, *, currency: bool = False, percent: bool = False) -> str:
    """12000 → '12k', 1.5e6 → '1.5M', with '$' for money columns and '%' for percentages."""
    if percent:
        return f"{value * 100:.0f}%"
    sign, v = ("-" if value < 0 else ""), abs(value)
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= scale:
            text = f"{v / scale:.1f}".rstrip("0").rstrip(".") + unit
            break
    else:
        text = f"{v:.0f}" if v == round(v) or v >= 100 else f"{v:.2f}".rstrip("0").rstrip(".")
    return f"{sign}{'$' if currency else ''}{text}"


def _date_words(col: Column, value: float, date_info: dict[str, Any] | None) -> str:
    """A date feature in words that do not age: the date itself, or the gap to the row's creation date."""
    info = date_info or {}
    base = info.get("relative_to")
    if base:
        days = float(value)
        span = abs(days)
        amount = (f"{span:.0f} day{'s' if round(span) != 1 else ''}" if span < 14
                  else f"{span / 7:.0f} weeks" if span < 60 else f"{span / 30.44:.0f} months")
        return f"{col.name} {'same day as' if span < 0.5 else amount + (' after' if days > 0 else ' before')} {base}"
    if info.get("negate"):  # legacy: the value is an age in days on the scoring day
        return f"{col.name} {day_text(-float(info['origin']) - float(value))[:7]}"
    return f"{col.name} {day_text(float(value) + float(info.get('origin', 0.0)))[:7]}"


def _date_info(builder: FeatureBuilder, name: str) -> dict[str, Any] | None:
    """How a date column was read; a legacy bundle's age is turned back into a date on the scoring day."""
    if builder.legacy_ages_:
        return {"origin": -today_days(), "negate": True}
    return builder.dates_.get(name)


def _describe(col: Column, cell: Any, value: float | str | None, date_info: dict[str, Any] | None = None) -> str:
    """One column's value in words, as a reason reads it.

    A blank cell is *missing*; a filled cell that could not be read says so with its text;
    a category level is spelled as the team spells it most often, and a value pooled with
    the rare ones (or never seen) says so.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        if cell is not None and not is_blank(cell) and clean_cell(cell) not in PLACEHOLDERS:
            return f"{col.name} '{str(cell).strip()[:40]}' could not be read"
        return f"{col.name} missing"
    if col.role == "category":
        if value == OTHER_LEVEL:
            text = " ".join(str(cell).split())[:40]
            seen = clean_cell(cell) in col.rare
            return f"{col.name} = {text} ({'rare in training' if seen else 'not seen in training'})"
        return f"{col.name} = {col.label(str(value))[:40]}"
    if col.role == "boolean":
        return f"{col.name} = {'Yes' if value else 'No'}"
    if col.role == "date":  # never a raw "days ago" count: that would age with the calendar
        return _date_words(col, float(value), date_info)
    return f"{col.name} {compact_number(float(value), currency=col.currency, percent=col.percent)}"


def _labels(codes: np.ndarray, levels: list[str]) -> np.ndarray:
    """Category codes (NaN = missing) back to their level names (None = missing)."""
    table = np.array([*levels, None], dtype=object)
    return table[np.where(np.isnan(codes), len(levels), codes).astype(np.int64)]


MANY_PICKS = 4096   # beyond this many reasons for one column, describe each distinct value once
TEXT_MEMO = 20_000  # reason texts kept per column between calls


def _reason_keys(col: Column, cells: np.ndarray | None, values: np.ndarray) -> np.ndarray:
    """What decides a reason's words for each picked lead: the cell (categories, blank or unreadable
    cells) or the value read from it."""
    if col.role == "category":
        return cells if cells is not None else values
    if cells is None:
        return values
    keys = values.astype(object)
    unread = np.isnan(values)
    if unread.any():
        tagged = np.empty(int(unread.sum()), dtype=object)
        tagged[:] = [("cell", c) for c in cells[unread]]  # never equal to a number
        keys[unread] = tagged
    return keys


def _column_reasons(builder: FeatureBuilder, j: int, col: Column, keys: np.ndarray, cells: np.ndarray | None,
                    values: np.ndarray, up: np.ndarray, memo: dict[Any, tuple[str, str]]) -> np.ndarray:
    """Reason texts (with ↑ / ↓) for one column's picks: each distinct key described once, ever."""
    if len(keys) > MANY_PICKS:
        codes, uniq = pd.factorize(keys, use_na_sentinel=False)
        first = np.zeros(len(uniq), dtype=np.int64)
        first[codes[::-1]] = np.arange(len(codes))[::-1]  # where each distinct key first appears
    else:
        codes, uniq, first = None, keys, np.arange(len(keys))
    info = _date_info(builder, col.name)
    pairs: list[tuple[str, str]] = []
    for i, key in enumerate(uniq):
        got = memo.get(key) if key == key else None
        if got is None:
            at = first[i]
            value = values[at]
            if col.role != "category":
                value = float(value)
            cell = cells[at] if cells is not None else value
            text = _describe(col, cell, value, info)
            got = (f"{text} ↑", f"{text} ↓")
            if key == key:
                if len(memo) >= TEXT_MEMO:
                    memo.clear()
                memo[key] = got
        pairs.append(got)
    ups = np.empty(len(pairs), dtype=object)
    downs = np.empty(len(pairs), dtype=object)
    ups[:] = [p[0] for p in pairs]
    downs[:] = [p[1] for p in pairs]
    if codes is not None:
        ups, downs = ups[codes], downs[codes]
    return np.where(up, ups, downs)


def reason_table(bundle: ModelBundle, frame: pd.DataFrame, features: pd.DataFrame | np.ndarray,
                 contributions: np.ndarray, top: int = TOP_REASONS) -> np.ndarray:
    """rows × ``top`` reason texts, strongest first; None where a lead has fewer drivers.

    Array work throughout: the top drivers by partial sort, then per column the picked values
    described once each (and remembered between calls, so a server describes a value once).
    """
    builder = bundle.features
    columns = builder.columns_
    n = len(frame)
    out = np.full((n, top), None, dtype=object)
    if not columns or n == 0:
        return out
    header_pos = builder.header_positions(frame.columns)
    keys_of = builder.column_keys_
    absent = np.array([k not in header_pos for k in keys_of])
    strength = np.abs(contributions)
    if absent.any():  # a column the sheet does not have is no reason to give a rep
        strength = np.where(absent[None, :], 0.0, strength)
    k = min(top, len(columns))
    if len(columns) > k:
        picked = np.argpartition(-strength, k - 1, axis=1)[:, :k]
    else:
        picked = np.broadcast_to(np.arange(k), (n, k)).copy()
    # strongest first; equal strengths in the columns' order
    order = np.lexsort((picked, -np.take_along_axis(strength, picked, axis=1)), axis=1)
    picked = np.take_along_axis(picked, order, axis=1)
    signed = np.take_along_axis(contributions, picked, axis=1)
    shown = np.abs(signed) >= 1e-6
    if absent.any():
        shown &= ~absent[picked]
    matrix = features if isinstance(features, np.ndarray) else as_matrix(features)[0]
    cells_of = column_reader(frame)
    memos = builder.reason_memos(today_dependent=builder.legacy_ages_)
    for j, col in enumerate(columns):
        rows, slots = np.nonzero((picked == j) & shown)
        if len(rows) == 0:
            continue
        key = keys_of[j]
        cells = np.asarray(cells_of(header_pos[key]), dtype=object)[rows] if key in header_pos else None
        values = matrix[rows, j]
        if col.role == "category":
            values = _labels(values, builder.categories_[col.name])
        keys = _reason_keys(col, cells, values)
        out[rows, slots] = _column_reasons(builder, j, col, keys, cells, values, signed[rows, slots] > 0, memos[j])
    return out


def table_to_lists(table: np.ndarray) -> list[list[str]]:
    """A reason table (rows × top, None-padded) as each lead's list of reasons."""
    return [[t for t in row if t is not None] for row in table.tolist()]


def lists_to_table(reasons: Sequence[Sequence[str]], top: int = TOP_REASONS) -> np.ndarray:
    """Each lead's list of reasons as a reason table (rows × top, None-padded)."""
    table = np.full((len(reasons), top), None, dtype=object)
    for i, row in enumerate(reasons):
        for k, text in enumerate(row[:top]):
            table[i, k] = text
    return table


def joined_reasons(table: np.ndarray) -> np.ndarray:
    """Each lead's reasons as one cell ("a; b; c"); a lead's reasons come first in its row, padding last."""
    out = np.full(len(table), "", dtype=object)
    if table.ndim != 2 or table.shape[1] == 0 or len(table) == 0:
        return out
    columns = [table[:, k].tolist() for k in range(table.shape[1])]
    if len(columns) == 3:  # the usual top three, formatted without a join per lead
        out[:] = [(f"{a}; {b}; {c}" if c is not None else f"{a}; {b}") if b is not None else (a or "")
                  for a, b, c in zip(*columns)]
    else:
        out[:] = ["; ".join(t for t in texts if t is not None) for texts in zip(*columns)]
    return out


@dataclass
class ScoreResult:
    """Scores for every input row (same order) plus request-level warnings."""

    lead_score: np.ndarray            # int, 0 where a row could not be scored
    close_probability: np.ndarray
    predicted_mrr: np.ndarray | None
    segment: np.ndarray
    reason_table: np.ndarray          # rows × top reason texts, strongest first, None-padded
    errors: dict[int, str] = field(default_factory=dict)   # row position → why not scored
    warnings: list[dict[str, Any]] = field(default_factory=list)
    model: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.lead_score)

    @property
    def reasons(self) -> list[list[str]]:
        """Each lead's reasons, strongest first (empty when reasons were not asked for)."""
        return table_to_lists(self.reason_table)

    def rows(self) -> list[LeadResult]:
        """One result per input row, in order."""
        n = len(self.lead_score)
        mrr = self.predicted_mrr.tolist() if self.predicted_mrr is not None else [None] * n
        errors = self.errors
        return [LeadResult.failed(errors[i]) if i in errors else LeadResult(score, p, m, tuple(r), str(seg))
                for i, (score, p, m, r, seg) in enumerate(zip(self.lead_score.tolist(),
                                                               self.close_probability.tolist(), mrr,
                                                               self.reasons, self.segment.tolist()))]

    @property
    def results(self) -> list[dict[str, Any]]:
        """One JSON-ready result per row, in order (the ``/v1/score`` shape)."""
        return [row.to_json() for row in self.rows()]

    def output_frame(self, *, scored_at: str, index: pd.Index | None = None) -> pd.DataFrame:
        """The output columns by their sheet headers (blank where a row was not scored).

        Built column by column from the arrays (the cells :meth:`LeadResult.cells` gives).
        """
        n = len(self.lead_score)
        failed = np.zeros(n, dtype=bool)
        if self.errors:
            failed[list(self.errors)] = True
        score = pd.array(self.lead_score, dtype="Int64")
        probability = np.asarray(self.close_probability, dtype=float).copy()
        mrr = (np.asarray(self.predicted_mrr, dtype=float).copy() if self.predicted_mrr is not None
               else np.full(n, np.nan))
        segment = np.asarray(self.segment, dtype=object).copy()
        reasons = joined_reasons(self.reason_table)
        if failed.any():
            score[failed] = pd.NA
            probability[failed] = np.nan
            mrr[failed] = np.nan
            segment[failed] = None
            for i, error in self.errors.items():
                reasons[i] = not_scored_text(error)
        return pd.DataFrame({LEAD_SCORE: score, CLOSE_PROBABILITY: probability, PREDICTED_MRR: mrr,
                             SCORE_REASONS: reasons, SEGMENT: segment,
                             SCORED_AT: np.full(n, scored_at, dtype=object),
                             MODEL_VERSION: np.full(n, self.model.get("version", ""), dtype=object)},
                            index=index if index is not None else pd.RangeIndex(n))


def _warnings(report: TransformReport, frame: pd.DataFrame, has_value_model: bool,
              columns: Sequence[Column] = ()) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if report.missing:
        out.append({"code": "missing_columns", "columns": report.missing,
                    "message": f"The model also uses {', '.join(report.missing)}, not in this sheet: "
                               "those values were treated as blank, so the scores are less precise."})
    if report.unknown:
        out.append({"code": "unknown_columns", "columns": report.unknown,
                    "message": f"Not used by the model: {', '.join(report.unknown[:10])}"
                               + (" …" if len(report.unknown) > 10 else "") + "."})
    by_name = {c.name: c for c in columns}
    for col, values in report.unseen.items():
        rare_set = set(by_name[col].rare) if col in by_name else set()
        rare = [v for v in values if clean_cell(v) in rare_set]
        new = [v for v in values if clean_cell(v) not in rare_set]
        parts = ([f"values rare in training ({', '.join(rare[:5])})"] if rare else []) + (
            [f"values not seen in training ({', '.join(new[:5])})"] if new else [])
        out.append({"code": "unseen_categories", "columns": [col],
                    "message": f"{col}: {' and '.join(parts)} were scored together with the other rare values."})
    header = {normalize_name(h): h for h in reversed(list(frame.columns))}
    for col, rows in report.unparsed.items():
        source = header.get(normalize_name(col))
        examples = (list(dict.fromkeys(str(frame[source].iloc[i]).strip() for i in rows))[:3]
                    if source is not None else [])
        shown = ", ".join(f"'{e}'" for e in examples)
        kind = _KIND.get(by_name[col].role, "values") if col in by_name else "values"
        out.append({"code": "unparsed_values", "columns": [col], "rows": rows[:50],
                    "message": f"{col}: {len(rows)} cell(s) could not be read as {kind} "
                               f"(e.g. {shown}) and were treated as blank; fix them in the sheet to use them."})
    if not has_value_model:
        out.append({"code": "no_value_model",
                    "message": "This model has no MRR model (trained without a value column): the "
                               "lead score uses the close probability alone."})
    return out


def score_frame(bundle: ModelBundle, frame: pd.DataFrame, *, now_days: float | None = None,
                with_reasons: bool = True) -> ScoreResult:
    """Score every row of ``frame`` (the user's columns, any order) in one call."""
    if len(frame) == 0:
        empty = np.zeros(0)
        return ScoreResult(lead_score=np.zeros(0, dtype=int), close_probability=empty,
                           predicted_mrr=empty if bundle.regressor is not None else None,
                           segment=np.zeros(0, dtype=object),
                           reason_table=np.full((0, TOP_REASONS), None, dtype=object), model=bundle.ref)
    book = bundle_rulebook(bundle.card)
    if book is not None:  # a model trained with points rules reads each group's points
        # A rule's column missing from the sheet: those features stay missing, and are reported as such.
        with contextlib.suppress(BadInput):
            frame = add_rule_features(frame, book, now_days)
    features, report = bundle.features.transform_matrix(frame, now_days=now_days)
    if bundle.features.columns_ and len(report.missing) == len(bundle.features.columns_):
        expected = ", ".join(c.name for c in bundle.features.columns_[:8])
        raise NoUsableColumns(f"None of the model's columns are in this sheet. The model reads: "
                              f"{expected}. Check the header row (row 1) or train a model on this sheet.")
    preds = predict(bundle, features, contributions=with_reasons,
                    classifier_contributions=bundle.segments is not None)
    thresholds = bundle.card["thresholds"]
    reasons = np.full((len(frame), TOP_REASONS), None, dtype=object)
    if with_reasons and preds.contributions is not None:
        shown = bundle.features.augment(frame)  # derived (geo) columns are reasons too
        reasons = reason_table(bundle, shown, features, preds.contributions)
        if bundle.features.geo is not None:  # distances in words ('12 mi from Houston')
            reasons = lists_to_table(bundle.features.reword(table_to_lists(reasons), shown))
    errors = {i: "no values in any of the model's columns" for i in report.empty_rows}
    warnings = _warnings(report, frame, bundle.regressor is not None, bundle.features.columns_)
    if errors:
        rows = sorted(errors)
        warnings.append({"code": "unscorable_rows", "rows": rows[:200],
                         "message": f"{len(rows)} row(s) have no values in any of the model's columns "
                                    "and were not scored."})
    return ScoreResult(
        lead_score=lead_scores(preds.expected_value, thresholds["score_cutpoints"]),
        close_probability=preds.probability,
        predicted_mrr=preds.mrr,
        segment=(bundle.segments.names(preds.classifier_contributions) if bundle.segments is not None
                 else segments(preds.probability, preds.mrr, thresholds)),
        reason_table=reasons,
        errors=errors,
        warnings=warnings,
        model=bundle.ref,
    )


def rows_to_frame(header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """Build a frame from the shape ``Range.getValues()`` gives (header + lists of cells)."""
    if not isinstance(header, (list, tuple)) or not header:
        raise BadInput("The header must be a non-empty list of column names (row 1 of the sheet).")
    width = len(header)
    names: list[str] = []
    seen: dict[str, int] = {}
    for i, h in enumerate(header):
        name = str(h).strip() if h not in (None, "") else f"Column {i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name} ({seen[name]})"
        else:
            seen[name] = 1
        names.append(name)
    fixed: list[Sequence[Any]] = []
    for i, row in enumerate(rows):
        if not isinstance(row, (list, tuple)):
            raise BadInput(f"Row {i + 1} is not a list of cells.", row=i + 1)
        if len(row) > width:
            if any(v not in (None, "") for v in row[width:]):
                raise BadInput(f"Row {i + 1} has {len(row)} cells but the header has {width} columns: "
                               "send the header row that matches the data.", row=i + 1)
            row = row[:width]
        elif len(row) < width:
            row = [*row, *([None] * (width - len(row)))]
        fixed.append(row)
    columns = pd.Index(names, dtype=object)
    if not fixed:
        return pd.DataFrame(columns=columns, dtype=object)
    cells = np.array(fixed, dtype=object)
    if cells.shape != (len(fixed), width):  # a cell holding a list: place the rows one by one
        cells = np.empty((len(fixed), width), dtype=object)
        for i, row in enumerate(fixed):
            for j, value in enumerate(row):
                cells[i, j] = value
    return pd.DataFrame(cells, columns=columns, dtype=object, copy=False)


def score_rows(bundle: ModelBundle, header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> ScoreResult:
    """Score rows in the ``getValues()`` shape: the HTTP and sheet entry point."""
    return score_frame(bundle, rows_to_frame(header, rows))
