"""The app factory and what an app keeps: settings, lazy bundle, request ids, timings."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from flask import Flask

from backend.store.bundle import ModelBundle
from backend.web import create_app
from backend.web.state import EXTENSION
from tests.test_web_support import KEY_HEADERS, make_app, web_settings


def test_importing_the_package_builds_no_app() -> None:
    for name in ("backend.web", "backend.web.health", "backend.web.model", "backend.web.score",
                 "backend.web.sheet_score", "backend.web.problems", "backend.web.server"):
        module = importlib.import_module(name)
        assert not [v for v in vars(module).values() if isinstance(v, Flask)], name


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tiny_models_dir: Path,
                                            tiny_bundle: ModelBundle) -> None:
    monkeypatch.setenv("LEADSCORE_MODEL_DIR", str(tiny_models_dir))
    monkeypatch.setenv("LEADSCORE_MAX_BODY_BYTES", "4096")
    app = create_app()
    assert app.config["MAX_CONTENT_LENGTH"] == 4096
    assert app.test_client().get("/healthz").json["model"]["version"] == tiny_bundle.version


def test_bundle_is_loaded_lazily_and_once(monkeypatch: pytest.MonkeyPatch, tiny_models_dir: Path) -> None:
    calls: list[Path] = []
    real = ModelBundle.load

    def counting(path: Path) -> ModelBundle:
        calls.append(Path(path).parent)
        return real(path)

    monkeypatch.setattr(ModelBundle, "load", counting)
    app = make_app(web_settings(tiny_models_dir))
    assert calls == []
    client = app.test_client()
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    assert client.post("/v1/score", json={"header": ["Region"], "rows": [["EMEA"]]},
                       headers=KEY_HEADERS).status_code == 200
    assert calls == [tiny_models_dir]


def test_injected_bundle_is_used_without_reading_disk(tmp_path: Path, tiny_bundle: ModelBundle) -> None:
    app = make_app(web_settings(tmp_path), bundle=tiny_bundle)  # tmp_path holds no model
    assert app.test_client().get("/healthz").status_code == 200
    assert app.extensions[EXTENSION].bundle() is tiny_bundle


def test_each_app_has_its_own_state(tmp_path: Path, tiny_bundle: ModelBundle) -> None:
    one, two = make_app(web_settings(tmp_path), bundle=tiny_bundle), make_app(web_settings(tmp_path))
    assert one.extensions[EXTENSION] is not two.extensions[EXTENSION]
    assert two.test_client().get("/healthz").status_code == 503


def test_request_id_is_generated(tmp_path: Path, tiny_bundle: ModelBundle) -> None:
    client = make_app(web_settings(tmp_path), bundle=tiny_bundle).test_client()
    first, second = (client.get("/healthz").headers["X-Request-ID"] for _ in range(2))
    assert re.fullmatch(r"[0-9a-f]{32}", first) and first != second


@pytest.mark.parametrize("incoming", ["abc-123", "trace:1.2_3", "A" * 128])
def test_sane_incoming_request_id_is_kept(tmp_path: Path, incoming: str) -> None:
    response = make_app(web_settings(tmp_path)).test_client().get("/healthz", headers={"X-Request-ID": incoming})
    assert response.headers["X-Request-ID"] == incoming and response.json["request_id"] == incoming


@pytest.mark.parametrize("incoming", ["", "has space", "<script>", "A" * 129, "-leading-dash", "ünï"])
def test_insane_incoming_request_id_is_replaced(tmp_path: Path, incoming: str) -> None:
    response = make_app(web_settings(tmp_path)).test_client().get("/healthz", headers={"X-Request-ID": incoming})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_responses_are_not_cached_and_carry_timings(tmp_path: Path, tiny_bundle: ModelBundle) -> None:
    response = make_app(web_settings(tmp_path), bundle=tiny_bundle).test_client().get("/healthz")
    assert response.headers["Cache-Control"] == "no-store"
    assert re.search(r"total;dur=\d+\.\d+", response.headers["Server-Timing"])
