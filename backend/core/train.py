"""Train the close-probability and MRR models from a team's own history.

Rows whose outcome cell is the positive value (e.g. ``Won``) or a negative one (``Lost``)
are the training set; rows with anything else (``Open``, blank) are open leads and are
only counted.  Training runs in named stages (:func:`train` lists them):

    labels & schema   which rows are won / lost / open; what each column is; dates
    groups & split    repeated leads are grouped (backend.core.groups) and every split keeps
                      a group on one side; labelled rows are split, stratified, into
                        fit         the boosters learn here (a slice drives early stopping);
                                    the leakage guard judges columns here
                        validation  with ``tune``, the choice of booster parameters
                        test        held-out metrics and the gates, used for nothing else
                      (``out_of_time``: the test rows are the newest leads, as they will arrive)
    leakage guard     whole-column evidence only (backend.core.leakage)
    fit & calibrate   early stopping picks the number of rounds; Platt calibration and the
                      decision threshold are fitted on out-of-fold margins of the non-test rows
    refit             the boosters are refit on every non-test row, rounds scaled to the rows
    value model       MRR if won, on won non-test rows
    evaluate & gates  held-out metrics with bootstrap intervals; the gates
    card              everything recorded; the report is rendered by the caller

Optionally, repeated stratified cross-validation (whole groups per fold) runs fit, calibrate
and threshold on folds of the non-test rows and reports mean ± sd.  When an active model is
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
from sklearn.metrics import precision_recall_curve, roc_auc_score

from backend.core import rules, segments, tuning
from backend.core.evaluate import (
    Gates,
    HeldOut,
    bootstrap_intervals,
    calibration_curve,
    choose_threshold,
    classification_metrics,
    comparison_failures,
    gate_failures,
    gate_verdicts,
    score_bands,
    summarize_folds,
    top_decile_lift,
    value_metrics,
)
from backend.core.features import FeatureBuilder, creation_column, day_text, fit_dates, today_days
from backend.core.geo import GeoConfig, GeoFeatures
from backend.core.groups import Groups, find_groups, fold_rows, newest_rows, split_rows
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
    parse_dates,
    parse_numbers,
    resolve_column,
)
from backend.core.scoring import lead_scores, score_frame, sigmoid
from backend.core.tuning import TuneResult
from backend.errors import BadInput, LeadScoreError
from backend.store.bundle import TRAINING_ROWS, ModelBundle

MIN_LABELLED = 50
Z95 = 1.96
# Chosen by measurement on the public lead sets and generated sheets (bench/RESULTS.md): shallow
# trees with a slow learning rate generalise best on lead histories of a few thousand rows.
DEFAULT_PARAMS: dict[str, Any] = {
    "eta": 0.05, "max_depth": 3, "min_child_weight": 2.0, "subsample": 0.8,
    "colsample_bytree": 0.8, "lambda": 1.0, "max_cat_to_onehot": 4, "max_bin": 256,
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
    params: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_PARAMS))
    leakage: bool = True                      # run the leakage guard before fitting
    leakage_rules: LeakageRules = field(default_factory=LeakageRules)
    cv_repeats: int = 0                       # repeated stratified CV on the non-test rows (0 = off)
    cv_folds: int = 5
    tune: bool = False                        # bounded hyperparameter search on validation rows
    tune_candidates: int = 8
    tune_budget_s: float = 120.0
    group: str | None = None                  # --group COL: rows sharing its value stay together
    out_of_time: bool = False                 # hold out the newest leads (needs a creation date)
    calibration_folds: int = 4                # out-of-fold margins for calibration and the threshold
    bootstrap_rounds: int = 400               # intervals of the held-out figures
    now_days: float | None = None             # only legacy bundles read dates against a day
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
    groups: Groups | None = None



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
            "group": normalize_name(config.group) if config.group else None, "out_of_time": config.out_of_time,
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


def _dmatrix(x: pd.DataFrame, y: np.ndarray | None, threads: int) -> xgb.DMatrix:
    return xgb.DMatrix(x, label=y, enable_categorical=True, nthread=threads)


def _boost(params: dict[str, Any], x_fit: pd.DataFrame, y_fit: np.ndarray, x_stop: pd.DataFrame,
           y_stop: np.ndarray, rounds: int, stage: str, progress: ProgressFn | None) -> xgb.Booster:
    """Boost with early stopping on ``x_stop``; the booster cut at its best round."""
    threads = int(params.get("nthread", 2))
    booster = xgb.train(params, _dmatrix(x_fit, y_fit, threads), num_boost_round=rounds,
                        evals=[(_dmatrix(x_stop, y_stop, threads), "stop")], early_stopping_rounds=40,
                        verbose_eval=False, callbacks=[_RoundProgress(stage, rounds, progress)])
    return booster[: booster.best_iteration + 1]


def _boost_fixed(params: dict[str, Any], x: pd.DataFrame, y: np.ndarray, rounds: int, stage: str = "refit",
                 progress: ProgressFn | None = None) -> xgb.Booster:
    """Boost a fixed number of rounds (no stopping rows: the number was chosen already)."""
    threads = int(params.get("nthread", 2))
    return xgb.train(params, _dmatrix(x, y, threads), num_boost_round=max(1, rounds), verbose_eval=False,
                     callbacks=[_RoundProgress(stage, rounds, progress)])


def _scaled_rounds(rounds: int, rows_then: int, rows_now: int) -> int:
    """Rounds for a refit on more rows: in proportion to the rows (gradient steps per row stay alike)."""
    return max(1, int(round(rounds * rows_now / max(rows_then, 1))))


def _split(n: int, y: np.ndarray, size: float, seed: int, groups: np.ndarray | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """Positions 0…n-1 split into (rest, held), stratified; whole groups when ``groups`` is given."""
    return split_rows(np.arange(n), y, groups, size, seed)


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
    """A booster with its Platt calibration and decision threshold."""

    booster: xgb.Booster
    a: float
    b: float
    threshold: float

    def margins(self, x: pd.DataFrame) -> np.ndarray:
        return self.booster.predict(xgb.DMatrix(x, enable_categorical=True, nthread=1), output_margin=True)

    def proba(self, x: pd.DataFrame) -> np.ndarray:
        return sigmoid(self.a * self.margins(x) + self.b)


def _platt(margins: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    platt = LogisticRegression(C=1e6, max_iter=1000).fit(margins.reshape(-1, 1), y)
    return float(platt.coef_[0, 0]), float(platt.intercept_[0])


def _recall_target(config: TrainConfig, positives: int) -> float:
    """The recall a fallback threshold aims at: the gate plus room for the noise of ``positives`` held-out wins."""
    g = config.gates.min_recall
    noise = Z95 * float(np.sqrt(g * (1 - g) / max(positives, 1)))
    return min(0.999, g + max(config.recall_margin, noise))


def _decision_threshold(y: np.ndarray, p: np.ndarray, config: TrainConfig, test_positives: int) -> float:
    """The probability cut that leaves the most room above both the recall and the precision gate.

    Read on out-of-sample probabilities (never the test rows).  For each cut, recall and precision are
    discounted by the 95 % noise they will show on a held-out set of this size; the cut with the
    largest smaller margin wins.  When no cut clears both (e.g. a base rate too low for the precision
    gate), the best precision at the recall gate plus its noise is taken, so the recall still holds.
    """
    precision, recall, thresholds = precision_recall_curve(y, p)
    precision, recall = precision[:-1], recall[:-1]
    n_pos = max(test_positives, 1)
    flagged = np.maximum(recall * n_pos / np.maximum(precision, 1e-9), 1.0)
    low_recall = recall - Z95 * np.sqrt(recall * (1 - recall) / n_pos)
    low_precision = precision - Z95 * np.sqrt(precision * (1 - precision) / flagged)
    room = np.minimum(low_recall - config.gates.min_recall, low_precision - config.gates.min_precision)
    best = int(np.argmax(room))
    if room[best] > 0:
        return float(thresholds[best])
    return choose_threshold(y, p, _recall_target(config, test_positives))


def _fit_classifier(x: pd.DataFrame, y: np.ndarray, fit: np.ndarray, valid: np.ndarray, params: dict[str, Any],
                    config: TrainConfig, groups: np.ndarray | None, progress: ProgressFn | None = None,
                    stage: str = "classifier") -> _Classifier:
    """Boost on ``fit`` (a slice of it stops early); calibrate and pick the threshold on ``valid``."""
    fit_main, fit_stop = split_rows(fit, y, groups, 0.15, config.seed)
    booster = _boost(params, x.iloc[fit_main], y[fit_main], x.iloc[fit_stop], y[fit_stop],
                     config.max_rounds, stage, progress)
    clf = _Classifier(booster, 1.0, 0.0, 0.5)
    m_valid = clf.margins(x.iloc[valid])
    clf.a, clf.b = _platt(m_valid, y[valid])
    clf.threshold = _decision_threshold(y[valid], sigmoid(clf.a * m_valid + clf.b), config, int(y[valid].sum()))
    return clf


def _stopping_rounds(x: pd.DataFrame, y: np.ndarray, rows: np.ndarray, params: dict[str, Any], config: TrainConfig,
                     groups: np.ndarray | None, progress: ProgressFn | None) -> tuple[int, int]:
    """(best rounds, rows boosted on): early stopping on a slice of ``rows``, groups whole."""
    main, stop = split_rows(rows, y, groups, 0.15, config.seed)
    booster = _boost(params, x.iloc[main], y[main], x.iloc[stop], y[stop], config.max_rounds, "classifier", progress)
    return booster.num_boosted_rounds(), len(main)


def _out_of_fold_margins(x: pd.DataFrame, y: np.ndarray, rows: np.ndarray, params: dict[str, Any], rounds: int,
                         rows_then: int, config: TrainConfig, groups: np.ndarray | None,
                         progress: ProgressFn | None) -> np.ndarray:
    """Each non-test row's margin from a booster that did not learn from it (k folds, whole groups)."""
    out = np.empty(len(y))
    k = max(2, min(config.calibration_folds, int(np.bincount(y[rows]).min())))
    for i, (train_rows, held) in enumerate(fold_rows(rows, y, groups, k, 1, config.seed)):
        booster = _boost_fixed(params, x.iloc[train_rows], y[train_rows],
                               _scaled_rounds(rounds, rows_then, len(train_rows)))
        out[held] = booster.predict(_dmatrix(x.iloc[held], None, 1), output_margin=True)
        if progress is not None:
            progress("calibration", i + 1, k)
    return out[rows]


