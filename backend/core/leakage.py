"""The leakage guard: columns that give the outcome away are excluded before training.

A column filled in by sales *after* a lead closed (a close date, a loss reason, a verdict
such as "Closed by Horizzon", the length of the call that closed the deal) makes a model
look excellent on history and useless on new leads, which do not have it yet.  Before any
booster is fitted, each candidate feature is checked on the *fit* rows only, and excluded
only on evidence about the **whole column**:

    near-perfect predictor   on its own, the column ranks won above lost leads with
                             AUC ≥ 0.95 (values in order, and values grouped out of fold)
    filled for one outcome   the column is filled (almost) only in won rows, or only in lost
                             ones — judged by Fisher's exact test whatever its size, so 35
                             filled of 800 won against 0 of 7,000 lost is caught
    filled only when closed  filled in closed rows, (almost) never in open ones (same test)
    post-outcome date        a date named like close / won / lost date, or whose mere
                             presence predicts the outcome
    verdict column           one value means won (~100 %) and another means lost (~0 %),
                             each over many rows: a judgement recorded after contact
    id-like                  a whole number per row, unique and dense or in row order (by
                             cardinality and order, never by the header alone)
    dominant column          alone it predicts as well as every other column together, and
                             the model loses ≥ 0.08 AUC without it: the mark of a field
                             recorded during or after the sale, such as call duration

A single value that converts at ~0 % or ~100 % (a junk lead source that never converts) is
exactly what lead scoring exists to find: it is a **warning** with its figure, not an
exclusion, unless the column also dominates the model.  Excluded columns come with a
sentence saying why and the figure behind it; ``--keep COL`` overrides, ``--drop COL``
removes a column the guard keeps.  Everything is a whole-column (numpy / pandas)
computation; the dominance check fits a few small boosters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from scipy.stats import fisher_exact
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split

from backend.core.schema import Column, Schema, normalize_name

_POST_OUTCOME_DATE = re.compile(
    r"\b(close|closed|closing|won|win|lost|loss|converted|conversion|signed|signing|churn|churned|"
    r"cancel|cancelled|canceled|decision|outcome|result|resolved|completed|paid)\b")


@dataclass(frozen=True)
class LeakageRules:
    """Thresholds of the guard (recorded in the card)."""

    max_auc: float = 0.95            # single-column AUC at or above this: near-perfect
    level_min_share: float = 0.01    # a near-certain level covers at least this share of rows …
    level_min_rows: int = 30         # … and this many rows
    level_min_expected: float = 10   # … where the base rate predicts at least this many of the other outcome
    level_purity: float = 0.10       # other-outcome rate ≤ this × its base rate (filled for one outcome)
    level_odds_ratio: float = 10.0   # a level's odds of converting ≥ this × (or ≤ 1/this ×) the base odds
    level_min_explained: float = 0.01  # the level holds ≥ this share of one outcome's rows
    max_p_value: float = 1e-6        # Fisher's exact test: filled for one outcome / only when closed
    date_presence_auc: float = 0.80  # a date whose presence alone reaches this AUC
    open_min_rows: int = 20          # open rows needed to judge "filled only when closed"
    dominance_min_auc: float = 0.75  # candidates for the dominance check (or a warned column)
    dominance_min_gain: float = 0.08  # AUC the model loses without the column
    dominance_candidates: int = 3
    dominance_min_rows: int = 200

    def to_dict(self) -> dict[str, float]:
        """For the card."""
        return asdict(self)


@dataclass
class Finding:
    """One flagged column: what rule caught it, in words, and the figure behind it."""

    column: str
    kind: str
    why: str
    figure: str
    evidence: dict[str, Any] = field(default_factory=dict)
    excluded: bool = True
    warning: bool = False            # a figure to read, not a reason to exclude


    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for the card and the experiment log."""
        return asdict(self)

    def message(self) -> str:
        """One line for the terminal."""
        if self.warning:
            return f"{self.column!r} kept, warning: {self.why} [{self.figure}]"
        action = "excluded" if self.excluded else "kept (--keep)"
        return f"{self.column!r} {action}: {self.why} [{self.figure}]"


# ---------------------------------------------------------------- vectorized statistics

