"""The writer never changes a cell of the user's: a snapshot of every cell before and after.

Against the Sheets API fake (real gspread, real google-auth): output columns are recognised by
the developer metadata the writer puts on the columns it creates, never by header text alone;
new columns go right of every value; repeated keys are refused; a column-creating request that
was applied but answered 500 is not applied twice.
"""

from __future__ import annotations

from typing import Any

import pytest

from backend.config import Settings
from backend.core.outputs import LEAD_SCORE, OUTPUT_COLUMNS, SCORE_REASONS, SEGMENT
from backend.errors import BadInput
from backend.sheets.writer import SheetsWriter, client_from_settings, column_letter
from tests.sheets_fake import (  # noqa: F401  (the *_fixture names are pytest fixtures)
    Formula,
    SheetsFake,
    sheets_fake_fixture,
    sheets_settings_fixture,
)
from tests.test_sheets import HEADER, cells_for, lead_rows, payload

METADATA_KEY = "leadscore.output"
Grid = list[list[Any]]


@pytest.fixture
def writer(sheets_settings: Settings) -> SheetsWriter:
    return SheetsWriter(client_from_settings(sheets_settings), sleep=lambda _s: None, rand=lambda: 0.0)


def user_cells(grid: Grid) -> dict[tuple[int, int], Any]:
    """Every non-empty cell of a grid (FORMULA render: a formula is its text)."""
    return {(r, c): v for r, row in enumerate(grid) for c, v in enumerate(row) if v != ""}


def changed_cells(before: Grid, after: Grid) -> list[tuple[str, Any, Any]]:
    """The user's cells (non-empty before) whose content differs after: [(A1, before, after)]."""
    out = []
    for (r, c), was in user_cells(before).items():
        now = after[r][c] if r < len(after) and c < len(after[r]) else ""
        if now != was:
            out.append((f"{column_letter(c)}{r + 1}", was, now))
    return out


def our_columns(fake: SheetsFake, sid: str, sheet: str) -> dict[str, int]:
    """Output name -> 0-based column, from the developer metadata on the sheet's columns."""
    return {m["metadataValue"]: col for col, metas in fake.developer_metadata(sid, sheet).items()
            for m in metas if m["metadataKey"] == METADATA_KEY}


# ----------------------------------------------------------------------------- defect 1


def test_user_columns_named_like_outputs_and_cells_right_of_the_header_are_untouched(
        sheets_fake: SheetsFake, writer: SheetsWriter) -> None:
    header = [*HEADER, SEGMENT, LEAD_SCORE]  # the user's own columns, headed like ours
    rows = [[*r, f"Tier {i % 3}", i * 7] for i, r in enumerate(lead_rows(40), start=1)]
    seeded: list[list[Any]] = [header, *[list(r) for r in rows]]
    seeded[2] += [None] * (18 - len(seeded[2])) + ["note in S3"]
    seeded[5] += [None] * (20 - len(seeded[5])) + [Formula("=SUM(D2:D41)", result=82000)]
    sid = sheets_fake.add_spreadsheet(seeded, sheet="Leads")
    before = sheets_fake.grid(sid, "Leads", render="FORMULA")

    report = writer.write_scores(sid, "Leads", header, payload(rows), cells_for(rows))

    after = sheets_fake.grid(sid, "Leads", render="FORMULA")
    assert changed_cells(before, after) == []
    assert report.written == list(range(2, 42))
    ours = our_columns(sheets_fake, sid, "Leads")
    assert sorted(ours.values()) == list(range(21, 21 + len(OUTPUT_COLUMNS)))  # right of U6
    assert after[0][ours[SEGMENT]] == "Segment (scored)" and after[0][ours[LEAD_SCORE]] == "Lead Score (scored)"
    assert after[0][ours[SCORE_REASONS]] == SCORE_REASONS
    assert report.columns[SEGMENT] == column_letter(ours[SEGMENT])
    clashes = [w for w in report.warnings if w["code"] == "header_clash"]
    assert len(clashes) == 2
    assert any("Column E is headed 'Segment'" in w["message"] and "'Segment (scored)'" in w["message"]
               for w in clashes)
    for r in range(1, 41):
        assert after[r][ours[SCORE_REASONS]] == f"Lead {after[r][0]}"

    # The second run finds the same columns by their metadata: nothing created, user cells intact.
    sheets_fake.reset_log()
    again = writer.write_scores(sid, "Leads", header, payload(rows), cells_for(rows))
    assert again.created_columns == [] and again.warnings == []
    assert changed_cells(before, sheets_fake.grid(sid, "Leads", render="FORMULA")) == []
    assert [c.method for c in sheets_fake.api_calls()] == ["GET", "POST"]