def _cross_validate(x: pd.DataFrame, y: np.ndarray, rows: np.ndarray, params: dict[str, Any], config: TrainConfig,
                    groups: np.ndarray | None, progress: ProgressFn | None) -> dict[str, Any]:
    """Repeated stratified k-fold over the non-test rows (whole groups per fold).

    In every fold the booster learns on part of the training folds, Platt calibration and the
    threshold rule are fitted on the rest of them, and the metrics are read on the fold left out.
    """
    folds_n = max(2, min(config.cv_folds, int(np.bincount(y[rows]).min())))
    total = folds_n * config.cv_repeats
    share = config.validation_size / (1 - config.test_size)
    folds: list[dict[str, Any]] = []
    for k, (train_rows, eval_rows) in enumerate(fold_rows(rows, y, groups, folds_n, config.cv_repeats,
                                                          config.seed)):
        fit_i, valid_i = split_rows(train_rows, y, groups, share, config.seed + k)
        clf = _fit_classifier(x, y, fit_i, valid_i, params, config, groups)
        m = classification_metrics(y[eval_rows], clf.proba(x.iloc[eval_rows]), clf.threshold, config.gates.min_recall)
        folds.append({"fold": k + 1, "n": m["n"], "auc": m["auc"], "precision": m["precision"],
                      "recall": m["recall"], "threshold": m["threshold"],
                      "calibration_error": m["calibration_error"], "top_decile_lift": m["top_decile_lift"]})
        if progress is not None:
            progress("cross-validation", k + 1, total)
    return {"enabled": True, "repeats": config.cv_repeats, "folds": folds_n, "rows": int(len(rows)),
            "grouped": groups is not None,
            "threshold_rule": "most room above the recall and precision gates on each fold's validation part",
            "summary": summarize_folds(folds, ("auc", "precision", "recall", "calibration_error", "top_decile_lift")),
            "per_fold": folds}


