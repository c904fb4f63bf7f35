"""Train the close-probability and MRR models from a team's own history.

Rows whose outcome cell is the positive value (e.g. ``Won``) or a negative one (``Lost``)
are the training set; rows with anything else (``Open``, blank) are open leads and are
only counted.  Labelled rows are split, stratified, into

    fit         the boosters learn here (a slice of it drives early stopping); the
                leakage guard judges columns here, before any booster sees them
    validation  Platt calibration, the decision threshold, the score cut-points and,
                with ``tune``, the choice of booster parameters
    test        held-out metrics and the quality gates, used for nothing else

Optionally, repeated stratified cross-validation runs the whole pipeline (fit, calibrate,
threshold) on folds of the non-test rows and reports mean ± sd.  When an active model is
given, it is scored on the test rows it never learnt from: the new model must not be worse.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import sklearn
import xgboost as xgb
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold, train_test_split

from backend.core import rules, segments, tuning
from backend.core.evaluate import (
    Gates,
    HeldOut,
    calibration_curve,
    choose_threshold,
    classification_metrics,
    comparison_failures,
    gate_failures,
    score_bands,
    summarize_folds,
    top_decile_lift,
    value_metrics,
)
from backend.core.features import FeatureBuilder, today_days
from backend.core.geo import GeoConfig, GeoFeatures
from backend.core.labels import outcome_labels
from backend.core.leakage import Finding, LeakageRules, apply_findings, find_leaks
from backend.core.outputs import OUTPUT_COLUMNS
from backend.core.quality import data_quality, quality_notes
from backend.core.schema import (
    FEATURE_ROLES,
    Column,
    RoleOverrides,
    Schema,
    describe_overrides,
    infer_schema,
    match_columns,
    normalize_label,
    normalize_name,
    parse_numbers,
    resolve_column,
)
from backend.core.scoring import lead_scores, score_frame, sigmoid
from backend.core.tuning import TuneResult
from backend.errors import BadInput, LeadScoreError
from backend.store.bundle import TRAINING_ROWS, ModelBundle

MIN_LABELLED = 50

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
    leakage: bool = True                      # run the leakage guard before fitting
    leakage_rules: LeakageRules = field(default_factory=LeakageRules)
    cv_repeats: int = 0                       # repeated stratified CV on the non-test rows (0 = off)
    cv_folds: int = 5
    tune: bool = False                        # bounded hyperparameter search on validation rows
    tune_candidates: int = 8
    tune_budget_s: float = 120.0
    now_days: float | None = None             # reference day for date ages (default: today, UTC)
    geo: GeoConfig | None = None              # ZIP column + sites: distance, nearest site, region features
    rules: Any = None                         # a points Rulebook (core/rules.py): group points become features
    segments: bool = True                     # cluster the leads into named segments (core/segments.py)


@dataclass
class TrainResult:
    """The bundle plus what training saw and decided."""

    bundle: ModelBundle
    passed: bool
    failures: list[str]
    counts: dict[str, int]
    notes: list[str]
    leakage: list[Finding] = field(default_factory=list)
    heldout: HeldOut | None = None



def data_sha256(frame: pd.DataFrame) -> str:
    """A content hash of the training data (same cells → same hash, whatever the file format).

    The product's own output columns (Lead Score, Scored At …) are left out: scoring a sheet
    does not change its history, so it must not look like new data to ``retrain``.
    """
    frame = frame.drop(columns=_output_columns(frame))
    digest = hashlib.sha256("\x1f".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy().tobytes())
    return digest.hexdigest()


def config_fingerprint(config: TrainConfig) -> str:
    """sha256 of the settings that shape a model (not the time budget or the report)."""
    body = {"target": normalize_name(config.target), "positive": str(config.positive),
            "negatives": sorted(map(str, config.negatives)),
            "value": normalize_name(config.value) if config.value else None,
            "overrides": describe_overrides(config.overrides), "gates": config.gates.to_dict(), "seed": config.seed,
            "splits": [config.test_size, config.validation_size], "recall_margin": config.recall_margin,
            "max_rounds": config.max_rounds, "params": config.params, "leakage": config.leakage,
            "leakage_rules": config.leakage_rules.to_dict(), "cv": [config.cv_repeats, config.cv_folds],
            "tune": [config.tune, config.tune_candidates],
            "rules": config.rules.to_dict() if config.rules is not None else None}
    if config.geo is not None:
        body["geo"] = config.geo.to_dict()
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def _output_columns(frame: pd.DataFrame) -> list[Any]:
    outputs = {normalize_name(c) for c in OUTPUT_COLUMNS}
    return [c for c in frame.columns if normalize_name(c) in outputs]


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """One 64-bit hash per row over the user's own cells (columns in name order, outputs left out).

    Saved with a model as the rows it learnt from, so a later model is compared with it only
    on rows neither has seen.
    """
    cols = sorted((c for c in frame.columns if c not in set(_output_columns(frame))), key=normalize_name)
    return pd.util.hash_pandas_object(frame[cols].astype(str), index=False).to_numpy(dtype=np.uint64)


class _RoundProgress(xgb.callback.TrainingCallback):
    def __init__(self, stage: str, total: int, progress: ProgressFn | None) -> None:
        self.stage, self.total, self.progress = stage, total, progress

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        if self.progress is not None:
            self.progress(self.stage, epoch + 1, self.total)
        return False


def _boost(params: dict[str, Any], x_fit: pd.DataFrame, y_fit: np.ndarray, x_stop: pd.DataFrame,
           y_stop: np.ndarray, rounds: int, stage: str, progress: ProgressFn | None) -> xgb.Booster:
    threads = int(params.get("nthread", 2))
    dfit = xgb.DMatrix(x_fit, label=y_fit, enable_categorical=True, nthread=threads)
    dstop = xgb.DMatrix(x_stop, label=y_stop, enable_categorical=True, nthread=threads)
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
        shown = [f"'{e}'" for e in dict.fromkeys(str(v).strip() for v in frame[name][bad_won])]
        raise BadInput(f"The value column '{name}' holds text instead of an amount in {int(bad_won.sum())} of "
                       f"{int(won.sum())} won rows (e.g. {', '.join(shown[:3])}): too many to leave out of the MRR "
                       "model. Write amounts such as 1200, $1,200 or 1.2k in those cells, or train without --value.",
                       column=name)
    return values


@dataclass
class _Classifier:
    """A booster with its Platt calibration and decision threshold (fitted on validation rows)."""

    booster: xgb.Booster
    a: float
    b: float
    threshold: float

    def margins(self, x: pd.DataFrame) -> np.ndarray:
        return self.booster.predict(xgb.DMatrix(x, enable_categorical=True, nthread=1), output_margin=True)

    def proba(self, x: pd.DataFrame) -> np.ndarray:
        return sigmoid(self.a * self.margins(x) + self.b)


def _fit_classifier(x: pd.DataFrame, y: np.ndarray, fit: np.ndarray, valid: np.ndarray, params: dict[str, Any],
                    config: TrainConfig, progress: ProgressFn | None = None, stage: str = "classifier"
                    ) -> _Classifier:
    """Boost on ``fit`` (a slice of it stops early); calibrate and pick the threshold on ``valid``."""
    fit_main, fit_stop = _split(len(fit), y[fit], 0.15, config.seed)
    fit_main, fit_stop = fit[fit_main], fit[fit_stop]
    booster = _boost(params, x.iloc[fit_main], y[fit_main], x.iloc[fit_stop], y[fit_stop],
                     config.max_rounds, stage, progress)
    clf = _Classifier(booster, 1.0, 0.0, 0.5)
    m_valid = clf.margins(x.iloc[valid])
    platt = LogisticRegression(C=1e6, max_iter=1000).fit(m_valid.reshape(-1, 1), y[valid])
    clf.a, clf.b = float(platt.coef_[0, 0]), float(platt.intercept_[0])
    p_valid = sigmoid(clf.a * m_valid + clf.b)
    clf.threshold = choose_threshold(y[valid], p_valid, min(0.999, config.gates.min_recall + config.recall_margin))
    return clf


def _cross_validate(x: pd.DataFrame, y: np.ndarray, rows: np.ndarray, params: dict[str, Any], config: TrainConfig,
                    progress: ProgressFn | None) -> dict[str, Any]:
    """Repeated stratified k-fold over the non-test rows, each fold run through the whole pipeline.

    In every fold the booster learns on part of the training folds, Platt calibration and the
    threshold rule are fitted on the rest of them, and the metrics are read on the fold left out.
    """
    folds_n = max(2, min(config.cv_folds, int(np.bincount(y[rows]).min())))
    splitter = RepeatedStratifiedKFold(n_splits=folds_n, n_repeats=config.cv_repeats, random_state=config.seed)
    total = folds_n * config.cv_repeats
    share = config.validation_size / (1 - config.test_size)
    folds: list[dict[str, Any]] = []
    for k, (train_idx, eval_idx) in enumerate(splitter.split(rows, y[rows])):
        train_rows, eval_rows = rows[train_idx], rows[eval_idx]
        fit_i, valid_i = _split(len(train_rows), y[train_rows], share, config.seed + k)
        clf = _fit_classifier(x, y, train_rows[fit_i], train_rows[valid_i], params, config)
        m = classification_metrics(y[eval_rows], clf.proba(x.iloc[eval_rows]), clf.threshold, config.gates.min_recall)
        folds.append({"fold": k + 1, "n": m["n"], "auc": m["auc"], "precision": m["precision"],
                      "recall": m["recall"], "threshold": m["threshold"],
                      "calibration_error": m["calibration_error"], "top_decile_lift": m["top_decile_lift"]})
        if progress is not None:
            progress("cross-validation", k + 1, total)
    return {"enabled": True, "repeats": config.cv_repeats, "folds": folds_n, "rows": int(len(rows)),
            "threshold_rule": f"best precision at recall ≥ {config.gates.min_recall + config.recall_margin:.2f} "
                              "on each fold's validation part",
            "summary": summarize_folds(folds, ("auc", "precision", "recall", "calibration_error", "top_decile_lift")),
            "per_fold": folds}


def _tune(x: pd.DataFrame, y: np.ndarray, fit: np.ndarray, valid: np.ndarray, params: dict[str, Any],
          config: TrainConfig, progress: ProgressFn | None) -> TuneResult:
    """Pick booster parameters by validation AUC (the test rows are not touched)."""
    fit_main, fit_stop = _split(len(fit), y[fit], 0.15, config.seed)
    fit_main, fit_stop = fit[fit_main], fit[fit_stop]
    dvalid = xgb.DMatrix(x.iloc[valid], enable_categorical=True, nthread=1)
    done = [0]

    def evaluate(candidate: dict[str, Any]) -> float:
        booster = _boost(candidate, x.iloc[fit_main], y[fit_main], x.iloc[fit_stop], y[fit_stop],
                         config.max_rounds, "tuning", None)
        done[0] += 1
        if progress is not None:
            progress("tuning", done[0], config.tune_candidates + 1)
        return float(roc_auc_score(y[valid], booster.predict(dvalid)))

    return tuning.search(evaluate, params, seed=config.seed, max_candidates=config.tune_candidates,
                         budget_s=config.tune_budget_s)


def _same_label(a: object, b: object) -> bool:
    first, second = normalize_label(pd.Series([a, b], dtype=object))
    return first == second


def _compare_with_active(active: ModelBundle | None, history: pd.DataFrame, target: str, config: TrainConfig,
                         rows: np.ndarray, y: np.ndarray, p_new: np.ndarray, hashes: np.ndarray, now: float,
                         leaked: set[str]) -> dict[str, Any]:
    """Score the active model on this run's held-out rows that it did not learn from."""
    if active is None:
        return {"status": "no active model"}
    version = active.version

    def skipped(reason: str) -> dict[str, Any]:
        return {"status": "skipped", "version": version, "reason": reason}

    their = active.card.get("target") or {}
    if normalize_name(their.get("column", "")) != normalize_name(target) or not _same_label(
            their.get("positive", ""), config.positive):
        return skipped(f"the active model predicts {their.get('column')} = {their.get('positive')}, "
                       f"not {target} = {config.positive}")
    _, missing, _ = match_columns(active.features.schema, active.features.augment(history).columns)
    if missing:
        return skipped(f"the active model reads columns this data lacks: {', '.join(missing[:5])}")
    uses_leak = sorted(c.name for c in active.features.columns_ if normalize_name(c.name) in leaked)
    if uses_leak:
        return skipped(f"the active model uses column(s) now flagged as leakage ({', '.join(uses_leak)}): its "
                       "held-out figures are not comparable")
    note = None
    try:
        seen = np.load(io.BytesIO(active.read_attachment(TRAINING_ROWS)), allow_pickle=False)
        unseen = ~np.isin(hashes[rows], seen)
    except LeadScoreError:
        unseen = np.ones(len(rows), dtype=bool)
        note = "the active model does not record its training rows: it may have learnt from some of these rows"
    sub = rows[unseen]
    if len(sub) < 30 or len(np.unique(y[sub])) < 2:
        return skipped(f"only {len(sub)} held-out rows are new to the active model (30 with both outcomes needed)")
    try:
        p_old = score_frame(active, history.iloc[sub], now_days=now, with_reasons=False).close_probability
    except LeadScoreError as exc:
        return skipped(f"the active model could not score these rows ({exc.detail})")
    p_mine = p_new[unseen]
    y_sub = y[sub]
    result = {
        "status": "compared", "version": version, "rows": int(len(sub)),
        "rows_seen_by_active": int((~unseen).sum()),
        "candidate": {"auc": round(float(roc_auc_score(y_sub, p_mine)), 4),
                      "top_decile_lift": round(top_decile_lift(y_sub, p_mine), 3)},
        "active": {"auc": round(float(roc_auc_score(y_sub, p_old)), 4),
                   "top_decile_lift": round(top_decile_lift(y_sub, p_old), 3)},
    }
    if note:
        result["note"] = note
    return result


