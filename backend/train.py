"""Train the close-probability and MRR models from a team's own history.

Rows whose outcome cell is the positive value (e.g. ``Won``) or a negative one (``Lost``)
are the training set; rows with anything else (``Open``, blank) are open leads and are
only counted.  Labelled rows are split, stratified, into

    fit         the boosters learn here (a slice of it drives early stopping)
    validation  Platt calibration, the decision threshold and the score cut-points
    test        held-out metrics and the quality gates, used for nothing else
"""

from __future__ import annotations

import hashlib
import platform
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import sklearn
import xgboost as xgb
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from backend.bundle import ModelBundle
from backend.errors import BadInput
from backend.evaluate import Gates, choose_threshold, classification_metrics, gate_failures, value_metrics
from backend.features import FeatureBuilder, today_days
from backend.schema import RoleOverrides, describe_overrides, infer_schema, normalize_text, parse_numbers, resolve_column
from backend.scoring import sigmoid

MIN_LABELLED = 50
NEGATIVE_FOR = {
    "won": ("lost", "closed lost"), "closed won": ("closed lost", "lost"), "win": ("loss", "lost"),
    "yes": ("no",), "y": ("n",), "1": ("0",), "true": ("false",), "t": ("f",),
    "converted": ("not converted", "unconverted"), "success": ("failure", "fail"),
}

ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class TrainConfig:
    """What to train and how (recorded in the card)."""

    target: str
    positive: str
    negatives: Sequence[str] = ()
    value: str | None = None
    overrides: RoleOverrides = field(default_factory=RoleOverrides)
    gates: Gates = field(default_factory=Gates)
    seed: int = 0
    name: str = "lead-score"
    test_size: float = 0.2
    validation_size: float = 0.2
    recall_margin: float = 0.02
    max_rounds: int = 600
    params: dict[str, Any] = field(default_factory=lambda: {
        "eta": 0.05, "max_depth": 4, "min_child_weight": 2.0, "subsample": 0.8,
        "colsample_bytree": 0.8, "lambda": 1.0, "max_cat_to_onehot": 4, "max_bin": 256,
    })


@dataclass
class TrainResult:
    """The bundle plus what training saw and decided."""

    bundle: ModelBundle
    passed: bool
    failures: list[str]
    counts: dict[str, int]
    notes: list[str]


def _norm_label(values: pd.Series) -> pd.Series:
    text = normalize_text(values)
    return text.str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True)


def outcome_labels(values: pd.Series, positive: str, negatives: Sequence[str] = ()) -> tuple[np.ndarray, list[str]]:
    """1 / 0 / NaN (open or blank) per row, and the negative values used."""
    text = _norm_label(values)
    pos = _norm_label(pd.Series([positive], dtype=object)).iloc[0]
    present = set(text[text != ""].unique())
    if pos not in present:
        shown = ", ".join(sorted(present)[:10]) or "no values"
        raise BadInput(f"The positive value '{positive}' does not occur in the target column (values: {shown}). "
                       "Pass --positive with one of them.")
    if negatives:
        neg = {_norm_label(pd.Series([n], dtype=object)).iloc[0] for n in negatives}
    elif pos in NEGATIVE_FOR and present & set(NEGATIVE_FOR[pos]):
        neg = present & set(NEGATIVE_FOR[pos])
    elif len(present) == 2:
        neg = present - {pos}
    else:
        others = ", ".join(sorted(present - {pos})[:10])
        raise BadInput(f"Cannot tell which target values mean a lost lead (values besides '{positive}': "
                       f"{others}). Pass --negative VALUE for each; the other rows are treated as open.")
    y = np.full(len(text), np.nan)
    y[text.eq(pos).to_numpy()] = 1.0
    y[text.isin(neg).to_numpy()] = 0.0
    return y, sorted(neg)


def data_sha256(frame: pd.DataFrame) -> str:
    """A content hash of the training data (same cells → same hash, whatever the file format)."""
    digest = hashlib.sha256("\x1f".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy().tobytes())
    return digest.hexdigest()


class _RoundProgress(xgb.callback.TrainingCallback):
    def __init__(self, stage: str, total: int, progress: ProgressFn | None) -> None:
        self.stage, self.total, self.progress = stage, total, progress

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        if self.progress is not None:
            self.progress(self.stage, epoch + 1, self.total)
        return False