def _tune(x: pd.DataFrame, y: np.ndarray, fit: np.ndarray, valid: np.ndarray, params: dict[str, Any],
          config: TrainConfig, groups: np.ndarray | None, progress: ProgressFn | None) -> TuneResult:
    """Pick booster parameters by validation AUC (the test rows are not touched; groups stay whole)."""
    fit_main, fit_stop = split_rows(fit, y, groups, 0.15, config.seed)
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


# ---------------------------------------------------------------- stages

@dataclass
class _Data:
    """Stage 1 (labels & schema): the labelled history, its outcomes and its features."""

    frame: pd.DataFrame
    target: str
    value: str | None
    labelled: np.ndarray
    negatives: list[str]
    history: pd.DataFrame
    y: np.ndarray
    won: np.ndarray
    values: np.ndarray | None
    counts: dict[str, int]
    schema: Schema
    builder: FeatureBuilder
    x: pd.DataFrame
    now: float | None


@dataclass
class _Splits:
    """Stage 2 (groups & split): row positions of each part, and the groups that shaped them."""

    fit: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    groups: Groups
    method: str
    created: str | None = None
    test_from: str | None = None

    @property
    def rest(self) -> np.ndarray:
        return np.sort(np.concatenate([self.fit, self.valid]))

    @property
    def ids(self) -> np.ndarray | None:
        """Group ids for the splitters (None when every row is its own group: plain stratified splits)."""
        return self.groups.ids if self.groups.repeated_rows else None


