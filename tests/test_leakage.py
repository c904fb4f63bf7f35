"""The leakage guard: leaks are caught and explained, honest strong columns are not, --keep wins."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backend.core.features import FeatureBuilder
from backend.core.leakage import LeakageRules, find_leaks, group_codes, grouped_auc, ordered_auc, rank_auc
from backend.core.schema import RoleOverrides, infer_schema
from backend.core.train import TrainConfig, train
from tests.conftest import tiny_config

SAMPLE_CSV = Path(__file__).resolve().parent.parent / "backend" / "sample" / "leads.csv"


def honest_leads(n: int = 1200, seed: int = 0, open_share: float = 0.0) -> pd.DataFrame:
    """Leads whose outcome depends on honest columns only (a booked demo matters a lot)."""
    rng = np.random.default_rng(seed)
    source = rng.choice(["Referral", "Ads", "Web", "Event"], n, p=[0.2, 0.3, 0.35, 0.15])
    spend = np.round(rng.lognormal(8, 1, n))
    demo = rng.random(n) < 0.35
    logit = -0.6 + 0.9 * (source == "Referral") + 1.4 * demo + 0.3 * np.log(spend / 3000)
    won = rng.random(n) < 1 / (1 + np.exp(-logit))
    status = np.where(won, "Won", "Lost").astype(object)
    status[rng.random(n) < open_share] = "Open"
    created = [(date(2025, 1, 1) + timedelta(days=int(d))).isoformat() for d in rng.integers(0, 300, n)]
    return pd.DataFrame({"Lead Source": source, "Monthly Spend": spend, "Demo Booked": np.where(demo, "Yes", "No"),
                         "Created": created, "Status": status}).astype(object)


def _dates(n: int, seed: int) -> np.ndarray:
    days = np.random.default_rng(seed).integers(0, 200, n)
    return np.array([(date(2025, 6, 1) + timedelta(days=int(d))).isoformat() for d in days], dtype=object)


def _findings(frame: pd.DataFrame, target: str = "Status", positive: str = "Won", **rules: float) -> dict:
    """Run the guard as training does (labelled rows; open rows separately); findings by column."""
    status = frame[target].astype(str).str.strip().str.lower()
    labelled = status.isin([positive.lower(), "lost"]).to_numpy()
    history = frame[labelled].reset_index(drop=True)
    y = (status[labelled] == positive.lower()).to_numpy().astype(int)
    builder = FeatureBuilder(infer_schema(history, target=target))
    x, _ = builder.transform(history, now_days=20_000.0)
    open_x = builder.transform(frame[~labelled], now_days=20_000.0)[0] if (~labelled).any() else None
    found = find_leaks(x, builder.columns_, y, open_x=open_x, rules=LeakageRules(**rules))
    return {f.column: f for f in found}


def test_auc_helpers_match_their_definitions() -> None:
    y = np.array([0, 0, 1, 1])
    assert rank_auc(y, np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert rank_auc(y, np.array([1.0, 1.0, 1.0, 1.0])) == 0.5  # ties count half
    assert ordered_auc(y, np.array([4.0, 3.0, 2.0, 1.0])) == 1.0  # either direction
    assert ordered_auc(y, np.array([np.nan, np.nan, 5.0, 6.0])) == 1.0  # blanks are a value too
    codes = group_codes(np.array([1.0, 2.0, np.nan, 2.0]))
    assert codes[2] == codes.max() and codes[1] == codes[3]


def test_grouped_auc_is_out_of_fold() -> None:
    """A column with a different value per row cannot look predictive by memorizing its groups."""
    rng = np.random.default_rng(1)
    y = (rng.random(600) < 0.4).astype(int)
    unique_codes = np.arange(600)
    assert grouped_auc(y, unique_codes, seed=0) < 0.6


def test_honest_columns_are_not_flagged() -> None:
    assert _findings(honest_leads(open_share=0.2)) == {}


def test_bundled_sample_sheet_has_no_leak() -> None:
    """The sample's strongest honest columns (Demo Booked, Email Opens) stay features."""
    frame = pd.read_csv(SAMPLE_CSV, dtype=str, keep_default_na=False)
    result = train(frame, tiny_config())
    assert result.bundle.card["leakage"] == []
    names = {f["name"] for f in result.bundle.card["features"]}
    assert {"Demo Booked", "Email Opens", "Trial Signup"} <= names


