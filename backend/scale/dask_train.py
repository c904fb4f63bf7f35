"""Training on a Dask cluster (``train DATA --engine dask``): lead histories that do not fit in memory.

The stages of :func:`backend.core.train.train`, with the rows kept on the cluster:

    read        CSV / Parquet files or a glob, partition by partition (every CSV cell as text,
                empty = "", as the single-process reader does)
    sample      a uniform random sample of up to ``sample_rows`` rows comes to the client: the
                rows whose seeded hash is smallest, so the sample does not depend on how the
                files are split into partitions
    schema      labels, column roles, category levels, date windows, the leakage guard, data
                quality and segments are fitted on the sample with the same core functions;
                a category level seen only outside the sample reads as "(other)", as a rare
                level does
    features    labels and the feature matrix partition-wise with the fitted FeatureBuilder
    split       by a seeded hash of each row (of the ``--group`` value when given): fit / stop /
                validation / test, so exact copies and a group's rows never cross splits
    boost       ``xgboost.dask.train``: the classifier on the fit rows, early stopping on the stop
                rows; the MRR regressor (log1p) on the won fit and validation rows
    calibrate   ``xgboost.dask.predict`` on the validation rows; their margins and labels (small
                vectors) come to the client: Platt calibration and the decision threshold
    evaluate    the test rows' predictions come to the client: metrics, bootstrap intervals,
                gates, score cut-points (from the validation rows' expected values), bands

What differs from single-process training is recorded in ``card["engine"]``.
"""

from __future__ import annotations

import glob
import hashlib
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backend.core import rules, segments
from backend.core.evaluate import (
    HeldOut,
    bootstrap_intervals,
    calibration_curve,
    classification_metrics,
    comparison_failures,
    gate_failures,
    score_bands,
    value_metrics,
)
from backend.core.features import FeatureBuilder, creation_column, today_days
from backend.core.groups import Groups
from backend.core.labels import NEGATIVE_FOR, label_rows
from backend.core.outputs import OUTPUT_COLUMNS
from backend.core.quality import data_quality, quality_notes
from backend.core.schema import normalize_label, normalize_name, normalize_text, parse_numbers, resolve_column
from backend.core.scoring import lead_scores, sigmoid
from backend.core.train import (
    TrainConfig,
    TrainResult,
    _card,
    _Classifier,
    _compare_with_active,
    _Data,
    _decision_threshold,
    _Fitted,
    _labels_and_schema,
    _leakage_guard,
    _platt,
    _Splits,
    row_hashes,
)
from backend.errors import BadInput
from backend.store.bundle import TRAINING_ROWS, ModelBundle

SAMPLE_ROWS = 200_000            # rows the schema is fitted on (the client holds them)
BOOTSTRAP_ROWS = 250_000         # held-out rows the bootstrap intervals resample (a uniform subsample beyond)
MAX_TRAINING_ROW_HASHES = 20_000_000  # beyond this, the bundle does not list the rows it learnt from
STOP_SHARE = 0.15                # share of the fit rows that drives early stopping (as single-process)
EARLY_STOPPING_ROUNDS = 40
MAX_BLOCK = 64 * 2**20           # CSV bytes per partition: at most this, and small enough that every worker
MIN_BLOCK = 2**20                # gets a couple of partitions (xgboost.dask trains on the workers holding data)

FIT, STOP, VALID, TEST = 0, 1, 2, 3
_SPLIT_SALT, _SAMPLE_SALT = 1, 2
_MASK64 = (1 << 64) - 1
# Columns the engine adds to a partition (names no sheet uses).
_ROW, _SPLIT, _PICK = "__leadscore_row", "__leadscore_split", "__leadscore_pick"
_Y, _VALUE, _LOG_VALUE, _BAND = "__leadscore_y", "__leadscore_value", "__leadscore_log_value", "__leadscore_band"

ProgressFn = Callable[[str, int, int], None]


# ---------------------------------------------------------------- reading

@dataclass
class LeadTable:
    """The history as a Dask frame of cells, and where it came from."""

    frame: Any          # dask.dataframe.DataFrame, object columns
    paths: list[str]
    kind: str           # "text" (CSV) or "parquet"


def _as_cells(part: pd.DataFrame) -> pd.DataFrame:
    return part.astype(object)


