"""The experiment log: a line per training run with what was trained, measured and decided."""

from __future__ import annotations

import json
import sys
import threading
import types
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from backend.cli import main
from backend.config import Settings
from backend.core.train import DEFAULT_PARAMS
from backend.sample.generate import generate
from backend.store import experiments

TRAIN = ["--target", "Status", "--positive", "Won", "--value", "MRR", "--min-auc", "0.6", "--min-precision", "0.5",
         "--min-recall", "0.6"]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "history.csv"
    generate(rows=600, seed=3).to_csv(path, index=False)
    return path


def test_every_training_run_appends_a_line(history: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    assert main(["train", str(history), *TRAIN, "--out", str(models), "--cv", "1x3"]) == 0
    assert main(["train", str(history), *TRAIN, "--out", str(models), "--cv", "0", "--min-auc", "0.99"]) == 3
    assert main(["train", str(history), *TRAIN, "--out", str(models), "--cv", "0", "--min-auc", "0.99",
                 "--force"]) == 0
    lines = (models / experiments.LOG).read_text().splitlines()
    assert len(lines) == 3
    runs = [json.loads(line) for line in lines]
    first, failed, forced = runs
    for run in runs:
        assert run["command"] == "train" and run["source"] == str(history)
        assert len(run["data_sha256"]) == 64 and run["data_sha256"] == runs[0]["data_sha256"]
        assert run["params"]["max_depth"] == DEFAULT_PARAMS["max_depth"] and run["seed"] == 0
        assert (models / run["version"] / "card.json").is_file()
        assert run["metrics"]["auc"] is not None and run["value"]["mae"] is not None
    assert first["promoted"] is True and first["outcome"] == "promoted"
    assert first["cross_validation"]["repeats"] == 1 and first["cross_validation"]["auc"]["mean"] > 0.5
    assert failed["promoted"] is False and failed["outcome"] == "not promoted" and "AUC" in failed["reason"]
    assert failed["comparison"]["status"] == "compared"  # the first run's model was active
    assert forced["promoted"] is True and forced["outcome"] == "promoted (forced)"


def test_read_skips_damaged_lines(tmp_path: Path) -> None:
    experiments.record(tmp_path, {"version": "a", "data_sha256": "x", "config_sha256": "c"})
    with (tmp_path / experiments.LOG).open("a") as fh:
        fh.write("{ half a line\n")
    experiments.record(tmp_path, {"version": "b", "data_sha256": "x", "config_sha256": "c"})
    assert [r["version"] for r in experiments.read(tmp_path)] == ["a", "b"]
    assert experiments.last_run_on(tmp_path, "x", "c")["version"] == "b"
    assert experiments.last_run_on(tmp_path, "x", "other") is None


def test_concurrent_runs_never_interleave(tmp_path: Path) -> None:
    def worker(k: int) -> None:
        for i in range(25):
            experiments.record(tmp_path, {"version": f"{k}-{i}", "padding": "x" * 5000})

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = (tmp_path / experiments.LOG).read_text().splitlines()
    assert len(lines) == 100
    assert len({json.loads(line)["version"] for line in lines}) == 100


def test_mlflow_is_optional(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(experiments.importlib.util, "find_spec", lambda name: None)
    assert experiments.mlflow_enabled("file:///nowhere") is False
    experiments.record(tmp_path, {"version": "v"}, mlflow_uri="file:///nowhere")
    assert len(experiments.read(tmp_path)) == 1


def _fake_mlflow(calls: dict[str, Any], fail: bool = False) -> types.ModuleType:
    module = types.ModuleType("mlflow")

    class Run:
        def __enter__(self) -> Run:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    def start_run(run_name: str) -> Run:
        if fail:
            raise RuntimeError("tracking server down")
        calls["run"] = run_name
        return Run()

    module.set_tracking_uri = lambda uri: calls.__setitem__("uri", uri)  # type: ignore[attr-defined]
    module.set_experiment = lambda name: calls.__setitem__("experiment", name)  # type: ignore[attr-defined]
    module.start_run = start_run  # type: ignore[attr-defined]
    module.log_params = lambda p: calls.__setitem__("params", p)  # type: ignore[attr-defined]
    module.log_metrics = lambda m: calls.__setitem__("metrics", m)  # type: ignore[attr-defined]
    module.set_tags = lambda t: calls.__setitem__("tags", t)  # type: ignore[attr-defined]
    return module


def test_mlflow_gets_the_run_when_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: dict[str, Any] = {}
    monkeypatch.setitem(sys.modules, "mlflow", _fake_mlflow(calls))
    monkeypatch.setattr(experiments.importlib.util, "find_spec", lambda name: object())
    entry = {"version": "v7", "params": {"max_depth": 4}, "metrics": {"auc": 0.81, "precision": None},
             "cross_validation": {"auc": {"mean": 0.8, "sd": 0.02}}, "outcome": "promoted", "promoted": True}
    experiments.record(tmp_path, entry, mlflow_uri="http://mlflow.internal:5000", mlflow_experiment="leads")
    assert calls["experiment"] == "leads"
    assert calls["uri"] == "http://mlflow.internal:5000" and calls["run"] == "v7"
    assert calls["params"]["param.max_depth"] == "4"
    assert calls["metrics"] == {"test_auc": 0.81, "cv_auc_mean": 0.8, "cv_auc_sd": 0.02}
    assert calls["tags"]["outcome"] == "promoted"


def test_mlflow_failure_never_fails_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", _fake_mlflow({}, fail=True))
    monkeypatch.setattr(experiments.importlib.util, "find_spec", lambda name: object())
    experiments.record(tmp_path, {"version": "v"}, mlflow_uri="http://mlflow.internal:5000")
    assert len(experiments.read(tmp_path)) == 1
    assert "MLflow logging failed" in caplog.text


def test_entry_for_a_card(tiny_training: Any, sample_frame: pd.DataFrame) -> None:
    entry = experiments.entry_for(tiny_training.bundle.card, command="train", source="x.csv", promoted=False,
                                  outcome="not promoted", reason="because", elapsed_s=1.234)
    assert entry["version"] == tiny_training.bundle.version
    assert entry["config_sha256"] == tiny_training.bundle.card["training"]["config_sha256"]
    assert entry["rows"]["labelled"] == tiny_training.counts["labelled"]
    assert entry["elapsed_s"] == 1.23 and entry["reason"] == "because"
    json.dumps(entry)  # a JSON line


def test_mlflow_settings_come_from_the_environment() -> None:
    settings = Settings.from_env({"LEADSCORE_MLFLOW_URI": "http://mlflow.internal:5000",
                                  "LEADSCORE_MLFLOW_EXPERIMENT": "leads"})
    assert (settings.mlflow_uri, settings.mlflow_experiment) == ("http://mlflow.internal:5000", "leads")
    assert Settings.from_env({}).mlflow_uri is None
