"""Training: labels, splits, gates, reproducibility and clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backend.core.evaluate import Gates, choose_threshold, classification_metrics, gate_failures
from backend.core.features import today_days
from backend.core.labels import outcome_labels
from backend.core.scoring import score_frame
from backend.core.train import TrainResult, train
from backend.errors import BadInput
from tests.conftest import tiny_config


def test_open_rows_are_counted_not_trained(tiny_training: TrainResult, sample_frame: pd.DataFrame) -> None:
    status = sample_frame["Status"].astype(str).str.strip().str.lower()
    closed = status.isin(["won", "lost"]).sum()
    counts = tiny_training.counts
    assert counts["labelled"] == closed
    assert counts["open"] == len(sample_frame) - closed
    assert counts["positives"] == status.eq("won").sum()
    split = tiny_training.bundle.card["data"]["split"]
    assert split["fit"] + split["validation"] + split["test"] == closed


def test_card_has_held_out_metrics_and_thresholds(tiny_training: TrainResult) -> None:
    card = tiny_training.bundle.card
    m = card["metrics"]["classifier"]
    for key in ("auc", "precision", "recall", "f1", "base_rate", "top_decile_lift", "brier", "calibration_error",
                "threshold", "n"):
        assert m[key] is not None
    assert m["n"] == card["data"]["split"]["test"]
    assert 0.5 < m["auc"] <= 1
    value = card["metrics"]["value"]
    assert value["mae"] < value["median_baseline_mae"]
    assert card["thresholds"]["score_cutpoints"] == sorted(card["thresholds"]["score_cutpoints"])
    assert "out-of-fold" in card["calibration"]["fitted_on"] and "non-test" in card["calibration"]["fitted_on"]


def test_same_data_same_seed_same_predictions(sample_frame: pd.DataFrame, tiny_training: TrainResult) -> None:
    again = train(sample_frame, tiny_config())
    now = today_days()
    a = score_frame(tiny_training.bundle, sample_frame, now_days=now)
    b = score_frame(again.bundle, sample_frame, now_days=now)
    np.testing.assert_array_equal(a.close_probability, b.close_probability)
    np.testing.assert_array_equal(a.predicted_mrr, b.predicted_mrr)
    assert tiny_training.bundle.card["metrics"] == again.bundle.card["metrics"]


def test_without_value_column_scores_on_probability(sample_frame: pd.DataFrame) -> None:
    result = train(sample_frame.drop(columns=["MRR"]), tiny_config(value=None))
    assert result.bundle.regressor is None
    scored = score_frame(result.bundle, sample_frame.head(10))
    assert scored.predicted_mrr is None
    assert any(w["code"] == "no_value_model" for w in scored.warnings)
    assert all(r["predicted_mrr"] is None for r in scored.results)


def test_strict_gates_fail_with_reasons(sample_frame: pd.DataFrame) -> None:
    result = train(sample_frame, tiny_config(gates=Gates(min_auc=0.99, min_precision=0.99, min_recall=0.75)))
    assert not result.passed
    assert any("AUC" in f for f in result.failures)
    assert any("base rate" in f for f in result.failures)
    assert result.bundle.card["promotable"] is False
    assert result.bundle.card["gates"]["failures"] == result.failures


def test_all_positive_model_fails_gates_despite_auc() -> None:
    """A model that calls every lead positive keeps recall 1.0 but its precision is the base rate."""
    rng = np.random.default_rng(0)
    y = (rng.random(1000) < 0.2).astype(int)
    p = np.clip(0.5 + 0.4 * y + rng.normal(0, 0.05, 1000), 0, 1)  # AUC ≈ 1
    metrics = classification_metrics(y, p, threshold=0.0, min_recall=0.75)
    assert metrics["auc"] > 0.95 and metrics["recall"] == 1.0
    failures = gate_failures(metrics, Gates())
    assert any("Precision" in f for f in failures)


def test_threshold_reaches_recall_with_best_precision() -> None:
    y = np.array([0, 0, 1, 0, 1, 1, 1, 0, 1, 1])
    p = np.linspace(0.05, 0.95, 10)
    t = choose_threshold(y, p, 0.75)
    pred = p >= t
    recall = (pred & (y == 1)).sum() / y.sum()
    assert recall >= 0.75
    assert t == pytest.approx(p[4])  # the highest cut that still keeps 5 of 6 won leads


@pytest.mark.parametrize(("values", "positive", "negatives", "expected"), [
    (["Won", "lost", " WON ", "Open", ""], "won", (), [1, 0, 1, None, None]),
    ([1, 0, "1", "0.0", None], "1", (), [1, 0, 1, 0, None]),
    (["yes", "no", "maybe"], "yes", (), [1, 0, None]),
    (["Closed Won", "Closed Lost", "Negotiation"], "Closed Won", (), [1, 0, None]),
    (["A", "B", "C"], "A", ("B",), [1, 0, None]),
])
def test_outcome_labels(values: list, positive: str, negatives: tuple, expected: list) -> None:
    y, _ = outcome_labels(pd.Series(values, dtype=object), positive, negatives)
    assert [None if np.isnan(v) else int(v) for v in y] == expected


def test_ambiguous_negatives_ask_for_them() -> None:
    with pytest.raises(BadInput, match="--negative"):
        outcome_labels(pd.Series(["A", "B", "C"], dtype=object), "A")


def test_bad_inputs_name_the_column(sample_frame: pd.DataFrame) -> None:
    with pytest.raises(BadInput, match="'Outcome'.*not in the sheet"):
        train(sample_frame, tiny_config(target="Outcome"))
    with pytest.raises(BadInput, match="positive value 'Closed'"):
        train(sample_frame, tiny_config(positive="Closed"))
    only_won = sample_frame[sample_frame["Status"].astype(str).str.strip().str.lower().isin(["won", "open"])]
    with pytest.raises(BadInput, match="both won and lost"):
        train(only_won, tiny_config(negatives=("lost",)))
    with pytest.raises(BadInput, match="at least 50"):
        train(sample_frame.head(40), tiny_config())
    texty = sample_frame.copy()
    texty["MRR"] = np.where(texty["MRR"].astype(str) != "", "ask finance", "")
    with pytest.raises(BadInput, match="value column 'MRR' holds text"):
        train(texty, tiny_config())


def test_gate_straddled_by_its_interval_is_too_few_to_judge() -> None:
    from backend.core.evaluate import TOO_FEW, bootstrap_intervals, gate_verdicts

    rng = np.random.default_rng(3)
    y = (rng.random(60) < 0.5).astype(int)
    p = np.clip(0.5 + 0.25 * (y - 0.5) + rng.normal(0, 0.2, 60), 0, 1)
    metrics = classification_metrics(y, p, 0.5, 0.75)
    metrics["intervals"] = bootstrap_intervals(y, p, 0.5, rounds=200)
    lo, hi = metrics["intervals"]["auc"]
    assert lo < metrics["auc"] < hi
    gates = Gates(min_auc=round((lo + hi) / 2, 3), min_precision=0.0, min_recall=0.0, max_calibration_error=1.0)
    verdict = {v["figure"]: v["verdict"] for v in gate_verdicts(metrics, gates)}
    assert verdict["auc"] == TOO_FEW
    failures = gate_failures(metrics, gates)
    assert len(failures) == 1 and TOO_FEW in failures[0] and "95 % interval" in failures[0]
    # the same figure with an interval clear of the gate passes
    assert gate_failures(metrics, Gates(min_auc=lo - 0.05, min_precision=0.0, min_recall=0.0,
                                        max_calibration_error=1.0)) == []


def test_calibration_shown_above_its_bound_never_passes() -> None:
    metrics = {"n": 40, "positives": 20, "auc": 0.9, "precision": 0.9, "recall": 0.9, "base_rate": 0.5,
               "calibration_error": 0.22, "calibration_noise": 0.15}
    failures = gate_failures(metrics, Gates())
    assert len(failures) == 1 and "Calibration error 0.220" in failures[0]
    metrics["calibration_noise"] = 0.02
    assert "is above 0.1" in gate_failures(metrics, Gates())[0]


def test_group_column_and_out_of_time_split(sample_frame: pd.DataFrame) -> None:
    frame = sample_frame.assign(Account=[f"acct-{i % 120}" for i in range(len(sample_frame))])
    card = train(frame, tiny_config(group="Account", out_of_time=True, bootstrap_rounds=50)).bundle.card
    groups = card["data"]["groups"]
    assert groups["group_column"] == "Account" and groups["groups"] <= 120
    assert card["data"]["split"]["method"].startswith("out of time: the newest")
    assert card["data"]["creation_date"] == "Created"
    assert card["data"]["split"]["refit_on"] == card["data"]["split"]["fit"] + card["data"]["split"]["validation"]


def test_newest_rows_hold_out_the_latest_leads_with_their_groups() -> None:
    from backend.core.groups import newest_rows

    when = np.array([1.0, 5.0, 2.0, 9.0, 3.0, 8.0, np.nan, 7.0, 4.0, 6.0])
    groups = np.array([0, 1, 2, 3, 4, 5, 6, 7, 0, 9])
    older, newest = newest_rows(np.arange(10), when, groups, 0.3)
    assert set(newest) == {3, 5, 7} and 6 in older
    older, newest = newest_rows(np.arange(10), when, np.array([0, 1, 2, 3, 4, 5, 6, 3, 0, 9]), 0.3)
    assert {3, 7} <= set(newest)  # a group goes with its newest row


def test_cli_passes_group_and_out_of_time() -> None:
    from backend.cli import _parser
    from backend.cli.train import _train_config

    args = _parser().parse_args(["train", "h.csv", "--target", "Status", "--positive", "Won", "--group", "Company",
                                 "--out-of-time"])
    config = _train_config(args)
    assert config.group == "Company" and config.out_of_time is True
    plain = _train_config(_parser().parse_args(["train", "h.csv", "--target", "Status", "--positive", "Won"]))
    assert plain.group is None and plain.out_of_time is False
