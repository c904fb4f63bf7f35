"""Training on histories with a known truth: junk levels warned, leaks excluded, copies kept together."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from backend.core.groups import find_groups, split_rows
from backend.core.labels import outcome_labels
from backend.core.schema import infer_schema
from backend.core.scoring import score_frame
from backend.core.train import TrainResult, train
from backend.sample.histories import JUNK, junk_source_history, repeated_history
from tests.conftest import tiny_config


def _config(**overrides: object):  # type: ignore[no-untyped-def]
    return tiny_config(value=None, max_rounds=150, bootstrap_rounds=100, **overrides)


@pytest.fixture(scope="module")
def junk_training() -> TrainResult:
    return train(junk_source_history(3000, seed=1), _config())


def test_junk_level_offer_and_campaign_id_are_kept(junk_training: TrainResult) -> None:
    card = junk_training.bundle.card
    features = {f["name"]: f for f in card["features"]}
    assert card["leakage"] == []
    assert {"Lead Source", "Offer", "campaign_id"} <= set(features)
    assert features["campaign_id"]["role"] == "category" and len(features["campaign_id"]["levels"]) >= 20


def test_junk_level_is_a_warning_with_its_figure(junk_training: TrainResult) -> None:
    warnings = {w["column"]: w for w in junk_training.bundle.card["warnings"]}
    assert set(warnings) == {"Lead Source"}
    w = warnings["Lead Source"]
    assert w["warning"] is True and w["excluded"] is False
    assert w["evidence"]["level"] == JUNK and w["evidence"]["conversion"] < 0.06
    assert JUNK in w["figure"] and "converted over" in w["figure"]
    assert any(f.warning and f.column == "Lead Source" for f in junk_training.leakage)


def test_columns_filled_only_for_a_few_won_rows_are_excluded() -> None:
    frame = junk_source_history(3000, seed=1, leaky=True)
    won = frame["Status"].eq("Won")
    assert frame.loc[~won, "Contract Value"].eq("").all()
    assert 0.03 < frame.loc[won, "Contract Value"].ne("").mean() < 0.07
    card = train(frame, _config()).bundle.card
    excluded = {f["column"]: f for f in card["leakage"]}
    assert set(excluded) == {"Contract Value", "Onboarding Call", "Account Manager"}
    for f in excluded.values():
        assert f["kind"] == "filled for one outcome" and f["evidence"]["p_value"] < 1e-6
    assert {"Lead Source", "Offer", "campaign_id"} <= {f["name"] for f in card["features"]}


def test_copies_are_found_and_kept_on_one_side() -> None:
    frame = repeated_history(1500, seed=2)
    labels = frame["Status"].eq("Won").to_numpy().astype(int)
    schema = infer_schema(frame, target="Status")
    groups = find_groups(frame, schema.columns)
    # every copy of a lead (same attributes apart from id and product) lands in one group
    key = frame[["Industry", "Region", "Employees", "Monthly Spend", "Site Visits"]].astype(str).agg("|".join, axis=1)
    truth = pd.factorize(key)[0]
    assert groups.count == len(np.unique(truth))
    assert all(len(np.unique(groups.ids[truth == t])) == 1 for t in np.unique(truth))
    rest, held = split_rows(np.arange(len(frame)), labels, groups.ids, 0.2, 0)
    assert not set(groups.ids[rest]) & set(groups.ids[held])


def test_group_column_keeps_its_rows_together() -> None:
    frame = junk_source_history(600, seed=3)
    frame["Company"] = [f"co-{i % 150}" for i in range(len(frame))]
    groups = find_groups(frame, infer_schema(frame, target="Status").columns, group_column="Company")
    assert groups.count == 150 and groups.by_column == "Company"


def test_held_out_auc_matches_new_leads_despite_copies() -> None:
    """20 % of won leads appear 6 times: the reported AUC is the AUC on leads never seen."""
    history = repeated_history(6000, seed=4)
    result = train(history, _config())
    reported = result.bundle.card["metrics"]["classifier"]["auc"]
    assert result.bundle.card["data"]["groups"]["repeated_rows"] > 0.2 * len(history)
    fresh = repeated_history(6000, seed=4, fresh=True)
    y, _ = outcome_labels(fresh["Status"], "Won")
    p = score_frame(result.bundle, fresh, with_reasons=False).close_probability
    unseen = roc_auc_score(y, p)
    assert abs(reported - unseen) <= 0.03, (reported, unseen)


def test_same_file_scores_the_same_a_year_later() -> None:
    """Dates are read without the clock: moving "now" a year ahead changes no probability or reason."""
    frame = junk_source_history(1200, seed=5)
    frame["First Call"] = [(pd.Timestamp(c) + pd.Timedelta(days=int(d))).date().isoformat()
                           for c, d in zip(frame["Created"], np.random.default_rng(0).integers(0, 20, len(frame)))]
    bundle = train(frame, _config()).bundle
    usage = {d["column"]: d for d in bundle.card["dates"]}
    assert usage["Created"]["use"] == "window" and usage["First Call"]["use"] == "interval"
    assert usage["First Call"]["relative_to"] == "Created"
    today = score_frame(bundle, frame, now_days=20_500.0)
    next_year = score_frame(bundle, frame, now_days=20_500.0 + 365)
    np.testing.assert_array_equal(today.close_probability, next_year.close_probability)
    assert today.reasons == next_year.reasons
    assert not any("days ago" in r for row in today.reasons for r in row)