def rank_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC from average ranks (ties count half); 0.5 when one class is absent."""
    n1 = int(y.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return 0.5
    ranks = pd.Series(score).rank(method="average").to_numpy()
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _two_sided(auc: float) -> float:
    return max(auc, 1.0 - auc)


def ordered_auc(y: np.ndarray, values: np.ndarray) -> float:
    """How well the values' order separates the outcomes (either direction; blanks at either end)."""
    missing = np.isnan(values)
    if missing.all():
        return 0.5
    lo = np.where(missing, -np.inf, values)
    best = _two_sided(rank_auc(y, lo))
    if missing.any():
        best = max(best, _two_sided(rank_auc(y, np.where(missing, np.inf, values))))
    return best


def group_codes(values: pd.Series | np.ndarray, max_bins: int = 20) -> np.ndarray:
    """Integer group per row: category levels, distinct numbers (≤ 50) or quantile bins; blank = its own group."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy().astype(np.int64)
        return np.where(codes < 0, codes.max(initial=0) + 1, codes)
    v = np.asarray(values, dtype=float)
    missing = np.isnan(v)
    codes = np.zeros(len(v), dtype=np.int64)
    live = v[~missing]
    if len(live):
        uniq = np.unique(live)
        if len(uniq) <= 50:
            codes[~missing] = np.searchsorted(uniq, live)
        else:
            edges = np.unique(np.quantile(live, np.linspace(0, 1, max_bins + 1)[1:-1]))
            codes[~missing] = np.searchsorted(edges, live, side="right")
    codes[missing] = codes.max(initial=0) + 1
    return codes


def grouped_auc(y: np.ndarray, codes: np.ndarray, seed: int, folds: int = 5, prior: float = 10.0) -> float:
    """AUC of each row's group conversion rate, estimated out of fold (so small groups can't memorize)."""
    n = len(y)
    if n < 2 * folds or y.min() == y.max():
        return 0.5
    k = min(folds, int(np.bincount(y).min()))
    if k < 2:
        return 0.5
    encoded = np.empty(n)
    size = int(codes.max()) + 1
    for train_idx, held_idx in StratifiedKFold(k, shuffle=True, random_state=seed).split(codes, y):
        base = y[train_idx].mean()
        hits = np.bincount(codes[train_idx], weights=y[train_idx], minlength=size)
        count = np.bincount(codes[train_idx], minlength=size)
        rate = (hits + prior * base) / (count + prior)
        encoded[held_idx] = rate[codes[held_idx]]
    return _two_sided(rank_auc(y, encoded))


def _present(values: pd.Series) -> np.ndarray:
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.notna().to_numpy()
    return ~np.isnan(values.to_numpy(dtype=float))


# ---------------------------------------------------------------- the rules

def _certain_levels(col: Column, values: pd.Series, y: np.ndarray, rules: LeakageRules
                    ) -> list[dict[str, Any]]:
    """Category / yes-no values that convert at ~0 % or ~100 % over enough rows, largest first."""
    codes = group_codes(values)
    n = len(y)
    base = float(y.mean())
    size = int(codes.max()) + 1
    count = np.bincount(codes, minlength=size)
    wins = np.bincount(codes, weights=y, minlength=size)
    rate = np.divide(wins, count, out=np.zeros(size), where=count > 0)
    big = (count >= rules.level_min_rows) & (count >= rules.level_min_share * n)
    # the level's odds against the base odds (half a lead added to each cell: no infinite ratio)
    odds = (wins + 0.5) / (count - wins + 0.5)
    ratio = odds / (base / (1 - base))
    low = big & (count * base >= rules.level_min_expected) & (ratio <= 1 / rules.level_odds_ratio)
    high = big & (count * (1 - base) >= rules.level_min_expected) & (ratio >= rules.level_odds_ratio)
    n_pos, n_neg = y.sum(), n - y.sum()
    explained = np.where(high, wins / max(n_pos, 1), (count - wins) / max(n_neg, 1))
    hits = np.flatnonzero((low | high) & (explained >= rules.level_min_explained))
    out = []
    for code in hits[np.argsort(-count[hits], kind="stable")]:
        out.append({"level": _level_name(col, values, codes, int(code)), "rows": int(count[code]),
                    "row_share": round(float(count[code] / n), 4), "conversion": round(float(rate[code]), 4),
                    "base_rate": round(base, 4), "side": "won" if high[code] else "lost",
                    "share_of_outcomes": round(float(explained[code]), 4)})
    return out


def _level_text(level: dict[str, Any]) -> str:
    return f"{level['level']!r}: {level['conversion']:.1%} converted over {level['rows']} rows"


def _levels_finding(col: Column, levels: list[dict[str, Any]], auc: float) -> Finding:
    """A verdict column (levels at both ends) is excluded; one-sided levels are a warning."""
    sides = {lv["side"] for lv in levels}
    figure = "; ".join(_level_text(lv) for lv in levels[:3])
    evidence = {"levels": levels, "auc_alone": round(auc, 4), **{k: levels[0][k] for k in (
        "level", "rows", "row_share", "conversion", "base_rate", "share_of_outcomes")}}
    if sides == {"won", "lost"}:
        won = next(lv for lv in levels if lv["side"] == "won")
        lost = next(lv for lv in levels if lv["side"] == "lost")
        return Finding(
            col.name, "verdict column",
            f"one value of {col.name} means won ({won['level']!r}: {won['conversion']:.0%} of {won['rows']}) and "
            f"another means lost ({lost['level']!r}: {lost['conversion']:.0%} of {lost['rows']}): a judgement "
            "recorded once the lead was worked, not known for a new lead", figure, evidence)
    lv = levels[0]
    direction = "converted" if lv["side"] == "won" else "did not convert"
    pct = lv["conversion"] if lv["side"] == "won" else 1 - lv["conversion"]
    return Finding(
        col.name, "near-certain level",
        f"{pct:.0%} of the {lv['rows']} leads with {col.name} = {lv['level']!r} {direction} (base rate "
        f"{lv['base_rate']:.0%}); kept as a feature — if this value is only set once the outcome is known, "
        f"--drop '{col.name}'", figure, evidence, excluded=False, warning=True)


def _filled_for_one_outcome(col: Column, present: np.ndarray, y: np.ndarray, rules: LeakageRules
                            ) -> Finding | None:
    """Filled (almost) only in won rows or only in lost ones: Fisher's exact test, whatever the size."""
    if present.all() or not present.any():
        return None
    n1 = int(y.sum())
    n0 = len(y) - n1
    f1 = int((present & (y == 1)).sum())
    f0 = int((present & (y == 0)).sum())
    for side, (fa, na, fb, nb) in (("won", (f1, n1, f0, n0)), ("lost", (f0, n0, f1, n1))):
        # "(almost) only": among filled rows, the other outcome is ≤ level_purity × its base rate
        other_base = nb / len(y)
        if fa == 0 or fb / (fa + fb) > rules.level_purity * other_base:
            continue
        p_value = float(fisher_exact([[fa, na - fa], [fb, nb - fb]], alternative="greater")[1])
        if p_value <= rules.max_p_value:
            other = "lost" if side == "won" else "won"
            return Finding(
                col.name, "filled for one outcome",
                f"'{col.name}' is filled in {fa} of {na} {side} leads but only {fb} of {nb} {other} ones: a "
                "field recorded with the outcome", f"filled {fa}/{na} {side} vs {fb}/{nb} {other}; "
                f"Fisher p = {p_value:.1e}",
                {"side": side, "filled": fa, "rows": na, "filled_other": fb, "rows_other": nb,
                 "p_value": p_value})
    return None


