"""The Sheets API fake behaves like Google's: URL shapes, A1 parsing, bodies, errors, auth."""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import quote

import gspread
import pytest
import requests
from google.auth import crypt, jwt
from google.auth.transport.requests import AuthorizedSession
from google.oauth2 import service_account

from backend.sheets.writer import SheetsSession
from tests.sheets_fake import (  # noqa: F401  (sheets_fake_fixture is a pytest fixture)
    Box,
    Formula,
    SheetsFake,
    mask_paths,
    parse_cells,
    parse_field_mask,
    quote_title,
    sheets_fake_fixture,
    split_range,
)

SCOPES = ["https://www.googleapis.com/auth/spreadsheets"]
ROWS = [["Company", "MRR", "Won"], ["Acme", 1200, True], ["Bolt", 0.25, False], ["Core", "", None]]


@pytest.fixture
def api(sheets_fake: SheetsFake) -> AuthorizedSession:
    """An HTTP session authorised through the fake's token endpoint (google-auth's real flow)."""
    credentials = service_account.Credentials.from_service_account_info(
        sheets_fake.service_account_info(), scopes=SCOPES)
    return AuthorizedSession(credentials)


def v4(fake: SheetsFake, sid: str, suffix: str = "") -> str:
    return f"{fake.url}/v4/spreadsheets/{sid}{suffix}"


def values_url(fake: SheetsFake, sid: str, a1: str) -> str:
    return v4(fake, sid, "/values/" + quote(a1, safe=""))


# ----------------------------------------------------------------------------- A1 notation


@pytest.mark.parametrize(("a1", "expected"), [
    ("Sheet1!A1:C3", ("Sheet1", "A1:C3")),
    ("'My Leads'!A1", ("My Leads", "A1")),
    ("'O''Brien'!A:A", ("O'Brien", "A:A")),
    ("'Q1!Leads'!B2", ("Q1!Leads", "B2")),
    ("Sheet1", (None, "Sheet1")),
    ("'My Leads'", ("My Leads", None)),
    ("A1:B2", (None, "A1:B2")),
])
def test_split_range(a1: str, expected: tuple[str | None, str | None]) -> None:
    assert split_range(a1) == expected


@pytest.mark.parametrize(("cells", "box"), [
    ("A1", Box(0, 1, 0, 1)),
    ("A1:C3", Box(0, 3, 0, 3)),
    ("C3:A1", Box(0, 3, 0, 3)),
    ("1:1", Box(0, 1, 0, None)),
    ("2:5", Box(1, 5, 0, None)),
    ("A:C", Box(0, None, 0, 3)),
    ("A2:C", Box(1, None, 0, 3)),
    ("AA10:AB12", Box(9, 12, 26, 28)),
    ("$B$2:$C$4", Box(1, 4, 1, 3)),
    ("a1:b2", Box(0, 2, 0, 2)),
])
def test_parse_cells(cells: str, box: Box) -> None:
    assert parse_cells(cells) == box


@pytest.mark.parametrize("cells", ["A", "1", "A1:B2:C3", "1:C", "A0", "", "A1:", "Leads"])
def test_parse_cells_rejects(cells: str) -> None:
    assert parse_cells(cells) is None


@pytest.mark.parametrize(("title", "quoted"), [
    ("Sheet1", "Sheet1"), ("My Leads", "'My Leads'"), ("O'Brien", "'O''Brien'"), ("A1", "'A1'"),
])
def test_titles_quoted_only_when_needed(title: str, quoted: str) -> None:
    assert quote_title(title) == quoted


def test_field_masks_parse_like_google() -> None:
    assert mask_paths("userEnteredFormat.numberFormat,userEnteredValue") == (
        ("userEnteredFormat", "numberFormat"), ("userEnteredValue",))
    tree = parse_field_mask("sheets(properties(sheetId,gridProperties/rowCount),data.rowData)")
    assert tree == {"sheets": {"properties": {"sheetId": True, "gridProperties": {"rowCount": True}},
                               "data": {"rowData": True}}}


# ----------------------------------------------------------------------------- values.get


