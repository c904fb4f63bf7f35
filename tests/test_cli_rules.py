"""``score --rules``, ``train --rules``, ``rules suggest | review`` and ``segments`` on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backend.cli import main
from backend.core.rules import load_rulebook, parse_rulebook
from backend.sample.generate import generate
from backend.store import registry

RULES = """\
groups:
  fit: {max: 40}
rules:
  - {column: Business Type, is: [Agency, E-commerce], points: 20, group: fit}
  - {column: Monthly Ad Spend, at_least: 10000, points: 25, group: fit}
  - {column: Demo Booked, is: true, points: 30}
  - {column: Lead Source, is: Cold Outbound, points: -20}
  - {all: [{column: Email Opens, at_least: 3}, {column: Lead Source, is_not: Cold Outbound}], points: 10}
"""


@pytest.fixture(scope="module")
def sheet(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    return generate(rows=500, seed=5)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, sheet: pd.DataFrame) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("rules")
    (d / "rules.yaml").write_text(RULES)
    sheet.to_csv(d / "history.csv", index=False)
    sheet.drop(columns=["Status", "MRR"]).to_csv(d / "open.csv", index=False)  # no outcome column at all
    return {"dir": d, "rules": d / "rules.yaml", "history": d / "history.csv", "open": d / "open.csv"}


@pytest.fixture()
def no_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    empty = tmp_path / "no-models"
    empty.mkdir()
    monkeypatch.setenv("LEADSCORE_MODEL_DIR", str(empty))
    return empty


def test_score_with_rules_and_no_model(files: dict[str, Path], no_models: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "scored.csv"
    assert main(["score", str(files["open"]), "--rules", str(files["rules"]), "-o", str(out)]) == 0
    original = pd.read_csv(files["open"], dtype=str, keep_default_na=False)
    scored = pd.read_csv(out, dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(scored[original.columns], original)  # rows and cells untouched
    assert list(scored.columns[len(original.columns):]) == ["Lead Score", "Rule Points", "Score Reasons",
                                                             "Scored At", "Model Version"]
    points = scored["Rule Points"].astype(float).to_numpy()
    scores = scored["Lead Score"].astype(int).to_numpy()
    # the points are the rulebook's, and the score's order matches the points' order
    expected = parse_rulebook(RULES).evaluate(original).points
    np.testing.assert_allclose(points, expected)
    order = np.argsort(points, kind="stable")
    assert np.all(np.diff(scores[order]) >= 0)
    assert scores.min() >= 1 and scores.max() <= 10 and len(set(scores)) >= 4
    # reasons name the rules that fired, with their points
    top = int(np.argmax(points))
    assert "Demo Booked is Yes +30" in scored["Score Reasons"][top]
    assert "Top 10 leads by rule points" in capsys.readouterr().out


@pytest.mark.parametrize("bad, words", [
    ("rules:\n  - {column: Demo Booked, is: true, points: 30}\n  - {column: Ad Spend, at_least: 5k, points: 5}\n",
     ["line 3 of bad.yaml", "'Ad Spend'"]),
    ("rules:\n  - {column: Demo Booked, equals: true, points: 30}\n", ["line 2 of bad.yaml", "'equals'"]),
    ("rules:\n  - {column: Monthly Ad Spend, at_least: big, points: 30}\n", ["line 2 of bad.yaml", "'big'"]),
])
def test_invalid_rulebook_exits_2_naming_the_rule(files: dict[str, Path], no_models: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str], bad: str,
                                                  words: list[str]) -> None:
    (tmp_path / "bad.yaml").write_text(bad)
    out = tmp_path / "never.csv"
    assert main(["score", str(files["open"]), "--rules", str(tmp_path / "bad.yaml"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    for word in words:
        assert word in err
    assert not out.exists()


def test_invalid_tab_export_exits_2_naming_the_row(files: dict[str, Path], no_models: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    pd.DataFrame([["", "Demo Booked", "is", "Yes", 30, ""], ["", "Email Opens", "over", 3, 10, ""]],
                 columns=["Group", "Column", "Condition", "Value", "Points", "Note"]).to_csv(tmp_path / "tab.csv",
                                                                                            index=False)
    assert main(["score", str(files["open"]), "--rules", str(tmp_path / "tab.csv"), "-o",
                 str(tmp_path / "never.csv")]) == 2
    err = capsys.readouterr().err
    assert "row 3 of Scoring Rules (tab.csv)" in err and "'over'" in err


@pytest.fixture(scope="module")
def trained_with_rules(files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    models = tmp_path_factory.mktemp("models")
    code = main(["train", str(files["history"]), "--target", "Status", "--positive", "Won", "--value", "MRR",
                 "--out", str(models), "--rules", str(files["rules"]), "--cv", "0", "--force",
                 "--min-auc", "0.6", "--min-precision", "0.5", "--min-recall", "0.6"])
    assert code == 0
    return models


def test_train_with_rules_adds_group_features_and_compares(trained_with_rules: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    bundle_dir = trained_with_rules / registry.active_version(trained_with_rules)
    card = json.loads((bundle_dir / "card.json").read_text())
    names = [f["name"] for f in card["features"]]
    assert "Rule Points: fit" in names  # each group's points is a model feature
    cmp = card["rules"]
    assert cmp["rows"] == card["data"]["split"]["test"]  # the same held-out leads for both
    assert 0.5 < cmp["rules"]["auc"] <= 1 and 0.5 < cmp["model"]["auc"] <= 1
    assert len(cmp["rules"]["score_bands"]) == 10 and cmp["verdict"].startswith(("Use the", "The rules rank"))
    report = (bundle_dir / "report.html").read_text()
    assert "id='rules-vs-model'" in report and "id='segments'" in report


def test_score_with_model_and_rules_side_by_side(trained_with_rules: Path, files: dict[str, Path],
                                                 tmp_path: Path) -> None:
    out = tmp_path / "both.csv"
    assert main(["score", str(files["open"]), "--rules", str(files["rules"]), "--model", str(trained_with_rules),
                 "-o", str(out)]) == 0
    scored = pd.read_csv(out, dtype=str, keep_default_na=False)
    cols = list(scored.columns)
    assert cols[cols.index("Lead Score") + 1] == "Rule Points"
    assert scored["Close Probability"].astype(float).between(0, 1).all()
    segments = json.loads((trained_with_rules / registry.active_version(trained_with_rules) / "card.json")
                          .read_text())["segments"]["segments"]
    assert set(scored["Segment"]) <= {s["name"] for s in segments}


def test_segments_command(trained_with_rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["segments", "--model", str(trained_with_rules), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rates = [s["conversion_rate"] for s in data["segments"]]
    assert 3 <= len(rates) <= 8 and rates == sorted(rates, reverse=True)
    assert main(["segments", "--model", str(trained_with_rules)]) == 0
    assert "Recommendation" in capsys.readouterr().out


def test_rules_suggest_writes_a_usable_rulebook(files: dict[str, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "starter.yaml"
    assert main(["rules", "suggest", str(files["history"]), "--target", "Status", "--positive", "Won",
                 "--cap", "25", "-o", str(out)]) == 0
    book = load_rulebook(str(out))
    points = {r.label: r.points for r in book.rules}
    assert 3 <= len(points) <= 12
    assert max(abs(p) for p in points.values()) == 25 and all(p == int(p) for p in points.values())
    # the generator's known effects come out with the right sign
    assert points.get("Demo Booked is Yes", 0) > 0
    assert all(p < 0 for label, p in points.items() if label == "Lead Source is Cold Outbound")
    assert "MRR" not in " ".join(points)  # filled in only for won leads: left out as leakage
    history = pd.read_csv(files["history"], dtype=object, keep_default_na=False)
    assert len(book.evaluate(history).points) == len(history)


def test_rules_review_lists_over_weighted_rules(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "review", str(files["history"]), "--rules", str(files["rules"]), "--target", "Status",
                 "--positive", "Won", "--high", "6"]) == 0
    printed = capsys.readouterr().out
    assert "closed leads scored 6 or more" in printed
    assert "did not convert" in printed and "line " in printed


def test_rules_review_ranks_by_missed_conversions(sheet: pd.DataFrame) -> None:
    from backend.core.suggest import review_rules

    book = parse_rulebook(RULES)
    rows, summary = review_rules(book, sheet, "Status", "Won", high=6)
    assert rows and [r["high_not_converted"] for r in rows] == sorted((r["high_not_converted"] for r in rows),
                                                                       reverse=True)
    assert all(r["points"] > 0 for r in rows)
    assert summary["high"] >= summary["high_converted"]