def test_copied_target_is_caught_as_near_perfect() -> None:
    frame = honest_leads()
    frame["Result Copy"] = frame["Status"].map({"Won": "Closed won", "Lost": "Closed lost"})
    found = _findings(frame)
    assert set(found) == {"Result Copy"}
    assert found["Result Copy"].kind in ("near-perfect predictor", "near-certain level")
    assert found["Result Copy"].evidence["auc_alone"] >= 0.95


def test_numeric_copy_of_the_outcome_is_caught() -> None:
    frame = honest_leads()
    rng = np.random.default_rng(3)
    won = frame["Status"].eq("Won").to_numpy()
    frame["Days To Close"] = np.where(won, rng.integers(1, 30, len(frame)), rng.integers(60, 200, len(frame)))
    found = _findings(frame)
    assert found["Days To Close"].kind == "near-perfect predictor"
    assert "AUC" in found["Days To Close"].figure


def test_date_filled_only_for_closed_leads_is_caught() -> None:
    frame = honest_leads(open_share=0.25)
    closed = frame["Status"].ne("Open").to_numpy()
    frame["Last Touch"] = np.where(closed, _dates(len(frame), seed=2), "")
    found = _findings(frame)
    assert found["Last Touch"].kind == "filled only when closed"
    assert found["Last Touch"].evidence["filled_open"] == 0.0


def test_date_named_like_a_close_date_is_caught() -> None:
    frame = honest_leads()
    frame["Close Date"] = _dates(len(frame), seed=4)
    found = _findings(frame)
    assert found["Close Date"].kind == "post-outcome date"
    assert found["Close Date"].evidence["rule"] == "name"


def test_date_whose_presence_gives_the_outcome_away_is_caught() -> None:
    frame = honest_leads()
    won = frame["Status"].eq("Won").to_numpy()
    rng = np.random.default_rng(5)
    signed = rng.random(len(frame)) < 0.85
    frame["Milestone"] = np.where(won & signed, _dates(len(frame), seed=9), "")
    found = _findings(frame)
    assert found["Milestone"].kind == "post-outcome date"
    assert found["Milestone"].evidence["presence_auc"] >= 0.8


def test_category_level_that_always_converts_is_caught() -> None:
    frame = honest_leads(n=2000)
    rng = np.random.default_rng(6)
    won = frame["Status"].eq("Won").to_numpy()
    tags = rng.choice(["Call back", "Interested", "Busy"], len(frame)).astype(object)
    closed_by_rep = won & (rng.random(len(frame)) < 0.3)
    tags[closed_by_rep] = "Closed by rep"
    frame["Tags"] = tags
    found = _findings(frame)
    assert found["Tags"].kind == "near-certain level"
    assert found["Tags"].evidence["level"] == "Closed by rep"
    assert found["Tags"].evidence["conversion"] == 1.0
    # one value at ~100 % is a warning with its figure, not an exclusion
    assert found["Tags"].warning and not found["Tags"].excluded
    assert "'Closed by rep': 100.0% converted over" in found["Tags"].figure


def test_column_with_a_won_value_and_a_lost_value_is_a_verdict() -> None:
    frame = honest_leads(n=2000)
    rng = np.random.default_rng(16)
    won = frame["Status"].eq("Won").to_numpy()
    tags = rng.choice(["Call back", "Interested", "Busy"], len(frame)).astype(object)
    tags[won & (rng.random(len(frame)) < 0.3)] = "Closed by rep"
    tags[~won & (rng.random(len(frame)) < 0.3)] = "Not interested"
    frame["Tags"] = tags
    found = _findings(frame)
    assert found["Tags"].kind == "verdict column" and found["Tags"].excluded and not found["Tags"].warning
    assert {lv["side"] for lv in found["Tags"].evidence["levels"]} == {"won", "lost"}


