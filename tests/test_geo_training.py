"""Geo features in a trained model: fitted, saved with the preprocessing, used and explained at scoring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backend.core.geo import DISTANCE, REGION, SITE, GeoConfig, sites_from_frame
from backend.core.scoring import score_frame
from backend.core.train import TrainResult, config_fingerprint, train
from backend.sample.geo import generate
from backend.store.bundle import ModelBundle
from tests.conftest import tiny_config


@pytest.fixture(scope="module")
def geo_sample():  # type: ignore[no-untyped-def]
    return generate(seed=5)


@pytest.fixture(scope="module")
def geo_config(geo_sample) -> GeoConfig:  # type: ignore[no-untyped-def]
    return GeoConfig(zip_column="zip", sites=tuple(sites_from_frame(geo_sample.sites)))


@pytest.fixture(scope="module")
def trained(geo_sample, geo_config) -> TrainResult:  # type: ignore[no-untyped-def]
    return train(geo_sample.leads, tiny_config(geo=geo_config))


def test_card_records_the_geo_features(trained: TrainResult) -> None:
    card = trained.bundle.card
    names = [f["name"] for f in card["features"]]
    assert {DISTANCE, SITE, REGION} <= set(names)
    zip_col = next(c for c in card["excluded"] if c["name"] == "ZIP")
    assert zip_col["role"] == "geo"
    geo = card["geo"]
    assert [s["name"] for s in geo["sites"]][-1] == "Indianapolis"
    assert 2 <= geo["regions"]["k"] <= 8
    assert geo["regions"]["k"] == max(geo["regions"]["silhouette_by_k"], key=geo["regions"]["silhouette_by_k"].get)
    assert "silhouette" in geo["regions"]["criterion"]
    # regions are learnt from the customers among the fit rows only (never from held-out rows)
    assert geo["training_zips"]["rows"] == card["data"]["labelled"]
    used = geo["training_zips"]["customers_for_regions"]
    assert 0 < used < card["data"]["positives"] and used <= card["data"]["split"]["fit"]


def test_saved_bundle_scores_the_same_and_explains_distance_in_miles(trained: TrainResult, geo_sample,
                                                                     tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bundle = ModelBundle.load(trained.bundle.save(tmp_path / "geo"))
    assert bundle.features.geo is not None
    leads = geo_sample.leads
    before = score_frame(trained.bundle, leads, now_days=20000.0)
    after = score_frame(bundle, leads, now_days=20000.0)
    np.testing.assert_allclose(before.close_probability, after.close_probability)
    assert before.reasons == after.reasons
    texts = [r for row in after.reasons for r in row]
    assert not any(r.startswith(DISTANCE) and "missing" not in r for r in texts)
    miles = [r for r in texts if " mi from " in r]
    assert miles and all(r[-1] in "↑↓" for r in miles)
    site_names = {s.name for s in bundle.features.geo.sites}
    assert {r.split(" mi from ")[1][:-2] for r in miles} <= site_names


def test_distance_is_a_live_feature(trained: TrainResult, geo_sample) -> None:  # type: ignore[no-untyped-def]
    """Moving the same leads' ZIP codes changes their scores (the geo columns are read, not ignored)."""
    leads = geo_sample.leads.head(60).copy()
    moved = leads.assign(ZIP="59001")  # rural Montana, far from every site
    p_here = score_frame(trained.bundle, leads, with_reasons=False).close_probability
    p_far = score_frame(trained.bundle, moved, with_reasons=False).close_probability
    assert not np.allclose(p_here, p_far)


def test_a_sheet_without_the_zip_column_is_scored_with_a_warning(trained: TrainResult, geo_sample) -> None:  # type: ignore[no-untyped-def]
    result = score_frame(trained.bundle, geo_sample.leads.drop(columns=["ZIP"]).head(10))
    missing = next(w for w in result.warnings if w["code"] == "missing_columns")
    assert DISTANCE in missing["columns"] and len(result.lead_score) == 10


def test_geo_settings_change_the_training_fingerprint(geo_config: GeoConfig) -> None:
    plain = tiny_config()
    assert config_fingerprint(plain) != config_fingerprint(tiny_config(geo=geo_config))


def test_unknown_zip_rows_train_and_score(geo_sample, geo_config) -> None:  # type: ignore[no-untyped-def]
    leads = geo_sample.leads.copy()
    leads.loc[leads.index[:40], "ZIP"] = "not a zip"
    result = train(leads, tiny_config(geo=geo_config, leakage=False))
    assert result.bundle.card["geo"]["training_zips"]["unknown"] > 0
    assert any("hold no known US ZIP code (e.g. 'not a zip')" in n for n in result.notes)
    scored = score_frame(result.bundle, leads.head(5), with_reasons=False)
    assert np.isfinite(scored.close_probability).all()


def test_geo_frame_columns_are_not_left_on_the_users_frame(geo_sample, trained: TrainResult) -> None:  # type: ignore[no-untyped-def]
    leads = geo_sample.leads.head(5).copy()
    columns = list(leads.columns)
    score_frame(trained.bundle, leads)
    assert list(leads.columns) == columns and isinstance(leads, pd.DataFrame)


def test_a_geo_model_is_compared_with_an_active_geo_model(trained: TrainResult, geo_sample, geo_config) -> None:  # type: ignore[no-untyped-def]
    """The active model's geo columns come from the ZIP column: the comparison is not skipped as 'missing'."""
    again = train(geo_sample.leads, tiny_config(geo=geo_config, seed=1), active=trained.bundle)
    comparison = again.bundle.card["comparison"]
    assert "lacks" not in comparison.get("reason", "")
    assert comparison["status"] in ("compared", "skipped")
    if comparison["status"] == "skipped":  # only for too few rows new to the active model
        assert "held-out rows are new" in comparison["reason"]


def test_zip_column_is_found_when_not_named(geo_sample, geo_config) -> None:  # type: ignore[no-untyped-def]
    setup = GeoConfig(zip_column=None, sites=geo_config.sites)
    assert setup.resolve(geo_sample.leads) == "ZIP"