def test_our_columns_are_found_where_the_user_moved_them(sheets_fake: SheetsFake, writer: SheetsWriter) -> None:
    rows = lead_rows(8)
    sid = sheets_fake.add_spreadsheet([HEADER, *rows], sheet="Leads")
    writer.write_scores(sid, "Leads", HEADER, payload(rows), cells_for(rows))
    lead_col = our_columns(sheets_fake, sid, "Leads")[LEAD_SCORE]
    sheets_fake.move_column(sid, "Leads", lead_col, before_column=1)  # Lead Score dragged to B
    sheets_fake.edit(sid, "Leads", "L1", "my notes")
    header = sheets_fake.values(sid, "Leads")[0]
    before = sheets_fake.grid(sid, "Leads", render="FORMULA")

    report = writer.write_scores(sid, "Leads", header, payload([[r[0], "", *r[1:]] for r in rows]),
                                 cells_for(rows))

    assert report.columns[LEAD_SCORE] == "B" and report.created_columns == []
    after = sheets_fake.values(sid, "Leads")
    assert after[0].count(LEAD_SCORE) == 1 and after[0][11] == "my notes"
    user = {k: v for k, v in user_cells(before).items() if k[1] not in our_columns(sheets_fake, sid, "Leads").values()}
    assert all(sheets_fake.grid(sid, "Leads", render="FORMULA")[r][c] == v for (r, c), v in user.items())


# ----------------------------------------------------------------------------- defect 2


def test_repeated_key_values_are_refused_naming_them(sheets_fake: SheetsFake, writer: SheetsWriter) -> None:
    rows = lead_rows(6)  # Lead Source repeats: Ads, Web, Referral, Ads, Web, Referral
    sid = sheets_fake.add_spreadsheet([HEADER, *rows], sheet="Leads")
    swapped = [rows[3], rows[1], rows[2], rows[0], rows[4], rows[5]]  # rows 2 and 5 swapped, same key
    for i, row in enumerate(swapped):
        for c, value in enumerate(row):
            sheets_fake.edit(sid, "Leads", f"{column_letter(c)}{i + 2}", value)
    before = sheets_fake.grid(sid, "Leads", render="FORMULA")

    with pytest.raises(BadInput) as caught:
        writer.write_scores(sid, "Leads", HEADER, payload(rows), cells_for(rows), key_columns=["Lead Source"])

    detail = caught.value.detail
    assert "'Ads'" in detail and "rows 2 and 5" in detail and "unique" in detail
    assert caught.value.column == "Lead Source"
    assert sheets_fake.grid(sid, "Leads", render="FORMULA") == before
    assert sheets_fake.count(method="POST") == 0


def test_a_key_repeated_elsewhere_in_the_sheet_is_refused(sheets_fake: SheetsFake, writer: SheetsWriter) -> None:
    rows = lead_rows(30)
    sid = sheets_fake.add_spreadsheet([HEADER, *rows], sheet="Leads")
    sheets_fake.edit(sid, "Leads", "B29", rows[0][1])  # row 29 (not sent) has row 2's email

    with pytest.raises(BadInput, match=r"rows 2 and 29"):
        writer.write_scores(sid, "Leads", HEADER, payload(rows[:3]), cells_for(rows[:3]), key_columns=["Email"])
    assert sheets_fake.count(method="POST") == 0


