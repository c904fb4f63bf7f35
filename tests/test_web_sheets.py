"""``POST /v1/sheets/score`` end to end: real gspread client against the Sheets API fake."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

import backend.sheets.writer
from backend.config import Settings
from backend.core.outputs import LEAD_SCORE, MODEL_VERSION, OUTPUT_COLUMNS, SCORE_REASONS
from backend.errors import SheetsError
from backend.sheets.writer import SheetsWriter, client_from_settings
from backend.store.bundle import ModelBundle
from tests.sheets_fake import SheetsFake, settings_for, sheets_fake_fixture  # noqa: F401  (fixture)
from tests.test_web_support import API_KEY, assert_documented, bearer, make_app, post_json, schema_errors

PATH = "/v1/sheets/score"
HeaderRows = tuple[list[str], list[list[Any]]]


def plain(rows: list[list[Any]]) -> list[list[Any]]:
    """Cells as JSON gives them back (no numpy scalars)."""
    return orjson.loads(orjson.dumps(rows, option=orjson.OPT_SERIALIZE_NUMPY))


@pytest.fixture
def leads(sample_header_rows: HeaderRows) -> HeaderRows:
    header, rows = sample_header_rows
    return header, plain(rows[:8])


@pytest.fixture
def settings(sheets_fake: SheetsFake, tmp_path: Path, tiny_models_dir: Path) -> Settings:
    key_file = sheets_fake.service_account_file(tmp_path)
    return settings_for(sheets_fake, key_file, model_dir=tiny_models_dir, api_keys=(API_KEY,),
                        oidc_audience="1234567890-leadscore.apps.googleusercontent.com",
                        allowed_domains=("example.com",), max_rows=50)


@pytest.fixture
def app(settings: Settings, tiny_bundle: ModelBundle) -> Flask:
    return make_app(settings, bundle=tiny_bundle)  # the writer is built from the settings on first use


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def request_body(sid: str, header: list[str], rows: list[list[Any]], first: int = 2, **extra: Any) -> dict[str, Any]:
    body = {"spreadsheet_id": sid, "sheet": "Leads", "header": header,
            "rows": [{"row": first + i, "values": values} for i, values in enumerate(rows)], **extra}
    assert schema_errors("SheetScoreRequest", body) == []  # the add-on's payload shape
    return body


def test_scores_are_written_and_unscorable_or_moved_rows_are_skipped(
        client: FlaskClient, sheets_fake: SheetsFake, leads: HeaderRows, tiny_bundle: ModelBundle) -> None:
    header, rows = leads
    blank = [f"{rows[0][0]}-2", rows[0][1]] + [""] * (len(header) - 2)  # id and company only: nothing to score
    rows = [*rows, blank]
    sid = sheets_fake.add_spreadsheet([header, *rows], sheet="Leads")
    sheets_fake.edit(sid, "Leads", "B4", "Renamed Co")  # row 4 changed after the sidebar read it
    sheets_fake.reset_log()

    response = post_json(client, PATH, request_body(sid, header, rows, key_columns=["Lead ID", "Company"]))

    body = assert_documented("POST", PATH, response)
    assert response.status_code == 200
    unscored_row, moved_row = len(rows) + 1, 4
    assert body["written"] == [n for n in range(2, len(rows) + 1) if n != moved_row]
    skipped = {item["row"]: item["reason"] for item in body["skipped"]}
    assert set(skipped) == {moved_row, unscored_row}
    assert "changed since it was read" in skipped[moved_row]
    assert skipped[unscored_row].startswith("Not scored:")
    assert [r["row"] for r in body["results"]] == list(range(2, len(rows) + 2))
    assert body["results"][-1]["lead_score"] is None and body["results"][-1]["error"]
    assert any(w["code"] == "unscorable_rows" and w["rows"] == [unscored_row] for w in body["warnings"])
    assert body["created_columns"] == list(OUTPUT_COLUMNS)
    assert body["model"]["version"] == tiny_bundle.version

    grid = sheets_fake.values(sid, "Leads")
    assert grid[0] == header + list(OUTPUT_COLUMNS)
    score_col, version_col = grid[0].index(LEAD_SCORE), grid[0].index(MODEL_VERSION)
    assert body["columns"][LEAD_SCORE] == backend.sheets.writer.column_letter(score_col)
    for result in body["results"]:
        line = grid[result["row"] - 1] + [""] * len(grid[0])
        if result["row"] in body["written"]:
            assert line[score_col] == result["lead_score"] and line[version_col] == tiny_bundle.version
            assert line[grid[0].index(SCORE_REASONS)] == "; ".join(result["reasons"])
        else:
            assert line[score_col] == ""  # no score for skipped rows
    # The unscorable row says why (and any stale score there is cleared); the moved row is untouched.
    assert (grid[unscored_row - 1] + [""] * len(grid[0]))[grid[0].index(SCORE_REASONS)].startswith("Not scored:")
    assert (grid[moved_row - 1] + [""] * len(grid[0]))[grid[0].index(SCORE_REASONS)] == ""
    assert sheets_fake.count(path_contains="values:batchUpdate") == 1  # one batched write


def test_writer_is_built_once_per_app_and_not_at_creation(
        monkeypatch: pytest.MonkeyPatch, settings: Settings, tiny_bundle: ModelBundle,
        sheets_fake: SheetsFake, leads: HeaderRows) -> None:
    built: list[Settings] = []
    real = backend.sheets.writer.client_from_settings
    monkeypatch.setattr(backend.sheets.writer, "client_from_settings", lambda s: built.append(s) or real(s))
    app = make_app(settings, bundle=tiny_bundle)
    assert built == []
    header, rows = leads
    sid = sheets_fake.add_spreadsheet([header, *rows], sheet="Leads")
    client = app.test_client()
    for _ in range(2):
        assert post_json(client, PATH, request_body(sid, header, rows)).status_code == 200
    assert built == [settings]
    assert sheets_fake.token_requests == 1  # the service account signed in once


def test_google_sign_in_works_for_sheets(client: FlaskClient, sheets_fake: SheetsFake, leads: HeaderRows) -> None:
    header, rows = leads
    sid = sheets_fake.add_spreadsheet([header, *rows], sheet="Leads")
    response = post_json(client, PATH, request_body(sid, header, rows[:2]), headers=bearer())
    assert response.status_code == 200 and response.json["written"] == [2, 3]


def test_nothing_to_write_makes_no_sheets_call(client: FlaskClient, sheets_fake: SheetsFake,
                                               leads: HeaderRows) -> None:
    header, _ = leads
    sid = sheets_fake.add_spreadsheet([header], sheet="Leads")
    sheets_fake.reset_log()
    response = post_json(client, PATH, request_body(sid, header, [[""] * len(header)]))
    body = assert_documented("POST", PATH, response)
    assert body["written"] == [] and body["skipped"][0]["row"] == 2
    assert sheets_fake.api_calls() == []


def test_sheets_api_failure_is_502(settings: Settings, tiny_bundle: ModelBundle, sheets_fake: SheetsFake,
                                   leads: HeaderRows) -> None:
    writer = SheetsWriter(client_from_settings(settings), max_attempts=2, sleep=lambda _: None)
    client = make_app(settings, bundle=tiny_bundle, sheets_writer=writer).test_client()
    header, rows = leads
    sid = sheets_fake.add_spreadsheet([header, *rows], sheet="Leads")
    sheets_fake.fail_always(503)
    response = post_json(client, PATH, request_body(sid, header, rows))
    problem = assert_documented("POST", PATH, response)
    assert response.status_code == 502 and problem["type"].endswith("/sheets-api")
    assert sheets_fake.count(status=503) == 2  # retried, then reported


def test_sheet_not_shared_is_502_saying_whom_to_share_with(client: FlaskClient, sheets_fake: SheetsFake,
                                                           leads: HeaderRows) -> None:
    header, rows = leads
    sid = sheets_fake.add_spreadsheet([header, *rows], sheet="Leads")
    sheets_fake.set_access(sid, "none")
    response = post_json(client, PATH, request_body(sid, header, rows))
    problem = assert_documented("POST", PATH, response)
    assert response.status_code == 502 and "leadscore@test-project.iam.gserviceaccount.com" in problem["detail"]


class FailingWriter:
    """A writer whose transport fails below the adapter."""

    def write_scores(self, *args: Any, **kwargs: Any) -> Any:
        raise requests.ConnectionError("connection reset by peer")


@pytest.mark.parametrize("writer", [FailingWriter(), None])
def test_transport_failures_and_missing_credentials_are_502(
        writer: Any, tiny_models_dir: Path, tiny_bundle: ModelBundle, leads: HeaderRows) -> None:
    settings = Settings(model_dir=tiny_models_dir, api_keys=(API_KEY,))  # no service account key
    client = make_app(settings, bundle=tiny_bundle, sheets_writer=writer).test_client()
    header, rows = leads
    response = post_json(client, PATH, request_body("a" * 20, header, rows))
    problem = assert_documented("POST", PATH, response)
    assert response.status_code == 502
    assert "connection reset" not in problem["detail"]
    if writer is None:
        assert "GOOGLE_APPLICATION_CREDENTIALS" in problem["detail"]


def test_writer_errors_are_the_products_errors(settings: Settings, tiny_bundle: ModelBundle,
                                                leads: HeaderRows) -> None:
    class Refusing:
        def write_scores(self, *args: Any, **kwargs: Any) -> Any:
            raise SheetsError("Google Sheets refused", extra={"sheets_status": 403})

    client = make_app(settings, bundle=tiny_bundle, sheets_writer=Refusing()).test_client()
    header, rows = leads
    problem = assert_documented("POST", PATH, post_json(client, PATH, request_body("a" * 20, header, rows)))
    assert problem["status"] == 502 and problem["sheets_status"] == 403


@pytest.mark.parametrize(("case", "status"), [
    ("no credentials", 401), ("wrong domain", 403), ("bad body", 400), ("too many rows", 413),
    ("no model columns", 422), ("no model", 503)])
def test_documented_errors(case: str, status: int, client: FlaskClient, tmp_path: Path, leads: HeaderRows) -> None:
    header, rows = leads
    body: Any = request_body("a" * 20, header, rows)
    headers = None
    if case == "no credentials":
        headers = {}
    elif case == "wrong domain":
        headers = bearer(email="rep@competitor.biz")
    elif case == "bad body":
        body = {**body, "rows": [{"row": 0, "values": []}]}
    elif case == "too many rows":
        body = request_body("a" * 20, header, rows * 7)
    elif case == "no model columns":
        body = request_body("a" * 20, ["Colour"], [["blue"]])
    elif case == "no model":
        client = make_app(Settings(model_dir=tmp_path, api_keys=(API_KEY,))).test_client()
    response = post_json(client, PATH, body, headers=headers)
    assert response.status_code == status
    assert assert_documented("POST", PATH, response)["status"] == status


@pytest.mark.parametrize("number", [2**64, 2**64 + 5])
def test_huge_and_repeated_row_numbers_are_a_clean_400(client: FlaskClient, number: int) -> None:
    body = {"spreadsheet_id": "1AbC-dEf_GhIjKlMnOpQrSt", "sheet": "Leads", "header": ["Company"],
            "rows": [{"row": number, "values": ["Acme"]}, {"row": number, "values": ["Acme"]}]}
    response = client.post(PATH, data=json.dumps(body), content_type="application/json",
                           headers={"X-API-Key": API_KEY})
    problem = assert_documented("POST", PATH, response)
    assert response.status_code == 400 and "10,000,000" in problem["detail"]


def test_a_user_column_named_like_ours_is_kept_and_the_clash_is_a_warning(
        client: FlaskClient, sheets_fake: SheetsFake, leads: HeaderRows) -> None:
    header, rows = leads
    header = [*header, LEAD_SCORE]  # the user's own "Lead Score" column
    rows = [[*r, "hot"] for r in rows]
    sid = sheets_fake.add_spreadsheet([header, *rows], sheet="Leads")
    before = sheets_fake.grid(sid, "Leads", render="FORMULA")

    response = post_json(client, PATH, request_body(sid, header, rows))

    body = assert_documented("POST", PATH, response)
    assert response.status_code == 200
    after = sheets_fake.grid(sid, "Leads", render="FORMULA")
    assert all(after[r][c] == v for r, row in enumerate(before) for c, v in enumerate(row) if v != "")
    assert [w["code"] for w in body["warnings"]].count("header_clash") == 1
    assert sheets_fake.values(sid, "Leads")[0][len(header)] == "Lead Score (scored)"


def test_repeated_key_values_are_a_400_naming_them(client: FlaskClient, sheets_fake: SheetsFake,
                                                    leads: HeaderRows) -> None:
    header, rows = leads
    sid = sheets_fake.add_spreadsheet([header, *rows], sheet="Leads")
    key = "Lead Source"  # Paid Search, Social, ...: repeats
    response = post_json(client, PATH, request_body(sid, header, rows, key_columns=[key]))
    problem = assert_documented("POST", PATH, response)
    assert response.status_code == 400 and "not identify rows uniquely" in problem["detail"]
    assert sheets_fake.count(method="POST") == 0
