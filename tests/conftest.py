"""Shared fixtures: generated lead sheets and a tiny trained model bundle."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from backend.core.evaluate import Gates
from backend.core.train import TrainConfig, TrainResult, train
from backend.reports.model_report import attach_report
from backend.sample.generate import generate
from backend.store import registry
from backend.store.bundle import ModelBundle

TINY_ROUNDS = 80


def tiny_config(**overrides: object) -> TrainConfig:
    """A fast training configuration for tests (few rounds, gates recorded but lenient)."""
    base = dict(target="Status", positive="Won", value="MRR", max_rounds=TINY_ROUNDS,
                gates=Gates(min_auc=0.6, min_precision=0.5, min_recall=0.6))
    base.update(overrides)
    return TrainConfig(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def sample_frame() -> pd.DataFrame:
    """A generated, messy lead sheet of 800 rows (labelled and open)."""
    return generate(rows=800, seed=11)


@pytest.fixture(scope="session")
def tiny_training(sample_frame: pd.DataFrame) -> TrainResult:
    """One small training run shared by the session (with its report, as the CLI writes it)."""
    result = train(sample_frame, tiny_config())
    attach_report(result)
    return result


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory, tiny_training: TrainResult) -> Path:
    """A models directory whose active version is the tiny bundle."""
    models = tmp_path_factory.mktemp("models")
    version = tiny_training.bundle.card["version"]
    tiny_training.bundle.save(models / version)
    registry.promote(models, version)
    return models


@pytest.fixture(scope="session")
def tiny_bundle(tiny_models_dir: Path) -> ModelBundle:
    """The tiny bundle, loaded from disk (hash-checked) as a server would."""
    return registry.load_active(tiny_models_dir)


@pytest.fixture(scope="session")
def sample_header_rows(sample_frame: pd.DataFrame) -> tuple[list[str], list[list[object]]]:
    """(header, rows) of 50 leads in the shape Range.getValues() gives."""
    head = sample_frame.head(50)
    return list(head.columns), head.astype(object).where(head.notna(), "").values.tolist()