def test_values_get_echoes_the_resolved_range_and_trims(sheets_fake: SheetsFake, api: AuthorizedSession) -> None:
    sid = sheets_fake.add_spreadsheet(ROWS, sheet="My Leads", row_count=10, column_count=5)

    body = api.get(values_url(sheets_fake, sid, "'My Leads'!A1:E10")).json()

    assert body["range"] == "'My Leads'!A1:E10"
    assert body["majorDimension"] == "ROWS"
    assert body["values"] == [["Company", "MRR", "Won"], ["Acme", "1200", "TRUE"], ["Bolt", "0.25", "FALSE"],
                              ["Core"]]


def test_values_get_clips_whole_columns_and_sheets_to_the_grid(sheets_fake: SheetsFake,
                                                               api: AuthorizedSession) -> None:
    sid = sheets_fake.add_spreadsheet(ROWS, sheet="Sheet1", row_count=6, column_count=4)

    whole = api.get(values_url(sheets_fake, sid, "Sheet1")).json()
    columns = api.get(values_url(sheets_fake, sid, "A:B")).json()  # no sheet: the first one
    open_ended = api.get(values_url(sheets_fake, sid, "Sheet1!B2:C")).json()
    beyond = api.get(values_url(sheets_fake, sid, "Sheet1!A1:Z99")).json()

    assert whole["range"] == "Sheet1!A1:D6"
    assert columns["range"] == "Sheet1!A1:B6" and columns["values"][1] == ["Acme", "1200"]
    assert open_ended["range"] == "Sheet1!B2:C6" and open_ended["values"] == [["1200", "TRUE"], ["0.25", "FALSE"]]
    assert beyond["range"] == "Sheet1!A1:D6"


def test_values_get_whole_row_quoted_apostrophe_and_render_options(sheets_fake: SheetsFake,
                                                                   api: AuthorizedSession) -> None:
    sid = sheets_fake.add_spreadsheet(ROWS, sheet="O'Brien", row_count=10, column_count=3)

    header = api.get(values_url(sheets_fake, sid, "'O''Brien'!1:1")).json()
    raw = api.get(values_url(sheets_fake, sid, "'O''Brien'!B2:C3"),
                  params={"valueRenderOption": "UNFORMATTED_VALUE"}).json()
    cols = api.get(values_url(sheets_fake, sid, "'O''Brien'!A1:C4"), params={"majorDimension": "COLUMNS"}).json()

    assert header == {"range": "'O''Brien'!A1:C1", "majorDimension": "ROWS", "values": [ROWS[0]]}
    assert raw["values"] == [[1200, True], [0.25, False]]
    assert cols["majorDimension"] == "COLUMNS"
    assert cols["values"] == [["Company", "Acme", "Bolt", "Core"], ["MRR", "1200", "0.25"], ["Won", "TRUE", "FALSE"]]


def test_empty_range_has_no_values_key(sheets_fake: SheetsFake, api: AuthorizedSession) -> None:
    sid = sheets_fake.add_spreadsheet(ROWS)
    body = api.get(values_url(sheets_fake, sid, "Sheet1!F10:G12")).json()
    assert body == {"range": "Sheet1!F10:G12", "majorDimension": "ROWS"}


def test_batch_get_takes_repeated_ranges(sheets_fake: SheetsFake, api: AuthorizedSession) -> None:
    sid = sheets_fake.add_spreadsheet(ROWS, sheet="Leads")
    body = api.get(v4(sheets_fake, sid, "/values:batchGet"),
                   params={"ranges": ["Leads!A2", "Leads!B1:B2"]}).json()
    assert [vr["range"] for vr in body["valueRanges"]] == ["Leads!A2", "Leads!B1:B2"]
    assert body["valueRanges"][1]["values"] == [["MRR"], ["1200"]]


# ----------------------------------------------------------------------------- writes


