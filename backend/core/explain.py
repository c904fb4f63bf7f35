"""Per-lead feature contributions at the cost of one prediction.

The reasons behind a score are Saabas contributions (XGBoost's ``approx_contribs``): walking a
lead down each tree, every split moves the node's mean value to the child's, and that change is
credited to the split's feature.  A tree therefore adds the same contribution vector to every
lead that ends in the same leaf, so the whole attribution can be written into the leaves: an
XGBoost model with the same trees whose leaves hold those vectors (vector-leaf trees, one
target per feature).  Predicting with it walks each tree once per lead and sums the vectors —
the contributions, exactly as ``pred_contribs=True, approx_contribs=True`` gives them, at about
half its cost on large batches.

The vector-leaf model is built from the booster's own JSON when first needed, checked against
XGBoost's ``approx_contribs`` on probe rows, and used only if it matches; otherwise scoring falls
back to ``approx_contribs`` itself.
"""

from __future__ import annotations

import json
import threading
import weakref
from typing import Any

import numpy as np
import xgboost as xgb

_built: weakref.WeakKeyDictionary[xgb.Booster, Explainer] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _mean_values(tree: dict[str, Any]) -> np.ndarray:
    """Each node's mean leaf value, weighted by hessian cover, in float32 as XGBoost computes it."""
    left, right = tree["left_children"], tree["right_children"]
    hess = np.asarray(tree["sum_hessian"], dtype=np.float32)
    value = np.asarray(tree["split_conditions"], dtype=np.float32)  # a leaf's condition is its value
    mean = np.zeros(len(left), dtype=np.float32)
    order: list[int] = []
    stack = [0]
    while stack:  # parents before children; fill in reverse (children first)
        nid = stack.pop()
        order.append(nid)
        if left[nid] != -1:
            stack.extend((left[nid], right[nid]))
    for nid in reversed(order):
        if left[nid] == -1:
            mean[nid] = value[nid]
        else:
            total = np.float32(mean[left[nid]] * hess[left[nid]]) + np.float32(mean[right[nid]] * hess[right[nid]])
            mean[nid] = np.float32(np.float32(total) / hess[nid])
    return mean


def _vector_tree(tree: dict[str, Any], n_features: int) -> dict[str, Any]:
    """``tree`` with each leaf holding the contribution vector of the path that reaches it."""
    left, right, feature = tree["left_children"], tree["right_children"], tree["split_indices"]
    mean = _mean_values(tree)
    leaves = [i for i in range(len(left)) if left[i] == -1]
    leaf_no = {nid: k for k, nid in enumerate(leaves)}
    weights = np.zeros((len(leaves), n_features), dtype=np.float32)
    stack = [(0, np.zeros(n_features, dtype=np.float32))]
    while stack:
        nid, path = stack.pop()
        if left[nid] == -1:
            weights[leaf_no[nid]] = path
            continue
        for child in (left[nid], right[nid]):
            step = path.copy()
            step[feature[nid]] = np.float32(step[feature[nid]] + np.float32(mean[child] - mean[nid]))
            stack.append((child, step))
    out = dict(tree)
    out["right_children"] = [leaf_no[i] if left[i] == -1 else right[i] for i in range(len(left))]
    out["split_conditions"] = [0.0 if left[i] == -1 else tree["split_conditions"][i] for i in range(len(left))]
    out["base_weights"] = [0.0] * (len(left) * n_features)
    out["leaf_weights"] = weights.ravel().tolist()
    out["tree_param"] = dict(tree["tree_param"], size_leaf_vector=str(n_features))
    return out


def _vector_model(booster: xgb.Booster, n_features: int) -> xgb.Booster | None:
    model = json.loads(booster.save_raw("json"))
    learner = model["learner"]
    trees = learner["gradient_booster"]["model"]["trees"]
    if learner["gradient_booster"].get("name") != "gbtree" or not trees:
        return None
    learner["gradient_booster"]["model"]["trees"] = [_vector_tree(t, n_features) for t in trees]
    params = learner["learner_model_param"]
    params.update(num_target=str(n_features), num_class="0", base_score="[" + ",".join(["0E0"] * n_features) + "]")
    learner["objective"] = {"name": "reg:squarederror", "reg_loss_param": {"scale_pos_weight": "1"}}
    vector = xgb.Booster()
    vector.load_model(bytearray(json.dumps(model).encode()))
    return vector


def _probe(booster: xgb.Booster, feature_types: list[str]) -> np.ndarray:
    """Rows that take every branch: per feature, each split value, just below it, and missing."""
    model = json.loads(booster.save_raw("json"))
    n = len(feature_types)
    values: list[list[float]] = [[np.nan, 0.0] for _ in range(n)]
    for tree in model["learner"]["gradient_booster"]["model"]["trees"]:
        for nid, f in enumerate(tree["split_indices"]):
            if tree["left_children"][nid] != -1 and tree["split_type"][nid] == 0:
                c = float(tree["split_conditions"][nid])
                values[f] += [c, float(np.nextafter(np.float32(c), np.float32(-np.inf)))]
        for f in {tree["split_indices"][i] for i in tree["categories_nodes"]}:
            values[f] += [float(c) for c in tree["categories"]]
    rng = np.random.default_rng(0)
    rows = max(64, max(len(v) for v in values))
    return np.column_stack([rng.permutation(np.resize(np.asarray(v, dtype=float), rows)) for v in values])


class Explainer:
    """Saabas contributions of one booster's features (without the bias column)."""

    def __init__(self, booster: xgb.Booster, feature_names: list[str], feature_types: list[str]) -> None:
        self.booster = booster
        self.names, self.types = feature_names, feature_types
        self.vector: xgb.Booster | None = None
        try:
            vector = _vector_model(booster, len(feature_names))
        except (ValueError, KeyError, TypeError, xgb.core.XGBoostError):
            vector = None
        if vector is not None and self._agrees(vector):
            config = json.loads(booster.save_config())["learner"]["generic_param"]
            vector.set_param({"nthread": int(config.get("nthread", 1) or 1)})  # as many threads as the booster
            self.vector = vector

    def _agrees(self, vector: xgb.Booster) -> bool:
        probe = xgb.DMatrix(_probe(self.booster, self.types), feature_names=self.names, feature_types=self.types,
                            enable_categorical=True, nthread=1)
        expected = self.booster.predict(probe, pred_contribs=True, approx_contribs=True, validate_features=False)
        got = vector.predict(probe, output_margin=True, validate_features=False)
        return bool(got.shape == expected[:, :-1].shape and np.allclose(got, expected[:, :-1], rtol=1e-5, atol=1e-6))

    def contributions(self, dmatrix: xgb.DMatrix) -> np.ndarray:
        """rows × features: each feature's contribution to each row's margin."""
        if self.vector is None:
            return self.booster.predict(dmatrix, pred_contribs=True, approx_contribs=True,
                                        validate_features=False)[:, :-1]
        out = self.vector.predict(dmatrix, output_margin=True, validate_features=False)
        return out.reshape(dmatrix.num_row(), -1)


def explainer(booster: xgb.Booster, feature_names: list[str], feature_types: list[str]) -> Explainer:
    """The (cached) explainer of ``booster``."""
    found = _built.get(booster)
    if found is None:
        with _lock:
            found = _built.get(booster)
            if found is None:
                found = _built[booster] = Explainer(booster, feature_names, feature_types)
    return found