def _filled_only_when_closed(col: Column, present: np.ndarray, open_present: np.ndarray, rules: LeakageRules
                             ) -> Finding | None:
    closed_f, closed_n = int(present.sum()), len(present)
    open_f, open_n = int(open_present.sum()), len(open_present)
    if closed_f == 0 or open_f / open_n > rules.level_purity * closed_f / closed_n:
        return None
    p_value = float(fisher_exact([[closed_f, closed_n - closed_f], [open_f, open_n - open_f]],
                                 alternative="greater")[1])
    if p_value > rules.max_p_value:
        return None
    closed_present, open_share = closed_f / closed_n, open_f / open_n
    return Finding(
        col.name, "filled only when closed",
        f"'{col.name}' is filled in {closed_present:.0%} of closed leads but only {open_share:.0%} of open ones: "
        "it is recorded when a lead closes",
        f"filled {closed_present:.0%} closed vs {open_share:.0%} open; Fisher p = {p_value:.1e}",
        {"filled_closed": round(closed_present, 4), "filled_open": round(open_share, 4), "open_rows": open_n,
         "p_value": p_value})


def _level_name(col: Column, values: pd.Series, codes: np.ndarray, code: int) -> str:
    row = int(np.flatnonzero(codes == code)[0])
    value = values.iloc[row]
    if pd.isna(value):
        return "(blank)"
    if col.role == "category":
        return col.labels.get(str(value), str(value))
    if col.role == "boolean":
        return "Yes" if value else "No"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _is_id_like(values: np.ndarray, rows: np.ndarray) -> float | None:
    """Distinct share when a numeric column looks like a row number (dense or in row order)."""
    live = ~np.isnan(values)
    v = values[live]
    if len(v) < 50 or not np.all(v == np.round(v)):
        return None
    distinct = len(np.unique(v)) / len(v)
    if distinct < 0.98:
        return None
    dense = (v.max() - v.min()) <= 3 * len(v)
    ordered = abs(pd.Series(v).corr(pd.Series(rows[live]), method="spearman")) >= 0.95
    return float(distinct) if dense or ordered else None