def test_user_entered_makes_formulas_and_numbers_raw_keeps_text(sheets_fake: SheetsFake,
                                                                api: AuthorizedSession) -> None:
    sid = sheets_fake.add_spreadsheet([["a"]], sheet="S")
    formula = '=IMPORTXML("http://x","//a")'

    user = api.put(values_url(sheets_fake, sid, "S!A1"), params={"valueInputOption": "USER_ENTERED"},
                   json={"values": [[formula, "12", "1,200.5", "50%", "'=1+1", "TRUE"]]})
    raw = api.put(values_url(sheets_fake, sid, "S!A2:F2"), params={"valueInputOption": "RAW"},
                  json={"values": [[formula, "12", 7, True, "", None]]})

    assert user.status_code == raw.status_code == 200
    assert user.json()["updatedRange"] == "S!A1:F1" and user.json()["updatedCells"] == 6
    assert sheets_fake.is_formula(sid, "S", "A1")
    assert sheets_fake.cell(sid, "S", "B1")["userEnteredValue"] == {"numberValue": 12}
    assert sheets_fake.cell(sid, "S", "C1")["userEnteredValue"] == {"numberValue": 1200.5}
    assert sheets_fake.cell(sid, "S", "D1")["effectiveValue"] == {"numberValue": 0.5}
    assert sheets_fake.cell(sid, "S", "E1")["userEnteredValue"] == {"stringValue": "=1+1"}
    assert sheets_fake.cell(sid, "S", "F1")["userEnteredValue"] == {"boolValue": True}
    assert not sheets_fake.is_formula(sid, "S", "A2")
    assert sheets_fake.cell(sid, "S", "A2")["userEnteredValue"] == {"stringValue": formula}
    assert sheets_fake.cell(sid, "S", "B2")["userEnteredValue"] == {"stringValue": "12"}
    assert sheets_fake.values(sid, "S")[1] == [formula, "12", 7, True]


def test_null_leaves_a_cell_and_empty_string_clears_it(sheets_fake: SheetsFake, api: AuthorizedSession) -> None:
    sid = sheets_fake.add_spreadsheet([["keep", "clear"]], sheet="S")
    api.put(values_url(sheets_fake, sid, "S!A1:B1"), params={"valueInputOption": "RAW"},
            json={"values": [[None, ""]]})
    assert sheets_fake.values(sid, "S") == [["keep"]]


def test_write_past_the_grid_is_googles_400(sheets_fake: SheetsFake, api: AuthorizedSession) -> None:
    sid = sheets_fake.add_spreadsheet(ROWS, sheet="Sheet1", row_count=100, column_count=7)
    before = sheets_fake.grid(sid, "Sheet1")

    response = api.put(values_url(sheets_fake, sid, "Sheet1!H1"), params={"valueInputOption": "RAW"},
                       json={"values": [[1], [2], [3], [4], [5]]})

    assert response.status_code == 400
    assert response.json() == {"error": {
        "code": 400, "message": "Range ('Sheet1'!H1:H5) exceeds grid limits. Max rows: 100, max columns: 7",
        "status": "INVALID_ARGUMENT"}}
    assert sheets_fake.grid(sid, "Sheet1") == before


def test_values_outside_the_range_given_are_refused(sheets_fake: SheetsFake, api: AuthorizedSession) -> None:
    sid = sheets_fake.add_spreadsheet([["a"]], sheet="Sheet1")
    response = api.put(values_url(sheets_fake, sid, "Sheet1!A1:B1"), params={"valueInputOption": "RAW"},
                       json={"values": [[1, 2], [3, 4]]})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "Requested writing within range [Sheet1!A1:B1], but tried writing to row [2]")


def test_values_batch_update_is_all_or_nothing(sheets_fake: SheetsFake, api: AuthorizedSession) -> None:
    sid = sheets_fake.add_spreadsheet([["a"]], sheet="Sheet1", row_count=5, column_count=2)
    body = {"valueInputOption": "RAW", "data": [
        {"range": "Sheet1!A2", "values": [["ok"]]}, {"range": "Sheet1!C1", "values": [["too far"]]}]}

    response = api.post(v4(sheets_fake, sid, "/values:batchUpdate"), json=body)

    assert response.status_code == 400
    assert "exceeds grid limits" in response.json()["error"]["message"]
    assert sheets_fake.values(sid, "Sheet1") == [["a"]]