def _mean_abs_contributions(booster: xgb.Booster, x: pd.DataFrame, names: list[str]) -> list[dict[str, Any]]:
    """Mean |TreeSHAP contribution| per user column, largest first."""
    if len(x) == 0:
        return []
    contrib = booster.predict(xgb.DMatrix(x, enable_categorical=True, nthread=1), pred_contribs=True)[:, :-1]
    mean = np.abs(contrib).mean(axis=0)
    order = np.argsort(-mean, kind="stable")
    return [{"column": names[j], "mean_abs_contribution": round(float(mean[j]), 4)} for j in order]


def _with_geo(setup: GeoConfig, history: pd.DataFrame, customers: np.ndarray, schema: Schema, seed: int,
              now: float) -> tuple[FeatureBuilder, pd.DataFrame]:
    """The feature builder and matrix with the geo features; the ZIP column itself is read only through them."""
    geo = GeoFeatures.fit(history, setup.resolve(history), setup.sites, customers, seed=seed)
    key = normalize_name(geo.zip_column)
    columns = [Column(c.name, "geo", "read as distance to the nearest site, the site and the sales region")
               if c.key == key else c for c in schema.columns]
    builder = FeatureBuilder(Schema([*columns, *geo.schema_columns()]), geo=geo)
    return builder, builder.transform(history, now_days=now)[0]


