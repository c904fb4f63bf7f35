"""The experiment log: one JSON line per training run in ``models/experiments.jsonl``.

Every ``train`` and ``retrain`` appends what it trained on (source, data hash, row counts),
how (target, parameters, seed, cross-validation, tuning), what it measured (held-out and
cross-validated metrics, MRR error, leakage findings, the comparison with the active model)
and what happened (promoted or not, and why).  Lines are appended under a file lock, so
concurrent runs never interleave.

MLflow is optional: when a tracking URI is given (``Settings.mlflow_uri``, from
``LEADSCORE_MLFLOW_URI``) and ``mlflow`` is importable, the same run is also logged there.
A tracking failure is reported and never fails training.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backend.store.registry import file_lock

LOG = "experiments.jsonl"
LOCK = ".experiments.lock"

log = logging.getLogger(__name__)

_TEST_KEYS = ("n", "base_rate", "auc", "precision", "recall", "f1", "threshold", "top_decile_lift",
              "calibration_error", "brier", "best_precision_at_min_recall")


def entry_for(card: Mapping[str, Any], *, command: str, source: str, promoted: bool, outcome: str,
              reason: str, elapsed_s: float | None = None) -> dict[str, Any]:
    """The log line for one training run, from its card and what became of it."""
    metrics = card.get("metrics", {})
    test = metrics.get("classifier", {})
    cv = metrics.get("cross_validation") or {}
    value = metrics.get("value") or {}
    training = card.get("training", {})
    tuning = training.get("tuning") or {}
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "version": card.get("version"),
        "source": source,
        "data_sha256": (card.get("data") or {}).get("sha256"),
        "config_sha256": training.get("config_sha256"),
        "rows": {k: v for k, v in (card.get("data") or {}).items() if k != "sha256"},
        "target": card.get("target"),
        "value_column": value.get("column"),
        "overrides": card.get("overrides"),
        "seed": training.get("seed"),
        "params": training.get("params"),
        "tuning": {"chosen": tuning.get("chosen"), "tried": len(tuning.get("trials") or [])} if tuning else None,
        "cross_validation": ({"repeats": cv.get("repeats"), "folds": cv.get("folds"), **(cv.get("summary") or {})}
                             if cv.get("enabled") else None),
        "metrics": {k: test.get(k) for k in _TEST_KEYS},
        "value": {k: value.get(k) for k in ("n", "mae", "median_baseline_mae")} if value.get("column") else None,
        "leakage": [{"column": f.get("column"), "kind": f.get("kind"), "figure": f.get("figure"),
                     "excluded": f.get("excluded")} for f in card.get("leakage") or []],
        "comparison": card.get("comparison"),
        "gates": card.get("gates"),
        "promoted": promoted,
        "outcome": outcome,
        "reason": reason,
        "elapsed_s": round(elapsed_s, 2) if elapsed_s is not None else None,
    }


def record(model_dir: Path | str, entry: Mapping[str, Any], *, mlflow_uri: str | None = None,
           mlflow_experiment: str = "lead-score") -> Path:
    """Append one run to the log (and to MLflow when a tracking URI is given); returns the log's path."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    path = model_dir / LOG
    line = json.dumps(entry, sort_keys=True, default=str) + "\n"
    with file_lock(model_dir / LOCK), path.open("a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())
    log_to_mlflow(entry, mlflow_uri, mlflow_experiment)
    return path


def read(model_dir: Path | str) -> list[dict[str, Any]]:
    """Every run in the log, oldest first (a damaged line is skipped)."""
    return list(_lines(Path(model_dir) / LOG))


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(item, dict):
                yield item


def last_run_on(model_dir: Path | str, data_sha256: str, config_sha256: str | None) -> dict[str, Any] | None:
    """The latest run that trained on this data with this configuration, if any."""
    found = None
    for item in _lines(Path(model_dir) / LOG):
        if item.get("data_sha256") == data_sha256 and item.get("config_sha256") == config_sha256:
            found = item
    return found


def mlflow_enabled(uri: str | None) -> bool:
    """True when runs should also go to MLflow: a tracking URI is set and mlflow is installed."""
    return bool(uri) and importlib.util.find_spec("mlflow") is not None


def log_to_mlflow(entry: Mapping[str, Any], uri: str | None, experiment: str = "lead-score") -> bool:
    """Log a run to MLflow when configured; returns whether it was logged. Never raises."""
    if not mlflow_enabled(uri):
        return False
    try:
        import mlflow

        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(experiment)
        with mlflow.start_run(run_name=str(entry.get("version"))):
            params = {f"param.{k}": v for k, v in (entry.get("params") or {}).items()}
            params.update({"source": entry.get("source"), "data_sha256": entry.get("data_sha256"),
                           "seed": entry.get("seed"), "command": entry.get("command")})
            mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
            numbers = {f"test_{k}": v for k, v in (entry.get("metrics") or {}).items() if isinstance(v, (int, float))}
            for key, summary in (entry.get("cross_validation") or {}).items():
                if isinstance(summary, dict) and summary.get("mean") is not None:
                    numbers[f"cv_{key}_mean"] = summary["mean"]
                    if summary.get("sd") is not None:
                        numbers[f"cv_{key}_sd"] = summary["sd"]
            mlflow.log_metrics(numbers)
            mlflow.set_tags({"outcome": entry.get("outcome"), "promoted": str(entry.get("promoted")),
                             "reason": str(entry.get("reason"))[:5000]})
        return True
    except Exception as exc:  # tracking is a convenience: never fail a training run over it
        log.warning("MLflow logging failed: %s", exc)
        return False