def test_values_batch_update_writes_several_ranges(sheets_fake: SheetsFake, api: AuthorizedSession) -> None:
    sid = sheets_fake.add_spreadsheet([["a", "b"]], sheet="Sheet1")
    body = {"valueInputOption": "RAW", "data": [
        {"range": "Sheet1!A2:B2", "values": [[1, 2]]}, {"range": "Sheet1!B4", "values": [["x"]]}]}

    result = api.post(v4(sheets_fake, sid, "/values:batchUpdate"), json=body).json()

    assert result["totalUpdatedCells"] == 3 and result["totalUpdatedSheets"] == 1
    assert sheets_fake.values(sid, "Sheet1") == [["a", "b"], [1, 2], [], ["", "x"]]


# ----------------------------------------------------------------------------- errors and auth


def test_unknown_spreadsheet_is_googles_404(sheets_fake: SheetsFake, api: AuthorizedSession) -> None:
    response = api.get(v4(sheets_fake, "nope"))
    assert response.status_code == 404
    assert response.json() == {"error": {"code": 404, "message": "Requested entity was not found.",
                                         "status": "NOT_FOUND"}}


@pytest.mark.parametrize("a1", ["Nope!A1", "'Sheet1'!A1:B2:C3", "Sheet1!1:C", "'unterminated!A1"])
def test_unparsable_range_or_unknown_tab_is_400(sheets_fake: SheetsFake, api: AuthorizedSession, a1: str) -> None:
    sid = sheets_fake.add_spreadsheet(ROWS)
    response = api.get(values_url(sheets_fake, sid, a1))
    assert response.status_code == 400
    assert response.json() == {"error": {"code": 400, "message": f"Unable to parse range: {a1}",
                                         "status": "INVALID_ARGUMENT"}}


def test_missing_or_invalid_token_is_401(sheets_fake: SheetsFake) -> None:
    sid = sheets_fake.add_spreadsheet(ROWS)
    missing = requests.get(v4(sheets_fake, sid), timeout=5)
    invalid = requests.get(v4(sheets_fake, sid), headers={"Authorization": "Bearer made-up"}, timeout=5)
    for response in (missing, invalid):
        assert response.status_code == 401
        assert response.json()["error"]["status"] == "UNAUTHENTICATED"
        assert response.json()["error"]["code"] == 401
    assert invalid.json()["error"]["message"].startswith("Request had invalid authentication credentials.")


def test_revoked_tokens_are_refreshed_by_google_auth(sheets_fake: SheetsFake, api: AuthorizedSession) -> None:
    sid = sheets_fake.add_spreadsheet(ROWS)
    assert api.get(v4(sheets_fake, sid)).status_code == 200
    sheets_fake.revoke_tokens()
    assert api.get(v4(sheets_fake, sid)).status_code == 200
    assert sheets_fake.token_requests == 2
    assert [c.status for c in sheets_fake.api_calls()] == [200, 401, 200]


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_token_endpoint_checks_the_grant_and_the_jwt(sheets_fake: SheetsFake) -> None:
    info = sheets_fake.service_account_info()
    now = int(time.time())
    claims_ok = {"iss": info["client_email"], "scope": SCOPES[0], "aud": info["token_uri"],
                 "iat": now, "exp": now + 3600}
    good = jwt.encode(crypt.RSASigner.from_service_account_info(info), claims_ok).decode()
    header, claims, signature = good.split(".")
    forged_claims = _b64({**json.loads(base64.urlsafe_b64decode(claims + "==")), "scope": "other"})
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

    def post(**form: str) -> requests.Response:
        return requests.post(sheets_fake.token_url, data=form, timeout=5)

    ok = post(grant_type=grant, assertion=good)
    assert ok.status_code == 200
    assert set(ok.json()) == {"access_token", "expires_in", "token_type"} and ok.json()["expires_in"] == 3600
    assert post(grant_type="password", assertion=good).json()["error"] == "unsupported_grant_type"
    assert post(grant_type=grant, assertion="not-a-jwt").json()["error"] == "invalid_grant"
    tampered = post(grant_type=grant, assertion=f"{header}.{forged_claims}.{signature}")
    assert tampered.status_code == 400 and tampered.json()["error_description"] == "Invalid JWT Signature."
    no_iss = post(grant_type=grant, assertion=f"{header}.{_b64({'scope': 's', 'aud': 'a'})}.{signature}")
    assert no_iss.status_code == 400