@dataclass
class _Fitted:
    """Stages 4–5 (fit & calibrate, refit): the classifier and how it was fitted."""

    clf: _Classifier
    params: dict[str, Any]
    tuned: TuneResult | None
    rounds_stopped: int
    rows_stopped: int
    p_rest: np.ndarray          # out-of-fold probabilities of the non-test rows
    threads: int


def _labels_and_schema(frame: pd.DataFrame, config: TrainConfig) -> _Data:
    """Which rows are won / lost / open; each column's role; dates read the time-stable way."""
    target = resolve_column(frame, config.target, "target")
    value = resolve_column(frame, config.value, "value") if config.value else None
    if config.group:
        group = resolve_column(frame, config.group, "group")
        if normalize_name(group) in {normalize_name(target), normalize_name(value or "")}:
            raise BadInput(f"--group '{config.group}' is the outcome or value column: name a column such as a "
                           "company or an email domain.", column=config.group)
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
    builder = FeatureBuilder(schema, fit_dates(schema, history))
    if not builder.columns_:
        raise BadInput("No column of this sheet can be used as a feature (all are ids, text, empty or the "
                       "target). Add lead attributes such as source, industry or spend.")
    x, _ = builder.transform(history)
    return _Data(frame, target, value, labelled, negatives, history, y, won, values, counts, schema, builder, x,
                 config.now_days)


def _groups_and_split(data: _Data, config: TrainConfig) -> _Splits:
    """Group repeated leads; split into fit / validation / test with every group on one side."""
    group_col = resolve_column(data.history, config.group, "group") if config.group else None
    groups = find_groups(data.history, data.schema.columns, group_column=group_col)
    ids = groups.ids if groups.repeated_rows else None
    n = len(data.y)
    created = creation_column(data.schema, data.history)
    method, test_from = "random, stratified" + (", whole groups" if ids is not None else ""), None
    if config.out_of_time:
        if created is None:
            raise BadInput("--out-of-time needs a creation date column (e.g. 'Created'); none was found. Name it "
                           "with --date COL, or train without --out-of-time.")
        when, _ = parse_dates(data.history[created])
        rest, test = newest_rows(np.arange(n), when, ids, config.test_size)
        if np.bincount(data.y[test], minlength=2).min() == 0 or np.bincount(data.y[rest], minlength=2).min() < 2:
            raise BadInput(f"The newest leads by '{created}' are all one outcome: an out-of-time test needs both "
                           "won and lost leads among them. Train without --out-of-time.", column=created)
        test_from = day_text(float(np.nanmin(when[test]))) if (~np.isnan(when[test])).any() else None
        method = f"out of time: the newest {len(test)} leads by '{created}'" + (
            f" (from {test_from})" if test_from else "")
    else:
        rest, test = split_rows(np.arange(n), data.y, ids, config.test_size, config.seed)
    fit, valid = split_rows(rest, data.y, ids, config.validation_size / (1 - config.test_size), config.seed)
    return _Splits(fit, valid, test, groups, method, created, test_from)


