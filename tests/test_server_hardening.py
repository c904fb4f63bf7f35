"""The served backend against hostile clients: slow connections, keys in URLs, cross-site posts.

The slow-client test is bounded: 50 connections that never finish their request, then
``/healthz`` must answer within a second (the server is started once for the module).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import requests
from flask.testing import FlaskClient

from tests.test_server import free_port, server_env, serving
from tests.test_web_support import API_KEY, make_app, web_settings

SLOW_CLIENTS = 50


@pytest.fixture(scope="module")
def served(tiny_models_dir: Path) -> Iterator[tuple[str, int]]:
    """A production server on loopback (no sign-in: loopback mode); yields (url, port)."""
    port = free_port()
    code = f"from backend.web.server import run; run('127.0.0.1', {port})"
    with serving(code, server_env(LEADSCORE_MODEL_DIR=str(tiny_models_dir)), port) as (url, _process):
        yield url, port


def open_slow_clients(port: int, count: int) -> list[socket.socket]:
    """``count`` connections: half stop inside the headers, half inside a declared 100 kB body."""
    socks = []
    for i in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if i % 2:
            sock.sendall(b"POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        else:
            sock.sendall(b"POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100000\r\n\r\n{\"header\": [")
        socks.append(sock)
    return socks


def test_fifty_slow_clients_do_not_delay_others(served: tuple[str, int],
                                                sample_header_rows: tuple[list[str], list[list[object]]]) -> None:
    url, port = served
    socks = open_slow_clients(port, SLOW_CLIENTS)
    try:
        time.sleep(0.3)
        for sock in socks:  # still alive, still dripping
            sock.sendall(b"a")
        started = time.monotonic()
        health = requests.get(f"{url}/healthz", timeout=10)
        elapsed = time.monotonic() - started
        header, rows = sample_header_rows
        scored = requests.post(f"{url}/v1/score", json={"header": header, "rows": rows[:20]}, timeout=10)
    finally:
        for sock in socks:
            sock.close()
    assert health.status_code == 200
    assert elapsed < 1.0, f"/healthz took {elapsed:.2f} s with {SLOW_CLIENTS} slow clients open"
    assert scored.status_code == 200


def test_the_servers_own_errors_are_problem_json(served: tuple[str, int]) -> None:
    url, port = served
    huge = requests.get(f"{url}/healthz", headers={"X-Junk": "x" * 100_000}, timeout=10)
    assert huge.status_code in (400, 431)
    assert huge.headers["Content-Type"].startswith("application/problem+json")
    assert orjson.loads(huge.content)["status"] == huge.status_code
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n")
        answer = sock.recv(65536).decode("latin-1")
    assert answer.startswith("HTTP/1.1 400")
    assert "application/problem+json" in answer and "Traceback" not in answer


def test_api_key_in_the_url_is_refused_and_never_logged(served: tuple[str, int]) -> None:
    url, _ = served
    secret = "sk-live-" + "q" * 24
    response = requests.get(f"{url}/v1/model?api_key={secret}&x=1", timeout=10,
                            headers={"X-Request-ID": "key-in-url-1"})
    assert response.status_code == 400
    assert "X-API-Key header" in orjson.loads(response.content)["detail"]
    assert secret not in response.text


# --------------------------------------------------------------------------- in-process


@pytest.fixture
def local_client(tmp_path: Path, tiny_models_dir: Path) -> FlaskClient:
    """No sign-in configured: loopback mode."""
    app = make_app(web_settings(tiny_models_dir, api_keys=(), oidc_audience=None))
    return app.test_client()


def test_local_mode_refuses_cross_site_posts(local_client: FlaskClient,
                                             sample_header_rows: tuple[list[str], list[list[object]]]) -> None:
    header, rows = sample_header_rows
    body = orjson.dumps({"header": header, "rows": rows[:3]})
    plain = local_client.post("/v1/score", data=body, content_type="text/plain")
    assert plain.status_code == 415 and plain.content_type.startswith("application/problem+json")
    foreign = local_client.post("/v1/score", data=body, content_type="application/json",
                                headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403 and "other web sites" in foreign.get_json()["detail"]
    fetch = local_client.post("/v1/score", data=body, content_type="application/json",
                              headers={"Sec-Fetch-Site": "cross-site"})
    assert fetch.status_code == 403
    same = local_client.post("/v1/score", data=body, content_type="application/json",
                             headers={"Origin": "http://localhost"})
    assert same.status_code == 200
    assert local_client.post("/v1/score", data=body, content_type="application/json").status_code == 200


def test_key_in_the_query_string_is_400_even_when_valid(tmp_path: Path, tiny_models_dir: Path) -> None:
    client = make_app(web_settings(tiny_models_dir)).test_client()
    response = client.get(f"/v1/model?key={API_KEY}", headers={"X-API-Key": API_KEY})
    assert response.status_code == 400
    assert API_KEY not in response.get_data(as_text=True)