def _boost(params: dict[str, Any], x_fit: pd.DataFrame, y_fit: np.ndarray, x_stop: pd.DataFrame,
           y_stop: np.ndarray, rounds: int, stage: str, progress: ProgressFn | None) -> xgb.Booster:
    dfit = xgb.DMatrix(x_fit, label=y_fit, enable_categorical=True)
    dstop = xgb.DMatrix(x_stop, label=y_stop, enable_categorical=True)
    booster = xgb.train(params, dfit, num_boost_round=rounds, evals=[(dstop, "stop")],
                        early_stopping_rounds=40, verbose_eval=False,
                        callbacks=[_RoundProgress(stage, rounds, progress)])
    return booster[: booster.best_iteration + 1]


def _split(n: int, y: np.ndarray, size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    idx = np.arange(n)
    strat = y if np.bincount(y.astype(int)).min() >= 2 else None
    a, b = train_test_split(idx, test_size=size, random_state=seed, stratify=strat)
    return np.sort(a), np.sort(b)


def _value_column(frame: pd.DataFrame, name: str, won: np.ndarray) -> np.ndarray:
    values, bad = parse_numbers(frame[name])
    bad_won = bad & won
    if bad_won.sum() > max(3, 0.2 * won.sum()):
        example = frame[name][bad_won].iloc[0]
        raise BadInput(f"The value column '{name}' holds text (e.g. '{example}') in {int(bad_won.sum())} won "
                       "rows: it must hold amounts such as 1200, $1,200 or 1.2k.", column=name)
    return values


def train(frame: pd.DataFrame, config: TrainConfig, *, progress: ProgressFn | None = None) -> TrainResult:
    """Fit, calibrate and evaluate a model bundle on a lead sheet's labelled rows."""
    notes: list[str] = []
    target = resolve_column(frame, config.target, "target")
    value = resolve_column(frame, config.value, "value") if config.value else None
    y_all, negatives = outcome_labels(frame[target], config.positive, config.negatives)
    labelled = ~np.isnan(y_all)
    n_lab = int(labelled.sum())
    if n_lab < MIN_LABELLED:
        raise BadInput(f"Only {n_lab} rows have an outcome in '{target}' ({config.positive} or "
                       f"{'/'.join(negatives)}): at least {MIN_LABELLED} are needed to train.", column=target)
    y = y_all[labelled].astype(int)
    if y.min() == y.max():
        only = config.positive if y[0] == 1 else "/".join(negatives)
        raise BadInput(f"Every labelled row in '{target}' is {only}: a model needs both won and lost leads.",
                       column=target)
    counts = {"rows": len(frame), "labelled": n_lab, "open": int(len(frame) - n_lab),
              "positives": int(y.sum()), "negatives": int(n_lab - y.sum())}

    history = frame[labelled].reset_index(drop=True)
    won = (y_all == 1)[labelled]
    values = _value_column(history, value, won) if value is not None else None  # fail fast, before fitting
    schema = infer_schema(history, target=target, value=value, overrides=config.overrides)
    builder = FeatureBuilder(schema)
    if not builder.columns_:
        raise BadInput("No column of this sheet can be used as a feature (all are ids, text, empty or the "
                       "target). Add lead attributes such as source, industry or spend.")
    now = today_days()
    x, _ = builder.transform(history, now_days=now)

    rest, test = _split(n_lab, y, config.test_size, config.seed)
    fit, valid = _split(len(rest), y[rest], config.validation_size / (1 - config.test_size), config.seed)
    fit, valid = rest[fit], rest[valid]
    fit_main, fit_stop = _split(len(fit), y[fit], 0.15, config.seed)
    fit_main, fit_stop = fit[fit_main], fit[fit_stop]

    params = {"objective": "binary:logistic", "eval_metric": "logloss", "seed": config.seed,
              "nthread": 2, "tree_method": "hist", **config.params}
    clf = _boost(params, x.iloc[fit_main], y[fit_main], x.iloc[fit_stop], y[fit_stop],
                 config.max_rounds, "classifier", progress)

    def margins(rows: np.ndarray) -> np.ndarray:
        return clf.predict(xgb.DMatrix(x.iloc[rows], enable_categorical=True), output_margin=True)

    platt = LogisticRegression(C=1e6, max_iter=1000).fit(margins(valid).reshape(-1, 1), y[valid])
    a, b = float(platt.coef_[0, 0]), float(platt.intercept_[0])
    p_valid = sigmoid(a * margins(valid) + b)
    p_test = sigmoid(a * margins(test) + b)
    threshold = choose_threshold(y[valid], p_valid, min(0.999, config.gates.min_recall + config.recall_margin))

    reg = None
    mrr_valid = None
    value_report: dict[str, Any] = {"column": None}
    if value is not None and values is not None:
        ok = won & ~np.isnan(values) & (values >= 0)
        fit_won = np.intersect1d(fit, np.flatnonzero(ok))
        test_won = np.intersect1d(test, np.flatnonzero(ok))
        if len(fit_won) < 20:
            notes.append(f"Only {len(fit_won)} won rows have a value in '{value}': no MRR model was trained.")
        else:
            a_idx, s_idx = _split(len(fit_won), np.zeros(len(fit_won)), 0.15, config.seed)
            reg_params = {"objective": "reg:squarederror", "eval_metric": "mae", "seed": config.seed,
                          "nthread": 2, "tree_method": "hist", **config.params}
            target_log = np.log1p(values)
            reg = _boost(reg_params, x.iloc[fit_won[a_idx]], target_log[fit_won[a_idx]],
                         x.iloc[fit_won[s_idx]], target_log[fit_won[s_idx]], config.max_rounds, "mrr", progress)
            baseline = float(np.median(values[fit_won]))
            pred_test = np.clip(np.expm1(reg.predict(xgb.DMatrix(x.iloc[test_won], enable_categorical=True))), 0, None)
            value_report = {"column": value, "trained_on_won_rows": int(len(fit_won)),
                            "median_baseline": baseline, **value_metrics(values[test_won], pred_test, baseline)}
            mrr_valid = np.clip(np.expm1(reg.predict(xgb.DMatrix(x.iloc[valid], enable_categorical=True))), 0, None)

    ev_valid = p_valid * mrr_valid if mrr_valid is not None else p_valid
    cutpoints = np.quantile(ev_valid, np.linspace(0.1, 0.9, 9)).tolist()
    metrics = classification_metrics(y[test], p_test, threshold, config.gates.min_recall)
    validation = classification_metrics(y[valid], p_valid, threshold, config.gates.min_recall)
    failures = gate_failures(metrics, config.gates)

    trained_at = datetime.now(UTC)
    digest = data_sha256(frame)
    version = f"{trained_at:%Y%m%d-%H%M%S}-{digest[:8]}"
    card = {
        "name": config.name,
        "version": version,
        "trained_at": trained_at.isoformat(timespec="seconds"),
        "target": {"column": target, "positive": config.positive, "negatives": negatives},
        "value": value_report,
        "features": [c for c in schema.to_dict() if c["role"] in ("numeric", "boolean", "category", "date")],
        "excluded": [c for c in schema.to_dict() if c["role"] not in ("numeric", "boolean", "category", "date")],
        "overrides": describe_overrides(config.overrides),
        "metrics": {"classifier": metrics, "validation": validation, "value": value_report},
        "thresholds": {
            "decision": threshold,
            "score_cutpoints": cutpoints,
            "segment_mrr": float(np.median(mrr_valid)) if mrr_valid is not None else None,
            "score_basis": "probability x predicted MRR" if reg is not None else "probability",
        },
        "calibration": {"method": "platt", "a": a, "b": b, "fitted_on": "validation"},
        "gates": {**config.gates.to_dict(), "passed": not failures, "failures": failures},
        "promotable": not failures,
        "data": {"sha256": digest, **counts, "split": {"fit": int(len(fit)), "validation": int(len(valid)),
                                                        "test": int(len(test))}},
        "training": {"seed": config.seed, "params": params, "rounds": {"classifier": clf.num_boosted_rounds(),
                     "mrr": reg.num_boosted_rounds() if reg is not None else None},
                     "recall_margin": config.recall_margin},
        "libraries": {"python": platform.python_version(), "xgboost": xgb.__version__,
                      "scikit-learn": sklearn.__version__, "pandas": pd.__version__, "numpy": np.__version__},
        "notes": notes,
    }
    card["data_sha256"] = digest
    bundle = ModelBundle(card=card, features=builder, classifier=clf, regressor=reg)
    return TrainResult(bundle=bundle, passed=not failures, failures=failures, counts=counts, notes=notes)


def version_dirname(version: str) -> str:
    """A safe directory name for a version string."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", version)
