"""Lead segments: recovered from a sheet with planted kinds, saved as JSON, named, used at scoring."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from backend.cli import main
from backend.core.scoring import score_frame
from backend.core.segments import recommendation
from backend.core.train import TrainResult, train
from backend.sample.kinds import KINDS, generate_kinds
from backend.store.bundle import SEGMENTS, ModelBundle
from tests.conftest import tiny_config
from tests.test_web_support import KEY_HEADERS, assert_documented, make_app, web_settings


@pytest.fixture(scope="module")
def kinds() -> tuple[pd.DataFrame, np.ndarray]:
    return generate_kinds(rows=900, seed=3)


@pytest.fixture(scope="module")
def kinds_training(kinds: tuple[pd.DataFrame, np.ndarray]) -> TrainResult:
    return train(kinds[0], tiny_config())


def test_segments_recover_the_planted_kinds(kinds: tuple[pd.DataFrame, np.ndarray],
                                            kinds_training: TrainResult) -> None:
    frame, planted = kinds
    result = score_frame(kinds_training.bundle, frame, with_reasons=False)
    assert adjusted_rand_score(planted, result.segment) >= 0.6
    assert len(kinds_training.bundle.card["segments"]["segments"]) == 3  # k chosen by silhouette within 3-8


def test_segment_table_is_ordered_by_conversion(kinds: tuple[pd.DataFrame, np.ndarray],
                                                kinds_training: TrainResult) -> None:
    frame, planted = kinds
    table = kinds_training.bundle.card["segments"]["segments"]
    rates = [s["conversion_rate"] for s in table]
    assert rates == sorted(rates, reverse=True)
    # each segment is mostly one planted kind, and the order is the planted kinds' conversion order
    result = score_frame(kinds_training.bundle, frame, with_reasons=False)
    majority = [pd.Series(planted[result.segment == s["name"]]).mode()[0] for s in table]
    planted_order = sorted(KINDS, key=lambda k: -KINDS[k][-1])
    assert majority == planted_order
    top, bottom = table[0], table[-1]
    assert top["lift"] > 1.5 and "senior reps" in top["recommendation"]
    assert bottom["lift"] < 0.5 and "nurture" in bottom["recommendation"]
    assert abs(sum(s["share"] for s in table) - 1) < 0.01
    assert "Monthly Ad Spend" in top["name"] or "Referral" in top["name"] or "Partner" in top["name"]


def test_segments_are_json_in_the_sealed_bundle_and_reproducible(kinds: tuple[pd.DataFrame, np.ndarray],
                                                                 kinds_training: TrainResult, tmp_path: Path) -> None:
    bundle = kinds_training.bundle
    directory = bundle.save(tmp_path / "b")
    saved = json.loads((directory / SEGMENTS).read_text())
    assert saved["format"] == 1 and len(saved["centroids"]) == 3
    assert SEGMENTS in json.loads((directory / "card.json").read_text())["files"]
    loaded = ModelBundle.load(directory)
    frame = kinds[0].head(200)
    np.testing.assert_array_equal(score_frame(loaded, frame).segment, score_frame(bundle, frame).segment)
    again = train(kinds[0], tiny_config())  # same data, same seed → same segments
    assert again.bundle.card["segments"] == bundle.card["segments"]
    # a changed byte is refused, like every other bundle file
    (directory / SEGMENTS).write_text((directory / SEGMENTS).read_text().replace('"format": 1', '"format": 1 '))
    with pytest.raises(Exception, match="sha256"):
        ModelBundle.load(directory)


def test_bundles_without_segments_keep_the_two_by_two(kinds: tuple[pd.DataFrame, np.ndarray], tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    result = train(kinds[0], tiny_config(segments=False))
    assert result.bundle.segments is None and "segments" not in result.bundle.card
    names = set(score_frame(result.bundle, kinds[0].head(100)).segment)
    assert names <= {"Priority: likely, bigger deal", "Quick win: likely, smaller deal",
                     "Big bet: less likely, bigger deal", "Nurture: less likely, smaller deal"}
    directory = result.bundle.save(tmp_path / "old")
    assert SEGMENTS not in json.loads((directory / "card.json").read_text())["files"]
    assert main(["segments", "--model", str(directory)]) == 0
    assert "has no segments" in capsys.readouterr().out
    client = make_app(web_settings(tmp_path), bundle=ModelBundle.load(directory)).test_client()
    response = client.get("/v1/model/segments", headers=KEY_HEADERS)
    body = assert_documented("GET", "/v1/model/segments", response)
    assert response.status_code == 200 and body["segments"] == [] and "Retrain" in body["note"]


@pytest.mark.parametrize("lift, mrr, median, words", [
    (2.3, 900.0, 400.0, ["2.3×", "above-median MRR", "senior reps"]),
    (2.0, 100.0, 400.0, ["below-median MRR", "quick wins"]),
    (0.2, 100.0, 400.0, ["0.2×", "nurture by email"]),
    (1.0, 900.0, 400.0, ["bigger"]),
    (None, None, 400.0, ["No closed leads"]),
])
def test_recommendation_follows_the_figures(lift: float | None, mrr: float | None, median: float,
                                            words: list[str]) -> None:
    text = recommendation(lift, mrr, median)
    for word in words:
        assert word in text
