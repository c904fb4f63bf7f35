"""The whole path minus Google: payloads built by the add-on's own code (run in node with
the Apps Script fakes) go to the real backend, which writes through real gspread into the
Sheets API fake; then the sheet is checked."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
from flask.testing import FlaskClient

from backend.config import Settings
from backend.core.outputs import LEAD_SCORE, MODEL_VERSION, OUTPUT_COLUMNS
from backend.store.bundle import ModelBundle
from tests.sheets_fake import SheetsFake, settings_for, sheets_fake_fixture  # noqa: F401  (fixture)
from tests.test_web_support import API_KEY, assert_documented, make_app

ROOT = Path(__file__).resolve().parent.parent
BUILD_PAYLOAD = ROOT / "tests" / "addon" / "build_payload.js"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed: the add-on code cannot run")


def addon_requests(sheet: dict[str, Any]) -> dict[str, Any]:
    """What the add-on would POST for this sheet description (see build_payload.js)."""
    proc = subprocess.run([NODE, str(BUILD_PAYLOAD)], input=json.dumps(sheet), capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def leads(sample_header_rows: tuple[list[str], list[list[Any]]]) -> tuple[list[str], list[list[Any]]]:
    header, rows = sample_header_rows
    return header, orjson.loads(orjson.dumps(rows[:30], option=orjson.OPT_SERIALIZE_NUMPY))


@pytest.fixture
def client(sheets_fake: SheetsFake, tmp_path: Path, tiny_models_dir: Path, tiny_bundle: ModelBundle) -> FlaskClient:
    settings: Settings = settings_for(sheets_fake, sheets_fake.service_account_file(tmp_path),
                                      model_dir=tiny_models_dir, api_keys=(API_KEY,), max_rows=500)
    return make_app(settings, bundle=tiny_bundle).test_client()


def send(client: FlaskClient, out: dict[str, Any]) -> list[dict[str, Any]]:
    """POST every chunk exactly as the add-on would (its body text and headers)."""
    bodies = []
    for payload in out["payloads"]:
        response = client.post("/v1/sheets/score", data=payload, headers=out["headers"])
        bodies.append(assert_documented("POST", "/v1/sheets/score", response))
        assert response.status_code == 200, response.get_data(as_text=True)
    return bodies


def test_unscored_rows_scored_end_to_end(client: FlaskClient, sheets_fake: SheetsFake, leads: Any,
                                         tiny_bundle: ModelBundle) -> None:
    header, rows = leads
    sid = sheets_fake.add_spreadsheet([header, *rows], sheet="Leads")
    before = sheets_fake.values(sid, "Leads")
    settings = {"backendUrl": "https://leadscore.example.com", "keyColumn": "Lead ID", "maxRows": 12,
                "apiKey": API_KEY}
    out = addon_requests({"sheet": "Leads", "spreadsheet_id": sid, "header": header, "rows": rows,
                          "selection": None, "settings": settings, "model_version": tiny_bundle.version})
    assert out["mode"] == "unscored"
    assert [len(b["rows"]) for b in out["bodies"]] == [12, 12, 6]  # chunked under the row limit

    responses = send(client, out)
    assert sorted(r for body in responses for r in body["written"]) == list(range(2, 32))

    after = sheets_fake.values(sid, "Leads")
    width = len(header)
    assert after[0][width:width + len(OUTPUT_COLUMNS)] == list(OUTPUT_COLUMNS)
    for old, new in zip(before, after):  # the team's own cells are untouched
        assert new[:width] == old + [""] * (width - len(old))
    scores = [row[width + OUTPUT_COLUMNS.index(LEAD_SCORE)] for row in after[1:]]
    assert all(1 <= int(float(s)) <= 10 for s in scores)
    versions = {row[width + OUTPUT_COLUMNS.index(MODEL_VERSION)] for row in after[1:]}
    assert versions == {tiny_bundle.version}

    # The next sweep reads the sheet as it now is: nothing is left unscored.
    again = addon_requests({"sheet": "Leads", "spreadsheet_id": sid, "header": after[0],
                            "rows": [r + [""] * (len(after[0]) - len(r)) for r in after[1:]],
                            "selection": None, "settings": settings, "model_version": tiny_bundle.version})
    assert again["bodies"] == []


def test_selected_rows_only(client: FlaskClient, sheets_fake: SheetsFake, leads: Any) -> None:
    header, rows = leads
    sid = sheets_fake.add_spreadsheet([header, *rows], sheet="Leads")
    out = addon_requests({"sheet": "Leads", "spreadsheet_id": sid, "header": header, "rows": rows,
                          "selection": "A5:C7,A10:B10", "settings": {"backendUrl": "https://x.example",
                                                                     "keyColumn": "Lead ID", "apiKey": API_KEY}})
    (body,) = send(client, out)
    assert body["written"] == [5, 6, 7, 10]
    after = sheets_fake.values(sid, "Leads")
    score_col = len(header) + OUTPUT_COLUMNS.index(LEAD_SCORE)
    filled = [i + 1 for i, row in enumerate(after) if i and len(row) > score_col and row[score_col] != ""]
    assert filled == [5, 6, 7, 10]
