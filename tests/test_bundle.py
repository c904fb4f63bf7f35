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


PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")


def _pickle_files(directory: Path) -> list[str]:
    """Files that are pickles by name or by content (protocol 2+ starts with 0x80)."""
    found = []
    for path in directory.rglob("*"):
        if path.is_file() and (path.suffix in PICKLE_SUFFIXES or path.read_bytes()[:1] == b"\x80"):
            found.append(str(path))
    return found


def test_no_bundle_holds_a_pickle(tiny_bundle: ModelBundle) -> None:
    shipped = Path(__file__).resolve().parent.parent / "models"
    assert any(shipped.glob("*/card.json")), "the repository ships a default bundle"
    assert _pickle_files(shipped) == []
    assert _pickle_files(tiny_bundle.path) == []
    data = json.loads((tiny_bundle.path / PREPROCESS).read_text())
    assert data["format"] == 2 and {c["role"] for c in data["columns"]} >= {"category", "numeric"}


def test_tampered_preprocessing_json_is_refused_naming_the_file(bundle_copy: Path) -> None:
    path = bundle_copy / PREPROCESS
    data = json.loads(path.read_text())
    category = next(c for c in data["columns"] if c["role"] == "category")
    category["levels"] = list(reversed(category["levels"]))  # valid JSON, different meaning
    path.write_text(json.dumps(data))
    with pytest.raises(BundleIntegrityError, match=r"preprocess\.json does not match the sha256"):
        ModelBundle.load(bundle_copy)


def test_resealed_preprocessing_that_is_not_data_is_refused(bundle_copy: Path) -> None:
    from backend.store.bundle import card_digest, sha256_file

    path = bundle_copy / PREPROCESS
    data = json.loads(path.read_text())
    data["columns"][0]["__reduce__"] = "os.system"  # no field of a column: refused, never run
    path.write_text(json.dumps(data))
    card = json.loads((bundle_copy / CARD).read_text())
    card["files"][PREPROCESS] = sha256_file(path)
    card["card_sha256"] = card_digest(card)
    (bundle_copy / CARD).write_text(json.dumps(card))
    with pytest.raises(BundleIntegrityError, match=r"preprocess\.json cannot be read as preprocessing data"):
        ModelBundle.load(bundle_copy)
