"""``GET /healthz`` and ``GET /v1/openapi.json``: no sign-in, the loaded model, the document."""

from __future__ import annotations

import json
from pathlib import Path

from openapi_spec_validator import validate

from backend.store.bundle import ModelBundle
from tests.test_web_support import OPENAPI_PATH, assert_documented, make_app, web_settings


def test_healthz_names_the_loaded_model_without_sign_in(tiny_models_dir: Path, tiny_bundle: ModelBundle) -> None:
    client = make_app(web_settings(tiny_models_dir)).test_client()
    response = client.get("/healthz")
    assert response.status_code == 200
    # A model served although it failed its quality gates (promoted regardless) is reported as degraded.
    status = "ok" if tiny_bundle.card["gates"]["passed"] else "degraded"
    assert assert_documented("GET", "/healthz", response) == {
        "status": status, "model": {"name": tiny_bundle.name, "version": tiny_bundle.version}}


def test_healthz_is_503_problem_without_a_model(tmp_path: Path) -> None:
    client = make_app(web_settings(tmp_path)).test_client()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    problem = assert_documented("GET", "/healthz", response)
    assert problem["type"].endswith("/model-unavailable") and "train" in problem["detail"].lower()


def test_healthz_recovers_once_a_model_is_installed(tmp_path: Path, tiny_models_dir: Path) -> None:
    empty = tmp_path / "models"
    empty.mkdir()
    client = make_app(web_settings(empty)).test_client()
    assert client.get("/healthz").status_code == 503
    for item in tiny_models_dir.iterdir():  # the operator mounts the models afterwards
        (empty / item.name).symlink_to(item)
    assert client.get("/healthz").status_code == 200


def test_openapi_is_served_without_sign_in_and_is_valid(tmp_path: Path) -> None:
    client = make_app(web_settings(tmp_path)).test_client()
    response = client.get("/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    document = json.loads(response.data)
    assert document == json.loads(OPENAPI_PATH.read_text())
    validate(document)
    assert_documented("GET", "/v1/openapi.json", response)
