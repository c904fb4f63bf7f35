"""``GET /healthz`` and ``GET /v1/openapi.json``: no sign-in, the loaded model, the document."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from openapi_spec_validator import validate

from backend.store.bundle import ModelBundle
from tests.test_web_support import OPENAPI_PATH, assert_documented, make_app, web_settings


def test_healthz_names_the_loaded_model_without_sign_in(tiny_models_dir: Path, tiny_bundle: ModelBundle) -> None:
    client = make_app(web_settings(tiny_models_dir)).test_client()
    response = client.get("/healthz")
    assert response.status_code == 200
    body = assert_documented("GET", "/healthz", response)
    passed = tiny_bundle.card["gates"]["passed"]
    assert body["status"] == ("ok" if passed else "degraded")
    assert {k: body["model"][k] for k in ("name", "version")} == {"name": tiny_bundle.name,
                                                                   "version": tiny_bundle.version}
    assert body["model"]["quality"]["gates_passed"] is passed and body["model"]["quality"]["forced"] is not passed


def test_healthz_marks_a_forced_gate_failing_model(tmp_path: Path, tiny_bundle: ModelBundle) -> None:
    models = forced_models(tmp_path, tiny_bundle)
    response = make_app(web_settings(models)).test_client().get("/healthz")
    assert response.status_code == 200
    body = assert_documented("GET", "/healthz", response)
    assert body["status"] == "degraded"
    quality = body["model"]["quality"]
    assert quality["forced"] is True and quality["gates_passed"] is False
    assert quality["failures"] == ["AUC 0.61 is not above 0.75."] and "--force" in quality["message"]


def forced_models(tmp_path: Path, bundle: ModelBundle) -> Path:
    """A registry whose active model failed its gates (promoted as with --force)."""
    import orjson

    from backend.store import registry
    from backend.store.bundle import card_digest

    models = tmp_path / "forced"
    shutil.copytree(bundle.path, models / bundle.version)
    card_path = models / bundle.version / "card.json"
    card = orjson.loads(card_path.read_bytes())
    card["gates"] = {**card["gates"], "passed": False, "failures": ["AUC 0.61 is not above 0.75."]}
    card["promotable"] = False
    card["card_sha256"] = card_digest(card)
    card_path.write_bytes(orjson.dumps(card))
    registry.promote(models, bundle.version)
    return models


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