def _quick_auc(x: pd.DataFrame, y: np.ndarray, a: np.ndarray, b: np.ndarray, seed: int) -> float:
    params = {"objective": "binary:logistic", "eval_metric": "logloss", "eta": 0.1, "max_depth": 4,
              "min_child_weight": 2.0, "subsample": 0.8, "colsample_bytree": 1.0, "max_cat_to_onehot": 4,
              "nthread": 1, "tree_method": "hist", "seed": seed, "max_bin": 64}
    da = xgb.DMatrix(x.iloc[a], label=y[a], enable_categorical=True, nthread=1)
    db = xgb.DMatrix(x.iloc[b], label=y[b], enable_categorical=True, nthread=1)
    booster = xgb.train(params, da, 200, evals=[(db, "b")], early_stopping_rounds=20, verbose_eval=False)
    p = booster.predict(db, iteration_range=(0, booster.best_iteration + 1))
    return float(roc_auc_score(y[b], p))


def _dominant(x: pd.DataFrame, columns: Sequence[Column], y: np.ndarray, alone: dict[str, float],
              flagged: set[str], rules: LeakageRules, seed: int, warned: Sequence[str] = ()) -> list[Finding]:
    names = [c.name for c in columns]
    live = [i for i, c in enumerate(columns) if c.name not in flagged]
    # A column warned about for a near-certain level is excluded only if it dominates too: strong on its
    # own (AUC ≥ dominance_min_auc) and the model collapses without it.
    strong = sorted((i for i in live if alone.get(columns[i].name, 0) >= rules.dominance_min_auc),
                    key=lambda i: (columns[i].name not in warned, -alone[columns[i].name]))
    candidates = strong[: rules.dominance_candidates]
    if not candidates or len(live) < 2 or len(y) < rules.dominance_min_rows or np.bincount(y).min() < 20:
        return []
    idx = np.arange(len(y))
    a, b = train_test_split(idx, test_size=0.25, random_state=seed, stratify=y)
    frame = x.copy()
    frame.columns = names
    keep = [names[i] for i in live]
    with_all = _quick_auc(frame[keep], y, a, b, seed)
    out = []
    for i in candidates:
        name = names[i]
        without = _quick_auc(frame[[k for k in keep if k != name]], y, a, b, seed)
        gain = with_all - without
        # dominant: alone it does at least as well as every other column together, and the model collapses
        # without it (a strong honest column, such as time on the website, adds to the others instead)
        if gain >= rules.dominance_min_gain and alone[name] >= without:
            out.append(Finding(
                name, "dominant column",
                f"on its own {name} predicts the outcome about as well as every other column together, and the "
                f"model loses {gain:.2f} AUC without it: typical of a field recorded during or after the sale "
                "(e.g. a call's duration)",
                f"AUC {alone[name]:.3f} alone; {with_all:.3f} with it vs {without:.3f} without",
                {"auc_alone": round(alone[name], 4), "auc_with": round(with_all, 4),
                 "auc_without": round(without, 4), "auc_gain": round(gain, 4)}))
    return out


