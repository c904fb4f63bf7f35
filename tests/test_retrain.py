"""Retraining from a Google Sheet tab: reads the history, gates, promotes; idempotent and locked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from backend.cli import RETRAIN_LOCK, main
from backend.core.outputs import CLOSE_PROBABILITY, LEAD_SCORE, SCORED_AT
from backend.errors import BadInput
from backend.sample.generate import generate
from backend.sources.history import SheetSource, parse_source, read_history, values_to_frame
from backend.store import experiments, registry
from tests.sheets_fake import (  # noqa: F401  (the *_fixture names are pytest fixtures)
    SheetsFake,
    sheets_fake_fixture,
    sheets_settings_fixture,
)

TAB = "Closed deals"
ARGS = ["--target", "Status", "--positive", "Won", "--value", "MRR", "--min-auc", "0.6", "--min-precision", "0.5",
        "--min-recall", "0.6", "--cv", "0"]


def sheet_rows(seed: int = 3, n: int = 600) -> list[list[Any]]:
    """A lead sheet as a team keeps it, with the product's output columns already filled in.

    The outputs are made to give the outcome away, so a model that read them would show it.
    """
    frame = generate(rows=n, seed=seed)
    frame = frame.astype(object).where(frame.notna(), "")
    won = frame["Status"].astype(str).str.strip().str.lower().eq("won").to_numpy()
    frame[LEAD_SCORE] = np.where(won, 10, 1)
    frame[CLOSE_PROBABILITY] = np.where(won, 0.99, 0.01)
    frame[SCORED_AT] = "2026-11-01 09:00"
    return [list(frame.columns), *frame.values.tolist()]


@pytest.fixture
def sheet(sheets_fake: SheetsFake, sheets_settings: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """A spreadsheet in the fake with the history tab; the CLI's environment points at the fake."""
    sid = sheets_fake.add_spreadsheet(sheet_rows(), sheet=TAB)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", sheets_settings.credentials_file)
    monkeypatch.setenv("LEADSCORE_SHEETS_API_URL", sheets_settings.sheets_api_url)
    return sid


def source(sid: str) -> str:
    return str(SheetSource(sid, TAB))


def test_parse_source() -> None:
    assert parse_source("history.csv") is None
    assert parse_source("sheet://abc123/Closed deals") == SheetSource("abc123", "Closed deals")
    assert parse_source("sheet://abc123/Q1%2FQ2") == SheetSource("abc123", "Q1/Q2")
    assert str(SheetSource("abc", "Q1/Q2 deals")) == "sheet://abc/Q1%2FQ2 deals"
    for bad in ("sheet://", "sheet://abc", "sheet:///tab"):
        with pytest.raises(BadInput, match="SPREADSHEET_ID/TAB"):
            parse_source(bad)


def test_values_to_frame_names_blank_headers_and_drops_blank_rows() -> None:
    frame = values_to_frame([["Status", "", "Status"], ["Won", "x", "1"], ["", "", ""], ["Lost", "", "2"]], "tab")
    assert list(frame.columns) == ["Status", "Column 2", "Status (2)"]
    assert len(frame) == 2


def test_history_is_read_from_the_sheet(sheet: str, sheets_settings: Any) -> None:
    frame = read_history(source(sheet), sheets_settings)
    assert len(frame) == 600 and "Status" in frame.columns and LEAD_SCORE in frame.columns


def test_unknown_tab_is_bad_input(sheet: str, sheets_settings: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(BadInput, match="no tab named 'Nope'"):
        read_history(f"sheet://{sheet}/Nope", sheets_settings)
    assert main(["train", f"sheet://{sheet}/Nope", *ARGS]) == 2
    assert "no tab named" in capsys.readouterr().err


def test_retrain_trains_promotes_then_has_nothing_to_do(sheet: str, sheets_fake: SheetsFake, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    models = tmp_path / "models"
    assert main(["retrain", source(sheet), *ARGS, "--out", str(models)]) == 0
    first = registry.active_version(models)
    assert first is not None
    card = json.loads((models / first / "card.json").read_text())
    # the product's own columns are never features, even when they give the outcome away
    features = {f["name"] for f in card["features"]}
    assert not features & {LEAD_SCORE, CLOSE_PROBABILITY, SCORED_AT}
    roles = {c["name"]: c["role"] for c in card["excluded"]}
    assert roles[LEAD_SCORE] == roles[CLOSE_PROBABILITY] == roles[SCORED_AT] == "output"
    assert card["leakage"] == []
    assert card["metrics"]["classifier"]["auc"] < 0.95
    runs = experiments.read(models)
    assert len(runs) == 1 and runs[0]["command"] == "retrain" and runs[0]["source"] == source(sheet)
    capsys.readouterr()

    # the same data again: nothing to do, nothing written
    assert main(["retrain", source(sheet), *ARGS, "--out", str(models)]) == 0
    assert "Nothing to do" in capsys.readouterr().out
    # the product re-scored the sheet: its own columns changed, the history did not
    sheets_fake.edit(sheet, TAB, f"{_column(sheets_fake, sheet, SCORED_AT)}2", "2026-11-22 10:00")
    assert main(["retrain", source(sheet), *ARGS, "--out", str(models)]) == 0
    assert "Nothing to do" in capsys.readouterr().out
    assert len(list(models.glob("*/card.json"))) == 1 and len(experiments.read(models)) == 1

    # a new outcome arrives: retrain, compared with the active model
    status = _column(sheets_fake, sheet, "Status")
    values = sheets_fake.values(sheet, TAB)
    col = values[0].index("Status")
    open_row = next(i for i, r in enumerate(values) if i and str(r[col]).strip().lower() not in ("won", "lost"))
    sheets_fake.edit(sheet, TAB, f"{status}{open_row + 1}", "Won")
    code = main(["retrain", source(sheet), *ARGS, "--out", str(models)])
    assert code in (0, 3)
    runs = experiments.read(models)
    assert len(runs) == 2 and runs[1]["data_sha256"] != runs[0]["data_sha256"]
    assert runs[1]["comparison"]["version"] == first


def _column(fake: SheetsFake, sid: str, name: str) -> str:
    from backend.sheets.writer import column_letter

    return column_letter(fake.values(sid, TAB)[0].index(name))


def test_failed_data_is_not_retrained_every_run(sheet: str, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    models = tmp_path / "models"
    strict = [*ARGS, "--min-auc", "0.99", "--out", str(models)]
    assert main(["retrain", source(sheet), *strict]) == 3
    assert registry.active_version(models) is None
    capsys.readouterr()
    assert main(["retrain", source(sheet), *strict]) == 0
    out = capsys.readouterr().out
    assert "Nothing to do" in out and "not promoted" in out
    assert len(experiments.read(models)) == 1
    assert main(["retrain", source(sheet), *strict, "--force"]) == 3  # --force trains again (and gates again)
    assert len(experiments.read(models)) == 2


def test_retrain_skips_while_another_run_holds_the_lock(sheet: str, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    models = tmp_path / "models"
    with registry.file_lock(models / RETRAIN_LOCK) as held:
        assert held
        assert main(["retrain", source(sheet), *ARGS, "--out", str(models)]) == 0
    assert "Another retrain is running" in capsys.readouterr().out
    assert not list(models.glob("*/card.json"))
    with registry.file_lock(models / RETRAIN_LOCK, blocking=False) as free:
        assert free  # released when the holder is done


def test_train_reads_a_sheet_too(sheet: str, tmp_path: Path) -> None:
    models = tmp_path / "models"
    assert main(["train", source(sheet), *ARGS, "--out", str(models)]) == 0
    assert registry.active_version(models) is not None
