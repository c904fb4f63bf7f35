"""The model report: written into the bundle, sealed by its hash, self-contained and readable."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backend.core.evaluate import HeldOut, monotone_steps, score_bands
from backend.core.train import TrainResult, train
from backend.errors import BundleIntegrityError, ModelUnavailable
from backend.reports.model_report import attach_report, render_report, report_html
from backend.store.bundle import REPORT, ModelBundle
from tests.conftest import tiny_config


@pytest.fixture(scope="module")
def saved(tiny_training: TrainResult, tmp_path_factory: pytest.TempPathFactory) -> ModelBundle:
    """The tiny bundle saved and loaded back (hash-checked)."""
    directory = tmp_path_factory.mktemp("bundle") / tiny_training.bundle.version
    ModelBundle(card=dict(tiny_training.bundle.card), features=tiny_training.bundle.features,
                classifier=tiny_training.bundle.classifier, regressor=tiny_training.bundle.regressor,
                attachments=dict(tiny_training.bundle.attachments)).save(directory)
    return ModelBundle.load(directory)


def test_report_is_in_the_bundle_and_sealed(saved: ModelBundle) -> None:
    assert saved.path is not None and (saved.path / REPORT).is_file()
    assert REPORT in saved.card["files"]
    assert report_html(saved) == (saved.path / REPORT).read_text(encoding="utf-8")


def test_report_is_self_contained(saved: ModelBundle) -> None:
    page = report_html(saved)
    assert page.lstrip().lower().startswith("<!doctype html>")
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(?!data:)[^"'\s>]""", page, re.IGNORECASE)
    assert "<script" not in page.lower() and "<link" not in page.lower()
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) >= 6  # ROC, PR, calibration, gains+lift, MRR, top features


def test_report_holds_the_score_band_table_and_explanations(saved: ModelBundle) -> None:
    page = report_html(saved)
    table = re.search(r"<table id='score-bands'>(.*?)</table>", page, re.S)
    assert table is not None
    rows = re.findall(r"<tr><td>(\d+)</td><td>(\d+)</td>", table.group(1))
    assert [int(score) for score, _ in rows] == list(range(10, 0, -1))
    assert sum(int(n) for _, n in rows) == saved.card["metrics"]["classifier"]["n"]
    assert "95 % interval" in page and "Warnings: values that (almost) always or never convert" in page
    assert "Repeated leads, the split and dates" in page and "Created" in page
    for heading in ("ROC curve", "Precision and recall", "Can you trust the percentages?", "Cumulative gains",
                    "Predicted MRR against what was won", "What moves the scores", "Headline figures"):
        assert heading in page
    assert saved.card["version"] in page


def test_changed_report_is_refused(saved: ModelBundle, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(saved.path, copy)
    (copy / REPORT).write_text("<html>changed</html>")
    with pytest.raises(BundleIntegrityError):
        ModelBundle.load(copy)


def test_report_changed_after_loading_is_refused(saved: ModelBundle, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(saved.path, copy)
    bundle = ModelBundle.load(copy)
    (copy / REPORT).write_text("<html>changed</html>")
    with pytest.raises(BundleIntegrityError):
        report_html(bundle)


def test_bundle_without_a_report_says_so(sample_frame: pd.DataFrame, tmp_path: Path) -> None:
    result = train(sample_frame, tiny_config(max_rounds=20))
    result.bundle.save(tmp_path / "b")
    bundle = ModelBundle.load(tmp_path / "b")
    assert REPORT not in bundle.card["files"]
    with pytest.raises(ModelUnavailable, match="report.html"):
        report_html(bundle)


def test_user_text_is_escaped(sample_frame: pd.DataFrame) -> None:
    evil = "<img src=x onerror=alert(1)>"
    frame = sample_frame.assign(**{evil: sample_frame["Status"]})  # a leak, so it is named in the page
    result = train(frame, tiny_config(max_rounds=20))
    page = attach_report(result).decode()
    assert evil not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_score_bands_count_every_row_once() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(1, 11, 500)
    y = (rng.random(500) < scores / 12).astype(int)
    p = scores / 11
    bands = score_bands(y, scores, p, value=np.where(y == 1, 100.0 * scores, np.nan))
    assert [b["score"] for b in bands] == list(range(10, 0, -1))
    assert sum(b["n"] for b in bands) == 500 and sum(b["converted"] for b in bands) == y.sum()
    assert bands[0]["mean_value_won"] == 1000.0
    up, steps = monotone_steps(bands)
    assert steps == 9 and 0 <= up <= 9


def test_report_renders_without_a_value_model() -> None:
    rng = np.random.default_rng(1)
    n = 300
    y = (rng.random(n) < 0.4).astype(int)
    p = np.clip(0.3 + 0.3 * y + rng.normal(0, 0.15, n), 0.01, 0.99)
    card = {
        "name": "m", "version": "v", "trained_at": "2026-01-01T00:00:00+00:00",
        "target": {"column": "Status", "positive": "Won", "negatives": ["lost"]},
        "data": {"labelled": n, "positives": int(y.sum()), "negatives": int(n - y.sum()), "open": 0,
                 "split": {"test": n}},
        "metrics": {"classifier": {"n": n, "auc": 0.8, "precision": 0.7, "recall": 0.8, "calibration_error": 0.05,
                                   "top_decile_lift": 2.0, "base_rate": float(y.mean()),
                                   "best_precision_at_min_recall": 0.7},
                    "value": {"column": None}, "cross_validation": {"enabled": False},
                    "calibration_curve": [{"n": 30, "mean_predicted": 0.1 * i, "observed": 0.1 * i} for i in range(10)],
                    "score_bands": score_bands(y, np.clip((p * 10).astype(int) + 1, 1, 10), p),
                    "top_features": {"close_probability": [{"column": "Source", "mean_abs_contribution": 0.4}]}},
        "thresholds": {"decision": 0.5, "score_basis": "probability"},
        "gates": {"passed": False, "failures": ["Precision 0.700 at the decision threshold is not above 0.75."],
                  "min_auc": 0.75, "min_precision": 0.75, "min_recall": 0.75, "max_calibration_error": 0.1},
        "leakage": [], "comparison": {"status": "no active model"}, "notes": [],
    }
    page = render_report(card, HeldOut(y=y, probability=p, lead_score=np.ones(n, dtype=int), expected_value=p))
    assert "Failed its quality gates" in page and "not above 0.75" in page
    assert "Predicted MRR against what was won" not in page
