"""The bounded search, cross-validation, and reproducible training with both switched on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backend.core import tuning
from backend.core.labels import outcome_labels
from backend.core.scoring import score_frame
from backend.core.train import TrainResult, _split, train
from tests.conftest import tiny_config

NOW = 20_800.0  # a fixed reference day, so date ages do not move between runs


class Steps:
    """A clock that moves ``step`` seconds each time an evaluation runs."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        return self.now


def test_defaults_kept_unless_beaten_by_more_than_min_gain() -> None:
    scores = iter([0.800, 0.801, 0.7, 0.8015])  # defaults first; no candidate beats them by > 0.002
    result = tuning.search(lambda p: next(scores), {"max_depth": 4}, max_candidates=3, min_gain=0.002)
    assert result.chosen == "defaults" and result.params == {"max_depth": 4}
    assert len(result.trials) == 3


def test_best_candidate_chosen_when_it_wins() -> None:
    def evaluate(params: dict) -> float:
        return 0.9 if params.get("max_depth") == 2 else 0.8

    result = tuning.search(evaluate, {"max_depth": 4, "eta": 0.05}, seed=0)
    assert result.params["max_depth"] == 2
    assert result.chosen.startswith("candidate")
    assert result.params["eta"] == 0.1  # the whole candidate, on top of the defaults
    assert len(result.trials) == len(tuning.CANDIDATES) <= 8


def test_budget_stops_the_search() -> None:
    clock = Steps(10.0)

    def evaluate(params: dict) -> float:
        clock.now += clock.step
        return 0.5

    result = tuning.search(evaluate, {}, budget_s=25, clock=clock)
    assert result.out_of_time
    assert len(result.trials) == 2  # defaults (10 s) + 2 candidates reach 30 s > 25 s


def test_candidate_order_is_fixed_by_the_seed() -> None:
    assert tuning.candidate_order(3, 8) == tuning.candidate_order(3, 8)
    assert tuning.candidate_order(3, 8) != tuning.candidate_order(4, 8)
    assert len(tuning.candidate_order(0, 5)) == 5
    assert sorted(map(str, tuning.candidate_order(0, 8))) == sorted(map(str, tuning.CANDIDATES))


@pytest.fixture(scope="module")
def tuned_twice(sample_frame: pd.DataFrame) -> tuple[TrainResult, TrainResult]:
    config = tiny_config(tune=True, tune_candidates=3, cv_repeats=1, cv_folds=3, now_days=NOW)
    return train(sample_frame, config), train(sample_frame, config)


def test_tuning_and_cv_are_recorded_in_the_card(tuned_twice: tuple[TrainResult, TrainResult]) -> None:
    card = tuned_twice[0].bundle.card
    tuned = card["training"]["tuning"]
    assert tuned["metric"] == "validation AUC"
    assert len(tuned["trials"]) == 3
    assert card["training"]["params"] == tuned["params"]
    cv = card["metrics"]["cross_validation"]
    assert cv["enabled"] and cv["repeats"] == 1 and cv["folds"] == 3 and len(cv["per_fold"]) == 3
    for key in ("auc", "precision", "recall"):
        assert 0 <= cv["summary"][key]["mean"] <= 1 and cv["summary"][key]["sd"] is not None
    assert cv["rows"] == card["data"]["split"]["fit"] + card["data"]["split"]["validation"]
    curve = card["metrics"]["calibration_curve"]
    assert sum(b["n"] for b in curve) == card["metrics"]["classifier"]["n"]


def test_same_data_same_card_metrics_and_predictions(tuned_twice: tuple[TrainResult, TrainResult],
                                                     sample_frame: pd.DataFrame) -> None:
    a, b = tuned_twice
    assert a.bundle.card["metrics"] == b.bundle.card["metrics"]
    assert a.bundle.card["training"]["params"] == b.bundle.card["training"]["params"]
    assert a.bundle.card["data"]["sha256"] == b.bundle.card["data"]["sha256"]
    sa = score_frame(a.bundle, sample_frame, now_days=NOW)
    sb = score_frame(b.bundle, sample_frame, now_days=NOW)
    np.testing.assert_array_equal(sa.close_probability, sb.close_probability)
    np.testing.assert_array_equal(sa.predicted_mrr, sb.predicted_mrr)
    np.testing.assert_array_equal(sa.lead_score, sb.lead_score)


def test_held_out_rows_play_no_part_in_tuning_or_calibration(sample_frame: pd.DataFrame,
                                                              tuned_twice: tuple[TrainResult, TrainResult]) -> None:
    """Scramble the test rows' cells (not their outcomes): everything fitted stays the same."""
    y_all, _ = outcome_labels(sample_frame["Status"], "Won")
    labelled = np.flatnonzero(~np.isnan(y_all))
    y = y_all[labelled].astype(int)
    _, test = _split(len(y), y, 0.2, 0)
    frame = sample_frame.copy()
    rows = frame.index[labelled[test]]
    rng = np.random.default_rng(0)
    frame.loc[rows, "Email Opens"] = rng.integers(0, 40, len(rows))
    frame.loc[rows, "Pages Visited"] = rng.integers(0, 40, len(rows))
    config = tiny_config(tune=True, tune_candidates=3, cv_repeats=1, cv_folds=3, now_days=NOW)
    scrambled = train(frame, config).bundle.card
    original = tuned_twice[0].bundle.card
    def trials(card: dict) -> list:
        return [(t["overrides"], t["score"]) for t in card["training"]["tuning"]["trials"]]

    assert trials(scrambled) == trials(original)
    assert scrambled["training"]["tuning"]["chosen"] == original["training"]["tuning"]["chosen"]
    assert scrambled["calibration"] == original["calibration"]
    assert scrambled["thresholds"] == original["thresholds"]
    assert scrambled["metrics"]["cross_validation"] == original["metrics"]["cross_validation"]
    assert scrambled["metrics"]["classifier"] != original["metrics"]["classifier"]  # only the test figures move
