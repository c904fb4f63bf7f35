"""Errors as problem+json: one mapping, request ids, logs, and never a traceback."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest

from backend.store.bundle import ModelBundle
from tests.test_web_support import (
    KEY_HEADERS,
    assert_documented,
    assert_no_traceback,
    make_app,
    post_json,
    web_settings,
)

SECRET = "internal-detail-4242 /srv/app/secret.py"


class ExplodingBundle:
    """A bundle whose scoring fails in a way nobody planned for."""

    name = "exploding"
    version = "0"
    card: ClassVar[dict[str, str]] = {"name": "exploding", "version": "0"}

    @property
    def features(self) -> Any:
        raise RuntimeError(SECRET)


def test_unexpected_error_is_a_generic_problem_logged_with_its_request_id(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    client = make_app(web_settings(tmp_path), bundle=ExplodingBundle()).test_client()
    with caplog.at_level(logging.ERROR, logger="backend.web"):
        response = post_json(client, "/v1/score", {"header": ["A"], "rows": [["x"]]},
                             headers={**KEY_HEADERS, "X-Request-ID": "rid-explode-1"})
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    problem = assert_documented("POST", "/v1/score", response)
    assert problem["request_id"] == "rid-explode-1" and "rid-explode-1" in problem["detail"]
    assert SECRET not in response.get_data(as_text=True) and "RuntimeError" not in response.get_data(as_text=True)
    assert_no_traceback(response)
    logged = [r for r in caplog.records if "rid-explode-1" in r.getMessage()]
    assert logged and logged[0].exc_info is not None and SECRET in str(logged[0].exc_info[1])


def test_product_errors_are_logged_with_the_request_id(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    client = make_app(web_settings(tmp_path)).test_client()
    with caplog.at_level(logging.WARNING, logger="backend.web"):
        response = client.get("/healthz", headers={"X-Request-ID": "rid-no-model"})
    assert response.status_code == 503
    assert any("rid-no-model" in r.getMessage() and "503" in r.getMessage() for r in caplog.records)


def test_unknown_path_is_a_404_problem(tmp_path: Path) -> None:
    response = make_app(web_settings(tmp_path)).test_client().get("/v2/score")
    assert response.status_code == 404 and response.mimetype == "application/problem+json"
    problem = orjson.loads(response.data)
    assert problem["status"] == 404 and "/v1/openapi.json" in problem["detail"] and problem["request_id"]


def test_wrong_method_is_a_405_problem_with_allow(tmp_path: Path) -> None:
    response = make_app(web_settings(tmp_path)).test_client().get("/v1/score", headers=KEY_HEADERS)
    assert response.status_code == 405 and "POST" in response.headers["Allow"]
    assert assert_documented("POST", "/v1/score", response)["status"] == 405  # documented as 'default'


def test_body_over_the_limit_is_413_before_parsing(tiny_models_dir: Path, tiny_bundle: ModelBundle) -> None:
    client = make_app(web_settings(tiny_models_dir, max_body_bytes=1000), bundle=tiny_bundle).test_client()
    response = client.post("/v1/score", data=b"{" + b" " * 2000 + b"}", headers=KEY_HEADERS,
                           content_type="application/json")
    problem = assert_documented("POST", "/v1/score", response)
    assert response.status_code == 413 and "1,000 bytes" in problem["detail"]


def test_problem_fields_from_the_error_are_kept(tiny_models_dir: Path, tiny_bundle: ModelBundle) -> None:
    client = make_app(web_settings(tiny_models_dir), bundle=tiny_bundle).test_client()
    body = {"spreadsheet_id": "a" * 20, "sheet": "Leads", "header": ["Region"],
            "rows": [{"row": 2, "values": ["EMEA"]}], "key_columns": ["Email"]}
    problem = assert_documented("POST", "/v1/sheets/score", post_json(client, "/v1/sheets/score", body))
    assert problem["status"] == 400 and problem["column"] == "Email"
