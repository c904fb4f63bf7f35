"""backend.sheets.writer against the Sheets API fake: real gspread, real google-auth service-account flow."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.config import Settings
from backend.core.outputs import (
    CLOSE_PROBABILITY,
    LEAD_SCORE,
    MODEL_VERSION,
    OUTPUT_COLUMNS,
    PREDICTED_MRR,
    SCORE_REASONS,
    SEGMENT,
    result_to_cells,
)
from backend.errors import BadInput, SheetsError
from backend.sheets.writer import (
    SheetRow,
    SheetsWriter,
    client_from_settings,
    column_letter,
    normalize_cell,
)
from backend.web.problems import http_status
from tests.sheets_fake import (  # noqa: F401  (the *_fixture names are pytest fixtures)
    Formula,
    SheetsFake,
    sheets_fake_fixture,
    sheets_settings_fixture,
)

HEADER = ["Company", "Email", "Lead Source", "MRR"]
SOURCES = ["Referral", "Ads", "Web"]
FORMULA_TEXT = '=IMPORTXML("http://x","//a")'
WRITE = "values:batchUpdate"


def lead_rows(n: int) -> list[list[Any]]:
    """n distinct leads; lead i is "Company 00i"."""
    return [[f"Company {i:03d}", f"lead{i}@example.com", SOURCES[i % 3], 100 * i] for i in range(1, n + 1)]


def payload(rows: list[list[Any]], first_row: int = 2) -> list[SheetRow]:
    """Rows as the sidebar sends them (consecutive from ``first_row``)."""
    return [SheetRow(first_row + i, list(r)) for i, r in enumerate(rows)]


def cells_for(rows: list[list[Any]]) -> list[dict[str, Any]]:
    """Output cells derived from each lead, so a cell tells which lead it was meant for."""
    out = []
    for row in rows:
        i = int(str(row[0]).split()[-1])
        result = {"lead_score": i % 10 + 1, "close_probability": i / 1000, "predicted_mrr": 1000 + i,
                  "reasons": [f"Lead {row[0]}"], "segment": f"Segment of {row[0]}"}
        out.append(result_to_cells(result, scored_at="2024-05-01T09:30:00Z", model_version="v7"))
    return out


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def writer(sheets_settings: Settings, sleeps: list[float]) -> SheetsWriter:
    return SheetsWriter(client_from_settings(sheets_settings), sleep=sleeps.append, rand=lambda: 1.0)


def seed(fake: SheetsFake, n: int = 20, **kwargs: Any) -> tuple[str, list[list[Any]]]:
    rows = lead_rows(n)
    kwargs.setdefault("sheet", "Leads")
    return fake.add_spreadsheet([HEADER, *rows], **kwargs), rows


def column_of(fake: SheetsFake, sid: str, sheet: str, name: str) -> int:
    return fake.values(sid, sheet)[0].index(name)


def assert_outputs_belong_to_their_rows(fake: SheetsFake, sid: str, sheet: str) -> int:
    """Every written Score Reasons cell names the lead in its own row; returns how many rows have one."""
    grid = fake.values(sid, sheet)
    reasons = grid[0].index(SCORE_REASONS)
    filled = 0
    for row in grid[1:]:
        if len(row) > reasons and row[reasons] != "":
            assert row[reasons] == f"Lead {row[0]}"
            filled += 1
    return filled


# ----------------------------------------------------------------------------- the happy path


def test_200_rows_written_in_four_requests_then_two(sheets_fake: SheetsFake, writer: SheetsWriter) -> None:
    sid, rows = seed(sheets_fake, 200)
    cells = cells_for(rows)

    report = writer.write_scores(sid, "Leads", HEADER, payload(rows), cells)

    assert report.written == list(range(2, 202))
    assert report.skipped == []
    assert report.created_columns == list(OUTPUT_COLUMNS)
    assert report.columns == {name: column_letter(4 + k) for k, name in enumerate(OUTPUT_COLUMNS)}
    calls = sheets_fake.api_calls()
    assert [(c.method, c.path.rsplit("/", 1)[-1].split(":")[-1]) for c in calls] == [
        ("GET", sid), ("GET", "Z1000"), ("POST", "batchUpdate"), ("POST", "batchUpdate")]
    assert sheets_fake.count(path_contains=WRITE) == 1
    assert report.requests == len(calls) == 4
    assert calls[1].path.endswith("/values/'Leads'!E1:Z1000")  # what lies right of the header
    assert sheets_fake.token_requests == 1  # google-auth's service-account grant ran against the fake

    grid = sheets_fake.values(sid, "Leads")
    assert grid[0] == HEADER + list(OUTPUT_COLUMNS)
    for row, expected in zip(grid[1:], cells, strict=True):
        assert row[4:] == [expected[name] for name in OUTPUT_COLUMNS]
    assert sheets_fake.number_format(sid, "Leads", "F2") == {"type": "PERCENT", "pattern": "0.0%"}
    assert sheets_fake.number_format(sid, "Leads", "G150") == {"type": "CURRENCY", "pattern": "$#,##0"}
    assert sheets_fake.cell(sid, "Leads", "F2")["formattedValue"] == "0.1%"
    rules = sheets_fake.conditional_formats(sid, "Leads")
    assert len(rules) == 1
    assert rules[0]["ranges"][0]["startColumnIndex"] == 4 and rules[0]["ranges"][0]["endColumnIndex"] == 5
    gradient = rules[0]["gradientRule"]
    assert (gradient["minpoint"]["value"], gradient["maxpoint"]["value"]) == ("1", "10")
    assert gradient["minpoint"]["color"]["red"] > gradient["minpoint"]["color"]["green"]  # red end
    assert gradient["maxpoint"]["color"]["green"] > gradient["maxpoint"]["color"]["red"]  # green end

    sheets_fake.reset_log()
    again = writer.write_scores(sid, "Leads", grid[0], payload(rows), cells)

    assert again.written == list(range(2, 202))
    assert again.created_columns == []
    assert [c.method for c in sheets_fake.api_calls()] == ["GET", "POST"]
    assert sheets_fake.count(path_contains=WRITE) == 1
    assert again.requests == 2
    assert len(sheets_fake.conditional_formats(sid, "Leads")) == 1
    assert sheets_fake.values(sid, "Leads")[0] == HEADER + list(OUTPUT_COLUMNS)


def test_scattered_rows_still_cost_two_requests(sheets_fake: SheetsFake, writer: SheetsWriter) -> None:
    sid, rows = seed(sheets_fake, 300)
    writer.write_scores(sid, "Leads", HEADER, payload(rows[:1]), cells_for(rows[:1]))
    picked = [2, 3, 57, 58, 59, 150, 299, 301]
    sent = [SheetRow(r, rows[r - 2]) for r in picked]
    sheets_fake.reset_log()

    report = writer.write_scores(sid, "Leads", HEADER, sent, cells_for([s.values for s in sent]))

    assert report.written == picked
    assert sheets_fake.count() == 2
    assert assert_outputs_belong_to_their_rows(sheets_fake, sid, "Leads") == len(picked)


def test_users_cells_are_identical_before_and_after(sheets_fake: SheetsFake, writer: SheetsWriter) -> None:
    rows = lead_rows(30)
    rows[3][3] = Formula("=SUM(1,2)", result=3)
    rows[5][2] = ""
    seeded = [[*r, None, f"note {i}" if i % 4 == 0 else None] for i, r in enumerate(rows)]  # F: unlabeled notes
    sid = sheets_fake.add_spreadsheet([[*HEADER, "", ""], *seeded], sheet="Leads", column_count=12)
    before = sheets_fake.grid(sid, "Leads", render="FORMULA")
    as_read = [[v.result if isinstance(v, Formula) else v for v in row] for row in seeded]
    sent = [SheetRow(r, as_read[r - 2]) for r in range(2, 32, 3)]  # every third row only

    report = writer.write_scores(sid, "Leads", [*HEADER, "", ""], sent, cells_for([s.values for s in sent]))

    after = sheets_fake.grid(sid, "Leads", render="FORMULA")
    assert report.columns[LEAD_SCORE] == "G"  # right of the unlabeled notes in F
    out_cols = range(6, 6 + len(OUTPUT_COLUMNS))
    assert len(after) == len(before) and len(after[0]) == 13  # grid grown from 12 columns
    for r, (old, new) in enumerate(zip(before, after, strict=True)):
        for c, (was, now) in enumerate(zip(old + [""] * (len(new) - len(old)), new, strict=True)):
            if c not in out_cols:
                assert now == was, (r, c)
            elif r == 0:
                assert now == OUTPUT_COLUMNS[c - 6]
            elif r + 1 not in report.written:
                assert now == "", (r, c)
    assert sheets_fake.is_formula(sid, "Leads", "D5")
    assert assert_outputs_belong_to_their_rows(sheets_fake, sid, "Leads") == len(sent)


# ----------------------------------------------------------------------------- rows that moved


def test_sorted_sheet_refuses_every_moved_row(sheets_fake: SheetsFake, writer: SheetsWriter) -> None:
    sid, rows = seed(sheets_fake, 20)
    sheets_fake.sort_rows(sid, "Leads", column=3, descending=True)  # by MRR, after the sidebar read

    report = writer.write_scores(sid, "Leads", HEADER, payload(rows), cells_for(rows))

    assert report.written == []
    assert [s["row"] for s in report.skipped] == list(range(2, 22))
    assert report.skipped[0]["code"] == "row_moved"
    assert report.skipped[0]["reason"] == (
        "Row 2 changed since it was read (rows sorted, inserted or deleted?) — not written; score again.")
    assert sheets_fake.count(path_contains=WRITE) == 0
    assert sheets_fake.count(path_contains=":batchUpdate") == 0
    assert sheets_fake.values(sid, "Leads")[0] == HEADER  # no columns created for nothing


def test_inserted_row_only_rows_below_are_refused(sheets_fake: SheetsFake, writer: SheetsWriter) -> None:
    sid, rows = seed(sheets_fake, 20)
    sheets_fake.insert_rows(sid, "Leads", before_row=10)

    report = writer.write_scores(sid, "Leads", HEADER, payload(rows), cells_for(rows))

    assert report.written == list(range(2, 10))
    assert [s["row"] for s in report.skipped] == list(range(10, 22))
    assert assert_outputs_belong_to_their_rows(sheets_fake, sid, "Leads") == 8
    grid = sheets_fake.values(sid, "Leads")
    reasons = grid[0].index(SCORE_REASONS)
    assert all(len(row) <= reasons or row[reasons] == "" for row in grid[9:])


def test_rows_past_the_end_after_a_delete_are_refused(sheets_fake: SheetsFake, writer: SheetsWriter) -> None:
    sid, rows = seed(sheets_fake, 20, row_count=21)
    sheets_fake.delete_rows(sid, "Leads", first_row=2, count=3)  # grid now 18 rows

    report = writer.write_scores(sid, "Leads", HEADER, payload(rows), cells_for(rows))

    assert report.written == []
    by_row = {s["row"]: s["reason"] for s in report.skipped}
    assert sorted(by_row) == list(range(2, 22))
    assert "past the end of the sheet (it has 18 rows" in by_row[21]
    assert "changed since it was read" in by_row[2]
    assert sheets_fake.count(path_contains=WRITE) == 0


def test_only_rows_past_the_end_reads_the_grid_and_writes_nothing(sheets_fake: SheetsFake,
                                                                   writer: SheetsWriter) -> None:
    sid, rows = seed(sheets_fake, 20, row_count=21)
    sheets_fake.delete_rows(sid, "Leads", first_row=12, count=10)  # grid now 11 rows
    before = sheets_fake.grid(sid, "Leads")

    report = writer.write_scores(sid, "Leads", HEADER, payload(rows[15:], first_row=17), cells_for(rows[15:]))

    assert report.written == []
    assert [s["row"] for s in report.skipped] == [17, 18, 19, 20, 21]
    assert all("past the end" in s["reason"] for s in report.skipped)
    assert sheets_fake.grid(sid, "Leads") == before
    assert [c.method for c in sheets_fake.api_calls()] == ["GET", "GET"]


def test_moved_key_column_refuses_the_request(sheets_fake: SheetsFake, writer: SheetsWriter) -> None:
    sid, rows = seed(sheets_fake, 10)
    sheets_fake.insert_columns(sid, "Leads", before_column=1)  # a column inserted before Email
    sheets_fake.edit(sid, "Leads", "B1", "Owner")
    before = sheets_fake.grid(sid, "Leads")

    with pytest.raises(BadInput) as caught:
        writer.write_scores(sid, "Leads", HEADER, payload(rows), cells_for(rows))

    assert caught.value.column == "Email"
    assert "Column B was 'Email'" in caught.value.detail and "now 'Owner'" in caught.value.detail
    assert sheets_fake.grid(sid, "Leads") == before
    assert sheets_fake.count(method="POST") == 0


def test_key_cells_compared_after_normalising(sheets_fake: SheetsFake, writer: SheetsWriter) -> None:
    seeded = [
        ["Acme", "a@x.com", "Web", 12],
        ["Bolt", "b@x.com", None, 12.5],
        ["Core ", "c@x.com", "Ads", 3000],
        ["Dyno", "d@x.com", True, dt.date(2024, 3, 5)],
    ]
    sid = sheets_fake.add_spreadsheet([HEADER, *seeded], sheet="Leads")
    sent = [
        SheetRow(2, [" Acme", "A@X.com", "web", "12"]),
        SheetRow(3, ["Bolt", "b@x.com", "", "12.50"]),
        SheetRow(4, ["Core", "c@x.com", "Ads", 3000.0]),
        SheetRow(5, ["Dyno", "d@x.com", "TRUE", "2024-03-05T05:00:00.000Z"]),  # a Date via getValues()
    ]
    cells = [result_to_cells({"lead_score": 3, "close_probability": 0.2}, scored_at="t", model_version="v")] * 4

    report = writer.write_scores(sid, "Leads", HEADER, sent, cells)

    assert report.skipped == []
    assert report.written == [2, 3, 4, 5]


def test_a_changed_key_cell_skips_only_that_row(sheets_fake: SheetsFake, writer: SheetsWriter) -> None:
    sid, rows = seed(sheets_fake, 5)
    sheets_fake.edit(sid, "Leads", "A4", "Someone Else")

    report = writer.write_scores(sid, "Leads", HEADER, payload(rows), cells_for(rows))

    assert report.written == [2, 3, 5, 6]
    assert [s["row"] for s in report.skipped] == [4]
    assert sheets_fake.values(sid, "Leads")[3][4:] == []


def test_named_key_columns_are_the_only_ones_checked(sheets_fake: SheetsFake, writer: SheetsWriter) -> None:
    sid, rows = seed(sheets_fake, 5)
    sheets_fake.edit(sid, "Leads", "D3", 999999)  # MRR edited: not a key here

    report = writer.write_scores(sid, "Leads", HEADER, payload(rows), cells_for(rows), key_columns=["Email"])

    assert report.written == [2, 3, 4, 5, 6]
    with pytest.raises(ValueError, match="'Phone' is not in list"):  # the web edge refuses it with a 400
        writer.write_scores(sid, "Leads", HEADER, payload(rows), cells_for(rows), key_columns=["Phone"])


def test_duplicate_and_header_rows_are_refused_before_any_request(sheets_fake: SheetsFake,
                                                                  writer: SheetsWriter) -> None:
    sid, rows = seed(sheets_fake, 5)
    for sent in ([SheetRow(3, rows[1]), SheetRow(3, rows[1])], [SheetRow(1, HEADER), SheetRow(4, rows[2])]):
        with pytest.raises(ValueError, match="distinct sheet rows of 2 or more"):  # the web edge gives the 400
            writer.write_scores(sid, "Leads", HEADER, sent, cells_for([rows[1], rows[2]]))
    assert sheets_fake.count() == 0
    assert sheets_fake.values(sid, "Leads")[0] == HEADER


# ----------------------------------------------------------------------------- columns and grid


def test_formula_looking_text_is_written_as_text(sheets_fake: SheetsFake, writer: SheetsWriter) -> None:
    sid, rows = seed(sheets_fake, 2)
    result = {"lead_score": 4, "close_probability": 0.3, "predicted_mrr": 10, "reasons": [FORMULA_TEXT],
              "segment": FORMULA_TEXT}
    cells = [result_to_cells(result, scored_at="t", model_version="=HYPERLINK(\"x\")")] * 2

    report = writer.write_scores(sid, "Leads", HEADER, payload(rows), cells)

    for name in (SEGMENT, SCORE_REASONS, MODEL_VERSION):
        a1 = f"{report.columns[name]}2"
        assert not sheets_fake.is_formula(sid, "Leads", a1)
        assert "stringValue" in sheets_fake.cell(sid, "Leads", a1)["userEnteredValue"]
    assert sheets_fake.cell(sid, "Leads", f"{report.columns[SEGMENT]}3")["userEnteredValue"] == {
        "stringValue": FORMULA_TEXT}
    assert sheets_fake.cell(sid, "Leads", f"{report.columns[LEAD_SCORE]}2")["userEnteredValue"] == {"numberValue": 4}


def test_sheet_title_with_spaces_and_apostrophe(sheets_fake: SheetsFake, writer: SheetsWriter) -> None:
    title = "O'Brien's Leads 2024"
    sid, rows = seed(sheets_fake, 6, sheet=title)
    sheets_fake.add_sheet(sid, "Other", [["Company"], ["untouched"]])

    report = writer.write_scores(sid, title, HEADER, payload(rows), cells_for(rows))

    assert report.written == list(range(2, 8))
    assert assert_outputs_belong_to_their_rows(sheets_fake, sid, title) == 6
    assert sheets_fake.values(sid, "Other") == [["Company"], ["untouched"]]
    get = sheets_fake.api_requests()[0]
    assert get.query["ranges"][0] == "'O''Brien''s Leads 2024'!1:1"


def test_existing_output_columns_are_reused_where_the_user_moved_them(sheets_fake: SheetsFake,
                                                                      writer: SheetsWriter) -> None:
    rows = lead_rows(8)
    sid = sheets_fake.add_spreadsheet([HEADER, *rows], sheet="Leads")
    old = [{LEAD_SCORE: 1, SEGMENT: "old"} for _ in rows]
    writer.write_scores(sid, "Leads", HEADER, payload(rows), old)  # creates Lead Score in E, Segment in F
    sheets_fake.move_column(sid, "Leads", 4, before_column=1)  # Lead Score dragged to B
    header = sheets_fake.values(sid, "Leads")[0]
    assert header == ["Company", LEAD_SCORE, "Email", "Lead Source", "MRR", SEGMENT]
    sent = [[r[0], 1, r[1], r[2], r[3], "old"] for r in rows]
    sheets_fake.reset_log()

    report = writer.write_scores(sid, "Leads", header, payload(sent), cells_for(rows))

    assert report.columns[LEAD_SCORE] == "B" and report.columns[SEGMENT] == "F"
    assert report.created_columns == [c for c in OUTPUT_COLUMNS if c not in (LEAD_SCORE, SEGMENT)]
    assert [report.columns[c] for c in report.created_columns] == ["G", "H", "I", "J", "K"]
    grid = sheets_fake.values(sid, "Leads")
    assert grid[0] == header + report.created_columns
    assert grid[0].count(LEAD_SCORE) == 1
    for row, expected in zip(grid[1:], cells_for(rows), strict=True):
        assert row[1] == expected[LEAD_SCORE] and row[5] == expected[SEGMENT]
        assert row[6] == expected[CLOSE_PROBABILITY] and row[7] == expected[PREDICTED_MRR]
    assert [r[0] for r in grid[1:]] == [r[0] for r in rows]
    assert [r[2:5] for r in grid[1:]] == [r[1:4] for r in rows]


def test_grid_grown_when_the_sheet_has_exactly_the_data_columns(sheets_fake: SheetsFake,
                                                                writer: SheetsWriter) -> None:
    sid, rows = seed(sheets_fake, 10, column_count=4, row_count=11)

    report = writer.write_scores(sid, "Leads", HEADER, payload(rows), cells_for(rows))

    props = sheets_fake.sheet_properties(sid, "Leads")["gridProperties"]
    assert props == {"rowCount": 11, "columnCount": 4 + len(OUTPUT_COLUMNS)}
    assert report.written == list(range(2, 12))
    assert sheets_fake.values(sid, "Leads")[0] == HEADER + list(OUTPUT_COLUMNS)
    assert assert_outputs_belong_to_their_rows(sheets_fake, sid, "Leads") == 10


def test_rows_that_could_not_be_scored_get_blanks_and_their_reason(sheets_fake: SheetsFake,
                                                                   writer: SheetsWriter) -> None:
    sid, rows = seed(sheets_fake, 2)
    writer.write_scores(sid, "Leads", HEADER, payload(rows), cells_for(rows))
    failed = result_to_cells({"lead_score": None, "error": "no usable values"}, scored_at="t2", model_version="v8")

    writer.write_scores(sid, "Leads", HEADER, payload(rows[:1]), [failed])

    row = sheets_fake.values(sid, "Leads")[1]
    lead = row[column_of(sheets_fake, sid, "Leads", LEAD_SCORE)]
    assert lead == ""
    assert row[column_of(sheets_fake, sid, "Leads", SCORE_REASONS)] == "Not scored: no usable values"
    assert sheets_fake.values(sid, "Leads")[2][4] == cells_for(rows)[1][LEAD_SCORE]


# ----------------------------------------------------------------------------- retries and failures


def test_429_twice_then_success_writes_once(sheets_fake: SheetsFake, writer: SheetsWriter,
                                            sleeps: list[float]) -> None:
    sid, rows = seed(sheets_fake, 12)
    sheets_fake.fail_next(status=429, times=2, match=WRITE)

    report = writer.write_scores(sid, "Leads", HEADER, payload(rows), cells_for(rows))

    assert report.written == list(range(2, 14))
    assert sheets_fake.count(path_contains=WRITE) == 3
    assert sheets_fake.count(path_contains=WRITE, status=200) == 1
    assert sleeps == [0.5, 1.0]  # full jitter with rand() = 1: base * 2^(attempt-1)
    assert report.requests == 6  # read, free-column read, create, 3 x write
    assert assert_outputs_belong_to_their_rows(sheets_fake, sid, "Leads") == 12


def test_retry_after_is_honoured(sheets_fake: SheetsFake, sheets_settings: Settings) -> None:
    sid, rows = seed(sheets_fake, 3)
    waits: list[float] = []
    writer = SheetsWriter(client_from_settings(sheets_settings), sleep=waits.append, rand=lambda: 0.0)
    sheets_fake.fail_next(status=503, times=1, retry_after=7)

    report = writer.write_scores(sid, "Leads", HEADER, payload(rows), cells_for(rows))

    assert waits == [7.0]
    assert report.written == [2, 3, 4]


def test_persistent_500_raises_and_writes_nothing(sheets_fake: SheetsFake, writer: SheetsWriter,
                                                  sleeps: list[float]) -> None:
    sid, rows = seed(sheets_fake, 10)
    before = sheets_fake.grid(sid, "Leads")
    sheets_fake.fail_always(500)

    with pytest.raises(SheetsError) as caught:
        writer.write_scores(sid, "Leads", HEADER, payload(rows), cells_for(rows))

    assert "HTTP 500" in caught.value.detail and "after 5 attempts" in caught.value.detail
    assert "Nothing was written" in caught.value.detail
    assert http_status(caught.value) == 502
    assert sleeps == [0.5, 1.0, 2.0, 4.0]
    assert sheets_fake.count() == 5
    sheets_fake.clear_faults()
    assert sheets_fake.grid(sid, "Leads") == before


def test_persistent_failure_of_the_values_write_leaves_no_scores(sheets_fake: SheetsFake,
                                                                  writer: SheetsWriter) -> None:
    sid, rows = seed(sheets_fake, 10)
    sheets_fake.fail_always(502, match=WRITE)  # Google's front end: an HTML body, not JSON

    with pytest.raises(SheetsError) as caught:
        writer.write_scores(sid, "Leads", HEADER, payload(rows), cells_for(rows))

    assert "HTTP 502" in caught.value.detail
    assert "no scores were written" in caught.value.detail
    assert sheets_fake.count(path_contains=WRITE, status=200) == 0
    grid = sheets_fake.values(sid, "Leads")
    assert all(row[4:] == [] for row in grid[1:])
    assert [r[:4] for r in grid[1:]] == rows


def test_403_says_to_share_the_sheet_with_the_service_account(sheets_fake: SheetsFake,
                                                              writer: SheetsWriter) -> None:
    sid, rows = seed(sheets_fake, 3)
    sheets_fake.set_access(sid, "none")

    with pytest.raises(SheetsError) as caught:
        writer.write_scores(sid, "Leads", HEADER, payload(rows), cells_for(rows))

    assert "leadscore@test-project.iam.gserviceaccount.com" in caught.value.detail
    assert "as Editor" in caught.value.detail
    assert sheets_fake.count() == 1  # not retried


def test_read_only_access_fails_before_anything_is_written(sheets_fake: SheetsFake, writer: SheetsWriter) -> None:
    sid, rows = seed(sheets_fake, 3)
    sheets_fake.set_access(sid, "reader")
    before = sheets_fake.grid(sid, "Leads")

    with pytest.raises(SheetsError, match="as Editor"):
        writer.write_scores(sid, "Leads", HEADER, payload(rows), cells_for(rows))

    assert sheets_fake.grid(sid, "Leads") == before


def test_404_says_to_check_the_spreadsheet_id(sheets_fake: SheetsFake, writer: SheetsWriter) -> None:
    rows = lead_rows(2)
    with pytest.raises(BadInput) as caught:
        writer.write_scores("no-such-sheet", "Leads", HEADER, payload(rows), cells_for(rows))
    assert "no-such-sheet" in caught.value.detail and "Check the spreadsheet id" in caught.value.detail


def test_unknown_tab_is_bad_input_naming_it(sheets_fake: SheetsFake, writer: SheetsWriter) -> None:
    sid, rows = seed(sheets_fake, 2)
    with pytest.raises(BadInput, match="no tab named 'Leeds'"):
        writer.write_scores(sid, "Leeds", HEADER, payload(rows), cells_for(rows))
    assert sheets_fake.count(method="POST") == 0


def test_no_credentials_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SheetsError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        client_from_settings(Settings(credentials_file=None))
    with pytest.raises(SheetsError, match="could not be used"):
        client_from_settings(Settings(credentials_file=str(tmp_path / "missing.json")))


def test_requests_go_to_the_configured_base_url(sheets_fake: SheetsFake, tmp_path: Path) -> None:
    sid, rows = seed(sheets_fake, 2)
    other = SheetsFake().start()
    try:
        settings = Settings(sheets_api_url=other.url + "/", credentials_file=str(
            other.service_account_file(tmp_path)))
        with pytest.raises(BadInput, match="was not found"):
            SheetsWriter(client_from_settings(settings)).write_scores(
                sid, "Leads", HEADER, payload(rows), cells_for(rows))
        assert other.count() == 1 and sheets_fake.count() == 0
    finally:
        other.stop()


# ----------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize(("sent", "held"), [
    ("12", 12), (12.0, 12), (" Acme ", "Acme"), (None, ""), ("1,200", 1200), (True, "TRUE"), ("ACME", "acme"),
    ("a  b", "a b"),
])
def test_normalize_cell_treats_as_equal(sent: Any, held: Any) -> None:
    assert normalize_cell(sent) == normalize_cell(held)


@pytest.mark.parametrize(("sent", "held"), [("12", 13), ("Acme", "Acme Inc"), ("", "0"), (1, True)])
def test_normalize_cell_keeps_apart(sent: Any, held: Any) -> None:
    assert normalize_cell(sent) != normalize_cell(held)


@given(st.integers(min_value=-10**12, max_value=10**12))
def test_numbers_agree_whatever_their_type(n: int) -> None:
    assert normalize_cell(n) == normalize_cell(str(n)) == normalize_cell(float(n)) == normalize_cell(f" {n} ")