def test_access_none_is_403_and_reader_cannot_write(sheets_fake: SheetsFake, api: AuthorizedSession) -> None:
    closed = sheets_fake.add_spreadsheet(ROWS)
    viewer = sheets_fake.add_spreadsheet(ROWS)
    sheets_fake.set_access(closed, "none")
    sheets_fake.set_access(viewer, "reader")

    assert api.get(v4(sheets_fake, closed)).json() == {"error": {
        "code": 403, "message": "The caller does not have permission", "status": "PERMISSION_DENIED"}}
    assert api.get(values_url(sheets_fake, viewer, "A1")).status_code == 200
    write = api.put(values_url(sheets_fake, viewer, "A1"), params={"valueInputOption": "RAW"},
                    json={"values": [["x"]]})
    assert write.status_code == 403
    assert sheets_fake.values(viewer, "Sheet1")[0][0] == "Company"


# ----------------------------------------------------------------------------- faults and the log


def test_fail_next_then_success_with_googles_bodies(sheets_fake: SheetsFake, api: AuthorizedSession) -> None:
    sid = sheets_fake.add_spreadsheet(ROWS)
    sheets_fake.fail_next(status=429, times=2, retry_after=3)

    first, second, third = (api.get(v4(sheets_fake, sid)) for _ in range(3))

    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert first.json()["error"]["message"].startswith("Quota exceeded")
    assert first.headers["Retry-After"] == "3"


def test_fail_always_matches_and_clears(sheets_fake: SheetsFake, api: AuthorizedSession) -> None:
    sid = sheets_fake.add_spreadsheet(ROWS)
    sheets_fake.fail_always(500, match="values:batchUpdate")

    read = api.get(v4(sheets_fake, sid))
    writes = [api.post(v4(sheets_fake, sid, "/values:batchUpdate"),
                       json={"valueInputOption": "RAW", "data": []}) for _ in range(3)]
    sheets_fake.clear_faults()
    after = api.post(v4(sheets_fake, sid, "/values:batchUpdate"), json={"valueInputOption": "RAW", "data": []})

    assert read.status_code == 200
    assert [w.status_code for w in writes] == [500, 500, 500]
    assert writes[0].json() == {"error": {"code": 500, "message": "Internal error encountered.",
                                          "status": "INTERNAL"}}
    assert after.status_code == 200


def test_502_is_an_html_page_like_googles_front_end(sheets_fake: SheetsFake, api: AuthorizedSession) -> None:
    sid = sheets_fake.add_spreadsheet(ROWS)
    sheets_fake.fail_next(502)
    response = api.get(v4(sheets_fake, sid))
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")


def test_request_log_excludes_the_token_endpoint(sheets_fake: SheetsFake, api: AuthorizedSession) -> None:
    sid = sheets_fake.add_spreadsheet(ROWS, sheet="My Leads")
    api.get(values_url(sheets_fake, sid, "'My Leads'!A1"), params={"valueRenderOption": "FORMULA"})
    api.get(v4(sheets_fake, "missing"))

    log = sheets_fake.api_requests()

    assert sheets_fake.token_requests == 1
    assert log == [("GET", f"/v4/spreadsheets/{sid}/values/'My Leads'!A1", {"valueRenderOption": ["FORMULA"]}),
                   ("GET", "/v4/spreadsheets/missing", {})]
    assert sheets_fake.count(status=404) == 1
    sheets_fake.reset_log()
    assert sheets_fake.api_requests() == [] and sheets_fake.count() == 0


# ----------------------------------------------------------------------------- spreadsheets.get / batchUpdate