def train(frame: pd.DataFrame, config: TrainConfig, *, progress: ProgressFn | None = None,
          active: ModelBundle | None = None) -> TrainResult:
    """Fit, calibrate and evaluate a model bundle on a lead sheet's labelled rows.

    ``active`` is the model being served, if any: it is scored on this run's held-out rows and
    the new model must not be worse (a quality gate).
    """
    notes: list[str] = []
    if config.rules is not None:  # points rules: each group's points are a feature the model can use
        frame = rules.add_rule_features(frame, config.rules, config.now_days if config.now_days is not None
                                        else float(np.floor(today_days())))
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
    # Dates become ages against one reference day, so the same sheet trains the same model all day.
    now = float(config.now_days) if config.now_days is not None else float(np.floor(today_days()))
    x, _ = builder.transform(history, now_days=now)

    rest, test = _split(n_lab, y, config.test_size, config.seed)
    fit, valid = _split(len(rest), y[rest], config.validation_size / (1 - config.test_size), config.seed)
    fit, valid = rest[fit], rest[valid]
    if config.geo is not None:  # sales regions are learnt from the customers among the fit rows only
        builder, x = _with_geo(config.geo, history, won & np.isin(np.arange(n_lab), fit), schema, config.seed, now)
        schema = builder.schema
        notes.extend(builder.geo.notes() if builder.geo is not None else [])

    # The leakage guard: judged on the fit rows only, before any booster sees the data.
    findings: list[Finding] = []
    if config.leakage:
        open_rows = frame[~labelled]
        open_x = builder.transform(open_rows, now_days=now)[0] if len(open_rows) else None
        findings = find_leaks(x.iloc[fit], builder.columns_, y[fit], open_x=open_x, rules=config.leakage_rules,
                              seed=config.seed)
        if findings:
            schema = apply_findings(schema, findings, config.overrides.keep)
            still = {col.name for col in schema.features}
            kept = [i for i, c in enumerate(builder.columns_) if c.name in still]
            builder = FeatureBuilder(schema, geo=builder.geo)
            x = x.iloc[:, kept].set_axis(builder.feature_names_, axis=1)
            if not builder.columns_:
                names = ", ".join(f.column for f in findings)
                raise BadInput(f"Every usable column was flagged as likely leakage ({names}). If a column is "
                               "known before the outcome, keep it with --keep COL.")
    leaked = {normalize_name(f.column) for f in findings if f.excluded}

    # Below ~20k rows one thread is as fast as two, and it does not stall when the cores are shared.
    threads = 1 if n_lab < 20_000 else 2
    base_params = {"objective": "binary:logistic", "eval_metric": "logloss", "seed": config.seed,
                   "nthread": threads, "tree_method": "hist", **config.params}
    tuned: TuneResult | None = None
    params = base_params
    if config.tune:
        tuned = _tune(x, y, fit, valid, base_params, config, progress)
        params = tuned.params
    clf = _fit_classifier(x, y, fit, valid, params, config, progress)
    a, b, threshold = clf.a, clf.b, clf.threshold
    p_valid = clf.proba(x.iloc[valid])
    p_test = clf.proba(x.iloc[test])

    cross_validation: dict[str, Any] = {"enabled": False}
    if config.cv_repeats > 0:
        cross_validation = _cross_validate(x, y, rest, params, config, progress)

    reg = None
    mrr_valid = None
    mrr_test = None
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
                          "nthread": threads, "tree_method": "hist", **config.params}
            target_log = np.log1p(values)
            reg = _boost(reg_params, x.iloc[fit_won[a_idx]], target_log[fit_won[a_idx]],
                         x.iloc[fit_won[s_idx]], target_log[fit_won[s_idx]], config.max_rounds, "mrr", progress)

            def mrr(rows: np.ndarray) -> np.ndarray:
                dm = xgb.DMatrix(x.iloc[rows], enable_categorical=True, nthread=1)
                return np.clip(np.expm1(reg.predict(dm)), 0, None)

            baseline = float(np.median(values[fit_won]))
            value_report = {"column": value, "trained_on_won_rows": int(len(fit_won)),
                            "median_baseline": baseline, **value_metrics(values[test_won], mrr(test_won), baseline)}
            mrr_valid = mrr(valid)
            mrr_test = mrr(test)

    ev_valid = p_valid * mrr_valid if mrr_valid is not None else p_valid
    cutpoints = np.quantile(ev_valid, np.linspace(0.1, 0.9, 9)).tolist()
    metrics = classification_metrics(y[test], p_test, threshold, config.gates.min_recall)
    validation = classification_metrics(y[valid], p_valid, threshold, config.gates.min_recall)
    ev_test = p_test * mrr_test if mrr_test is not None else p_test
    scores_test = lead_scores(ev_test, cutpoints)
    test_values = values[test] if values is not None and reg is not None else None
    hashes = row_hashes(history)
    comparison = _compare_with_active(active, history, target, config, test, y, p_test, hashes, now, leaked)
    if comparison.get("status") == "skipped":
        notes.append(f"Not compared with the active model {comparison['version']}: {comparison['reason']}.")
    failures = gate_failures(metrics, config.gates) + comparison_failures(comparison, config.gates)

    names = [c.name for c in builder.columns_]
    top_features = {"close_probability": _mean_abs_contributions(clf.booster, x.iloc[test], names)}
    if reg is not None:
        test_won_rows = test[won[test]]
        top_features["mrr"] = _mean_abs_contributions(reg, x.iloc[test_won_rows], names)

    trained_at = datetime.now(UTC)
    digest = data_sha256(frame)
    version = f"{trained_at:%Y%m%d-%H%M%S}-{digest[:8]}"
    schema_dict = schema.to_dict()
    card = {
        "name": config.name,
        "version": version,
        "trained_at": trained_at.isoformat(timespec="seconds"),
        "target": {"column": target, "positive": config.positive, "negatives": negatives},
        "value": value_report,
        "features": [c for c in schema_dict if c["role"] in FEATURE_ROLES],
        "excluded": [c for c in schema_dict if c["role"] not in FEATURE_ROLES],
        "leakage": [f.to_dict() for f in findings],
        "overrides": describe_overrides(config.overrides),
        "metrics": {"classifier": metrics, "validation": validation, "value": value_report,
                    "cross_validation": cross_validation,
                    "calibration_curve": calibration_curve(y[test], p_test),
                    "score_bands": score_bands(y[test], scores_test, p_test, test_values),
                    "top_features": top_features},
        "comparison": comparison,
        "geo": builder.geo.card() if builder.geo is not None else None,
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
        "training": {"seed": config.seed, "params": params, "rounds": {"classifier": clf.booster.num_boosted_rounds(),
                     "mrr": reg.num_boosted_rounds() if reg is not None else None},
                     "recall_margin": config.recall_margin, "reference_day": now,
                     "config_sha256": config_fingerprint(config),
                     "cross_validation": {"repeats": config.cv_repeats, "folds": config.cv_folds},
                     "tuning": tuned.to_dict() if tuned is not None else None,
                     "leakage_guard": {"enabled": config.leakage, **config.leakage_rules.to_dict()}},
        "libraries": {"python": platform.python_version(), "xgboost": xgb.__version__,
                      "scikit-learn": sklearn.__version__, "pandas": pd.__version__, "numpy": np.__version__},
        "notes": notes,
    }
    card["data_sha256"] = digest
    # Data quality: what was read in each column (backend/core/quality.py), in the card and its notes.
    card["data_quality"] = data_quality(frame, schema, won=y_all == 1)
    notes.extend(quality_notes(card["data_quality"]))
    rows_buf = io.BytesIO()
    np.save(rows_buf, np.unique(hashes[rest]), allow_pickle=False)
    bundle = ModelBundle(card=card, features=builder, classifier=clf.booster, regressor=reg,
                         attachments={TRAINING_ROWS: rows_buf.getvalue()})
    if config.segments:  # named segments of every lead, closed and open (core/segments.py)
        segments.attach(bundle, builder, clf.booster, frame, y_all, labelled, values, now, config.seed)
    if config.rules is not None:  # the rules alone against this model, on the same held-out leads
        card["rules"] = rules.rules_vs_model(config.rules, history.iloc[test], y[test], p_test, scores_test, now)
    heldout = HeldOut(y=y[test], probability=p_test, lead_score=scores_test, expected_value=ev_test,
                      mrr_predicted=mrr_test, value_actual=test_values)
    return TrainResult(bundle=bundle, passed=not failures, failures=failures, counts=counts, notes=notes,
                       leakage=findings, heldout=heldout)