def test_small_column_filled_only_for_won_leads_is_caught() -> None:
    """35 filled of 800 won against 0 of 7,000 lost: tiny, and still a leak (Fisher's exact test)."""
    rng = np.random.default_rng(17)
    y = np.r_[np.ones(800, dtype=int), np.zeros(7000, dtype=int)]
    frame = pd.DataFrame({"Source": rng.choice(["Ads", "Web", "Event"], len(y)),
                          "Status": np.where(y == 1, "Won", "Lost")}, dtype=object)
    filled = np.zeros(len(y), dtype=bool)
    filled[rng.choice(800, 35, replace=False)] = True
    frame["Signed Plan"] = np.where(filled, np.round(rng.lognormal(6, 0.4, len(y)), -1), np.nan)
    found = _findings(frame)
    assert found["Signed Plan"].kind == "filled for one outcome" and found["Signed Plan"].excluded
    assert found["Signed Plan"].evidence["filled"] == 35 and found["Signed Plan"].evidence["filled_other"] == 0
    assert "Source" not in found


def test_one_column_that_carries_the_whole_outcome_is_caught() -> None:
    """Like a call's duration: strong alone, and the model collapses without it."""
    rng = np.random.default_rng(7)
    frame = honest_leads(n=3000)
    n = len(frame)
    seconds = rng.lognormal(5, 0.8, n)
    base = frame["Demo Booked"].eq("Yes").to_numpy() * 0.4
    won = rng.random(n) < 1 / (1 + np.exp(-(-10.0 + 2.0 * np.log(seconds) + base)))
    frame["Status"] = np.where(won, "Won", "Lost")
    frame["Call Seconds"] = np.round(seconds)
    found = _findings(frame)
    assert set(found) == {"Call Seconds"}
    assert found["Call Seconds"].kind == "dominant column"
    assert found["Call Seconds"].evidence["auc_gain"] >= 0.08


def test_row_numbers_are_id_like() -> None:
    frame = honest_leads()
    frame["Row"] = np.random.default_rng(8).permutation(len(frame)) + 1000
    found = _findings(frame)
    assert found["Row"].kind == "id-like"


def leaky_sheet() -> pd.DataFrame:
    frame = honest_leads(n=1200, open_share=0.2)
    closed = frame["Status"].ne("Open")
    frame["Outcome Copy"] = frame["Status"].where(closed, "")
    frame["Closed On"] = np.where(closed, _dates(len(frame), seed=10), "")
    return frame


def test_training_excludes_leaks_and_records_why() -> None:
    result = train(leaky_sheet(), tiny_config(value=None))
    card = result.bundle.card
    flagged = {f["column"]: f for f in card["leakage"]}
    assert set(flagged) == {"Outcome Copy", "Closed On"}
    for f in flagged.values():
        assert f["excluded"] is True and f["why"] and f["figure"] and f["evidence"]
    features = {f["name"] for f in card["features"]}
    assert not features & set(flagged)
    excluded = {c["name"]: c for c in card["excluded"]}
    assert excluded["Outcome Copy"]["role"] == "leakage"
    assert "--keep" in excluded["Outcome Copy"]["reason"]
    assert [f.column for f in result.leakage] == list(flagged)


def test_keep_overrides_the_guard() -> None:
    result = train(leaky_sheet(), tiny_config(value=None,
                                              overrides=RoleOverrides(keep=["outcome copy"])))
    card = result.bundle.card
    flagged = {f["column"]: f for f in card["leakage"]}
    assert flagged["Outcome Copy"]["excluded"] is False
    assert flagged["Closed On"]["excluded"] is True
    assert "Outcome Copy" in {f["name"] for f in card["features"]}
    assert card["metrics"]["classifier"]["auc"] > 0.99  # and the leak does what leaks do


def test_guard_can_be_switched_off() -> None:
    result = train(leaky_sheet(), tiny_config(value=None, leakage=False))
    assert result.bundle.card["leakage"] == []
    assert "Outcome Copy" in {f["name"] for f in result.bundle.card["features"]}


def test_every_column_leaking_is_a_clear_error() -> None:
    frame = honest_leads()[["Status"]].copy()
    frame["Outcome Copy"] = frame["Status"]
    from backend.errors import BadInput

    with pytest.raises(BadInput, match="--keep"):
        train(frame, TrainConfig(target="Status", positive="Won", max_rounds=20))