def _leakage_guard(data: _Data, splits: _Splits, config: TrainConfig) -> list[Finding]:
    """Judge every column on the fit rows (and the open rows); drop the excluded ones from the features."""
    if not config.leakage:
        return []
    open_rows = data.frame[~data.labelled]
    open_x = data.builder.transform(open_rows)[0] if len(open_rows) else None
    findings = find_leaks(data.x.iloc[splits.fit], data.builder.columns_, data.y[splits.fit], open_x=open_x,
                          rules=config.leakage_rules, seed=config.seed)
    if any(not f.warning for f in findings):
        data.schema = apply_findings(data.schema, findings, config.overrides.keep)
        # rebuilt, not sliced: a date read against an excluded creation date is read against the window
        data.builder = FeatureBuilder(data.schema, fit_dates(data.schema, data.history), geo=data.builder.geo)
        data.x = data.builder.transform(data.history)[0]
        if not data.builder.columns_:
            names = ", ".join(f.column for f in findings if not f.warning)
            raise BadInput(f"Every usable column was flagged as likely leakage ({names}). If a column is "
                           "known before the outcome, keep it with --keep COL.")
    return findings


def _fit_and_calibrate(data: _Data, splits: _Splits, config: TrainConfig, progress: ProgressFn | None) -> _Fitted:
    """Tune (optionally), early-stop, then calibrate and set the threshold on out-of-fold margins.

    Then refit on every non-test row with the rounds scaled to the rows.
    """
    x, y, ids = data.x, data.y, splits.ids
    # Below ~20k rows one thread is as fast as two, and it does not stall when the cores are shared.
    threads = 1 if len(y) < 20_000 else 2
    base_params = {"objective": "binary:logistic", "eval_metric": "logloss", "seed": config.seed,
                   "nthread": threads, "tree_method": "hist", **config.params}
    tuned: TuneResult | None = None
    params = base_params
    if config.tune:
        tuned = _tune(x, y, splits.fit, splits.valid, base_params, config, ids, progress)
        params = tuned.params
    rest = splits.rest
    rounds, rows_then = _stopping_rounds(x, y, rest, params, config, ids, progress)
    margins = _out_of_fold_margins(x, y, rest, params, rounds, rows_then, config, ids, progress)
    a, b = _platt(margins, y[rest])
    p_rest = sigmoid(a * margins + b)
    threshold = _decision_threshold(y[rest], p_rest, config, int(y[splits.test].sum()))
    booster = _boost_fixed(params, x.iloc[rest], y[rest], _scaled_rounds(rounds, rows_then, len(rest)),
                           "refit", progress)
    return _Fitted(_Classifier(booster, a, b, threshold), params, tuned, rounds, rows_then, p_rest, threads)


