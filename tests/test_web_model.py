"""``GET /v1/model``: the active model's card, behind sign-in."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest
from flask.testing import FlaskClient

from backend.store import registry
from backend.store.bundle import ModelBundle, card_digest
from backend.web.state import EXTENSION
from tests.test_web_support import KEY_HEADERS, assert_documented, bearer, make_app, web_settings


@pytest.fixture(scope="module")
def client(tiny_models_dir: Path) -> FlaskClient:
    return make_app(web_settings(tiny_models_dir)).test_client()


def test_card_is_the_bundles_card(client: FlaskClient, tiny_bundle: ModelBundle) -> None:
    response = client.get("/v1/model", headers=KEY_HEADERS)
    assert response.status_code == 200
    card = assert_documented("GET", "/v1/model", response)
    serving = card.pop("serving")
    health = card.pop("health")  # the card, plus the model's health beside it
    assert card == orjson.loads(orjson.dumps(tiny_bundle.card))
    # The tiny model failed its gates and is served anyway: reported as degraded (forced).
    assert health["gates"]["forced"] is (not tiny_bundle.card["gates"]["passed"])
    assert health["status"] == ("ok" if tiny_bundle.card["gates"]["passed"] else "degraded")
    assert card["version"] == tiny_bundle.version and card["data_sha256"]
    assert serving["gates_passed"] is tiny_bundle.card["gates"]["passed"]


def test_card_marks_a_forced_gate_failing_model(tmp_path: Path, tiny_bundle: ModelBundle) -> None:
    from tests.test_web_health import forced_models

    client = make_app(web_settings(forced_models(tmp_path, tiny_bundle))).test_client()
    card = assert_documented("GET", "/v1/model", client.get("/v1/model", headers=KEY_HEADERS))
    assert card["serving"]["forced"] is True and card["gates"]["passed"] is False


def test_card_with_google_sign_in(client: FlaskClient) -> None:
    assert client.get("/v1/model", headers=bearer()).status_code == 200


@pytest.mark.parametrize(("headers", "status"), [
    ({}, 401),
    ({"X-API-Key": "wrong"}, 401),
    ({"Authorization": "Bearer not-a-token"}, 401),
    (None, 403),  # a valid token for an account outside the allowed domains
])
def test_card_needs_sign_in(client: FlaskClient, headers: dict[str, str] | None, status: int) -> None:
    response = client.get("/v1/model", headers=bearer(email="someone@elsewhere.org") if headers is None else headers)
    assert response.status_code == status
    assert assert_documented("GET", "/v1/model", response)["status"] == status


def test_card_is_503_without_a_model(tmp_path: Path) -> None:
    response = make_app(web_settings(tmp_path)).test_client().get("/v1/model", headers=KEY_HEADERS)
    assert response.status_code == 503
    assert_documented("GET", "/v1/model", response)


def test_report_is_self_contained_html(client: FlaskClient, tiny_bundle: ModelBundle) -> None:
    response = client.get("/v1/model/report", headers=KEY_HEADERS)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    html = response.get_data(as_text=True)
    assert tiny_bundle.version in html and "data:image/png;base64," in html
    assert client.get("/v1/model/report").status_code == 401


def test_a_promotion_is_served_without_a_restart(tmp_path: Path, tiny_bundle: ModelBundle) -> None:
    models = tmp_path / "models"
    shutil.copytree(tiny_bundle.path, models / tiny_bundle.version)
    registry.promote(models, tiny_bundle.version)
    app = make_app(web_settings(models))
    client = app.test_client()
    assert client.get("/healthz").json["model"]["version"] == tiny_bundle.version

    second = "20990101-000000-second"
    shutil.copytree(tiny_bundle.path, models / second)
    card_path = models / second / "card.json"
    card = orjson.loads(card_path.read_bytes())
    card["version"] = second
    card["card_sha256"] = card_digest(card)
    card_path.write_bytes(orjson.dumps(card))
    registry.promote(models, second)
    app.extensions[EXTENSION]._active.check_every = 0  # no need to wait a second in a test
    assert client.get("/healthz").json["model"]["version"] == second
    registry.rollback(models)
    assert client.get("/healthz").json["model"]["version"] == tiny_bundle.version