def read_lead_table(source: str, *, blocksize: int | None = None, workers: int = 1) -> LeadTable:
    """CSV or Parquet files (a path or a glob such as ``leads-*.csv``) as a Dask frame of cells.

    Read like the single-process reader: separator and encoding sniffed from the first file,
    every CSV column as text with empty cells as "", headers trimmed.  CSV files are cut into
    blocks of ``blocksize`` bytes (default: two blocks per worker at least, 1–64 MiB each);
    Parquet files with fewer partitions than two per worker are split.
    """
    import dask
    import dask.dataframe as dd

    from backend.sources import files

    if source.lower().startswith("sheet://"):
        raise BadInput("--engine dask reads CSV or Parquet files (a path or a glob such as 'leads-*.csv'), not a "
                       "sheet tab: export the tab as .csv, or train without --engine dask.")
    paths = sorted(glob.glob(source)) if glob.has_magic(source) else [source]
    if not paths:
        raise BadInput(f"No file matches {source}. Check the path and the pattern (e.g. 'history/leads-*.csv').")
    kinds = {files._kind(Path(p)) for p in paths}
    if "xlsx" in kinds:
        raise BadInput("--engine dask reads CSV or Parquet files, not XLSX workbooks: save the workbook as .csv, "
                       "or train without --engine dask.")
    if len(kinds) > 1:
        raise BadInput(f"{source} matches both CSV and Parquet files: pass files of one kind.")
    kind = kinds.pop()
    with dask.config.set({"dataframe.convert-string": False}):
        if kind == "parquet":
            frame = dd.read_parquet(paths)
            if frame.npartitions < 2 * workers:  # a file or row group per partition: split so every worker holds data
                frame = frame.repartition(npartitions=2 * workers)
        else:
            encoding, sep = files._sniff(Path(paths[0]))
            if blocksize is None:
                size = sum(Path(p).stat().st_size for p in paths)
                blocksize = int(min(MAX_BLOCK, max(MIN_BLOCK, size // max(2 * workers, 1) + 1)))
            frame = dd.read_csv(paths, sep=sep, dtype=str, keep_default_na=False, encoding=encoding,
                                blocksize=blocksize)
        frame = frame.rename(columns={c: str(c).strip() for c in frame.columns})
        frame = frame.map_partitions(_as_cells, meta=frame._meta.astype(object))
    if len(frame.columns) < 2:
        raise BadInput(f"{Path(paths[0]).name} reads as {len(frame.columns)} column(s): it is not a lead table. "
                       "Save the sheet as .csv (comma-separated) or Parquet and pass that file.")
    return LeadTable(frame, paths, kind)


# ---------------------------------------------------------------- row keys: hash split and sample

def _mix(h: np.ndarray, salt: int) -> np.ndarray:
    """splitmix64 of each hash with a salt: independent, uniform 64-bit values."""
    z = h.astype(np.uint64) + np.uint64((0x9E3779B97F4A7C15 * (salt + 1)) & _MASK64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _unit(h: np.ndarray, salt: int) -> np.ndarray:
    """A uniform number in [0, 1) per hash (53 bits)."""
    return (_mix(h, salt) >> np.uint64(11)).astype(np.float64) / float(1 << 53)


@dataclass(frozen=True)
class _Keys:
    """How a partition's rows get their keys (pickled to the workers)."""

    seed: int
    group: str | None                  # the --group column, resolved
    rulebook: Any                      # points rules: their group points are columns, as single-process
    now: float

    def cells(self, part: pd.DataFrame) -> pd.DataFrame:
        """The partition as training sees it (with the rule-point columns when rules are given)."""
        return rules.add_rule_features(part, self.rulebook, self.now) if self.rulebook is not None else part

    def add(self, part: pd.DataFrame) -> pd.DataFrame:
        """``part`` (cells) with its row hash, its split number and its sample number."""
        row = row_hashes(part)
        key = row
        if self.group is not None:  # rows sharing a --group value share a key; a blank one is its own row
            text = normalize_text(part[self.group])
            group = pd.util.hash_pandas_object(text, index=False).to_numpy(dtype=np.uint64)
            key = np.where(text.eq("").to_numpy(), row, group)
        salt = self.seed * 4
        return part.assign(**{_ROW: row, _SPLIT: _unit(key, salt + _SPLIT_SALT),
                              _PICK: _unit(row, salt + _SAMPLE_SALT)})

    def training(self, part: pd.DataFrame) -> pd.DataFrame:
        """The partition's training cells with their keys (the row hash over the same cells as single-process)."""
        return self.add(self.cells(part))


def _bands(u: np.ndarray, config: TrainConfig) -> np.ndarray:
    """FIT / STOP / VALID / TEST from the split numbers (shares as the single-process split)."""
    test, valid = config.test_size, config.test_size + config.validation_size
    stop = valid + (1 - valid) * STOP_SHARE
    return np.select([u < test, u < valid, u < stop], [TEST, VALID, STOP], FIT).astype(np.int8)


def _digest_part(part: pd.DataFrame) -> pd.DataFrame:
    """Rows and two order-free sums of their hashes (a partition's share of the data's sha256)."""
    h = row_hashes(part)
    with np.errstate(over="ignore"):
        s1 = int(h.sum(dtype=np.uint64)) if len(h) else 0
        s2 = int(_mix(h, 0).sum(dtype=np.uint64)) if len(h) else 0
    return pd.DataFrame({"n": [len(part)], "s1": [str(s1)], "s2": [str(s2)]})


def _digest(header: list[str], parts: pd.DataFrame) -> str:
    """sha256 of the header and the multiset of row hashes: the same cells give the same digest, however the
    rows are split into files and partitions (the product's own output columns left out, as single-process)."""
    s1 = sum(int(v) for v in parts["s1"]) & _MASK64
    s2 = sum(int(v) for v in parts["s2"]) & _MASK64
    digest = hashlib.sha256("\x1f".join(header).encode())
    digest.update(f"{int(parts['n'].sum())}:{s1}:{s2}".encode())
    return digest.hexdigest()


def _sample(keyed: Any, rows: int, k: int, client: Any) -> pd.DataFrame:
    """The ``k`` rows with the smallest sample numbers (a uniform random sample), in that order."""
    share = 1.0 if k >= rows else min(1.0, (k + 4 * math.sqrt(k) + 10) / rows)
    picked = client.compute(keyed[keyed[_PICK] < share]).result()
    if len(picked) < min(k, rows) and share < 1.0:  # a rare shortfall: take every row's number
        picked = client.compute(keyed).result()
    return picked.sort_values(_PICK, kind="stable").head(k).reset_index(drop=True)


# ---------------------------------------------------------------- features, partition by partition

@dataclass(frozen=True)
class _Features:
    """What each partition needs to become labels and features (pickled to the workers)."""

    keys: _Keys
    builder: FeatureBuilder
    target: str
    positive: str
    negatives: tuple[str, ...]
    value: str | None
    config: TrainConfig

    @property
    def names(self) -> list[str]:
        return list(self.builder.feature_names_)

    def meta(self) -> pd.DataFrame:
        cols: dict[str, Any] = {name: pd.Series(dtype="float64") for name in self.names}
        cols.update({_Y: pd.Series(dtype="float64"), _VALUE: pd.Series(dtype="float64"),
                     _LOG_VALUE: pd.Series(dtype="float64"), _BAND: pd.Series(dtype="int8"),
                     _ROW: pd.Series(dtype="uint64")})
        return pd.DataFrame(cols)

    def __call__(self, part: pd.DataFrame) -> pd.DataFrame:
        """The labelled rows of a partition: features, outcome, value, split band, row hash."""
        cells = self.keys.training(part)
        y = label_rows(cells[self.target], self.positive, self.negatives)
        cells = cells[~np.isnan(y)]
        y = y[~np.isnan(y)]
        matrix, _ = self.builder.transform_matrix(cells)
        out = pd.DataFrame(matrix, columns=self.names, index=cells.index)
        values = parse_numbers(cells[self.value])[0] if self.value else np.full(len(cells), np.nan)
        with np.errstate(invalid="ignore"):
            log_value = np.where((y == 1) & (values >= 0), np.log1p(np.where(values >= 0, values, 0)), np.nan)
        out[_Y] = y
        out[_VALUE] = values
        out[_LOG_VALUE] = log_value
        out[_BAND] = _bands(cells[_SPLIT].to_numpy(dtype=float), self.config)
        out[_ROW] = cells[_ROW].to_numpy(dtype=np.uint64)
        return out


# ---------------------------------------------------------------- training

def _dmatrix(client: Any, part: Any, label: str, names: list[str], types: list[str]) -> Any:
    from xgboost import dask as dxgb

    return dxgb.DaskDMatrix(client, part[names], part[label], feature_names=names, feature_types=types,
                            enable_categorical=True)


def _boost(client: Any, params: dict[str, Any], fit: Any, stop: Any, rounds: int) -> Any:
    """``xgboost.dask.train`` with early stopping; the booster cut at its best round."""
    from xgboost import dask as dxgb

    out = dxgb.train(client, params, fit, num_boost_round=rounds, evals=[(stop, "stop")],
                     early_stopping_rounds=EARLY_STOPPING_ROUNDS, verbose_eval=False)
    booster = out["booster"]
    return booster[: booster.best_iteration + 1]


def _check_bands(counts: pd.DataFrame) -> None:
    """Every split needs won and lost leads."""
    names = {FIT: "fit", STOP: "early-stopping", VALID: "validation", TEST: "test"}
    for band, name in names.items():
        row = counts.loc[band] if band in counts.index else pd.Series({0.0: 0, 1.0: 0})
        if min(int(row.get(0.0, 0)), int(row.get(1.0, 0))) < 2:
            raise BadInput(f"The {name} rows hold too few won or lost leads to train on a cluster "
                           f"({int(row.get(1.0, 0))} won, {int(row.get(0.0, 0))} lost): train this history "
                           "without --engine dask.")


def _unsupported(config: TrainConfig) -> None:
    for flag, on in (("--tune", config.tune), ("--out-of-time", config.out_of_time),
                     ("--zip / --sites (geo features)", config.geo is not None)):
        if on:
            raise BadInput(f"{flag} is not available with --engine dask yet: train without it, or without "
                           "--engine dask.")


def train_dask(source: str, config: TrainConfig, *, client: Any, sample_rows: int = SAMPLE_ROWS,
               progress: ProgressFn | None = None, active: ModelBundle | None = None,
               blocksize: int | None = None) -> TrainResult:
    """Train a model bundle on the history at ``source`` with ``xgboost.dask`` on ``client``'s cluster.

    Returns the same :class:`~backend.core.train.TrainResult` as single-process training, so the
    report, the registry and the experiment log take it as they are.
    """
    from xgboost import dask as dxgb

    def step(stage: str, done: int = 1, total: int = 1) -> None:
        if progress is not None:
            progress(stage, done, total)

    _unsupported(config)
    if sample_rows < 1000:
        raise BadInput(f"--sample-rows {sample_rows} is too few to fit the schema on: use 1000 or more.")
    notes: list[str] = []
    now = config.now_days if config.now_days is not None else float(np.floor(today_days()))
    table = read_lead_table(source, blocksize=blocksize, workers=len(client.nthreads()))
    raw = table.frame
    header = list(raw.columns)
    meta = raw._meta
    target = resolve_column(meta, config.target, "target")  # early, clear errors before any pass
    value = resolve_column(meta, config.value, "value") if config.value else None
    group = resolve_column(meta, config.group, "group") if config.group else None
    keys = _Keys(config.seed, group, config.rules, now)
    step("reading", 0, 1)

    # 1. one pass: rows and the data's digest; a second: the sample
    outputs = {normalize_name(c) for c in OUTPUT_COLUMNS}
    digest_parts = client.compute(raw.map_partitions(_digest_part, meta=pd.DataFrame(
        {"n": pd.Series(dtype="int64"), "s1": pd.Series(dtype=object), "s2": pd.Series(dtype=object)}))).result()
    total_rows = int(digest_parts["n"].sum())
    digest = _digest([c for c in header if normalize_name(c) not in outputs], digest_parts)
    keyed = raw.map_partitions(keys.training, meta=keys.training(raw._meta_nonempty).iloc[:0])
    sample = _sample(keyed, total_rows, sample_rows, client)
    step("reading", 1, 1)

    # 2. labels & schema, leakage guard: on the sample, with the core's own stages
    step("schema", 0, 1)
    sample_cells = sample.drop(columns=[_ROW, _SPLIT, _PICK])
    data = _labels_and_schema(sample_cells, config)
    sample_bands = _bands(sample[_SPLIT].to_numpy()[data.labelled], config)
    sample_ids = np.arange(len(data.y))
    sample_splits = _Splits(fit=np.flatnonzero(sample_bands <= STOP), valid=np.flatnonzero(sample_bands == VALID),
                            test=np.flatnonzero(sample_bands == TEST), groups=Groups(ids=sample_ids),
                            method="", created=creation_column(data.schema, data.history))
    findings = _leakage_guard(data, sample_splits, config)
    step("schema", 1, 1)

    # 3. labels and features partition-wise (labelled rows only), kept in the workers' memory
    step("features", 0, 1)
    negatives = tuple(data.negatives)
    pos = normalize_label(pd.Series([config.positive], dtype=object)).iloc[0]
    if not config.negatives and pos in NEGATIVE_FOR:  # every usual opposite, as the full history would show them
        negatives = tuple(sorted({*negatives, *NEGATIVE_FOR[pos]}))
    features = _Features(keys, data.builder, target, config.positive, negatives, value, config)
    feats = raw.map_partitions(features, meta=features.meta()).persist()
    band_counts = client.compute(feats.groupby([_BAND, _Y]).size()).result().unstack(fill_value=0)
    _check_bands(band_counts)
    positives = int(band_counts.get(1.0, pd.Series(dtype=int)).sum())
    labelled = int(band_counts.to_numpy().sum())
    counts = {"rows": total_rows, "labelled": labelled, "open": total_rows - labelled,
              "positives": positives, "negatives": labelled - positives}
    by_band = band_counts.sum(axis=1)
    step("features", 1, 1)

    # 4. the classifier: xgboost.dask, early stopping on the stop rows
    names, types = features.names, data.builder.feature_types_
    params = {"objective": "binary:logistic", "eval_metric": "logloss", "seed": config.seed,
              "tree_method": "hist", **config.params}
    params.pop("nthread", None)  # each worker uses its own threads
    step("classifier", 0, 1)
    parts = {band: feats[feats[_BAND] == band] for band in (FIT, STOP)}
    booster = _boost(client, params, _dmatrix(client, parts[FIT], _Y, names, types),
                     _dmatrix(client, parts[STOP], _Y, names, types), config.max_rounds)
    step("classifier", 1, 1)

    # 5. the value model: MRR if won (log1p), on the won fit and validation rows; stopping on the won stop rows
    reg, value_report = None, {"column": value}
    reg_params = {"objective": "reg:squarederror", "eval_metric": "mae", "seed": config.seed,
                  "tree_method": "hist", **config.params}
    reg_params.pop("nthread", None)
    if value is not None:
        step("mrr", 0, 1)
        has_value = ~feats[_LOG_VALUE].isna()
        reg_fit = feats[has_value & ((feats[_BAND] == FIT) | (feats[_BAND] == VALID))]
        reg_stop = feats[has_value & (feats[_BAND] == STOP)]
        n_reg, n_stop = client.compute([reg_fit.shape[0], reg_stop.shape[0]], sync=True)
        if n_reg < 20 or n_stop < 5:
            notes.append(f"Only {n_reg} won rows have a value in '{value}': no MRR model was trained.")
        else:
            reg = _boost(client, reg_params, _dmatrix(client, reg_fit, _LOG_VALUE, names, types),
                         _dmatrix(client, reg_stop, _LOG_VALUE, names, types), config.max_rounds)
            value_report["trained_on_won_rows"] = int(n_reg)
        step("mrr", 1, 1)

    # 6. predictions of the validation and test rows: vectors, collected to the client
    step("calibration", 0, 1)
    held = feats[feats[_BAND] >= VALID]  # validation and test rows: one prediction per booster
    wanted = [dxgb.predict(client, booster, held[names], output_margin=True), held[[_Y, _VALUE, _BAND]]]
    if reg is not None:
        wanted.append(dxgb.predict(client, reg, held[names]))
    got = client.gather(client.compute(wanted))
    margins, cols = np.asarray(got[0], dtype=float), got[1]
    r_held = np.asarray(got[2], dtype=float) if reg is not None else None
    is_valid = cols[_BAND].to_numpy() == VALID
    valid_cols, test_cols = cols[is_valid], cols[~is_valid]
    m_valid, m_test = margins[is_valid], margins[~is_valid]
    r_valid, r_test = (r_held[is_valid], r_held[~is_valid]) if r_held is not None else (None, None)
    y_valid, y_test = valid_cols[_Y].to_numpy(dtype=int), test_cols[_Y].to_numpy(dtype=int)
    a, b = _platt(m_valid, y_valid)
    p_valid = sigmoid(a * m_valid + b)
    threshold = _decision_threshold(y_valid, p_valid, config, int(y_test.sum()))
    clf = _Classifier(booster, a, b, threshold)
    p_test = sigmoid(a * m_test + b)
    step("calibration", 1, 1)

    # 7. evaluate & gates on the test rows, as single-process (backend.core.evaluate)
    step("evaluation", 0, 1)

    def mrr(r: np.ndarray | None) -> np.ndarray | None:
        return None if r is None else np.clip(np.expm1(r), 0, None)

    mrr_valid, mrr_test = mrr(r_valid), mrr(r_test)
    values_valid, values_test = valid_cols[_VALUE].to_numpy(dtype=float), test_cols[_VALUE].to_numpy(dtype=float)
    ev_valid = p_valid * mrr_valid if mrr_valid is not None else p_valid
    ev_test = p_test * mrr_test if mrr_test is not None else p_test
    cutpoints = np.quantile(ev_valid, np.linspace(0.1, 0.9, 9)).tolist()
    metrics = classification_metrics(y_test, p_test, threshold, config.gates.min_recall)
    boot = np.arange(len(y_test))
    if len(boot) > BOOTSTRAP_ROWS:
        boot = np.sort(np.random.default_rng(config.seed).choice(len(boot), BOOTSTRAP_ROWS, replace=False))
    metrics["intervals"] = bootstrap_intervals(y_test[boot], p_test[boot], threshold, None,
                                               rounds=config.bootstrap_rounds, seed=config.seed)
    validation = classification_metrics(y_valid, p_valid, threshold, config.gates.min_recall)
    scores_test = lead_scores(ev_test, cutpoints)
    test_values = values_test if reg is not None else None
    if reg is not None and mrr_valid is not None and mrr_test is not None:
        won_valid = (y_valid == 1) & ~np.isnan(values_valid) & (values_valid >= 0)
        won_test = (y_test == 1) & ~np.isnan(values_test) & (values_test >= 0)
        baseline = float(np.median(values_valid[won_valid])) if won_valid.any() else 0.0
        value_report.update(median_baseline=baseline,
                            **value_metrics(values_test[won_test], mrr_test[won_test], baseline))

    # the sample's test rows (raw cells, on the client): top features, the active model, the rules
    detail = sample_splits.test
    p_detail = clf.proba(data.x.iloc[detail])
    leaked = {normalize_name(c.name) for c in data.schema.columns if c.role == "leakage"}
    comparison = _compare_with_active(active, data.history, data.target, config, detail, data.y, p_detail,
                                      row_hashes(data.history), config.now_days, leaked)
    if comparison.get("status") == "skipped":
        notes.append(f"Not compared with the active model {comparison['version']}: {comparison['reason']}.")
    elif comparison.get("status") == "compared":
        comparison["note"] = (comparison.get("note", "") + "; " if comparison.get("note") else "") + (
            f"compared on the schema sample's {len(detail)} test rows")
    failures = gate_failures(metrics, config.gates) + comparison_failures(comparison, config.gates)
    heldout = HeldOut(y=y_test, probability=p_test, lead_score=scores_test, expected_value=ev_test,
                      mrr_predicted=mrr_test, value_actual=test_values)
    evaluated = {"classifier": metrics, "validation": validation, "cutpoints": cutpoints,
                 "segment_mrr": float(np.median(mrr_valid)) if mrr_valid is not None else None,
                 "bands": score_bands(y_test, scores_test, p_test, test_values),
                 "curve": calibration_curve(y_test, p_test)}
    step("evaluation", 1, 1)

    # 8. card: the single-process card, with the figures of the whole history and the engine's own section
    n_fit, n_stop = int(by_band.get(FIT, 0)), int(by_band.get(STOP, 0))
    n_valid, n_test = int(by_band.get(VALID, 0)), int(by_band.get(TEST, 0))
    fitted = _Fitted(clf, params, None, booster.num_boosted_rounds(), n_fit, p_valid, 0)
    data.counts = counts
    cross_validation = {"enabled": False, "reason": "not run by the Dask engine"}
    card = _card(data, sample_splits, config, findings, fitted, reg, value_report, evaluated, cross_validation,
                 comparison, failures, heldout, notes)
    card["version"] = f"{card['trained_at'].replace('-', '').replace(':', '').replace('T', '-')[:15]}-{digest[:8]}"
    card["data"]["sha256"] = card["data_sha256"] = digest
    how = "hash of each row's cells" if group is None else f"hash of the '{group}' value (of the row when blank)"
    card["data"]["split"] = {"fit": n_fit + n_stop, "validation": n_valid, "test": n_test,
                             "method": f"random by a seeded {how}: exact copies"
                                       f"{' and rows sharing a ' + repr(group) if group else ''} stay on one side",
                             "refit_on": n_fit, "early_stopping": n_stop}
    card["data"]["groups"] = {}
    card["calibration"]["fitted_on"] = f"margins of the {n_valid} validation rows (not learnt from)"
    card["training"]["refit"] = (f"no refit: the classifier learnt from {n_fit} fit rows (early stopping on "
                                 f"{n_stop} more); the MRR model from the won fit and validation rows")
    card["training"]["rounds"]["early_stopping_rows"] = n_stop
    card["engine"] = {
        "name": "dask", "rows": total_rows, "sample_rows": int(len(sample)), "partitions": int(raw.npartitions),
        "files": len(table.paths), "workers": len(client.nthreads()),
        "schema_from": (f"a uniform random sample of {len(sample)} of the {total_rows} rows (seed {config.seed}): "
                        "column roles, category levels, date windows, leakage findings, data quality and segments; "
                        "a category level seen only outside the sample reads as '(other)', as a rare level does"),
        "split": f"by a seeded {how}, not stratified",
        "collected_to_client": ["the schema sample", "margins, outcomes and values of the validation and test rows"],
        "differs": ["no near-copy search over the whole history (exact copies and --group rows stay together)",
                    "no refit on all non-test rows; calibration on validation rows, not out-of-fold margins",
                    "no cross-validation", "top features and the comparison with the active model on the "
                    "sample's test rows"]
                   + ([f"bootstrap intervals on {BOOTSTRAP_ROWS} of the {n_test} test rows"]
                      if n_test > BOOTSTRAP_ROWS else []),
    }
    if len(sample) < total_rows:
        notes.append(f"The schema (roles, levels, date windows, leakage guard) was fitted on a sample of "
                     f"{len(sample)} of {total_rows} rows; the boosters learnt from every row.")

    # data quality and segments: on the sample
    y_sample = np.full(len(data.frame), np.nan)
    y_sample[data.labelled] = data.y
    card["data_quality"] = data_quality(data.frame, data.schema, won=y_sample == 1)
    card["data_quality"]["sample_of"] = total_rows
    notes.extend(quality_notes(card["data_quality"]))
    card["geo"] = None
    attachments: dict[str, bytes] = {}
    non_test = labelled - n_test
    if non_test <= MAX_TRAINING_ROW_HASHES:
        learnt = client.compute(feats[feats[_BAND] != TEST][_ROW]).result().to_numpy(dtype=np.uint64)
        buf = io.BytesIO()
        np.save(buf, np.unique(learnt), allow_pickle=False)
        attachments[TRAINING_ROWS] = buf.getvalue()
    else:
        notes.append(f"The {non_test} rows learnt from are not listed in the bundle (over "
                     f"{MAX_TRAINING_ROW_HASHES}): a later model is compared with this one on all its held-out rows.")
    bundle = ModelBundle(card=card, features=data.builder, classifier=booster, regressor=reg, attachments=attachments)
    if config.segments:
        segments.attach(bundle, data.builder, booster, data.frame, y_sample, data.labelled, data.values, now,
                        config.seed)
        if card.get("segments"):
            card["segments"]["fitted_on"] = f"the schema sample ({len(data.frame)} rows)"
    if config.rules is not None:
        card["rules"] = rules.rules_vs_model(config.rules, data.history.iloc[detail], data.y[detail], p_detail,
                                             lead_scores(_expected(bundle, data, detail, p_detail), cutpoints), now)
    return TrainResult(bundle=bundle, passed=not failures, failures=failures, counts=counts, notes=notes,
                       leakage=findings, heldout=heldout, groups=None)


def _expected(bundle: ModelBundle, data: _Data, rows: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Expected value of some sample rows (probability x MRR if won), as the score reads it."""
    if bundle.regressor is None:
        return p
    import xgboost as xgb

    dm = xgb.DMatrix(data.x.iloc[rows], enable_categorical=True, nthread=1)
    return p * np.clip(np.expm1(bundle.regressor.predict(dm)), 0, None)
