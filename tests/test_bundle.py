"""The model bundle: files, hashes, refusal of changed bundles, round trips."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backend.core.features import today_days
from backend.core.scoring import score_frame
from backend.errors import BadInput, BundleIntegrityError, ModelUnavailable
from backend.store import registry
from backend.store.bundle import CARD, CLASSIFIER, PREPROCESS, REGRESSOR, ModelBundle


@pytest.fixture
def bundle_copy(tiny_bundle: ModelBundle, tmp_path: Path) -> Path:
    target = tmp_path / tiny_bundle.version
    shutil.copytree(tiny_bundle.path, target)
    return target


def test_bundle_layout(tiny_bundle: ModelBundle) -> None:
    names = {p.name for p in tiny_bundle.path.iterdir()}
    assert {CARD, PREPROCESS, CLASSIFIER, REGRESSOR} <= names
    card = json.loads((tiny_bundle.path / CARD).read_text())
    assert set(card["files"]) >= {PREPROCESS, CLASSIFIER, REGRESSOR}
    assert (tiny_bundle.path / CLASSIFIER).read_bytes()[:1] == b"{"  # UBJSON object marker
    for key in ("features", "metrics", "thresholds", "trained_at", "data_sha256", "libraries", "calibration"):
        assert key in card


def test_round_trip_gives_identical_predictions(tiny_training, tiny_bundle: ModelBundle,
                                                sample_frame: pd.DataFrame) -> None:
    now = today_days()
    before = score_frame(tiny_training.bundle, sample_frame, now_days=now)
    after = score_frame(tiny_bundle, sample_frame, now_days=now)
    np.testing.assert_array_equal(before.close_probability, after.close_probability)
    np.testing.assert_array_equal(before.predicted_mrr, after.predicted_mrr)


@pytest.mark.parametrize("name", [PREPROCESS, CLASSIFIER, REGRESSOR])
def test_one_changed_byte_is_refused(bundle_copy: Path, name: str) -> None:
    path = bundle_copy / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BundleIntegrityError, match=f"{name} does not match the sha256"):
        ModelBundle.load(bundle_copy)


def test_edited_card_is_refused(bundle_copy: Path) -> None:
    path = bundle_copy / CARD
    text = path.read_text()
    path.write_text(text.replace('"decision": 0.', '"decision": 0.0', 1))
    with pytest.raises(BundleIntegrityError, match="changed after training"):
        ModelBundle.load(bundle_copy)


def test_missing_file_and_missing_bundle(bundle_copy: Path, tmp_path: Path) -> None:
    (bundle_copy / REGRESSOR).unlink()
    with pytest.raises(BundleIntegrityError, match="missing regressor.ubj"):
        ModelBundle.load(bundle_copy)
    with pytest.raises(ModelUnavailable, match="card.json is missing"):
        ModelBundle.load(tmp_path / "nothing")


def test_registry_resolves_active_and_explicit(tiny_models_dir: Path, tiny_bundle: ModelBundle, tmp_path: Path) -> None:
    assert registry.resolve(None, tiny_models_dir) == tiny_models_dir / tiny_bundle.version
    assert registry.resolve(str(tiny_bundle.path), tmp_path) == tiny_bundle.path
    assert registry.resolve(str(tiny_models_dir), tmp_path) == tiny_bundle.path
    with pytest.raises(ModelUnavailable, match="No active model"):
        registry.resolve(None, tmp_path)
    with pytest.raises(BadInput, match="no model version"):
        registry.promote(tmp_path, "v-none")
