"""Held-out metrics and the quality gates.

Gates are judged at the decision threshold, never on AUC alone: a model that calls
every lead positive has recall 1.0 and can keep a high AUC, but its precision is the
base rate.  Each gated figure comes with a bootstrap 95 % interval over the held-out
leads (whole groups of repeated leads resampled together); when the interval straddles
the gate, the verdict is "too few held-out leads to judge", never a pass.  A calibration
error above its printed bound never passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sklearn.metrics import brier_score_loss, precision_recall_curve, roc_auc_score


@dataclass
class HeldOut:
    """The held-out (test) rows' outcomes and predictions, as the report draws them."""

    y: np.ndarray                           # 1 won / 0 lost
    probability: np.ndarray                 # calibrated close probability
    lead_score: np.ndarray                  # 1-10
    expected_value: np.ndarray              # probability x predicted MRR (or probability)
    mrr_predicted: np.ndarray | None = None  # MRR if won
    value_actual: np.ndarray | None = None   # the value column (NaN where blank); meaningful on won rows


@dataclass(frozen=True)
class Gates:
    """Minimum held-out figures a model needs to be promoted (the product's defaults)."""

    min_auc: float = 0.75
    min_precision: float = 0.65
    min_recall: float = 0.75
    max_calibration_error: float = 0.10
    max_auc_drop: float = 0.01    # vs the active model on the same held-out rows
    max_lift_drop: float = 0.05   # relative drop of top-decile lift vs the active model

    def to_dict(self) -> dict[str, float]:
        """For the card."""
        return asdict(self)


def choose_threshold(y: np.ndarray, p: np.ndarray, min_recall: float) -> float:
    """The probability cut that reaches ``min_recall`` with the best precision (ties: higher recall)."""
    precision, recall, thresholds = precision_recall_curve(y, p)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    ok = recall >= min_recall
    if not ok.any():
        return float(thresholds.min())
    best = np.flatnonzero(ok)[np.lexsort((-recall[ok], -precision[ok]))[0]]
    return float(thresholds[best])


def best_precision_at_recall(y: np.ndarray, p: np.ndarray, min_recall: float) -> float:
    """The highest precision any threshold reaches while keeping recall ≥ ``min_recall``."""
    precision, recall, _ = precision_recall_curve(y, p)
    ok = recall[:-1] >= min_recall
    return float(precision[:-1][ok].max()) if ok.any() else 0.0


def calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-count bins (weighted |mean p − observed rate|)."""
    order = np.argsort(p, kind="stable")
    err = 0.0
    for chunk in np.array_split(order, min(bins, len(p))):
        if len(chunk):
            err += len(chunk) * abs(p[chunk].mean() - y[chunk].mean())
    return float(err / len(p))


def calibration_noise(p: np.ndarray, bins: int = 10) -> float:
    """The calibration error a perfectly calibrated model shows by chance on this many rows.

    With m rows per bin the observed rate wanders by about sqrt(p(1-p)/m); the mean absolute
    deviation is sqrt(2/pi) of that.  Small test sets need this allowance.
    """
    m = max(1.0, len(p) / bins)
    return float(np.sqrt(2 / np.pi) * np.mean(np.sqrt(p * (1 - p) / m)))


def top_decile_lift(y: np.ndarray, p: np.ndarray) -> float:
    """Conversion rate in the top 10 % of leads by score, divided by the base rate."""
    k = max(1, int(np.ceil(0.1 * len(p))))
    top = np.argsort(-p, kind="stable")[:k]
    base = y.mean()
    return float(y[top].mean() / base) if base > 0 else 0.0


def classification_metrics(y: np.ndarray, p: np.ndarray, threshold: float, min_recall: float) -> dict[str, Any]:
    """AUC, precision / recall / F1 at the threshold, base rate, lift, Brier, calibration error."""
    y = np.asarray(y, dtype=int)
    pred = p >= threshold
    tp = int((pred & (y == 1)).sum())
    fp = int((pred & (y == 0)).sum())
    fn = int((~pred & (y == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    both = len(np.unique(y)) == 2
    return {
        "n": int(len(y)),
        "positives": int(y.sum()),
        "base_rate": round(float(y.mean()), 4),
        "auc": round(float(roc_auc_score(y, p)), 4) if both else None,
        "threshold": round(float(threshold), 4),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0,
        "flagged_share": round(float(pred.mean()), 4),
        "top_decile_lift": round(top_decile_lift(y, p), 3),
        "brier": round(float(brier_score_loss(y, p)), 4),
        "calibration_error": round(calibration_error(y, p), 4),
        "calibration_noise": round(calibration_noise(p), 4),
        "best_precision_at_min_recall": round(best_precision_at_recall(y, p, min_recall), 4) if both else None,
    }


def _fast_auc(y: np.ndarray, p: np.ndarray) -> float:
    n1 = int(y.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p))
    sorted_p = p[order]
    # average ranks for ties
    _, start, counts = np.unique(sorted_p, return_index=True, return_counts=True)
    avg = start + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def bootstrap_intervals(y: np.ndarray, p: np.ndarray, threshold: float, groups: np.ndarray | None = None, *,
                        rounds: int = 400, seed: int = 0, level: float = 0.95) -> dict[str, list[float]]:
    """Percentile bootstrap intervals of AUC, precision, recall and calibration error on held-out rows.

    Whole groups of repeated leads are drawn together (a cluster bootstrap), so copies do not
    narrow the interval.
    """
    y = np.asarray(y, dtype=int)
    n = len(y)
    if n == 0:
        return {}
    g = np.unique(groups, return_inverse=True)[1].reshape(-1) if groups is not None else np.arange(n)
    members = np.argsort(g, kind="stable")
    starts = np.searchsorted(g[members], np.arange(g.max() + 1))
    sizes = np.bincount(g)
    rng = np.random.default_rng(seed)
    pred = p >= threshold
    out: dict[str, list[float]] = {"auc": [], "precision": [], "recall": [], "calibration_error": []}
    for _ in range(rounds):
        picked = rng.integers(0, len(sizes), len(sizes))
        idx = np.concatenate([members[starts[k]: starts[k] + sizes[k]] for k in picked]) if groups is not None \
            else picked
        yb, pb, fb = y[idx], p[idx], pred[idx]
        tp = int((fb & (yb == 1)).sum())
        out["auc"].append(_fast_auc(yb, pb))
        out["precision"].append(tp / fb.sum() if fb.sum() else 0.0)
        out["recall"].append(tp / yb.sum() if yb.sum() else float("nan"))
        out["calibration_error"].append(calibration_error(yb, pb))
    tail = (1 - level) / 2 * 100
    return {k: [round(float(np.nanpercentile(v, tail)), 4), round(float(np.nanpercentile(v, 100 - tail)), 4)]
            for k, v in out.items() if np.isfinite(v).any()}


def value_metrics(actual: np.ndarray, predicted: np.ndarray, baseline: float) -> dict[str, Any]:
    """MAE of MRR on won rows next to always predicting the training median."""
    if len(actual) == 0:
        return {"n": 0, "mae": None, "median_baseline_mae": None}
    return {
        "n": int(len(actual)),
        "mae": round(float(np.abs(actual - predicted).mean()), 2),
        "median_baseline_mae": round(float(np.abs(actual - baseline).mean()), 2),
        "median_abs_pct_error": round(float(np.median(np.abs(actual - predicted) / np.maximum(actual, 1))), 4),
    }


TOO_FEW = "too few held-out leads to judge"


def gate_verdicts(metrics: dict[str, Any], gates: Gates) -> list[dict[str, Any]]:
    """Each gate: figure, interval, bound and verdict (``passed``, ``failed`` or too few to judge).

    A figure passes only when its whole bootstrap interval is on the right side of the gate;
    it fails when the whole interval is on the wrong side; otherwise there are too few
    held-out leads to judge.  Without an interval the figure alone decides.
    """
    ci = metrics.get("intervals") or {}
    out = []
    for key, label, bound, above in (("auc", "AUC", gates.min_auc, True),
                                     ("precision", "Precision", gates.min_precision, True),
                                     ("recall", "Recall", gates.min_recall, True),
                                     ("calibration_error", "Calibration error", gates.max_calibration_error, False)):
        value = metrics.get(key)
        lo, hi = ci.get(key, [value, value]) if value is not None else [None, None]
        if value is None:
            verdict = "failed"
        elif above:
            verdict = "passed" if lo > bound and value > bound else "failed" if hi <= bound else TOO_FEW
        else:
            # a calibration error shown above its bound never passes; within chance of it, it is undecided
            noise = metrics.get("calibration_noise", 0.0)
            verdict = "passed" if value <= bound else "failed" if value > bound + noise else TOO_FEW
        out.append({"figure": key, "label": label, "value": value, "interval": [lo, hi] if key in ci else None,
                    "bound": bound, "direction": ">" if above else "≤", "verdict": verdict})
    return out


def gate_failures(metrics: dict[str, Any], gates: Gates) -> list[str]:
    """Each gate not passed, as a sentence a sales manager can read (empty list = passed)."""
    out = []
    for v in gate_verdicts(metrics, gates):
        if v["verdict"] == "passed":
            continue
        value, bound, key = v["value"], v["bound"], v["figure"]
        shown = "None" if value is None else (f"{value}" if key == "auc" else f"{value:.3f}")
        ci = f" (95 % interval {v['interval'][0]:.3f}–{v['interval'][1]:.3f})" if v["interval"] else ""
        where = " at the decision threshold" if key in ("precision", "recall") else ""
        if v["verdict"] == TOO_FEW:
            msg = (f"{v['label']} {shown}{where}{ci}: {TOO_FEW} against the gate {v['direction']} {bound} "
                   f"({metrics['n']} held-out leads, {metrics.get('positives', 0)} converted). More history, or "
                   "retrain later.")
        elif key == "calibration_error":
            msg = (f"Calibration error {shown}{ci} is above {bound} (and above the "
                   f"{metrics.get('calibration_noise', 0.0):.3f} expected by chance on {metrics['n']} held-out "
                   "rows).")
        elif key == "auc":
            msg = f"AUC {shown}{ci} is not above {bound}."
        else:
            msg = f"{v['label']} {shown}{where}{ci} is not above {bound}."
        if key == "precision":
            best = metrics.get("best_precision_at_min_recall")
            if best is not None:
                msg += (f" With a base rate of {metrics['base_rate']:.1%}, the best precision any threshold "
                        f"reaches at recall ≥ {gates.min_recall} on held-out data is {best:.3f}")
                msg += (": the gate is out of reach for this data, not just this model."
                        if best <= gates.min_precision else ".")
        out.append(msg)
    return out


def comparison_failures(comparison: dict[str, Any], gates: Gates) -> list[str]:
    """Gate: no worse than the active model on the same held-out rows (empty when not compared)."""
    if comparison.get("status") != "compared":
        return []
    new, old = comparison["candidate"], comparison["active"]
    out = []
    if new["auc"] is not None and old["auc"] is not None and new["auc"] < old["auc"] - gates.max_auc_drop:
        out.append(f"AUC {new['auc']:.3f} is more than {gates.max_auc_drop} below the active model "
                   f"{comparison['version']} ({old['auc']:.3f}) on the same {comparison['rows']} held-out rows.")
    if old["top_decile_lift"] > 0 and new["top_decile_lift"] < old["top_decile_lift"] * (1 - gates.max_lift_drop):
        out.append(f"Top-decile lift {new['top_decile_lift']:.2f} is more than {gates.max_lift_drop:.0%} below "
                   f"the active model {comparison['version']} ({old['top_decile_lift']:.2f}) on the same "
                   f"{comparison['rows']} held-out rows.")
    return out


def calibration_curve(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Equal-count bins of leads: mean predicted probability next to the observed conversion rate."""
    y = np.asarray(y, dtype=float)
    order = np.argsort(p, kind="stable")
    out = []
    for chunk in np.array_split(order, min(bins, len(p))):
        if len(chunk):
            out.append({"n": int(len(chunk)), "mean_predicted": round(float(p[chunk].mean()), 4),
                        "observed": round(float(y[chunk].mean()), 4)})
    return out


