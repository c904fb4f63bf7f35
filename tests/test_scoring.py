"""Scoring behaviour: order, bounds, warnings, invariance and direction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from backend.core.features import today_days
from backend.core.outputs import OUTPUT_COLUMNS
from backend.core.scoring import compact_number, lead_scores, predict, rows_to_frame, score_frame, score_rows
from backend.errors import BadInput, NoUsableColumns
from backend.sample import SAMPLE_CSV
from backend.store import registry
from backend.store.bundle import ModelBundle

REPO_MODELS = Path(__file__).resolve().parent.parent / "models"


@pytest.fixture(scope="module")
def leads(sample_frame: pd.DataFrame) -> pd.DataFrame:
    return sample_frame.head(200).reset_index(drop=True)


def test_one_result_per_row_in_bounds(tiny_bundle: ModelBundle, leads: pd.DataFrame) -> None:
    result = score_frame(tiny_bundle, leads)
    assert len(result.results) == len(leads)
    assert set(np.unique(result.lead_score)) <= set(range(1, 11))
    assert ((result.close_probability >= 0) & (result.close_probability <= 1)).all()
    assert (result.predicted_mrr >= 0).all()
    for r in result.results:
        assert 1 <= r["lead_score"] <= 10 and 0 <= r["close_probability"] <= 1
        assert 1 <= len(r["reasons"]) <= 3
        assert r["segment"]


def test_row_order_is_kept(tiny_bundle: ModelBundle, leads: pd.DataFrame) -> None:
    now = today_days()
    base = score_frame(tiny_bundle, leads, now_days=now)
    perm = np.random.default_rng(0).permutation(len(leads))
    shuffled = score_frame(tiny_bundle, leads.iloc[perm].reset_index(drop=True), now_days=now)
    np.testing.assert_allclose(shuffled.close_probability, base.close_probability[perm])
    np.testing.assert_array_equal(shuffled.lead_score, base.lead_score[perm])


def test_column_order_and_header_spelling_do_not_matter(tiny_bundle: ModelBundle, leads: pd.DataFrame) -> None:
    now = today_days()
    base = score_frame(tiny_bundle, leads, now_days=now)
    renamed = leads[list(reversed(leads.columns))].rename(columns=lambda c: f"  {c.upper()} ")
    other = score_frame(tiny_bundle, renamed, now_days=now)
    np.testing.assert_allclose(other.close_probability, base.close_probability)


def test_vectorized_equals_one_row_at_a_time(tiny_bundle: ModelBundle, leads: pd.DataFrame) -> None:
    now = today_days()
    batch = score_frame(tiny_bundle, leads.head(20), now_days=now)
    single = [score_frame(tiny_bundle, leads.iloc[[i]], now_days=now).close_probability[0] for i in range(20)]
    np.testing.assert_allclose(batch.close_probability, single, rtol=1e-6)


def test_invariance_to_identifiers(tiny_bundle: ModelBundle, leads: pd.DataFrame) -> None:
    """Company, lead id and email are identifiers: renaming the company must change nothing."""
    now = today_days()
    base = score_frame(tiny_bundle, leads, now_days=now)
    changed = leads.copy()
    changed["Company"] = [f"Renamed Corp {i}" for i in range(len(leads))]
    changed["Lead ID"] = [f"X-{i}" for i in range(len(leads))]
    changed["Contact Email"] = "someone@else.example"
    other = score_frame(tiny_bundle, changed, now_days=now)
    np.testing.assert_array_equal(other.close_probability, base.close_probability)
    assert other.reasons == base.reasons


def test_unseen_categories_are_scored_and_warned(tiny_bundle: ModelBundle, leads: pd.DataFrame) -> None:
    frame = leads.head(5).copy()
    frame["Lead Source"] = "Carrier Pigeon"
    result = score_frame(tiny_bundle, frame)
    assert all(r["lead_score"] is not None for r in result.results)
    codes = {w["code"]: w for w in result.warnings}
    assert "Carrier Pigeon" in codes["unseen_categories"]["message"]


def test_missing_and_unknown_columns_warned(tiny_bundle: ModelBundle, leads: pd.DataFrame) -> None:
    frame = leads.head(5).drop(columns=["Region", "Email Opens"]).assign(Territory="West")
    result = score_frame(tiny_bundle, frame)
    codes = {w["code"]: w for w in result.warnings}
    assert set(codes["missing_columns"]["columns"]) == {"Region", "Email Opens"}
    assert "Territory" in codes["unknown_columns"]["columns"]
    assert all(r["lead_score"] is not None for r in result.results)


def test_no_model_columns_is_a_clear_error(tiny_bundle: ModelBundle) -> None:
    with pytest.raises(NoUsableColumns, match="Lead Source"):
        score_rows(tiny_bundle, ["Foo", "Bar"], [[1, 2]])


def test_empty_rows_are_reported_not_scored(tiny_bundle: ModelBundle, leads: pd.DataFrame) -> None:
    header = list(leads.columns)
    rows = [leads.iloc[0].tolist(), [""] * len(header), leads.iloc[1].tolist()]
    result = score_rows(tiny_bundle, header, rows)
    out = result.results
    assert out[0]["lead_score"] is not None and out[2]["lead_score"] is not None
    assert out[1]["lead_score"] is None and "no values" in out[1]["error"]
    assert any(w["code"] == "unscorable_rows" and w["rows"] == [1] for w in result.warnings)


def test_unparsed_cells_are_warned(tiny_bundle: ModelBundle, leads: pd.DataFrame) -> None:
    frame = leads.head(3).copy()
    frame.loc[1, "Monthly Ad Spend"] = "lots"
    result = score_frame(tiny_bundle, frame)
    warning = next(w for w in result.warnings if w["code"] == "unparsed_values")
    assert warning["rows"] == [1] and "lots" in warning["message"]


def test_lead_score_reproducible_by_hand(tiny_bundle: ModelBundle, leads: pd.DataFrame) -> None:
    """Lead score = 1 + number of saved cut-points at or below p × MRR."""
    result = score_frame(tiny_bundle, leads)
    cuts = tiny_bundle.card["thresholds"]["score_cutpoints"]
    assert len(cuts) == 9 and cuts == sorted(cuts)
    ev = result.close_probability * result.predicted_mrr
    by_hand = [1 + sum(c <= v for c in cuts) for v in ev]
    assert result.lead_score.tolist() == by_hand
    assert lead_scores(np.array([-1.0, 1e12]), cuts).tolist() == [1, 10]


def test_reasons_name_user_columns_with_direction(tiny_bundle: ModelBundle, leads: pd.DataFrame) -> None:
    result = score_frame(tiny_bundle, leads.head(30))
    feature_names = {c.name for c in tiny_bundle.features.columns_}
    for reasons in result.reasons:
        for text in reasons:
            assert text.endswith(("↑", "↓"))
            assert any(text.startswith(name) for name in feature_names)


def test_formula_like_text_is_just_a_category(tiny_bundle: ModelBundle, leads: pd.DataFrame) -> None:
    frame = leads.head(2).copy()
    frame["Lead Source"] = '=IMPORTXML("http://x","//a")'
    result = score_frame(tiny_bundle, frame)
    assert all(r["lead_score"] is not None for r in result.results)


def test_rows_to_frame_pads_short_rows_and_refuses_long_ones() -> None:
    frame = rows_to_frame(["A", "B", "C"], [[1], [1, 2, 3], [1, 2, 3, ""]])
    assert frame.shape == (3, 3) and frame.iloc[0, 2] is None
    with pytest.raises(BadInput, match="Row 2"):
        rows_to_frame(["A"], [[1], [1, 2]])
    with pytest.raises(BadInput, match="header"):
        rows_to_frame([], [])


def test_duplicate_and_blank_headers_are_named() -> None:
    frame = rows_to_frame(["Source", "Source", ""], [[1, 2, 3]])
    assert list(frame.columns) == ["Source", "Source (2)", "Column 3"]


def test_output_frame_columns(tiny_bundle: ModelBundle, leads: pd.DataFrame) -> None:
    out = score_frame(tiny_bundle, leads.head(4)).output_frame(scored_at="2026-01-01 00:00")
    assert tuple(out.columns) == OUTPUT_COLUMNS
    assert (out["Model Version"] == tiny_bundle.version).all()


@pytest.mark.parametrize(("value", "kw", "text"), [
    (12000, {}, "12k"), (1_500_000, {"currency": True}, "$1.5M"), (45, {}, "45"),
    (0.45, {"percent": True}, "45%"), (-2500, {"currency": True}, "-$2.5k"), (2.5, {}, "2.5"),
])
def test_compact_number(value: float, kw: dict, text: str) -> None:
    assert compact_number(value, **kw) == text


@pytest.fixture(scope="module")
def default_bundle() -> ModelBundle:
    return registry.load_active(REPO_MODELS)


def test_default_model_scores_the_sample_sheet(default_bundle: ModelBundle) -> None:
    frame = pd.read_csv(SAMPLE_CSV, dtype=str, keep_default_na=False)
    result = score_frame(default_bundle, frame)
    assert len(result.results) == len(frame)
    # deciles of held-out expected value: every score band is used on the whole sheet
    assert set(np.unique(result.lead_score)) == set(range(1, 11))


def test_default_model_direction_demo_booked(default_bundle: ModelBundle) -> None:
    """Booking a demo must raise the close probability.

    In the sample sheet's generating process a booked demo adds +1.35 to the log-odds of
    winning, the largest single effect; a model that learnt the opposite has learnt noise.
    """
    frame = pd.read_csv(SAMPLE_CSV, dtype=str, keep_default_na=False).head(300)
    now = today_days()
    yes = predict(default_bundle, default_bundle.features.transform(frame.assign(**{"Demo Booked": "Yes"}),
                                                                   now_days=now)[0]).probability
    no = predict(default_bundle, default_bundle.features.transform(frame.assign(**{"Demo Booked": "No"}),
                                                                  now_days=now)[0]).probability
    assert (yes >= no).mean() >= 0.95
    assert (yes - no).mean() > 0.05


def test_default_model_direction_ad_spend_raises_mrr(default_bundle: ModelBundle) -> None:
    """A bigger ad budget means a bigger account: predicted MRR rises with Monthly Ad Spend."""
    frame = pd.read_csv(SAMPLE_CSV, dtype=str, keep_default_na=False).head(300)
    now = today_days()
    low = predict(default_bundle, default_bundle.features.transform(frame.assign(**{"Monthly Ad Spend": "$2k"}),
                                                                   now_days=now)[0]).mrr
    high = predict(default_bundle, default_bundle.features.transform(
        frame.assign(**{"Monthly Ad Spend": "$80k"}), now_days=now)[0]).mrr
    assert (high > low).mean() >= 0.9


def test_no_rows_gives_no_results(tiny_bundle: ModelBundle, leads: pd.DataFrame) -> None:
    result = score_rows(tiny_bundle, list(leads.columns), [])
    assert result.results == [] and len(result) == 0


def test_reasons_never_cite_columns_the_sheet_lacks(tiny_bundle: ModelBundle, leads: pd.DataFrame) -> None:
    frame = leads.head(20)[["Lead Source", "Business Type", "Demo Booked", "Monthly Ad Spend"]]
    result = score_frame(tiny_bundle, frame)
    for reasons in result.reasons:
        assert reasons and all(r.startswith(tuple(frame.columns)) for r in reasons)


def test_matrix_and_frame_paths_agree(tiny_bundle: ModelBundle, leads: pd.DataFrame) -> None:
    """Scoring feeds XGBoost a numpy matrix of category codes; training fed pandas categoricals."""
    now = today_days()
    frame, _ = tiny_bundle.features.transform(leads, now_days=now)
    matrix, _ = tiny_bundle.features.transform_matrix(leads, now_days=now)
    a = predict(tiny_bundle, frame, contributions=True)
    b = predict(tiny_bundle, matrix, contributions=True)
    np.testing.assert_array_equal(a.probability, b.probability)
    np.testing.assert_array_equal(a.contributions, b.contributions)
    booster_margin = tiny_bundle.classifier.predict(
        xgb.DMatrix(frame, enable_categorical=True), output_margin=True)
    cal = tiny_bundle.card["calibration"]
    np.testing.assert_allclose(b.probability, 1 / (1 + np.exp(-(cal["a"] * booster_margin + cal["b"]))), rtol=1e-6)
