"""Request shapes: what is accepted (and normalized), and what each rejection says."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.errors import BadInput, TooLarge
from backend.web.payloads import parse_score_request, parse_sheet_score_request
from backend.web.problems import http_status, to_problem
from tests.test_web_support import make_app, schema_errors, web_settings

SID = "1AbC-dEf_GhIjKlMnOpQrStUvWxYz0123456789"


@pytest.fixture(autouse=True)
def request_context(tmp_path: Path) -> Iterator[None]:
    with make_app(web_settings(tmp_path)).test_request_context("/v1/score", method="POST"):
        yield


def sheet_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"spreadsheet_id": SID, "sheet": "Leads", "header": ["Company", "Region"],
                            "rows": [{"row": 2, "values": ["Acme", "EMEA"]}, {"row": 5, "values": ["Zeta"]}]}
    body.update(overrides)
    return body


def test_header_cells_become_text() -> None:
    req = parse_score_request({"header": ["Company", 2024, 1.5, True, None], "rows": []}, max_rows=10)
    assert req.header == ["Company", "2024", "1.5", "TRUE", ""]


def test_rows_are_made_exactly_as_wide_as_the_header() -> None:
    req = parse_score_request({"header": ["A", "B", "C"], "rows": [["a"], ["a", "b", "c", "", None], []]},
                              max_rows=10)
    assert req.rows == [["a", None, None], ["a", "b", "c"], [None, None, None]]


def test_values_past_the_header_are_refused() -> None:
    with pytest.raises(BadInput, match=r"rows\[1\] has 3 values but the header has 2 columns"):
        parse_score_request({"header": ["A", "B"], "rows": [["a"], ["a", "b", "stray"]]}, max_rows=10)


@pytest.mark.parametrize(("cell", "kind"), [({"a": 1}, "JSON object"), ([1], "list")])
def test_nested_cells_are_refused_naming_row_and_cell(cell: Any, kind: str) -> None:
    with pytest.raises(BadInput, match=rf"rows\[0\], cell 2 holds a {kind}"):
        parse_score_request({"header": ["A", "B"], "rows": [["a", cell]]}, max_rows=10)


def test_row_limit_is_413_naming_the_limit() -> None:
    with pytest.raises(TooLarge, match="11 rows were sent; this server scores at most 10") as info:
        parse_score_request({"header": ["A"], "rows": [["x"]] * 11}, max_rows=10)
    assert http_status(info.value) == 413 and "fewer rows" in info.value.detail


def test_row_limit_is_checked_before_the_cells() -> None:
    with pytest.raises(TooLarge):
        parse_score_request({"header": ["A"], "rows": [[{"bad": 1}]] * 11}, max_rows=10)


def test_sheet_request_is_parsed_with_row_numbers() -> None:
    req = parse_sheet_score_request(sheet_body(key_columns=["Company"]), max_rows=10)
    assert (req.spreadsheet_id, req.sheet, req.numbers) == (SID, "Leads", [2, 5])
    assert req.rows == [["Acme", "EMEA"], ["Zeta", None]] and req.key_columns == ["Company"]
    assert parse_sheet_score_request(sheet_body(rows=[{"row": 3.0, "values": []}]), max_rows=10).numbers == [3]


@pytest.mark.parametrize(("overrides", "says"), [
    ({"spreadsheet_id": "short"}, "spreadsheet_id"),
    ({"spreadsheet_id": "has/slash/and-more-chars"}, "spreadsheet_id"),
    ({"spreadsheet_id": 12345678901}, "spreadsheet_id"),
    ({"sheet": ""}, "'sheet'"),
    ({"sheet": "x" * 101}, "'sheet'"),
    ({"rows": [{"row": 1, "values": []}]}, "row 1 is the header"),
    ({"rows": [{"row": True, "values": []}]}, "sheet row number"),
    ({"rows": [{"row": 2.5, "values": []}]}, "sheet row number"),
    ({"rows": [{"row": 2, "values": []}, {"row": 2, "values": []}]}, "sent twice"),
    ({"rows": [{"row": 2}]}, "exactly 'row'"),
    ({"rows": [["Acme"]]}, "exactly 'row'"),
    ({"rows": [{"row": 2, "values": "Acme"}]}, "Sheet row 2 must be a list"),
    ({"key_columns": "Company"}, "key_columns"),
    ({"key_columns": ["Email"]}, "not in the header"),
    ({"colour": "red"}, "'colour'"),
])
def test_bad_sheet_requests_say_what_to_fix(overrides: dict[str, Any], says: str) -> None:
    with pytest.raises(BadInput) as info:
        parse_sheet_score_request(sheet_body(**overrides), max_rows=10)
    assert says in info.value.detail


def test_sheet_row_limit_is_413() -> None:
    rows = [{"row": n, "values": []} for n in range(2, 14)]
    with pytest.raises(TooLarge, match="12 rows"):
        parse_sheet_score_request(sheet_body(rows=rows), max_rows=10)


def test_what_the_server_accepts_the_contract_accepts() -> None:
    assert schema_errors("SheetScoreRequest", sheet_body(key_columns=["Company"])) == []
    assert schema_errors("ScoreRequest", {"header": ["Company", 2024, None], "rows": [["a"], []]}) == []


# Row numbers past what a sheet can hold: a clean 400 naming the limit, never a 500.
@pytest.mark.parametrize("number", [2**64, 2**64 + 1, 10_000_001, 1e300, -(2**70)])
def test_row_numbers_past_the_sheets_limit_are_400(number: Any) -> None:
    with pytest.raises(BadInput) as info:
        parse_sheet_score_request(sheet_body(rows=[{"row": number, "values": []}]), max_rows=10)
    assert "10,000,000" in info.value.detail
    assert to_problem(info.value)["status"] == 400


def test_row_number_limit_is_the_largest_sheet() -> None:
    req = parse_sheet_score_request(sheet_body(rows=[{"row": 10_000_000, "values": []}]), max_rows=10)
    assert req.numbers == [10_000_000]