def score_bands(y: np.ndarray, scores: np.ndarray, probability: np.ndarray,
                value: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Per lead score 10 … 1 on held-out rows: leads, conversions, conversion rate, mean probability, value."""
    y = np.asarray(y, dtype=int)
    out = []
    for score in range(10, 0, -1):
        band = scores == score
        n = int(band.sum())
        won = band & (y == 1)
        row: dict[str, Any] = {
            "score": score, "n": n, "converted": int(won.sum()),
            "conversion_rate": round(float(y[band].mean()), 4) if n else None,
            "mean_probability": round(float(probability[band].mean()), 4) if n else None,
        }
        if value is not None:
            live = won & ~np.isnan(value)
            row["mean_value_won"] = round(float(value[live].mean()), 2) if live.any() else None
            row["value_won_per_lead"] = round(float(np.nansum(value[won]) / n), 2) if n else None
        out.append(row)
    return out


def monotone_steps(bands: Sequence[dict[str, Any]], key: str = "conversion_rate") -> tuple[int, int]:
    """(steps where a higher score does at least as well as the next lower one, steps compared)."""
    rates = [b[key] for b in bands if b.get(key) is not None and b["n"] > 0]
    pairs = list(zip(rates, rates[1:]))
    return sum(1 for hi, lo in pairs if hi >= lo), len(pairs)


def summarize_folds(folds: Sequence[dict[str, Any]], keys: Sequence[str] = ("auc", "precision", "recall")
                    ) -> dict[str, dict[str, float | None]]:
    """Mean and standard deviation of each metric over cross-validation folds."""
    out: dict[str, dict[str, float | None]] = {}
    for key in keys:
        values = np.array([f[key] for f in folds if f.get(key) is not None], dtype=float)
        out[key] = {"mean": round(float(values.mean()), 4) if len(values) else None,
                    "sd": round(float(values.std(ddof=1)), 4) if len(values) > 1 else None}
    return out