def _value_model(data: _Data, splits: _Splits, config: TrainConfig, threads: int, progress: ProgressFn | None,
                 notes: list[str]) -> tuple[xgb.Booster | None, dict[str, Any]]:
    """MRR if won: early stopping on a slice of the won non-test rows, then a refit on all of them."""
    if data.value is None or data.values is None:
        return None, {"column": None}
    values, x = data.values, data.x
    ok = data.won & ~np.isnan(values) & (values >= 0)
    rest_won = np.intersect1d(splits.rest, np.flatnonzero(ok))
    test_won = np.intersect1d(splits.test, np.flatnonzero(ok))
    if len(rest_won) < 20:
        notes.append(f"Only {len(rest_won)} won rows have a value in '{data.value}': no MRR model was trained.")
        return None, {"column": data.value}
    ids = splits.ids
    main, stop = split_rows(rest_won, np.zeros(len(data.y), dtype=int), ids, 0.15, config.seed)
    reg_params = {"objective": "reg:squarederror", "eval_metric": "mae", "seed": config.seed,
                  "nthread": threads, "tree_method": "hist", **config.params}
    target_log = np.log1p(values)
    stopped = _boost(reg_params, x.iloc[main], target_log[main], x.iloc[stop], target_log[stop],
                     config.max_rounds, "mrr", progress)
    reg = _boost_fixed(reg_params, x.iloc[rest_won], target_log[rest_won],
                       _scaled_rounds(stopped.num_boosted_rounds(), len(main), len(rest_won)), "mrr", progress)
    baseline = float(np.median(values[rest_won]))
    predicted = _mrr(reg, x, test_won)
    return reg, {"column": data.value, "trained_on_won_rows": int(len(rest_won)), "median_baseline": baseline,
                 **value_metrics(values[test_won], predicted, baseline)}