def test_get_with_ranges_and_grid_data(sheets_fake: SheetsFake, api: AuthorizedSession) -> None:
    sid = sheets_fake.add_spreadsheet(ROWS, sheet="My Leads", row_count=50, column_count=8)
    sheets_fake.add_sheet(sid, "Other", [["x"]])
    fields = "sheets(properties(sheetId,title,gridProperties(rowCount,columnCount)),data(startRow,startColumn," \
             "rowData(values(effectiveValue,formattedValue))))"

    body = api.get(v4(sheets_fake, sid), params={
        "ranges": ["'My Leads'!1:1", "'My Leads'!B2:C4"], "includeGridData": "true", "fields": fields}).json()

    assert list(body) == ["sheets"] and len(body["sheets"]) == 1
    sheet = body["sheets"][0]
    assert sheet["properties"] == {"sheetId": sheet["properties"]["sheetId"], "title": "My Leads",
                                   "gridProperties": {"rowCount": 50, "columnCount": 8}}
    header, block = sheet["data"]
    assert "startRow" not in header and "startColumn" not in header
    assert [v["formattedValue"] for v in header["rowData"][0]["values"]] == ["Company", "MRR", "Won"]
    assert (block["startRow"], block["startColumn"]) == (1, 1)
    assert block["rowData"][0]["values"] == [
        {"effectiveValue": {"numberValue": 1200}, "formattedValue": "1200"},
        {"effectiveValue": {"boolValue": True}, "formattedValue": "TRUE"}]
    assert len(block["rowData"]) == 2  # row 4 is empty within B:C: trailing empty rows are trimmed


def test_get_without_ranges_lists_every_sheet(sheets_fake: SheetsFake, api: AuthorizedSession) -> None:
    sid = sheets_fake.add_spreadsheet(ROWS, title="Pipeline")
    sheets_fake.add_sheet(sid, "Other", [["x"]], row_count=3, column_count=2)
    body = api.get(v4(sheets_fake, sid)).json()
    assert body["spreadsheetId"] == sid and body["properties"]["title"] == "Pipeline"
    assert [s["properties"]["title"] for s in body["sheets"]] == ["Sheet1", "Other"]
    assert body["sheets"][1]["properties"]["gridProperties"] == {"rowCount": 3, "columnCount": 2}
    assert "data" not in body["sheets"][0]


def test_batch_update_requests_apply(sheets_fake: SheetsFake, api: AuthorizedSession) -> None:
    sid = sheets_fake.add_spreadsheet(ROWS, sheet="S", row_count=10, column_count=3)
    gid = sheets_fake.sheet_properties(sid, "S")["sheetId"]
    requests_ = [
        {"appendDimension": {"sheetId": gid, "dimension": "COLUMNS", "length": 2}},
        {"insertDimension": {"range": {"sheetId": gid, "dimension": "ROWS", "startIndex": 1, "endIndex": 2}}},
        {"updateCells": {"start": {"sheetId": gid, "rowIndex": 0, "columnIndex": 3},
                         "rows": [{"values": [{"userEnteredValue": {"stringValue": "Lead Score"}}]}],
                         "fields": "userEnteredValue"}},
        {"repeatCell": {"range": {"sheetId": gid, "startRowIndex": 1, "startColumnIndex": 1, "endColumnIndex": 2},
                        "cell": {"userEnteredFormat": {"numberFormat": {"type": "CURRENCY", "pattern": "$#,##0"}}},
                        "fields": "userEnteredFormat.numberFormat"}},
        {"addConditionalFormatRule": {"index": 0, "rule": {
            "ranges": [{"sheetId": gid, "startRowIndex": 1, "startColumnIndex": 3, "endColumnIndex": 4}],
            "gradientRule": {"minpoint": {"type": "MIN", "color": {"red": 1}},
                             "maxpoint": {"type": "MAX", "color": {"green": 1}}}}}},
        {"updateSheetProperties": {"properties": {"sheetId": gid, "gridProperties": {"frozenRowCount": 1}},
                                   "fields": "gridProperties.frozenRowCount"}},
    ]

    response = api.post(v4(sheets_fake, sid, ":batchUpdate"), json={"requests": requests_})

    assert response.status_code == 200 and response.json()["replies"] == [{}] * 6
    assert sheets_fake.sheet_properties(sid, "S")["gridProperties"] == {
        "rowCount": 11, "columnCount": 5, "frozenRowCount": 1}
    grid = sheets_fake.values(sid, "S", render="FORMATTED_VALUE")
    assert grid[0] == ["Company", "MRR", "Won", "Lead Score"]
    assert grid[1] == [] and grid[2] == ["Acme", "$1,200", "TRUE"]
    assert len(sheets_fake.conditional_formats(sid, "S")) == 1


