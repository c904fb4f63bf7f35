"""``POST /v1/score``: results in order, every documented error, and no 5xx for any body."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.config import Settings
from backend.store.bundle import ModelBundle
from tests.test_web_support import (
    KEY_HEADERS,
    assert_documented,
    bearer,
    make_app,
    post_json,
    schema_errors,
    web_settings,
)

PATH = "/v1/score"
HeaderRows = tuple[list[str], list[list[Any]]]


@pytest.fixture(scope="module")
def app(tiny_models_dir: Path, tiny_bundle: ModelBundle) -> Flask:
    return make_app(web_settings(tiny_models_dir, max_rows=100, max_body_bytes=256 * 1024), bundle=tiny_bundle)


@pytest.fixture(scope="module")
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def score(client: FlaskClient, payload: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    response = post_json(client, PATH, payload, headers)
    return response.status_code, assert_documented("POST", PATH, response)


# --------------------------------------------------------------------------- success


def test_one_result_per_row_in_order(client: FlaskClient, tiny_bundle: ModelBundle,
                                     sample_header_rows: HeaderRows) -> None:
    header, rows = sample_header_rows
    assert not schema_errors("ScoreRequest", {"header": header, "rows": rows})
    status, body = score(client, {"header": header, "rows": rows})
    assert status == 200
    assert body["model"] == {"name": tiny_bundle.name, "version": tiny_bundle.version}
    results = body["results"]
    assert len(results) == len(rows)
    for result in results:
        assert 1 <= result["lead_score"] <= 10
        assert 0.0 <= result["close_probability"] <= 1.0
        assert result["predicted_mrr"] >= 0
        assert isinstance(result["reasons"], list) and result["segment"]
    _, reversed_body = score(client, {"header": header, "rows": rows[::-1]})
    assert reversed_body["results"] == results[::-1]


def test_columns_in_any_order_score_the_same(client: FlaskClient, sample_header_rows: HeaderRows) -> None:
    header, rows = sample_header_rows
    order = list(range(len(header)))[::-1]
    _, straight = score(client, {"header": header, "rows": rows[:5]})
    _, shuffled = score(client, {"header": [header[i] for i in order],
                                 "rows": [[row[i] for i in order] for row in rows[:5]]})
    strip = [{k: v for k, v in r.items() if k != "reasons"} for r in straight["results"]]
    assert [{k: v for k, v in r.items() if k != "reasons"} for r in shuffled["results"]] == strip


def test_short_rows_are_padded_and_blank_rows_reported(client: FlaskClient,
                                                       sample_header_rows: HeaderRows) -> None:
    header, rows = sample_header_rows
    status, body = score(client, {"header": header, "rows": [rows[0][:3], [], rows[1] + ["", None]]})
    assert status == 200
    assert body["results"][1]["lead_score"] is None and body["results"][1]["error"]
    assert body["results"][2]["lead_score"] is not None
    assert any(w["code"] == "unscorable_rows" and 1 in w["rows"] for w in body["warnings"])


def test_no_rows_is_an_empty_answer(client: FlaskClient, sample_header_rows: HeaderRows) -> None:
    status, body = score(client, {"header": sample_header_rows[0], "rows": []})
    assert status == 200 and body["results"] == [] and body["warnings"] == []


def test_google_sign_in_is_accepted(client: FlaskClient, sample_header_rows: HeaderRows) -> None:
    header, rows = sample_header_rows
    assert score(client, {"header": header, "rows": rows[:2]}, bearer())[0] == 200


def test_timings_are_reported(client: FlaskClient, sample_header_rows: HeaderRows) -> None:
    header, rows = sample_header_rows
    response = post_json(client, PATH, {"header": header, "rows": rows})
    phases = dict(part.strip().split(";dur=") for part in response.headers["Server-Timing"].split(","))
    assert {"auth", "parse", "validate", "score", "serialize", "total"} <= set(phases)
    assert all(float(ms) >= 0 for ms in phases.values())
    assert float(phases["total"]) >= float(phases["score"])


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("body", "says"), [
    (b"", "empty"),
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"rows": []}', "'header'"),
    (b'{"header": ["A"]}', "'rows'"),
    (b'{"header": ["A"], "rows": [], "extra": 1}', "'extra'"),
    (b'{"header": [], "rows": []}', "non-empty list"),
    (b'{"header": "Company", "rows": []}', "non-empty list"),
    (b'{"header": [["A"]], "rows": []}', "header[0]"),
    (b'{"header": ["A"], "rows": {"0": ["x"]}}', "'rows' must be a list"),
    (b'{"header": ["A"], "rows": ["x"]}', "rows[0] must be a list"),
    (b'{"header": ["A", "B"], "rows": [["x", {"v": 1}]]}', "cell 2"),
    (b'{"header": ["A"], "rows": [["x", "y", "z"]]}', "header has 1 columns"),
])
def test_bad_bodies_are_400_with_what_to_fix(client: FlaskClient, body: bytes, says: str) -> None:
    response = client.post(PATH, data=body, headers=KEY_HEADERS, content_type="application/json")
    problem = assert_documented("POST", PATH, response)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert says in problem["detail"]


def test_missing_credentials_are_401(client: FlaskClient) -> None:
    response = post_json(client, PATH, {"header": ["A"], "rows": []}, headers={})
    assert assert_documented("POST", PATH, response)["status"] == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_wrong_api_key_is_401(client: FlaskClient) -> None:
    assert score(client, {"header": ["A"], "rows": []}, {"X-API-Key": "nope"})[0] == 401


def test_expired_token_is_401(client: FlaskClient) -> None:
    assert score(client, {"header": ["A"], "rows": []}, bearer(iat=1_000_000, exp=1_000_100))[0] == 401


def test_account_outside_allowed_domains_is_403(client: FlaskClient) -> None:
    status, problem = score(client, {"header": ["A"], "rows": []}, bearer(email="rep@gmail.com"))
    assert status == 403 and "rep@gmail.com" in problem["detail"]


def test_too_many_rows_is_413_with_the_limit(client: FlaskClient, sample_header_rows: HeaderRows) -> None:
    header, rows = sample_header_rows
    status, problem = score(client, {"header": header, "rows": (rows * 3)[:101]})
    assert status == 413
    assert "101 rows" in problem["detail"] and "100" in problem["detail"] and "fewer rows" in problem["detail"]


def test_too_large_a_body_is_413(client: FlaskClient) -> None:
    status, problem = score(client, {"header": ["Notes"], "rows": [["x" * 300_000]]})
    assert status == 413 and "262,144 bytes" in problem["detail"]


def test_no_model_columns_is_422(client: FlaskClient) -> None:
    status, problem = score(client, {"header": ["Favourite Colour"], "rows": [["blue"]]})
    assert status == 422 and "header row" in problem["detail"]


def test_no_model_is_503(tmp_path: Path) -> None:
    client = make_app(web_settings(tmp_path)).test_client()
    status, problem = score(client, {"header": ["A"], "rows": [["x"]]})
    assert status == 503 and "train" in problem["detail"].lower()


def test_unauthenticated_server_answers_only_loopback(tiny_models_dir: Path, tiny_bundle: ModelBundle) -> None:
    client = make_app(Settings(model_dir=tiny_models_dir), bundle=tiny_bundle).test_client()
    payload = {"header": ["Region"], "rows": [["EMEA"]]}
    assert score(client, payload, {})[0] == 200
    response = client.post(PATH, data=orjson.dumps(payload), environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert assert_documented("POST", PATH, response)["status"] == 403


# --------------------------------------------------------------------------- properties

_scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1),
                     st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12))
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=25)
_cells = st.one_of(st.none(), st.booleans(), st.integers(-10**9, 10**9),
                   st.floats(allow_nan=False, allow_infinity=False, width=32),
                   st.sampled_from(["", " ", "Yes", "no", "$12,000", "12k", "1.2M", "N/A", "Select", "=A1",
                                    "EMEA", "Referral", "2024-02-30", "10/03/2026", "-5", "∞", "(300)"]),
                   st.text(max_size=10))
_lax = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@st.composite
def _shaped_bodies(draw: st.DrawFn, names: list[str]) -> Any:
    header = draw(st.lists(st.one_of(st.sampled_from(names), st.text(max_size=8), _scalars), min_size=0, max_size=8))
    width = len(header)
    rows = draw(st.lists(st.lists(_cells, min_size=0, max_size=width + 2), max_size=6))
    body: dict[str, Any] = {"header": header, "rows": rows}
    if draw(st.booleans()):
        body = draw(st.dictionaries(st.sampled_from(["header", "rows", "extra"]), _json, max_size=3)) | body
    return body


@_lax
@given(body=st.one_of(_json, st.binary(max_size=64)))
def test_arbitrary_bodies_never_get_a_5xx(client: FlaskClient, body: Any) -> None:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    response = client.post(PATH, data=data, headers=KEY_HEADERS, content_type="application/json")
    assert response.status_code < 500, response.data
    assert_documented("POST", PATH, response)


@_lax
@given(data=st.data())
def test_arbitrary_header_and_rows_never_get_a_5xx(client: FlaskClient, tiny_bundle: ModelBundle,
                                                   data: st.DataObject) -> None:
    names = [feature["name"] for feature in tiny_bundle.card["features"]]
    body = data.draw(_shaped_bodies(names))
    response = post_json(client, PATH, body)
    assert response.status_code in (200, 400, 413, 422), response.data
    payload = assert_documented("POST", PATH, response)
    if response.status_code == 200:
        assert len(payload["results"]) == len(body["rows"])
    if schema_errors("ScoreRequest", body):
        assert response.status_code == 400  # what the contract rejects, the server rejects


@pytest.mark.parametrize("huge", ["1e39", 1e39, "-1e39", "$1e39"])
def test_a_number_beyond_float32_is_an_unreadable_cell_not_a_500(client: FlaskClient, sample_header_rows: HeaderRows,
                                                                 huge: Any) -> None:
    """A number too large for the model's features fails its own cell only: that row is scored, with a warning."""
    header, rows = sample_header_rows
    rows = [list(r) for r in rows[:5]]
    rows[2][header.index("Monthly Ad Spend")] = huge
    status, body = score(client, {"header": header, "rows": rows})
    assert status == 200
    assert all(r["lead_score"] is not None for r in body["results"])
    warning = next(w for w in body["warnings"] if w["code"] == "unparsed_values")
    assert warning["columns"] == ["Monthly Ad Spend"] and warning["rows"] == [2]