def _mrr(reg: xgb.Booster, x: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    dm = xgb.DMatrix(x.iloc[rows], enable_categorical=True, nthread=1)
    return np.clip(np.expm1(reg.predict(dm)), 0, None)


def _with_geo(setup: GeoConfig, data: _Data, customers: np.ndarray, seed: int) -> list[str]:
    """Add the geo features (distance, nearest site, sales region) to the builder and matrix; the ZIP
    column itself is read only through them.  Returns the notes on unknown or repaired ZIPs."""
    geo = GeoFeatures.fit(data.history, setup.resolve(data.history), setup.sites, customers, seed=seed)
    key = normalize_name(geo.zip_column)
    columns = [Column(c.name, "geo", "read as distance to the nearest site, the site and the sales region")
               if c.key == key else c for c in data.schema.columns]
    data.schema = Schema([*columns, *geo.schema_columns()])
    data.builder = FeatureBuilder(data.schema, data.builder.dates_, geo=geo)
    data.x = data.builder.transform(data.history)[0]
    return geo.notes()


def train(frame: pd.DataFrame, config: TrainConfig, *, progress: ProgressFn | None = None,
          active: ModelBundle | None = None) -> TrainResult:
    """Fit, calibrate and evaluate a model bundle on a lead sheet's labelled rows.

    ``active`` is the model being served, if any: it is scored on this run's held-out rows and
    the new model must not be worse (a quality gate).  No report is rendered here: the caller
    asks ``backend.reports.model_report`` for one.
    """
    notes: list[str] = []
    # The day engagement decay (rules) and segments are measured at: one day for the whole run.
    now = config.now_days if config.now_days is not None else float(np.floor(today_days()))
    if config.rules is not None:  # points rules: each group's points are a feature the model can use
        frame = rules.add_rule_features(frame, config.rules, now)
    data = _labels_and_schema(frame, config)                          # 1. labels & schema
    splits = _groups_and_split(data, config)                          # 2. groups & split
    if config.geo is not None:  # sales regions are learnt from the customers among the fit rows only
        notes.extend(_with_geo(config.geo, data, data.won & np.isin(np.arange(len(data.y)), splits.fit),
                               config.seed))
    findings = _leakage_guard(data, splits, config)                   # 3. leakage guard
    fitted = _fit_and_calibrate(data, splits, config, progress)       # 4-5. fit, calibrate, refit
    cross_validation: dict[str, Any] = {"enabled": False}
    if config.cv_repeats > 0:
        cross_validation = _cross_validate(data.x, data.y, splits.rest, fitted.params, config, splits.ids, progress)
    reg, value_report = _value_model(data, splits, config, fitted.threads, progress, notes)  # 6. value model
    heldout, metrics, failures, comparison = _evaluate(data, splits, fitted, reg, config, active, notes)  # 7.
    card = _card(data, splits, config, findings, fitted, reg, value_report, metrics, cross_validation,
                 comparison, failures, heldout, notes)                # 8. card
    y_all = np.full(len(data.frame), np.nan)
    y_all[data.labelled] = data.y
    # Data quality: what was read in each column (backend/core/quality.py), in the card and its notes.
    card["data_quality"] = data_quality(data.frame, data.schema, won=y_all == 1)
    notes.extend(quality_notes(card["data_quality"]))
    card["geo"] = data.builder.geo.card() if data.builder.geo is not None else None
    rows_buf = io.BytesIO()
    np.save(rows_buf, np.unique(row_hashes(data.history)[splits.rest]), allow_pickle=False)
    bundle = ModelBundle(card=card, features=data.builder, classifier=fitted.clf.booster, regressor=reg,
                         attachments={TRAINING_ROWS: rows_buf.getvalue()})
    if config.segments:  # named segments of every lead, closed and open (core/segments.py)
        segments.attach(bundle, data.builder, fitted.clf.booster, data.frame, y_all, data.labelled, data.values,
                        now, config.seed)
    if config.rules is not None:  # the rules alone against this model, on the same held-out leads
        card["rules"] = rules.rules_vs_model(config.rules, data.history.iloc[splits.test], data.y[splits.test],
                                             heldout.probability, heldout.lead_score, now)
    return TrainResult(bundle=bundle, passed=not failures, failures=failures, counts=data.counts, notes=notes,
                       leakage=findings, heldout=heldout, groups=splits.groups)


def _evaluate(data: _Data, splits: _Splits, fitted: _Fitted, reg: xgb.Booster | None, config: TrainConfig,
              active: ModelBundle | None, notes: list[str]
              ) -> tuple[HeldOut, dict[str, Any], list[str], dict[str, Any]]:
    """Held-out figures with bootstrap intervals, the gates, and the comparison with the active model."""
    x, y, test, rest = data.x, data.y, splits.test, splits.rest
    clf = fitted.clf
    p_test = clf.proba(x.iloc[test])
    mrr_rest = _mrr(reg, x, rest) if reg is not None else None
    mrr_test = _mrr(reg, x, test) if reg is not None else None
    ev_rest = fitted.p_rest * mrr_rest if mrr_rest is not None else fitted.p_rest
    cutpoints = np.quantile(ev_rest, np.linspace(0.1, 0.9, 9)).tolist()
    metrics = classification_metrics(y[test], p_test, clf.threshold, config.gates.min_recall)
    test_groups = splits.groups.ids[test] if splits.ids is not None else None
    metrics["intervals"] = bootstrap_intervals(y[test], p_test, clf.threshold, test_groups,
                                               rounds=config.bootstrap_rounds, seed=config.seed)
    validation = classification_metrics(y[rest], fitted.p_rest, clf.threshold, config.gates.min_recall)
    ev_test = p_test * mrr_test if mrr_test is not None else p_test
    scores_test = lead_scores(ev_test, cutpoints)
    test_values = data.values[test] if data.values is not None and reg is not None else None
    leaked = {normalize_name(c.name) for c in data.schema.columns if c.role == "leakage"}
    comparison = _compare_with_active(active, data.history, data.target, config, test, y, p_test,
                                      row_hashes(data.history), data.now, leaked)
    if comparison.get("status") == "skipped":
        notes.append(f"Not compared with the active model {comparison['version']}: {comparison['reason']}.")
    failures = gate_failures(metrics, config.gates) + comparison_failures(comparison, config.gates)
    heldout = HeldOut(y=y[test], probability=p_test, lead_score=scores_test, expected_value=ev_test,
                      mrr_predicted=mrr_test, value_actual=test_values)
    extra = {"validation": validation, "cutpoints": cutpoints, "segment_mrr":
             float(np.median(mrr_rest)) if mrr_rest is not None else None,
             "bands": score_bands(y[test], scores_test, p_test, test_values),
             "curve": calibration_curve(y[test], p_test)}
    return heldout, {"classifier": metrics, **extra}, failures, comparison


def _card(data: _Data, splits: _Splits, config: TrainConfig, findings: list[Finding], fitted: _Fitted,
          reg: xgb.Booster | None, value_report: dict[str, Any], metrics: dict[str, Any],
          cross_validation: dict[str, Any], comparison: dict[str, Any], failures: list[str], heldout: HeldOut,
          notes: list[str]) -> dict[str, Any]:
    """The model card: everything training saw, decided and measured."""
    clf, x, test = fitted.clf, data.x, splits.test
    names = [c.name for c in data.builder.columns_]
    top_features = {"close_probability": _mean_abs_contributions(clf.booster, x.iloc[test], names)}
    if reg is not None:
        top_features["mrr"] = _mean_abs_contributions(reg, x.iloc[test[data.won[test]]], names)
    trained_at = datetime.now(UTC)
    digest = data_sha256(data.frame)
    version = f"{trained_at:%Y%m%d-%H%M%S}-{digest[:8]}"
    schema_dict = data.schema.to_dict()
    classifier = metrics["classifier"]
    verdicts = gate_verdicts(classifier, config.gates)
    card = {
        "name": config.name,
        "version": version,
        "trained_at": trained_at.isoformat(timespec="seconds"),
        "target": {"column": data.target, "positive": config.positive, "negatives": data.negatives},
        "value": value_report,
        "features": [c for c in schema_dict if c["role"] in FEATURE_ROLES],
        "excluded": [c for c in schema_dict if c["role"] not in FEATURE_ROLES],
        "dates": data.builder.date_usage(),
        "leakage": [f.to_dict() for f in findings if not f.warning],
        "warnings": [f.to_dict() for f in findings if f.warning],
        "overrides": describe_overrides(config.overrides),
        "metrics": {"classifier": classifier, "validation": metrics["validation"], "value": value_report,
                    "cross_validation": cross_validation, "calibration_curve": metrics["curve"],
                    "score_bands": metrics["bands"], "top_features": top_features},
        "comparison": comparison,
        "thresholds": {
            "decision": clf.threshold,
            "score_cutpoints": metrics["cutpoints"],
            "segment_mrr": metrics["segment_mrr"],
            "score_basis": "probability x predicted MRR" if reg is not None else "probability",
        },
        "calibration": {"method": "platt", "a": clf.a, "b": clf.b,
                        "fitted_on": f"out-of-fold margins of the {len(splits.rest)} non-test rows "
                                     f"({config.calibration_folds} folds)"},
        "gates": {**config.gates.to_dict(), "passed": not failures, "failures": failures, "verdicts": verdicts},
        "promotable": not failures,
        "data": {"sha256": digest, **data.counts,
                 "split": {"fit": int(len(splits.fit)), "validation": int(len(splits.valid)),
                           "test": int(len(test)), "method": splits.method,
                           "refit_on": int(len(splits.rest))},
                 "groups": splits.groups.to_dict(), "creation_date": splits.created},
        "training": {"seed": config.seed, "params": fitted.params,
                     "rounds": {"classifier": clf.booster.num_boosted_rounds(),
                                "classifier_early_stopped": fitted.rounds_stopped,
                                "early_stopping_rows": fitted.rows_stopped,
                                "mrr": reg.num_boosted_rounds() if reg is not None else None},
                     "refit": f"boosters refit on all {len(splits.rest)} non-test rows, rounds scaled by rows",
                     "recall_margin": config.recall_margin,
                     "config_sha256": config_fingerprint(config),
                     "cross_validation": {"repeats": config.cv_repeats, "folds": config.cv_folds},
                     "tuning": fitted.tuned.to_dict() if fitted.tuned is not None else None,
                     "leakage_guard": {"enabled": config.leakage, **config.leakage_rules.to_dict()}},
        "libraries": {"python": platform.python_version(), "xgboost": xgb.__version__,
                      "scikit-learn": sklearn.__version__, "pandas": pd.__version__, "numpy": np.__version__},
        "notes": notes,
    }
    card["data_sha256"] = digest
    return card
