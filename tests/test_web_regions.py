"""``POST /v1/regions``: the report over HTTP, checked against the OpenAPI document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from backend.sample.geo import HIGH_VALUE, UNDERSERVED, generate
from backend.store.bundle import ModelBundle
from tests.test_web_support import assert_documented, assert_no_traceback, make_app, post_json, web_settings


@pytest.fixture(scope="module")
def app(tiny_models_dir: Path, tiny_bundle: ModelBundle) -> Flask:
    return make_app(web_settings(tiny_models_dir), bundle=tiny_bundle)


@pytest.fixture(scope="module")
def body() -> dict[str, Any]:
    sample = generate()
    leads = sample.leads.astype(object)
    return {"header": list(leads.columns), "rows": leads.to_numpy().tolist(), "target": "Status",
            "positive": "Won", "value": "MRR", "industry": "Industry", "zip": "ZIP",
            "sites": sample.sites.to_dict(orient="records"), "_home": sample.home.tolist()}


def _post(app: Flask, body: dict[str, Any], **changes: Any) -> Any:
    payload = {k: v for k, v in {**body, **changes}.items() if not k.startswith("_") and v is not ...}
    return post_json(app.test_client(), "/v1/regions", payload)


def test_report_over_http_finds_the_underserved_site_and_its_targets(app: Flask, body: dict[str, Any]) -> None:
    response = _post(app, body)
    assert response.status_code == 200, response.get_json()
    data = assert_documented("POST", "/v1/regions", response)
    regions = data["regions"]
    at = {name: i for i, name in enumerate(regions["header"])}
    sites = [r for r in regions["rows"] if r[at["kind"]] == "site"]
    assert min(sites, key=lambda r: r[at["underserved_rank"]])[at["name"]] == UNDERSERVED
    targets = data["targets"]
    col = {name: i for i, name in enumerate(targets["header"])}
    rows = {r[col["Row"]] for r in targets["rows"]}
    expected = {i + 2 for i, (home, r) in enumerate(zip(body["_home"], body["rows"]))
                if home == UNDERSERVED and r[body["header"].index("Status")] != "Won"
                and r[body["header"].index("Industry")] in HIGH_VALUE}
    assert rows == expected
    # the served model reads some of this sheet's columns: it ranks the targets
    assert data["ranked_by"] == "model expected value"
    ev = [r[col["Expected Value"]] for r in targets["rows"]]
    assert ev == sorted(ev, reverse=True)
    assert data["summary"][0].startswith("Indianapolis: 3 customers within 100 mi, 57 prospects; 31 of them")
    assert data["located"]["unknown"] == 2


def test_without_the_model_targets_are_ranked_by_industry_value(app: Flask, body: dict[str, Any]) -> None:
    data = _post(app, body, use_model=False).get_json()
    assert data["ranked_by"] == "industry value"
    assert "Expected Value" not in data["targets"]["header"]


def test_zip_column_is_detected_when_not_named(app: Flask, body: dict[str, Any]) -> None:
    response = _post(app, body, zip=...)
    assert response.status_code == 200 and response.get_json()["zip_column"] == "ZIP"


@pytest.mark.parametrize(("changes", "words"), [
    ({"sites": []}, "'sites' must list"),
    ({"sites": [{"name": "Nowhere", "zip": "99999"}]}, "not a known US ZIP code"),
    ({"target": ...}, "'target' is required"),
    ({"positive": "Closed"}, "does not occur"),
    ({"radius": -5}, "'radius' must be a number"),
    ({"colour": "red"}, "Unknown field"),
    ({"zip": "Company"}, "No cell of 'Company'"),
])
def test_bad_requests_are_400_with_an_actionable_message(app: Flask, body: dict[str, Any], changes: dict[str, Any],
                                                         words: str) -> None:
    response = _post(app, body, **{"use_model": False, **changes})
    assert response.status_code == 400
    assert words in response.get_json()["detail"]
    assert_documented("POST", "/v1/regions", response)
    assert_no_traceback(response)


def test_needs_sign_in(app: Flask, body: dict[str, Any]) -> None:
    payload = {k: v for k, v in body.items() if not k.startswith("_")}
    response = post_json(app.test_client(), "/v1/regions", payload, headers={})
    assert response.status_code == 401