def test_batch_update_is_atomic_and_rejects_unknown_requests(sheets_fake: SheetsFake,
                                                             api: AuthorizedSession) -> None:
    sid = sheets_fake.add_spreadsheet(ROWS, sheet="S", row_count=10, column_count=3)
    gid = sheets_fake.sheet_properties(sid, "S")["sheetId"]
    body = {"requests": [{"appendDimension": {"sheetId": gid, "dimension": "COLUMNS", "length": 5}},
                         {"frobnicate": {}}]}

    response = api.post(v4(sheets_fake, sid, ":batchUpdate"), json=body)

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": 400, "status": "INVALID_ARGUMENT",
        "message": "Invalid JSON payload received. Unknown name \"frobnicate\" at 'requests[1]': Cannot find field."}
    assert sheets_fake.sheet_properties(sid, "S")["gridProperties"]["columnCount"] == 3


def test_batch_update_with_a_bad_sheet_id_changes_nothing(sheets_fake: SheetsFake, api: AuthorizedSession) -> None:
    sid = sheets_fake.add_spreadsheet(ROWS, sheet="S", row_count=10, column_count=3)
    gid = sheets_fake.sheet_properties(sid, "S")["sheetId"]
    body = {"requests": [
        {"updateCells": {"start": {"sheetId": gid, "rowIndex": 0, "columnIndex": 0},
                         "rows": [{"values": [{"userEnteredValue": {"stringValue": "changed"}}]}],
                         "fields": "userEnteredValue"}},
        {"appendDimension": {"sheetId": 424242, "dimension": "ROWS", "length": 1}}]}

    response = api.post(v4(sheets_fake, sid, ":batchUpdate"), json=body)

    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Invalid requests[1].appendDimension: No grid with id: 424242"
    assert sheets_fake.values(sid, "S")[0][0] == "Company"


def test_seeded_formulas_show_their_result(sheets_fake: SheetsFake, api: AuthorizedSession) -> None:
    sid = sheets_fake.add_spreadsheet([["n", "total"], [2, Formula("=A2*2", result=4)], [3, Formula("=A3*2")]])
    formatted = api.get(values_url(sheets_fake, sid, "B2:B3")).json()["values"]
    formulas = api.get(values_url(sheets_fake, sid, "B2:B3"), params={"valueRenderOption": "FORMULA"}).json()
    assert formatted == [["4"], ["#N/A"]]
    assert formulas["values"] == [["=A2*2"], ["=A3*2"]]


# ----------------------------------------------------------------------------- real gspread


def test_gspread_reads_and_writes_through_the_fake(sheets_fake: SheetsFake, api: AuthorizedSession) -> None:
    sid = sheets_fake.add_spreadsheet(ROWS, sheet="My Leads", title="Pipeline")
    client = gspread.Client(api.credentials, session=SheetsSession(api.credentials, sheets_fake.url))

    spreadsheet = client.open_by_key(sid)
    worksheet = spreadsheet.worksheet("My Leads")
    worksheet.update([["Dyno", 42]], "A5:B5")

    assert spreadsheet.title == "Pipeline"
    assert worksheet.get_all_values()[4] == ["Dyno", "42", ""]
    assert worksheet.row_count == 1000 and worksheet.col_count == 26
    assert sheets_fake.values(sid, "My Leads")[4] == ["Dyno", 42]



# ----------------------------------------------------------------------------- developer metadata


def _column_metadata(gid: int, col: int, value: str, **extra: Any) -> dict[str, Any]:
    return {"createDeveloperMetadata": {"developerMetadata": {
        "metadataKey": "leadscore.output", "metadataValue": value, "visibility": "DOCUMENT",
        "location": {"dimensionRange": {"sheetId": gid, "dimension": "COLUMNS",
                                        "startIndex": col, "endIndex": col + 1}}, **extra}}}