def find_leaks(x: pd.DataFrame, columns: Sequence[Column], y: np.ndarray, *, open_x: pd.DataFrame | None = None,
               rules: LeakageRules | None = None, seed: int = 0) -> list[Finding]:
    """Check each feature column of ``x`` (one per ``columns``, labelled fit rows, outcomes ``y``).

    ``open_x`` holds the same features for the sheet's open rows (no outcome yet), when any.
    Findings with ``warning=True`` are kept as features; the others are exclusions.
    """
    rules = rules or LeakageRules()
    y = np.asarray(y, dtype=int)
    found: dict[str, Finding] = {}
    warnings: dict[str, Finding] = {}
    alone: dict[str, float] = {}
    positions = np.arange(len(y))
    judge_open = open_x is not None and len(open_x) >= rules.open_min_rows
    for j, col in enumerate(columns):
        values = x.iloc[:, j]
        present = _present(values)
        # 1. dates named like an outcome, or whose presence gives the outcome away
        if col.role == "date":
            key = normalize_name(col.name).replace("_", " ")
            if _POST_OUTCOME_DATE.search(key):
                found[col.name] = Finding(
                    col.name, "post-outcome date",
                    f"the header '{col.name}' names a date recorded when a lead closes; new leads don't have it",
                    "named like a close / outcome date", {"rule": "name"})
                continue
            presence = _two_sided(rank_auc(y, present.astype(float)))
            if presence >= rules.date_presence_auc:
                found[col.name] = Finding(
                    col.name, "post-outcome date",
                    f"whether '{col.name}' is filled in predicts the outcome on its own: a date recorded "
                    "after the outcome", f"presence AUC {presence:.3f}",
                    {"rule": "presence", "presence_auc": round(presence, 4),
                     "filled_share": round(float(present.mean()), 4)})
                continue
        # 2. filled (almost) only for one outcome, or only in closed rows
        finding = _filled_for_one_outcome(col, present, y, rules)
        if finding is None and judge_open:
            finding = _filled_only_when_closed(col, present, _present(open_x.iloc[:, j]), rules)  # type: ignore[union-attr]
        if finding is not None:
            found[col.name] = finding
            continue
        # 3. near-perfect on its own
        codes = group_codes(values)
        auc = grouped_auc(y, codes, seed)
        if not isinstance(values.dtype, pd.CategoricalDtype):
            auc = max(auc, ordered_auc(y, values.to_numpy(dtype=float)))
        alone[col.name] = auc
        if auc >= rules.max_auc:
            found[col.name] = Finding(
                col.name, "near-perfect predictor",
                f"on its own '{col.name}' separates won from lost leads almost perfectly: it is most likely "
                "recorded after the outcome", f"AUC {auc:.3f} alone", {"auc_alone": round(auc, 4)})
            continue
        # 4. values that (almost) always mean won, or lost: a verdict when both, else a warning
        if col.role in ("category", "boolean"):
            levels = _certain_levels(col, values, y, rules)
            if levels:
                finding = _levels_finding(col, levels, auc)
                if finding.warning:
                    warnings[col.name] = finding
                else:
                    found[col.name] = finding
                continue
        # 5. row numbers
        if col.role == "numeric":
            distinct = _is_id_like(values.to_numpy(dtype=float), positions)
            if distinct is not None:
                found[col.name] = Finding(
                    col.name, "id-like", f"'{col.name}' holds a different whole number in every row, like a "
                    "row number or id: it describes the record, not the lead",
                    f"{distinct:.0%} distinct values", {"distinct_share": round(distinct, 4)})
    for finding in _dominant(x, columns, y, alone, set(found), rules, seed, warned=list(warnings)):
        warned = warnings.pop(finding.column, None)
        if warned is not None:
            finding.why += f"; and {warned.figure}"
            finding.evidence["levels"] = warned.evidence["levels"]
        found[finding.column] = finding
    found.update(warnings)
    order = {c.name: i for i, c in enumerate(columns)}
    return sorted(found.values(), key=lambda f: order[f.column])


def apply_findings(schema: Schema, findings: Iterable[Finding], keep: Iterable[str] = ()) -> Schema:
    """The schema with flagged columns given the ``leakage`` role, except those the user keeps."""
    kept = {normalize_name(k) for k in keep}
    by_name = {}
    for f in findings:
        if f.warning:
            continue
        f.excluded = normalize_name(f.column) not in kept
        by_name[f.column] = f
    columns = []
    for c in schema.columns:
        f = by_name.get(c.name)
        if f is not None and f.excluded:
            columns.append(replace(c, role="leakage", reason=f"likely leakage: {f.why} ({f.figure}); "
                                   f"--keep '{c.name}' to use it"))
        else:
            columns.append(c)
    return Schema(columns)
