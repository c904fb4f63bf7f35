"""The command line: contract, outputs, exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from backend.cli import main
from backend.core.outputs import OUTPUT_COLUMNS
from backend.sample.generate import generate
from backend.store import registry

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def history_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "history.csv"
    generate(rows=600, seed=3).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def trained(history_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    models = tmp_path_factory.mktemp("models")
    code = main(["train", str(history_csv), "--target", "Status", "--positive", "Won", "--value", "MRR",
                 "--out", str(models), "--min-auc", "0.6", "--min-precision", "0.5", "--min-recall", "0.6"])
    assert code == 0
    return models


def test_train_writes_and_activates_a_bundle(trained: Path) -> None:
    version = registry.active_version(trained)
    card = json.loads((trained / version / "card.json").read_text())
    assert card["gates"]["min_auc"] == 0.6  # the team's own gates are recorded
    assert card["promotable"] is True


def test_score_keeps_rows_and_columns_and_appends_outputs(trained: Path, history_csv: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "scored.csv"
    assert main(["score", str(history_csv), "--model", str(trained), "-o", str(out)]) == 0
    original = pd.read_csv(history_csv, dtype=str, keep_default_na=False)
    scored = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(scored.columns) == [*original.columns, *OUTPUT_COLUMNS]
    pd.testing.assert_frame_equal(scored[original.columns], original)
    assert scored["Lead Score"].astype(int).between(1, 10).all()
    printed = capsys.readouterr().out
    assert "Top 10 open leads" in printed and f"Scored {len(original)} rows" in printed


def test_score_writes_xlsx(trained: Path, history_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "scored.xlsx"
    assert main(["score", str(history_csv), "--model", str(trained), "-o", str(out)]) == 0
    frame = pd.read_excel(out)
    assert len(frame) == 600 and "Close Probability" in frame.columns


def test_rescoring_a_scored_file_replaces_only_output_columns(trained: Path, history_csv: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    main(["score", str(history_csv), "--model", str(trained), "-o", str(first)])
    main(["score", str(first), "--model", str(trained), "-o", str(second)])
    a = pd.read_csv(first, dtype=str, keep_default_na=False)
    b = pd.read_csv(second, dtype=str, keep_default_na=False)
    assert list(a.columns) == list(b.columns)
    pd.testing.assert_series_equal(a["Lead Score"], b["Lead Score"])


def test_semicolon_separated_file(trained: Path, history_csv: Path, tmp_path: Path) -> None:
    semi = tmp_path / "semi.csv"
    pd.read_csv(history_csv, dtype=str, keep_default_na=False).to_csv(semi, sep=";", index=False)
    out = tmp_path / "semi_scored.csv"
    assert main(["score", str(semi), "--model", str(trained), "-o", str(out)]) == 0
    assert len(pd.read_csv(out)) == 600


def test_evaluate_json(trained: Path, history_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(history_csv), "--target", "Status", "--positive", "Won",
                 "--model", str(trained), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    for key in ("auc", "precision", "recall", "threshold", "n", "base_rate"):
        assert key in metrics
    assert metrics["n"] + metrics["open_rows_skipped"] == 600


def test_gate_failure_exits_3_and_does_not_promote(history_csv: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", str(history_csv), "--target", "Status", "--positive", "Won", "--value", "MRR",
                 "--out", str(tmp_path), "--min-auc", "0.995"])
    assert code == 3
    err = capsys.readouterr().err
    assert "AUC" in err and "--force" in err
    assert registry.active_version(tmp_path) is None
    assert len(list(tmp_path.glob("*/card.json"))) == 1  # stored, not promoted


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "backend", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env=env)


@pytest.mark.parametrize(("args", "message"), [
    (["train", "{missing}", "--target", "Status", "--positive", "Won"], "File not found"),
    (["train", "{garbage}", "--target", "Status", "--positive", "Won"], "Cannot read"),
    (["train", "{history}", "--target", "Outcome", "--positive", "Won"], "'Outcome' is not in the sheet"),
    (["train", "{one_class}", "--target", "Status", "--positive", "Won", "--negative", "Lost"], "both won and lost"),
    (["train", "{tiny}", "--target", "Status", "--positive", "Won"], "at least 50"),
    (["train", "{texty}", "--target", "Status", "--positive", "Won", "--value", "MRR"], "holds text"),
    (["score", "{history}", "--model", "{nomodel}"], "not a model bundle"),
    (["score", "{history}", "-o", "out.docx"], "must end in .csv"),
])
def test_bad_input_one_line_exit_2(args: list[str], message: str, history_csv: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(history_csv, dtype=str, keep_default_na=False)
    (tmp_path / "garbage.xlsx").write_bytes(b"\x00\x01 not a workbook")
    frame[frame["Status"].str.strip().str.lower() != "lost"].to_csv(tmp_path / "one_class.csv", index=False)
    frame.head(30).to_csv(tmp_path / "tiny.csv", index=False)
    frame.assign(MRR=frame["MRR"].where(frame["MRR"] == "", "call me")).to_csv(tmp_path / "texty.csv", index=False)
    paths = {"missing": tmp_path / "nope.csv", "garbage": tmp_path / "garbage.xlsx", "history": history_csv,
             "one_class": tmp_path / "one_class.csv", "tiny": tmp_path / "tiny.csv",
             "texty": tmp_path / "texty.csv", "nomodel": tmp_path}
    proc = _run(*[a.format(**paths) for a in args], cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_ranked_table_lists_open_leads(trained: Path, history_csv: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """The leads to call are the ones still open: won and lost rows are not ranked."""
    assert main(["score", str(history_csv), "--model", str(trained), "-o", str(tmp_path / "s.csv")]) == 0
    printed = capsys.readouterr().out
    assert "Top 10 open leads" in printed
    frame = pd.read_csv(history_csv, dtype=str, keep_default_na=False)
    closed_ids = set(frame.loc[frame["Status"].str.strip().str.lower().isin(["won", "lost"]), "Lead ID"])
    open_ids = set(frame["Lead ID"]) - closed_ids
    shown = {line.split("│")[2].strip() for line in printed.splitlines() if line.count("│") > 3}
    assert shown and shown <= open_ids
