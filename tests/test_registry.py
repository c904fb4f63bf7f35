"""The registry (promote, rollback, list), the hot-swapping ActiveModel and the promotion gates."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backend.core.evaluate import Gates, classification_metrics, comparison_failures, gate_failures
from backend.core.schema import RoleOverrides
from backend.core.train import TrainResult, train
from backend.errors import BadInput, BundleIntegrityError, ModelUnavailable
from backend.store import registry
from backend.store.bundle import CLASSIFIER, ModelBundle
from backend.store.registry import ActiveModel
from tests.conftest import tiny_config


class Clock:
    """A hand-moved monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _store(bundle: ModelBundle, models: Path, version: str, *, promotable: bool = True) -> Path:
    """Save a copy of ``bundle`` as ``version`` in ``models``."""
    copy = ModelBundle(card=json.loads(json.dumps(bundle.card)), features=bundle.features,
                       classifier=bundle.classifier, regressor=bundle.regressor)
    copy.card["version"] = version
    copy.card["promotable"] = promotable
    copy.card["gates"] = {**copy.card["gates"], "passed": promotable,
                          "failures": [] if promotable else ["AUC 0.6 is not above 0.75."]}
    return copy.save(models / version)


@pytest.fixture
def models(tmp_path: Path, tiny_training: TrainResult) -> Path:
    """A registry with three stored versions, none active."""
    for version in ("v1", "v2", "v3"):
        _store(tiny_training.bundle, tmp_path, version)
    return tmp_path


# ---------------------------------------------------------------- promote / rollback / list

def test_promote_and_rollback_round_trip(models: Path) -> None:
    assert registry.active_version(models) is None
    for version in ("v1", "v2", "v3"):
        registry.promote(models, version)
    assert registry.active_version(models) == "v3"
    assert registry.rollback(models) == "v2"
    assert registry.rollback(models) == "v1"
    with pytest.raises(BadInput, match="no earlier model"):
        registry.rollback(models)
    registry.promote(models, "v3")
    assert registry.active_version(models) == "v3"
    assert registry.rollback(models) == "v1"


def test_promoting_the_active_version_changes_nothing(models: Path) -> None:
    registry.promote(models, "v1")
    before = (models / registry.ACTIVE).read_text()
    registry.promote(models, "v1")
    assert (models / registry.ACTIVE).read_text() == before


def test_promote_refuses_unknown_and_path_like_versions(models: Path) -> None:
    for bad in ("nope", "../v1", "v1/..", "/etc", ""):
        with pytest.raises(BadInput):
            registry.promote(models, bad)
    assert registry.active_version(models) is None


def test_promote_refuses_a_tampered_bundle(models: Path) -> None:
    (models / "v2" / CLASSIFIER).write_bytes(b"not the trained booster")
    with pytest.raises(BundleIntegrityError):
        registry.promote(models, "v2")
    assert registry.active_version(models) is None


def test_promote_of_a_failed_model_needs_force(models: Path, tiny_training: TrainResult) -> None:
    _store(tiny_training.bundle, models, "weak", promotable=False)
    with pytest.raises(BadInput, match="--force"):
        registry.promote(models, "weak", require_promotable=True)
    registry.promote(models, "weak")  # a deliberate human decision
    assert registry.active_version(models) == "weak"


def test_rollback_skips_versions_that_no_longer_load(models: Path) -> None:
    for version in ("v1", "v2", "v3"):
        registry.promote(models, version)
    (models / "v2" / CLASSIFIER).write_bytes(b"damaged")
    assert registry.rollback(models) == "v1"


def test_list_versions_marks_active_and_damaged(models: Path) -> None:
    registry.promote(models, "v2")
    (models / "v3" / "card.json").write_text("{ not json")
    listed = {v["version"]: v for v in registry.list_versions(models)}
    assert listed["v2"]["active"] and not listed["v1"]["active"]
    assert listed["v3"]["damaged"] is True
    assert listed["v1"]["auc"] is not None and listed["v1"]["promotable"] is True


def test_damaged_active_json_is_a_clear_error(models: Path) -> None:
    (models / registry.ACTIVE).write_text("[1, 2")
    with pytest.raises(ModelUnavailable, match="damaged"):
        registry.active_version(models)


