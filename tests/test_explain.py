"""Contributions written into vector-leaf trees equal XGBoost's own ``approx_contribs``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xgboost as xgb

from backend.core import explain
from backend.core.scoring import feature_matrix
from backend.sample.generate import generate
from backend.store.bundle import ModelBundle


def _reference(booster: xgb.Booster, dmatrix: xgb.DMatrix) -> np.ndarray:
    return booster.predict(dmatrix, pred_contribs=True, approx_contribs=True)[:, :-1]


def test_equal_to_approx_contribs_on_a_trained_bundle(tiny_bundle: ModelBundle) -> None:
    frame = generate(rows=3_000, seed=17).astype(str).astype(object)
    matrix, _ = tiny_bundle.features.transform_matrix(frame)
    assert np.isnan(matrix).any()  # blanks take the default branches
    assert "c" in tiny_bundle.features.feature_types_  # category splits too
    dmatrix = feature_matrix(matrix, tiny_bundle.features)
    names, types = tiny_bundle.features.feature_names_, tiny_bundle.features.feature_types_
    for booster in (tiny_bundle.classifier, tiny_bundle.regressor):
        found = explain.Explainer(booster, names, types)
        assert found.vector is not None  # the fast path is the one in use
        got = found.contributions(dmatrix)
        np.testing.assert_allclose(got, _reference(booster, dmatrix), rtol=1e-5, atol=1e-6)


def test_a_deep_model_on_random_data_with_gaps() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4_000, 6))
    x[rng.random(x.shape) < 0.15] = np.nan
    x[:, 5] = rng.integers(0, 7, len(x))
    y = (np.nan_to_num(x[:, 0]) + (x[:, 5] == 3) + rng.normal(size=len(x)) > 0.5).astype(float)
    types = ["q"] * 5 + ["c"]
    names = [f"f{i}" for i in range(6)]
    train = xgb.DMatrix(x, label=y, feature_names=names, feature_types=types, enable_categorical=True)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 6, "tree_method": "hist",
                         "max_cat_to_onehot": 1, "seed": 1}, train, 40)
    found = explain.Explainer(booster, names, types)
    assert found.vector is not None
    np.testing.assert_allclose(found.contributions(train), _reference(booster, train), rtol=1e-5, atol=1e-6)


def test_falls_back_to_xgboost_when_the_vector_model_disagrees(tiny_bundle: ModelBundle, monkeypatch) -> None:
    names, types = tiny_bundle.features.feature_names_, tiny_bundle.features.feature_types_
    real = explain._vector_tree

    def off_by_a_little(tree, n):  # a wrong attribution must never be used
        out = real(tree, n)
        out["leaf_weights"] = [w + 0.01 for w in out["leaf_weights"]]
        return out

    monkeypatch.setattr(explain, "_vector_tree", off_by_a_little)
    found = explain.Explainer(tiny_bundle.classifier, names, types)
    assert found.vector is None
    frame = pd.DataFrame(generate(rows=50, seed=2)).astype(str).astype(object)
    dmatrix = feature_matrix(tiny_bundle.features.transform_matrix(frame)[0], tiny_bundle.features)
    np.testing.assert_array_equal(found.contributions(dmatrix), _reference(tiny_bundle.classifier, dmatrix))
