"""The production server: starts on loopback with a model, serves, stops; refuses unsafe binds."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from backend.cli import exit_code
from backend.config import Settings
from backend.errors import LeadScoreError, ModelUnavailable
from backend.web.server import check_bind, run
from tests.test_web_support import assert_documented

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LEADSCORE_") and k != "GOOGLE_APPLICATION_CREDENTIALS"}
    env.update(extra)
    return env


@contextmanager
def serving(code: str, env: dict[str, str], port: int) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Run ``code`` in a subprocess until /healthz answers; stop it with SIGTERM afterwards."""
    process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited early ({process.returncode}):\n{process.stdout.read()}")  # type: ignore[union-attr]
            try:
                if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("server did not answer /healthz in time")
            time.sleep(0.2)
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def exercise(url: str, header: list[str], rows: list[list[object]]) -> None:
    health = requests.get(f"{url}/healthz", timeout=10)
    # "degraded" when the served model failed its quality gates (the tiny test model may).
    assert assert_documented("GET", "/healthz", health)["status"] in ("ok", "degraded")
    response = requests.post(f"{url}/v1/score", json={"header": header, "rows": rows}, timeout=60,
                             headers={"X-Request-ID": "server-test-1"})
    assert response.status_code == 200
    body = assert_documented("POST", "/v1/score", response)
    assert len(body["results"]) == len(rows)
    assert response.headers["X-Request-ID"] == "server-test-1"
    assert "score;dur=" in response.headers["Server-Timing"]


def serve_and_exercise(statements: str, models: Path, header_rows: tuple[list[str], list[list[object]]],
                       more: Callable[[str], None] | None = None) -> str:
    """Run ``statements`` (``s`` is backend.web.server, ``{port}`` a free port), exercise the server, stop it
    with SIGTERM; returns what it printed, after checking it stopped cleanly."""
    port = free_port()
    code = "import backend.web.server as s; " + statements.format(port=port)
    with serving(code, server_env(LEADSCORE_MODEL_DIR=str(models)), port) as (url, process):
        exercise(url, *header_rows)
        if more is not None:
            more(url)
    output = process.stdout.read()  # type: ignore[union-attr]
    assert process.returncode == 0, output  # SIGTERM stops it cleanly
    return output


def test_server_serves_the_model_loaded_once_and_logs_no_secrets(
        tiny_models_dir: Path, sample_header_rows: tuple[list[str], list[list[object]]]) -> None:
    def secret_in_url(url: str) -> None:
        assert requests.get(f"{url}/healthz?token=abc-secret-123", timeout=10).status_code == 400

    output = serve_and_exercise("s.run('127.0.0.1', {port})", tiny_models_dir, sample_header_rows, secret_in_url)
    assert output.count("loaded model") == 1, output  # built once, before serving
    assert "serving with waitress" in output and output.count("waitress: Serving on") == 2  # 2 processes
    assert "rid=server-test-1" in output  # the access log carries the request id
    assert '"POST /v1/score" 200' in output
    assert "abc-secret-123" not in output  # no query strings logged
    assert '"GET /healthz" 400' in output
    assert "Traceback" not in output


def test_one_process_where_there_is_no_fork(
        tiny_models_dir: Path, sample_header_rows: tuple[list[str], list[list[object]]]) -> None:
    output = serve_and_exercise("s.WORKERS = 1; s.run('127.0.0.1', {port})", tiny_models_dir, sample_header_rows)
    assert "(8 threads)" in output and output.count("waitress: Serving on") == 1


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "leads.example.com", ""])
def test_refuses_non_loopback_without_auth(host: str, tmp_path: Path) -> None:
    with pytest.raises(LeadScoreError, match="LEADSCORE_API_KEYS") as info:
        run(host, free_port(), Settings(model_dir=tmp_path))
    assert exit_code(info.value) == 2


@pytest.mark.parametrize("settings", [Settings(api_keys=("k",)), Settings(oidc_audience="client-id")])
def test_non_loopback_is_fine_with_auth(settings: Settings) -> None:
    check_bind("0.0.0.0", settings)


def test_loopback_is_fine_without_auth() -> None:
    for host in ("127.0.0.1", "localhost", "::1"):
        check_bind(host, Settings())


def test_cli_refusal_is_a_clear_message_and_exit_2(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "backend", "serve", "--host", "0.0.0.0", "--port", "8080"],
                            cwd=ROOT, env=server_env(LEADSCORE_MODEL_DIR=str(tmp_path)),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "Refusing to listen on 0.0.0.0 without sign-in" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_model_fails_fast_before_serving(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="No active model"):
        run("127.0.0.1", free_port(), Settings(model_dir=tmp_path))
