"""The OpenAPI document: valid, covering every route, and agreeing with the server."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate

from backend.store.bundle import ModelBundle
from tests.test_web_support import assert_documented, make_app, openapi_doc, post_json, schema_errors, web_settings

SID = "1AbC-dEf_GhIjKlMnOpQrStUvWxYz0123456789"

# What the add-on sends (addon/Api.gs builds these from Range.getValues()).
ADDON_SHEET_REQUEST = {
    "spreadsheet_id": SID,
    "sheet": "Leads",
    "header": ["Lead ID", "Company", "Created", "Monthly Ad Spend", "Demo Booked", "MRR", 2024, ""],
    "rows": [
        {"row": 2, "values": ["L-1", "Acme", "2025-06-21T00:00:00.000Z", "$12,000", True, 450, 1, ""]},
        {"row": 7, "values": ["L-6", "=Zeta", "", "12k", False, None, "", ""]},
    ],
    "key_columns": ["Lead ID"],
}


class RecordingWriter:
    """Writes nothing; reports every row written."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def write_scores(self, spreadsheet_id: str, sheet: str, header: list[str], rows: list[Any],
                     cells: list[dict[str, Any]], key_columns: list[str] | None = None) -> Any:
        self.calls.append({"rows": rows, "cells": cells})
        return SimpleNamespace(written=[r.row for r in rows], skipped=[], columns={"Lead Score": "I"},
                               created_columns=[], warnings=[], requests=1)


@pytest.fixture(scope="module")
def app(tiny_models_dir: Path, tiny_bundle: ModelBundle) -> Flask:
    return make_app(web_settings(tiny_models_dir), bundle=tiny_bundle, sheets_writer=RecordingWriter())


def test_document_is_valid_openapi_3_1() -> None:
    document = openapi_doc()
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_route_is_documented_and_every_documented_path_exists(app: Flask) -> None:
    # Flask writes a path parameter <name>, OpenAPI {name}.
    routes = {(re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule), method.lower())
              for rule in app.url_map.iter_rules()
              for method in rule.methods - {"HEAD", "OPTIONS"} if rule.endpoint != "static"}
    documented = {(path, method) for path, item in openapi_doc()["paths"].items() for method in item}
    assert routes == documented


def test_only_health_and_the_document_are_open() -> None:
    open_paths = {path for path, item in openapi_doc()["paths"].items()
                  for op in item.values() if op.get("security") == []}
    assert open_paths == {"/healthz", "/v1/openapi.json"}


def test_addon_payload_matches_the_contract_and_is_accepted(app: Flask) -> None:
    assert schema_errors("SheetScoreRequest", ADDON_SHEET_REQUEST) == []
    response = post_json(app.test_client(), "/v1/sheets/score", ADDON_SHEET_REQUEST)
    assert response.status_code == 200
    assert_documented("POST", "/v1/sheets/score", response)


@pytest.mark.parametrize("broken", [
    {**ADDON_SHEET_REQUEST, "rows": [{"row": "2", "values": []}]},
    {**ADDON_SHEET_REQUEST, "rows": [{"row": 2, "values": [{"v": 1}]}]},
    {**ADDON_SHEET_REQUEST, "spreadsheet_id": "https://docs.google.com/spreadsheets/d/x"},
    {key: value for key, value in ADDON_SHEET_REQUEST.items() if key != "sheet"},
])
def test_contract_and_server_both_refuse_a_broken_payload(app: Flask, broken: dict[str, Any]) -> None:
    assert schema_errors("SheetScoreRequest", broken)
    response = post_json(app.test_client(), "/v1/sheets/score", broken)
    assert response.status_code == 400
    assert_documented("POST", "/v1/sheets/score", response)


_cell = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.text(max_size=6),
                  st.lists(st.integers(-1000, 1000), max_size=1),
                  st.dictionaries(st.text(max_size=2), st.integers(-1000, 1000), max_size=1))
_row = st.fixed_dictionaries({"row": st.one_of(st.integers(-1, 40), st.floats(0, 40), st.text(max_size=2)),
                              "values": st.one_of(st.lists(_cell, max_size=4), st.text(max_size=3))})
_body = st.fixed_dictionaries(
    {"spreadsheet_id": st.one_of(st.just(SID), st.text(max_size=12), st.integers(-(2**63), 2**63 - 1)),
     "sheet": st.one_of(st.just("Leads"), st.text(max_size=3)),
     "header": st.one_of(st.just(["Region", "Employees", "Notes"]), st.lists(_cell, max_size=3)),
     "rows": st.lists(_row, max_size=3)},
    optional={"key_columns": st.one_of(st.just(["Region"]), st.lists(st.text(max_size=3), max_size=2)),
              "extra": st.integers(-(2**63), 2**63 - 1)})


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_body)
def test_what_the_contract_refuses_the_server_refuses(app: Flask, body: dict[str, Any]) -> None:
    response = post_json(app.test_client(), "/v1/sheets/score", body)
    assert response.status_code < 500, response.data
    assert_documented("POST", "/v1/sheets/score", response)
    if schema_errors("SheetScoreRequest", body):
        assert response.status_code == 400, (body, response.data)


def test_output_columns_are_the_ones_the_contract_names() -> None:
    import json

    from backend.core.outputs import OPTIONAL_OUTPUT_COLUMNS, OUTPUT_COLUMNS
    from backend.web.state import OPENAPI_PATH

    spec = json.loads(OPENAPI_PATH.read_text())
    assert tuple(spec["components"]["schemas"]["OutputColumn"]["enum"]) == OUTPUT_COLUMNS + OPTIONAL_OUTPUT_COLUMNS