def test_identical_duplicate_rows_are_harmless_with_every_column_as_key(sheets_fake: SheetsFake,
                                                                        writer: SheetsWriter) -> None:
    rows = lead_rows(4)
    rows[3] = list(rows[1])  # a lead entered twice: same data, same score, wherever it is
    sid = sheets_fake.add_spreadsheet([HEADER, *rows], sheet="Leads")
    cells = cells_for(rows)

    report = writer.write_scores(sid, "Leads", HEADER, payload(rows), cells)

    assert report.written == [2, 3, 4, 5]


# ----------------------------------------------------------------------------- defect 3


def test_column_creation_applied_but_answered_500_is_not_repeated(sheets_fake: SheetsFake,
                                                                  writer: SheetsWriter) -> None:
    rows = lead_rows(12)
    sid = sheets_fake.add_spreadsheet([HEADER, *rows], sheet="Leads", column_count=4)
    before = sheets_fake.grid(sid, "Leads", render="FORMULA")
    sheets_fake.fail_next(500, match=lambda method, path: path.endswith(f"{sid}:batchUpdate"), applied=True)

    report = writer.write_scores(sid, "Leads", HEADER, payload(rows), cells_for(rows))

    assert report.written == list(range(2, 14))
    assert sheets_fake.sheet_properties(sid, "Leads")["gridProperties"]["columnCount"] == 4 + len(OUTPUT_COLUMNS)
    assert len(sheets_fake.conditional_formats(sid, "Leads")) == 1
    assert sheets_fake.values(sid, "Leads")[0] == HEADER + list(OUTPUT_COLUMNS)
    assert sorted(our_columns(sheets_fake, sid, "Leads").values()) == list(range(4, 4 + len(OUTPUT_COLUMNS)))
    assert sheets_fake.count(path_contains=f"{sid}:batchUpdate") == 1  # re-read, not re-sent
    assert changed_cells(before, sheets_fake.grid(sid, "Leads", render="FORMULA")) == []


def test_column_creation_failed_with_500_is_retried(sheets_fake: SheetsFake, writer: SheetsWriter) -> None:
    rows = lead_rows(5)
    sid = sheets_fake.add_spreadsheet([HEADER, *rows], sheet="Leads", column_count=4)
    sheets_fake.fail_next(500, match=lambda method, path: path.endswith(f"{sid}:batchUpdate"))

    report = writer.write_scores(sid, "Leads", HEADER, payload(rows), cells_for(rows))

    assert report.written == list(range(2, 7))
    assert sheets_fake.count(path_contains=f"{sid}:batchUpdate") == 2
    assert sheets_fake.values(sid, "Leads")[0] == HEADER + list(OUTPUT_COLUMNS)
    assert len(sheets_fake.conditional_formats(sid, "Leads")) == 1


def test_a_lead_entered_twice_is_scored_again_despite_old_scores(sheets_fake: SheetsFake,
                                                                 writer: SheetsWriter) -> None:
    rows = lead_rows(4)
    rows[3] = list(rows[1])
    sid = sheets_fake.add_spreadsheet([HEADER, *rows], sheet="Leads")
    first = cells_for(rows)
    first[3] = {**first[3], LEAD_SCORE: 9}  # the copy got another score last time
    writer.write_scores(sid, "Leads", HEADER, payload(rows), first)
    grid = sheets_fake.values(sid, "Leads")  # what the sidebar reads now: our columns included

    report = writer.write_scores(sid, "Leads", grid[0], payload([r + [""] * (len(grid[0]) - len(r))
                                                                   for r in grid[1:5]]), cells_for(rows))

    assert report.written == [2, 3, 4, 5]


def test_a_row_with_an_empty_key_is_skipped_not_guessed(sheets_fake: SheetsFake, writer: SheetsWriter) -> None:
    rows = lead_rows(4)
    rows[2][1] = ""  # row 4 has no email
    sid = sheets_fake.add_spreadsheet([HEADER, *rows], sheet="Leads")

    report = writer.write_scores(sid, "Leads", HEADER, payload(rows), cells_for(rows), key_columns=["Email"])

    assert report.written == [2, 3, 5]
    assert [(s["row"], s["code"]) for s in report.skipped] == [(4, "bad_row")]
    assert "nothing in the key column 'Email'" in report.skipped[0]["reason"]
