"""Every bad input gets one message in one form: what is wrong, where, what to do; exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from backend.cli import main
from backend.sample.generate import generate
from backend.sample.messy import messy_history

ROOT = Path(__file__).resolve().parent.parent
LIBRARY_WORDS = ("engine", "pandas", "openpyxl", "Traceback", "Excel file format", "C error", "tokenizing")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    return generate(rows=300, seed=3).astype(str).replace({"nan": ""})


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def assert_bad_input(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    line = err.strip()
    assert len(line.splitlines()) == 1, line
    for word in words:
        assert word in line, (word, line)
    assert not any(w in line for w in LIBRARY_WORDS), line


def train_args(path: Path, *extra: str) -> list[str]:
    return ["train", str(path), "--target", "Status", "--out", str(path.parent / "models"), "--cv", "0", *extra]


# ----------------------------------------------------------------- outcomes

def test_one_outcome_only(history: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = history.assign(Status=history["Status"].str.strip().str.lower().map(
        {"won": "Closed Won", "lost": "Open"}).fillna("Open"))
    frame.to_csv(tmp_path / "h.csv", index=False)
    code, _, err = run(train_args(tmp_path / "h.csv", "--positive", "Closed Won"), capsys)
    assert_bad_input(code, err, "Only one outcome is in 'Status'", "no lead is marked lost", "'Closed Won'",
                     "--negative")
    # Following the advice with the usual lost value: still "only one outcome", never an empty list of values.
    code, _, err = run(train_args(tmp_path / "h.csv", "--positive", "Closed Won", "--negative", "Closed Lost"), capsys)
    assert_bad_input(code, err, "Only one outcome is in 'Status'", "'Closed Lost' does not occur",
                     "Values seen, most common first: 'Open'")


def test_a_positive_value_that_is_not_there_lists_the_values_most_common_first(
        history: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    history.to_csv(tmp_path / "h.csv", index=False)
    code, _, err = run(train_args(tmp_path / "h.csv", "--positive", "Closed Won"), capsys)
    counts = history["Status"].str.strip().str.lower().replace("", pd.NA).dropna().value_counts()
    assert_bad_input(code, err, "The positive value 'Closed Won' is not in the target column 'Status'",
                     "Values seen, most common first:", "--positive")
    listed = err.split("most common first: ")[1]
    positions = [listed.lower().index(f"'{v}' ({n})") for v, n in counts.items()]
    assert positions == sorted(positions)


def test_which_values_mean_lost_lists_them(history: pd.DataFrame, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    frame = history.assign(Status=history["Status"].str.strip().str.lower().map(
        {"won": "Signed", "lost": "Churned"}).fillna("Stalled"))
    frame.to_csv(tmp_path / "h.csv", index=False)
    code, _, err = run(train_args(tmp_path / "h.csv", "--positive", "Signed"), capsys)
    assert_bad_input(code, err, "Cannot tell which values in 'Status' mean a lost lead", "'Churned' (",
                     "'Stalled' (", "--negative VALUE")


# ----------------------------------------------------------------- the value column

def test_a_value_column_mostly_text_is_refused_with_counts_and_examples(
        history: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    won = history["Status"].str.strip().str.lower() == "won"
    history.assign(MRR=history["MRR"].where(~won, "call me")).to_csv(tmp_path / "h.csv", index=False)
    code, _, err = run(train_args(tmp_path / "h.csv", "--positive", "Won", "--value", "MRR"), capsys)
    assert_bad_input(code, err, "The value column 'MRR' holds text instead of an amount in",
                     f"of {int(won.sum())} won rows", "'call me'", "train without --value")


def test_a_value_column_with_some_text_says_which_rows_leave_the_mrr_model(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    messy = messy_history(rows=500, seed=2)
    messy.messy.to_csv(tmp_path / "messy.csv", index=False)
    # On 500 rows the generated outcome leans so hard on the first-call interval that the leakage
    # guard's dominance rule may set it aside; kept here, since this test is about what was read.
    code, out, _ = run(train_args(tmp_path / "messy.csv", "--positive", "Won", "--value", "MRR", "--force",
                                  "--keep", "First Call Date"), capsys)
    assert code == 0
    assert (f"holds text instead of an amount in {messy.unreadable['MRR']} won row(s) (e.g. 'tbc'): those rows are "
            "left out of the MRR model") in out
    # The data-quality section is printed: every column, its role, its counts, the option that changes it.
    assert "Data quality (500 rows" in out
    for name, count in messy.unreadable.items():
        line = next(x for x in out.splitlines() if x.startswith(f"  {name} — "))
        assert f"{count} unreadable" in line
    assert "Signup Date — date" in out and "day-first" in out
    assert "Employees — numeric" in out and "--categorical Employees to read it as categories instead" in out
    assert "Lead ID — left out (id)" in out


# ----------------------------------------------------------------- files

def test_a_csv_named_xlsx_is_read_by_its_content(history: pd.DataFrame, tiny_models_dir: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    history.to_csv(tmp_path / "leads.xlsx", index=False)
    code, _, err = run(["score", str(tmp_path / "leads.xlsx"), "--model", str(tiny_models_dir)], capsys)
    assert code == 0, err
    assert len(pd.read_csv(tmp_path / "leads.scored.csv")) == len(history)


@pytest.mark.parametrize(("name", "content", "words"), [
    ("empty.csv", b"", ("empty.csv is empty", "Export the sheet again")),
    ("blank.xlsx", b"\n\n  \n", ("blank.xlsx is empty",)),
    ("header.csv", b"Lead ID,Status,MRR\n", ("header.csv has a header row (Lead ID, Status, MRR) but no leads under it",
                                             "Add the leads below row 1")),
    ("notes.txt", b"Leads from the fair to call back\nAcme is keen\nGlobex maybe\n",
     ("notes.txt reads as a single column", "not a table", "Save the sheet as .csv")),
    ("garbage.xlsx", b"\x00\x01 not a workbook", ("Cannot read garbage.xlsx: it is not a spreadsheet file",
                                                  "File → Download")),
    ("old.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100,
     ("old Excel 97-2003 workbook", "save it as .xlsx")),
    ("report.pdf", b"%PDF-1.7 ...", ("Cannot read report.pdf: it is a PDF document",)),
    ("ragged.csv", b"a,b\n1,2\n3,4,5\n", ("Row 3 of ragged.csv has more cells than the header row", "Fix that row")),
])
def test_files_that_are_not_lead_sheets(name: str, content: bytes, words: tuple[str, ...], tmp_path: Path,
                                        tiny_models_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    for args in (train_args(path, "--positive", "Won"), ["score", str(path), "--model", str(tiny_models_dir)]):
        code, _, err = run(args, capsys)
        assert_bad_input(code, err, *words)


def test_a_word_document_named_xlsx(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "leads.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("word/document.xml", "<w/>")
    code, _, err = run(train_args(path, "--positive", "Won"), capsys)
    assert_bad_input(code, err, "Cannot read leads.xlsx: it is a Word document, not a spreadsheet")


def test_a_tab_separated_txt_is_a_table(history: pd.DataFrame, tiny_models_dir: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    history.to_csv(tmp_path / "leads.txt", sep="\t", index=False)
    code, _, err = run(["score", str(tmp_path / "leads.txt"), "--model", str(tiny_models_dir)], capsys)
    assert code == 0, err
    assert (tmp_path / "leads.scored.csv").is_file()


def test_messages_reach_the_shell_as_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_bytes(b"")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "backend", "train", "empty.csv", "--target", "Status",
                           "--positive", "Won"], cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("error: " + proc.stderr.strip().removeprefix("error: "))
    assert "is empty" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


# ----------------------------------------------------------------- output files

def test_score_writes_next_to_the_input_by_default(history: pd.DataFrame, tiny_models_dir: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
                                                   ) -> None:
    data = tmp_path / "in" / "leads.csv"
    data.parent.mkdir()
    history.to_csv(data, index=False)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, out, _ = run(["score", str(data), "--model", str(tiny_models_dir)], capsys)
    assert code == 0
    assert (data.parent / "leads.scored.csv").is_file() and not list(elsewhere.iterdir())
    n_open = int((~history["Status"].str.strip().str.lower().isin(["won", "lost"])).sum())
    assert f"Top 10 open leads of {n_open}" in out
    assert "Row = the lead's row number in the sheet (row 1 is the header)" in out


def test_xlsx_output_keeps_the_tab_and_formats_like_the_sheet(history: pd.DataFrame, tiny_models_dir: Path,
                                                              tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                              ) -> None:
    data = tmp_path / "leads.xlsx"
    with pd.ExcelWriter(data) as writer:
        history.to_excel(writer, sheet_name="Pipeline Q3", index=False)
    out = tmp_path / "scored.xlsx"
    code, _, err = run(["score", str(data), "--model", str(tiny_models_dir), "-o", str(out)], capsys)
    assert code == 0, err
    ws = openpyxl.load_workbook(out).active
    assert ws.title == "Pipeline Q3"
    header = [c.value for c in ws[1]]
    prob, mrr, score = (header.index(h) + 1 for h in ("Close Probability", "Predicted MRR", "Lead Score"))
    probs = [ws.cell(row=r, column=prob) for r in range(2, ws.max_row + 1)]
    assert all(c.number_format == "0.0%" for c in probs)
    assert all(c.value == round(c.value, 4) and len(repr(c.value)) <= 7 for c in probs if c.value is not None)
    assert ws.cell(row=2, column=mrr).number_format == '"$"#,##0'
    letter = openpyxl.utils.get_column_letter(score)
    rules = [r for rng in ws.conditional_formatting for r in rng.rules if str(rng.sqref).startswith(letter)]
    assert rules and rules[0].type == "colorScale"


def test_a_number_beyond_float32_fails_its_cell_not_the_run(history: pd.DataFrame, tiny_models_dir: Path,
                                                            tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = history.copy()
    frame.loc[4, "Monthly Ad Spend"] = "1e39"
    frame.to_csv(tmp_path / "leads.csv", index=False)
    code, _, err = run(["score", str(tmp_path / "leads.csv"), "--model", str(tiny_models_dir),
                        "-o", str(tmp_path / "out.csv")], capsys)
    assert code == 0, err
    assert "Monthly Ad Spend: 1 cell(s) could not be read as numbers (e.g. '1e39')" in err
    scored = pd.read_csv(tmp_path / "out.csv")
    assert scored["Lead Score"].notna().all()
