"""``train --engine dask``: xgboost.dask on a 2-worker local cluster, the rest of the pipeline unchanged.

One module-scoped cluster; the CLI reaches it with ``--scheduler``.  The data are generated
with a known truth (backend.sample.generate), so the Dask-trained model is checked against
single-process training on the same file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from backend.core.evaluate import Gates
from backend.core.labels import outcome_labels
from backend.core.train import TrainConfig, TrainResult, train
from backend.errors import BadInput
from backend.sample.generate import generate
from backend.store.bundle import ModelBundle

pytest.importorskip("distributed")
pytest.importorskip("dask.dataframe")
# another cluster on this machine may hold the default HTTP port: the scheduler takes another one
pytestmark = pytest.mark.filterwarnings("ignore:Port 8787 is already in use")

ROOT = Path(__file__).resolve().parent.parent
ROWS = 20_000
SAMPLE = 2_000


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A 2-worker LocalCluster and a client to it, for the whole module."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc, \
            Client(lc) as client:
        yield client


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """20,000 generated leads (target Status, positive Won, value MRR) as one CSV file."""
    folder = tmp_path_factory.mktemp("dask-history")
    frame = generate(rows=ROWS, seed=21)
    path = folder / "leads.csv"
    frame.to_csv(path, index=False)
    return path, frame


@pytest.fixture(scope="module")
def dask_run(cluster: Any, history: tuple[Path, pd.DataFrame],
             tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """``python -m backend train … --engine dask --scheduler ADDRESS --sample-rows 2000``: the bundle and its card."""
    path, _ = history
    models = tmp_path_factory.mktemp("dask-models")
    # its own process, as a user runs it: one client per process, connected to the module's cluster
    done = subprocess.run([sys.executable, "-m", "backend", "train", str(path), "--target", "Status", "--positive",
                           "Won", "--value", "MRR", "--engine", "dask", "--scheduler", cluster.scheduler.address,
                           "--sample-rows", str(SAMPLE), "--out", str(models), "--cv", "0", "--force"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=_env())
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"schema fitted on a sample of {SAMPLE} rows" in done.stdout
    version = json.loads((models / "active.json").read_text())["version"]
    bundle = models / version
    return bundle, json.loads((bundle / "card.json").read_text())


@pytest.fixture(scope="module")
def local_run(history: tuple[Path, pd.DataFrame]) -> TrainResult:
    """Single-process training on the same file (as the CLI reads it)."""
    from backend.sources.files import read_table

    path, _ = history
    return train(read_table(path), TrainConfig(target="Status", positive="Won", value="MRR", segments=False,
                                               bootstrap_rounds=100))


def test_the_dask_bundle_loads_and_scores_with_the_score_command(dask_run: tuple[Path, dict[str, Any]],
                                                                  history: tuple[Path, pd.DataFrame],
                                                                  tmp_path: Path) -> None:
    bundle_dir, card = dask_run
    _, frame = history
    leads = tmp_path / "leads.csv"
    frame.head(1500).to_csv(leads, index=False)
    out = tmp_path / "scored.csv"
    done = subprocess.run([sys.executable, "-m", "backend", "score", str(leads), "--model", str(bundle_dir),
                           "-o", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120, env=_env())
    assert done.returncode == 0, done.stderr
    scored = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert len(scored) == 1500
    assert list(scored.columns[: frame.shape[1]]) == list(frame.columns)
    scores = scored["Lead Score"].astype(int)
    assert scores.between(1, 10).all() and scores.nunique() >= 8
    p = scored["Close Probability"].astype(float)
    assert ((p > 0) & (p < 1)).all()
    assert (scored["Model Version"] == card["version"]).all()
    # the scores mean what they say: won leads score higher than lost ones
    y, _ = outcome_labels(frame.head(1500)["Status"], "Won")
    assert p[y == 1].mean() > p[y == 0].mean() + 0.15
    loaded = ModelBundle.load(bundle_dir)
    assert loaded.regressor is not None and loaded.card["engine"]["name"] == "dask"


def test_dask_training_matches_single_process_on_known_truth(dask_run: tuple[Path, dict[str, Any]],
                                                             local_run: TrainResult) -> None:
    _, card = dask_run
    local = local_run.bundle.card
    auc_dask = card["metrics"]["classifier"]["auc"]
    auc_local = local["metrics"]["classifier"]["auc"]
    assert auc_dask > 0.75
    assert abs(auc_dask - auc_local) <= 0.03, (auc_dask, auc_local)
    assert card["gates"]["passed"] == local["gates"]["passed"]
    # and against gates neither can pass, both fail alike
    strict = Gates(min_auc=0.95)
    from backend.core.evaluate import gate_failures

    assert gate_failures(card["metrics"]["classifier"], strict) and gate_failures(local["metrics"]["classifier"],
                                                                                    strict)
    # same pipeline around the boosters: the same card sections, the same features
    for key in ("target", "features", "metrics", "thresholds", "calibration", "gates", "data", "training",
                "data_quality", "libraries"):
        assert key in card, key
    assert [f["name"] for f in card["features"]] == [f["name"] for f in local["features"]]
    assert len(card["thresholds"]["score_cutpoints"]) == 9
    assert card["metrics"]["value"]["mae"] < card["metrics"]["value"]["median_baseline_mae"]


def test_a_history_bigger_than_the_sample_trains_on_every_row(dask_run: tuple[Path, dict[str, Any]],
                                                              history: tuple[Path, pd.DataFrame]) -> None:
    _, card = dask_run
    _, frame = history
    y, _ = outcome_labels(frame["Status"], "Won")
    labelled = int((~np.isnan(y)).sum())
    assert card["engine"]["rows"] == ROWS
    assert card["engine"]["sample_rows"] == SAMPLE
    assert card["data"]["rows"] == ROWS and card["data"]["labelled"] == labelled
    assert card["data"]["positives"] == int(np.nansum(y))
    split = card["data"]["split"]
    assert split["fit"] + split["validation"] + split["test"] == labelled
    assert card["metrics"]["classifier"]["n"] == split["test"] > SAMPLE / 2
    assert card["data_quality"]["rows"] == SAMPLE  # the schema's own view: the sample


def test_two_files_by_glob_train_like_one(cluster: Any, history: tuple[Path, pd.DataFrame],
                                          dask_run: tuple[Path, dict[str, Any]],
                                          tmp_path: Path) -> None:
    from backend.scale.dask_train import train_dask

    _, frame = history
    _, card = dask_run
    frame.iloc[: ROWS // 2].to_csv(tmp_path / "leads-1.csv", index=False)
    frame.iloc[ROWS // 2:].to_csv(tmp_path / "leads-2.csv", index=False)
    result = train_dask(str(tmp_path / "leads-*.csv"), TrainConfig(target="Status", positive="Won", value="MRR"),
                        client=cluster, sample_rows=SAMPLE)
    two = result.bundle.card
    assert two["engine"]["files"] == 2 and two["engine"]["partitions"] >= 2
    assert two["engine"]["rows"] == ROWS
    for key in ("rows", "labelled", "positives", "sha256", "split"):
        assert two["data"][key] == card["data"][key], key
    assert abs(two["metrics"]["classifier"]["auc"] - card["metrics"]["classifier"]["auc"]) <= 0.01


def test_the_default_path_never_imports_dask(tmp_path: Path) -> None:
    leads = tmp_path / "leads.csv"
    generate(rows=600, seed=4).to_csv(leads, index=False)
    code = ("import sys\nfrom backend.cli import main\n"
            f"rc = main(['train', {str(leads)!r}, '--target', 'Status', '--positive', 'Won', '--value', 'MRR', "
            f"'--out', {str(tmp_path / 'models')!r}, '--cv', '0', '--force', '--min-auc', '0.5'])\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed') "
            "or m.startswith(('backend.scale', 'xgboost.dask')))\n"
            "print('LOADED', rc, loaded)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=180,
                          env=_env())
    assert done.returncode == 0, done.stderr
    assert "LOADED 0 []" in done.stdout, done.stdout[-2000:]


def test_the_dask_engine_reads_files_only() -> None:
    from backend.scale.dask_train import read_lead_table

    with pytest.raises(BadInput, match="CSV or Parquet"):
        read_lead_table("sheet://abc/Leads")
    with pytest.raises(BadInput, match="No file matches"):
        read_lead_table("/nonexistent/leads-*.csv")


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_the_dask_reader_reads_the_cells_the_single_process_reader_does(kind: str, tmp_path: Path) -> None:
    from backend.scale.dask_train import read_lead_table
    from backend.sources.files import read_table

    frame = generate(rows=3000, seed=8)
    path = tmp_path / f"leads.{kind}"
    if kind == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.astype(str).to_parquet(path)
    table = read_lead_table(str(path), blocksize=64 * 1024, workers=2)
    assert table.frame.npartitions >= 4
    got = table.frame.compute(scheduler="sync").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, read_table(path))


def test_cluster_options_without_the_dask_engine_are_refused(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from backend.cli import main

    rc = main(["train", str(tmp_path / "leads.csv"), "--target", "Status", "--positive", "Won",
               "--scheduler", "tcp://127.0.0.1:8786", "--out", str(tmp_path / "models")])
    assert rc == 2
    assert "--engine dask" in capsys.readouterr().err