def test_cli_models_commands(models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from backend.cli import main

    assert main(["models", "promote", "v1", "--dir", str(models)]) == 0
    assert main(["models", "promote", "v2", "--dir", str(models)]) == 0
    assert main(["models", "list", "--dir", str(models)]) == 0
    out = capsys.readouterr().out
    assert "* v2" in out and "  v1" in out
    assert main(["models", "rollback", "--dir", str(models)]) == 0
    assert "Active model: v1" in capsys.readouterr().out
    assert main(["models", "promote", "missing", "--dir", str(models)]) == 2


# ---------------------------------------------------------------- ActiveModel

def test_active_model_picks_up_a_promotion_within_a_second(models: Path) -> None:
    registry.promote(models, "v1")
    clock = Clock()
    active = ActiveModel(models, clock=clock)
    assert active.get().version == "v1"
    registry.promote(models, "v2")
    clock.now += 0.5
    assert active.get().version == "v1"  # not looked at again yet: one stat per second at most
    clock.now += 0.6
    assert active.get().version == "v2"
    registry.rollback(models)
    clock.now += 1.1
    assert active.get().version == "v1"


def test_active_model_stats_at_most_once_per_interval(models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry.promote(models, "v1")
    clock = Clock()
    active = ActiveModel(models, clock=clock)
    active.get()
    calls = []
    real_stat = active._stat
    monkeypatch.setattr(active, "_stat", lambda: calls.append(1) or real_stat())
    for _ in range(50):
        active.get()
    assert calls == []
    clock.now += 1.0
    active.get()
    assert calls == [1]


def test_active_model_keeps_serving_when_the_new_bundle_fails(models: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    registry.promote(models, "v1")
    clock = Clock()
    active = ActiveModel(models, clock=clock)
    assert active.get().version == "v1"
    # A version that passed its check at promotion and was damaged afterwards.
    registry.promote(models, "v2")
    (models / "v2" / CLASSIFIER).write_bytes(b"damaged after promotion")
    clock.now += 2
    with caplog.at_level(logging.ERROR, logger="backend.store.registry"):
        assert active.get().version == "v1"
        clock.now += 2
        assert active.get().version == "v1"
    errors = [r for r in caplog.records if "could not load the active model" in r.getMessage()]
    assert len(errors) == 1  # logged once, not every second
    assert "still serving v1" in errors[0].getMessage()


def test_active_model_without_any_model_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable):
        ActiveModel(tmp_path).get()


def test_active_model_is_safe_across_threads(models: Path) -> None:
    registry.promote(models, "v1")
    active = ActiveModel(models, check_every=0.0)
    seen: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(30):
                seen.append(active.get().version)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for version in ("v2", "v3", "v1"):
        registry.promote(models, version)
    for t in threads:
        t.join()
    assert not errors
    assert set(seen) <= {"v1", "v2", "v3"}
    assert active.get().version == "v1"


# ---------------------------------------------------------------- gates that decide promotion

def test_model_calling_every_lead_positive_fails_despite_high_auc() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(2000) < 0.25).astype(int)
    p = np.clip(0.6 + 0.3 * y + rng.normal(0, 0.02, 2000), 0, 1)  # ranks perfectly, all above 0.5
    metrics = classification_metrics(y, p, threshold=0.5, min_recall=0.75)
    assert metrics["auc"] > 0.99 and metrics["recall"] == 1.0 and metrics["flagged_share"] == 1.0
    failures = gate_failures(metrics, Gates())
    assert failures and any("Precision" in f for f in failures)


def _comparison(new_auc: float, old_auc: float, new_lift: float, old_lift: float) -> dict:
    return {"status": "compared", "version": "old", "rows": 500,
            "candidate": {"auc": new_auc, "top_decile_lift": new_lift},
            "active": {"auc": old_auc, "top_decile_lift": old_lift}}


def test_comparison_gate_tolerances() -> None:
    gates = Gates()
    assert comparison_failures(_comparison(0.795, 0.80, 2.0, 2.0), gates) == []
    assert comparison_failures(_comparison(0.80, 0.80, 1.92, 2.0), gates) == []
    auc_fail = comparison_failures(_comparison(0.78, 0.80, 2.0, 2.0), gates)
    assert len(auc_fail) == 1 and "AUC" in auc_fail[0] and "active model old" in auc_fail[0]
    lift_fail = comparison_failures(_comparison(0.80, 0.80, 1.8, 2.0), gates)
    assert len(lift_fail) == 1 and "lift" in lift_fail[0]
    assert comparison_failures({"status": "skipped", "version": "old", "reason": "x"}, gates) == []


def test_worse_than_the_active_model_fails(sample_frame: pd.DataFrame, tiny_training: TrainResult) -> None:
    weak = RoleOverrides(drop=["Email Opens", "Pages Visited", "Demo Booked", "Trial Signup", "Lead Source"])
    result = train(sample_frame, tiny_config(overrides=weak), active=tiny_training.bundle)
    comparison = result.bundle.card["comparison"]
    assert comparison["status"] == "compared"
    assert comparison["candidate"]["auc"] < comparison["active"]["auc"]
    assert not result.passed
    assert any("active model" in f for f in result.failures)
    assert result.bundle.card["gates"]["failures"] == result.failures


def test_comparison_uses_only_rows_the_active_model_never_saw(sample_frame: pd.DataFrame,
                                                              tiny_training: TrainResult) -> None:
    result = train(sample_frame, tiny_config(seed=5, test_size=0.4), active=tiny_training.bundle)
    c = result.bundle.card["comparison"]
    assert c["status"] == "compared"
    assert c["rows_seen_by_active"] > 0
    assert c["rows"] + c["rows_seen_by_active"] == result.bundle.card["data"]["split"]["test"]


def test_comparison_is_skipped_when_columns_do_not_match(sample_frame: pd.DataFrame,
                                                         tiny_training: TrainResult) -> None:
    result = train(sample_frame.drop(columns=["Email Opens"]), tiny_config(),
                   active=tiny_training.bundle)
    c = result.bundle.card["comparison"]
    assert c["status"] == "skipped" and "Email Opens" in c["reason"]
    assert any("Not compared with the active model" in n for n in result.notes)


def test_failed_model_is_stored_not_promoted_and_says_why(tmp_path: Path, sample_frame: pd.DataFrame,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from backend.cli import main

    data = tmp_path / "leads.csv"
    sample_frame.to_csv(data, index=False)
    models = tmp_path / "models"
    code = main(["train", str(data), "--target", "Status", "--positive", "Won", "--value", "MRR", "--out",
                 str(models), "--cv", "0", "--min-auc", "0.99"])
    assert code == 3
    captured = capsys.readouterr()
    assert "AUC" in captured.err
    assert "FAILED" in captured.out
    assert registry.active_version(models) is None
    (card_path,) = models.glob("*/card.json")
    card = json.loads(card_path.read_text())
    assert card["promotable"] is False and any("AUC" in f for f in card["gates"]["failures"])
