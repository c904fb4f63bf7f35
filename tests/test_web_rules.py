"""Rulebooks in scoring requests, and ``GET /v1/model/segments``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from flask import Flask
from flask.testing import FlaskClient

from backend.core.outputs import (
    CLOSE_PROBABILITY,
    LEAD_SCORE,
    MODEL_VERSION,
    OUTPUT_COLUMNS,
    RULE_POINTS,
    SCORE_REASONS,
)
from backend.store.bundle import ModelBundle
from tests.sheets_fake import SheetsFake, settings_for, sheets_fake_fixture  # noqa: F401  (fixture)
from tests.test_web_support import (
    API_KEY,
    KEY_HEADERS,
    assert_documented,
    make_app,
    post_json,
    schema_errors,
    web_settings,
)

RULES = ("rules:\n  - {column: Demo Booked, is: yes, points: 30}\n"
         "  - {column: Monthly Ad Spend, at_least: 10k, points: 20}\n"
         "  - {column: Lead Source, is: Cold Outbound, points: -20}\n")
TAB = [["Group", "Column", "Condition", "Value", "Points", "Note"],
       ["", "Demo Booked", "is", "Yes", 30, ""],
       ["", "Monthly Ad Spend", "at least", "10k", 20, ""],
       ["", "Lead Source", "is", "Cold Outbound", -20, ""]]
HeaderRows = tuple[list[str], list[list[Any]]]


@pytest.fixture(scope="module")
def with_model(tiny_models_dir: Path, tiny_bundle: ModelBundle) -> FlaskClient:
    return make_app(web_settings(tiny_models_dir), bundle=tiny_bundle).test_client()


@pytest.fixture(scope="module")
def no_model(tmp_path_factory: pytest.TempPathFactory) -> FlaskClient:
    return make_app(web_settings(tmp_path_factory.mktemp("empty"))).test_client()


def _rows(sample_header_rows: HeaderRows) -> tuple[list[str], list[list[Any]]]:
    header, rows = sample_header_rows
    return header, orjson.loads(orjson.dumps(rows[:20], option=orjson.OPT_SERIALIZE_NUMPY))


@pytest.mark.parametrize("rules", [RULES, TAB])
def test_rules_alone_when_there_is_no_model(no_model: FlaskClient, sample_header_rows: HeaderRows,
                                            rules: Any) -> None:
    header, rows = _rows(sample_header_rows)
    body = {"header": header, "rows": rows, "rules": rules}
    assert schema_errors("ScoreRequest", body) == []
    response = post_json(no_model, "/v1/score", body)
    data = assert_documented("POST", "/v1/score", response)
    assert response.status_code == 200, data
    assert data["model"] == {"name": "rules", "version": "rules"}
    assert [w["code"] for w in data["warnings"]] == ["rules_only"]
    results = data["results"]
    assert len(results) == len(rows)
    points = [r["rule_points"] for r in results]
    scores = [r["lead_score"] for r in results]
    assert all(r["close_probability"] is None and r["predicted_mrr"] is None for r in results)
    assert sorted(range(len(points)), key=lambda i: (points[i], scores[i])) == sorted(
        range(len(points)), key=lambda i: (scores[i], points[i]))  # the score's order is the points' order
    for r in results:  # reasons: the rules that fired, with their points, adding up to the points
        total = sum(float(t.rsplit(" ", 1)[1].replace("−", "-")) for t in r["reasons"])
        assert total == pytest.approx(r["rule_points"])


def test_rules_beside_the_model(with_model: FlaskClient, tiny_bundle: ModelBundle,
                                sample_header_rows: HeaderRows) -> None:
    header, rows = _rows(sample_header_rows)
    response = post_json(with_model, "/v1/score", {"header": header, "rows": rows, "rules": RULES})
    data = assert_documented("POST", "/v1/score", response)
    assert response.status_code == 200
    assert data["model"]["version"] == tiny_bundle.version
    plain = assert_documented("POST", "/v1/score", post_json(with_model, "/v1/score", {"header": header,
                                                                                       "rows": rows}))
    for both, alone in zip(data["results"], plain["results"]):
        assert both["lead_score"] == alone["lead_score"]  # the model's figures are unchanged
        assert both["close_probability"] == alone["close_probability"]
        assert 1 <= both["rule_score"] <= 10 and isinstance(both["rule_reasons"], list)
        assert both["rule_points"] in (-20, 0, 10, 20, 30, 50)


def test_invalid_rulebook_is_a_400_naming_the_rule(with_model: FlaskClient, sample_header_rows: HeaderRows) -> None:
    header, rows = _rows(sample_header_rows)
    bad = RULES + "  - {column: Demo Booked, greater_than: 3, points: 5}\n"
    response = post_json(with_model, "/v1/score", {"header": header, "rows": rows, "rules": bad})
    data = assert_documented("POST", "/v1/score", response)
    assert response.status_code == 400 and "line 5" in data["detail"] and "greater_than" in data["detail"]
    tab = [*TAB, ["", "Demo Bookd", "is", "Yes", 5, ""]]
    response = post_json(with_model, "/v1/score", {"header": header, "rows": rows, "rules": tab})
    data = assert_documented("POST", "/v1/score", response)
    assert response.status_code == 400 and "row 5 of the Scoring Rules tab" in data["detail"]
    response = post_json(with_model, "/v1/score", {"header": header, "rows": rows, "rules": 5})
    data = assert_documented("POST", "/v1/score", response)
    assert response.status_code == 400 and "'rules' must be YAML text" in data["detail"]


def test_segments_endpoint(with_model: FlaskClient, tiny_bundle: ModelBundle) -> None:
    response = with_model.get("/v1/model/segments", headers=KEY_HEADERS)
    data = assert_documented("GET", "/v1/model/segments", response)
    assert response.status_code == 200
    assert data["model"]["version"] == tiny_bundle.version
    rates = [s["conversion_rate"] for s in data["segments"]]
    assert 3 <= len(rates) <= 8 and rates == sorted(rates, reverse=True)
    assert all(s["recommendation"] for s in data["segments"])
    assert with_model.get("/v1/model/segments").status_code == 401


@pytest.fixture
def sheets_client(sheets_fake: SheetsFake, tmp_path: Path) -> FlaskClient:
    key_file = sheets_fake.service_account_file(tmp_path)
    empty = tmp_path / "no-models"
    empty.mkdir()
    settings = settings_for(sheets_fake, key_file, model_dir=empty, api_keys=(API_KEY,), max_rows=50)
    app: Flask = make_app(settings)
    return app.test_client()


def test_sheet_scored_by_rules_alone(sheets_client: FlaskClient, sheets_fake: SheetsFake,
                                     sample_header_rows: HeaderRows) -> None:
    header, rows = _rows(sample_header_rows)
    rows = rows[:6]
    sid = sheets_fake.add_spreadsheet([header, *rows], sheet="Leads")
    before = sheets_fake.values(sid, "Leads")
    body = {"spreadsheet_id": sid, "sheet": "Leads", "header": header,
            "rows": [{"row": 2 + i, "values": v} for i, v in enumerate(rows)], "rules": TAB}
    assert schema_errors("SheetScoreRequest", body) == []
    response = post_json(sheets_client, "/v1/sheets/score", body)
    data = assert_documented("POST", "/v1/sheets/score", response)
    assert response.status_code == 200, data
    grid = sheets_fake.values(sid, "Leads")
    score_col, reasons_col = grid[0].index(LEAD_SCORE), grid[0].index(SCORE_REASONS)
    for result in data["results"]:
        line = grid[result["row"] - 1]
        assert line[score_col] == result["lead_score"]
        assert line[reasons_col] == "; ".join(result["reasons"])
        assert line[grid[0].index(MODEL_VERSION)] == "rules"
        assert line[grid[0].index(RULE_POINTS)] == result["rule_points"]
    def user_cells(lines: list[list[Any]]) -> list[list[Any]]:
        return [(line + [""] * len(header))[: len(header)] for line in lines]

    assert user_cells(grid) == user_cells(before)  # the user's own cells are never changed


def test_sheet_scored_by_model_and_rules_gets_rule_points_beside_the_scores(
        sheets_fake: SheetsFake, tmp_path: Path, tiny_models_dir: Path, tiny_bundle: ModelBundle,
        sample_header_rows: HeaderRows) -> None:
    key_file = sheets_fake.service_account_file(tmp_path)
    settings = settings_for(sheets_fake, key_file, model_dir=tiny_models_dir, api_keys=(API_KEY,), max_rows=50)
    client = make_app(settings, bundle=tiny_bundle).test_client()
    header, rows = _rows(sample_header_rows)
    rows = rows[:5]
    sid = sheets_fake.add_spreadsheet([header, *rows], sheet="Leads")
    body = {"spreadsheet_id": sid, "sheet": "Leads", "header": header,
            "rows": [{"row": 2 + i, "values": v} for i, v in enumerate(rows)]}
    first = post_json(client, "/v1/sheets/score", body)  # without rules: the usual columns only
    assert first.status_code == 200 and first.get_json()["created_columns"] == list(OUTPUT_COLUMNS)
    response = post_json(client, "/v1/sheets/score", {**body, "rules": RULES})
    data = assert_documented("POST", "/v1/sheets/score", response)
    assert response.status_code == 200, data
    assert data["created_columns"] == [RULE_POINTS]  # added once, after the existing output columns
    grid = sheets_fake.values(sid, "Leads")
    assert grid[0] == [*header, *OUTPUT_COLUMNS, RULE_POINTS]
    for result in data["results"]:
        line = grid[result["row"] - 1]
        assert line[grid[0].index(RULE_POINTS)] == result["rule_points"]
        assert line[grid[0].index(CLOSE_PROBABILITY)] == result["close_probability"]  # the model's, unchanged
        assert line[grid[0].index(MODEL_VERSION)] == tiny_bundle.version