def test_column_metadata_is_created_found_and_moves_with_its_column(sheets_fake: SheetsFake,
                                                                    api: AuthorizedSession) -> None:
    sid = sheets_fake.add_spreadsheet(ROWS, sheet="S")
    gid = sheets_fake.sheet_properties(sid, "S")["sheetId"]

    created = api.post(v4(sheets_fake, sid, ":batchUpdate"), json={"requests": [_column_metadata(gid, 2, "Won")]})
    assert created.status_code == 200
    meta = created.json()["replies"][0]["createDeveloperMetadata"]["developerMetadata"]
    assert meta["location"] == {"locationType": "COLUMN", "sheetId": gid, "dimensionRange": {
        "sheetId": gid, "dimension": "COLUMNS", "startIndex": 2, "endIndex": 3}}

    sheets_fake.insert_columns(sid, "S", before_column=0)  # C -> D
    sheets_fake.move_column(sid, "S", 3, before_column=1)  # D -> B
    search = api.post(v4(sheets_fake, sid, "/developerMetadata:search"), json={"dataFilters": [
        {"developerMetadataLookup": {"metadataKey": "leadscore.output", "locationType": "COLUMN"}}]})
    assert search.status_code == 200
    [match] = search.json()["matchedDeveloperMetadata"]
    assert match["developerMetadata"]["metadataId"] == meta["metadataId"]
    assert match["developerMetadata"]["location"]["dimensionRange"]["startIndex"] == 1
    assert sheets_fake.values(sid, "S")[0] == ["", "Won", "Company", "MRR"]

    grid = api.get(v4(sheets_fake, sid), params={
        "ranges": "S!1:1", "includeGridData": "true",
        "fields": "sheets(data(columnMetadata(developerMetadata(metadataId,metadataValue))))"}).json()
    columns = grid["sheets"][0]["data"][0]["columnMetadata"]
    assert columns[1] == {"developerMetadata": [{"metadataId": meta["metadataId"], "metadataValue": "Won"}]}
    assert columns[0] == {} and columns[2] == {}

    sheets_fake.delete_columns(sid, "S", 1)
    none = api.post(v4(sheets_fake, sid, "/developerMetadata:search"), json={"dataFilters": [
        {"developerMetadataLookup": {"metadataKey": "leadscore.output"}}]})
    assert none.status_code == 200 and none.json() == {}


def test_column_metadata_must_name_one_column_inside_the_grid(sheets_fake: SheetsFake,
                                                             api: AuthorizedSession) -> None:
    sid = sheets_fake.add_spreadsheet(ROWS, sheet="S", column_count=3)
    gid = sheets_fake.sheet_properties(sid, "S")["sheetId"]
    wide = _column_metadata(gid, 0, "x")
    wide["createDeveloperMetadata"]["developerMetadata"]["location"]["dimensionRange"]["endIndex"] = 2
    for bad in (wide, _column_metadata(gid, 3, "x"), _column_metadata(gid, 0, "x", visibility="EVERYONE")):
        response = api.post(v4(sheets_fake, sid, ":batchUpdate"), json={"requests": [bad]})
        assert response.status_code == 400
    assert sheets_fake.developer_metadata(sid, "S") == {}


def test_applied_fault_changes_the_sheet_then_answers_the_error(sheets_fake: SheetsFake,
                                                                api: AuthorizedSession) -> None:
    sid = sheets_fake.add_spreadsheet(ROWS, sheet="S", column_count=3)
    gid = sheets_fake.sheet_properties(sid, "S")["sheetId"]
    sheets_fake.fail_next(500, match=":batchUpdate", applied=True)

    response = api.post(v4(sheets_fake, sid, ":batchUpdate"), json={"requests": [
        {"appendDimension": {"sheetId": gid, "dimension": "COLUMNS", "length": 2}}]})

    assert response.status_code == 500
    assert sheets_fake.sheet_properties(sid, "S")["gridProperties"]["columnCount"] == 5
