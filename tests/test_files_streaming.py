"""Big files: CSV and Parquet streamed in chunks with the cells of a whole read; output written as it goes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import backend.sources.files as files
from backend.cli import main
from backend.core.outputs import OUTPUT_COLUMNS, SCORE_REASONS
from backend.errors import BadInput
from backend.sample.generate import generate

TRICKY = {
    "quotes.csv": b'Lead ID,Name,Notes\n1,"Acme, Inc","said ""hi""\nthen left"\n2,,  spaced  \n3,NA,null\n4,nan,N/A\n',
    "bom.csv": b"\xef\xbb\xbfLead ID,Name\n1,x\n2,y\n",
    "headers.csv": b"a,a,,b \n1,2,3,4\n5,6,7,8\n",
    "short_rows.csv": b'a,b,c\n1,2,3\n4\n\n5,6\n   \n7,8,9\n10,"x\ny"\n11\n',
    "semicolons.csv": b"a;b;c\n1;2,5;3\n4;5;6\n",
    "windows.csv": "a,b\ncaf\xe9,na\xefve\n1,2\n".encode("cp1252"),
    "tabs.txt": b"a\tb\n1\t2\n\t\n",
    "crlf.csv": b"a,b\r\n1,2\r\n3,4\r\n",
}


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """pyarrow reads tiny blocks, so that rows (and the rows it sets aside) straddle them."""
    monkeypatch.setattr(files, "_BLOCK_BYTES", 64)


@pytest.mark.parametrize("name", sorted(TRICKY))
@pytest.mark.parametrize("chunk_rows", [1, 2, 1000])
def test_streamed_csv_cells_are_those_of_a_whole_read(name: str, chunk_rows: int, tmp_path: Path,
                                                      small_blocks: None) -> None:
    path = tmp_path / name
    path.write_bytes(TRICKY[name])
    whole = files.read_table(path)
    chunks = list(files.iter_table(path, chunk_rows))
    assert all(len(c) <= chunk_rows for c in chunks)
    streamed = pd.concat(chunks)
    assert list(streamed.columns) == list(whole.columns)
    assert all(str(t) == "object" for t in streamed.dtypes)
    pd.testing.assert_frame_equal(streamed.reset_index(drop=True), whole.reset_index(drop=True))


def test_a_long_row_deep_in_the_file_is_named_by_its_row(tmp_path: Path, small_blocks: None) -> None:
    path = tmp_path / "leads.csv"
    rows = [f"{i},x" for i in range(1, 600)]
    rows[497] = "498,x,extra"  # row 499 of the sheet (row 1 is the header)
    path.write_text("id,name\n" + "\n".join(rows) + "\n")
    with pytest.raises(BadInput, match="Row 499 of leads.csv has more cells than the header row"):
        list(files.iter_table(path, 50))


@pytest.mark.parametrize("chunk_rows", [1, 3, 100])
def test_parquet_chunks_are_the_cells_of_read_parquet(chunk_rows: int, tmp_path: Path) -> None:
    frame = pd.DataFrame({"Lead ID": ["a", "b", None, "d"], "Seats": pd.array([1, None, 3, 4], dtype="Int64"),
                          "Spend": [1.5, np.nan, 2.0, 3.0],
                          "Created": pd.to_datetime(["2025-01-01", None, "2025-02-03", "2025-03-04"])},
                         index=pd.Index([10, 11, 12, 13], name="kept as the index"))
    frame.to_parquet(tmp_path / "leads.parquet")
    whole = files.read_table(tmp_path / "leads.parquet")
    streamed = pd.concat(list(files.iter_table(tmp_path / "leads.parquet", chunk_rows)))
    pd.testing.assert_frame_equal(streamed.reset_index(drop=True), whole.reset_index(drop=True))


def test_a_row_longer_than_a_read_block_is_refused_in_words(tmp_path: Path, small_blocks: None) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("id,notes\n1,short\n2," + "very long notes " * 20 + "\n3,short\n")
    with pytest.raises(BadInput, match="one of its rows holds more than") as refused:
        list(files.iter_table(path, 50))
    assert "straddl" not in str(refused.value)


# ----------------------------------------------------------------- the score command on a generated file

@pytest.fixture(autouse=True)
def one_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every run in a test scores "at" the same minute, so two runs can be compared cell for cell."""
    import backend.cli.score as score_cli

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:
            return datetime(2026, 12, 2, 9, 30, tzinfo=UTC)

    monkeypatch.setattr(score_cli, "datetime", Frozen)


@pytest.fixture(scope="module")
def leads_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("leads") / "leads.csv"
    generate(rows=400, seed=11).to_csv(path, index=False)
    return path


def score(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = main(["score", *args])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def read_text(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_no_reasons_gives_the_same_scores(leads_csv: Path, tiny_models_dir: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    full, quick = tmp_path / "full.csv", tmp_path / "quick.csv"
    score(capsys, str(leads_csv), "--model", str(tiny_models_dir), "-o", str(full))
    score(capsys, str(leads_csv), "--model", str(tiny_models_dir), "-o", str(quick), "--no-reasons")
    a, b = read_text(full), read_text(quick)
    assert list(a.columns) == list(b.columns)
    assert a[SCORE_REASONS].str.len().gt(0).all()
    assert (b[SCORE_REASONS] == "").all()  # the column stays, blank
    same = [c for c in a.columns if c != SCORE_REASONS]
    assert {"Lead Score", "Close Probability", "Predicted MRR", "Segment", "Model Version"} <= set(same)
    pd.testing.assert_frame_equal(a[same], b[same])


def test_the_chunk_size_changes_nothing_written_or_printed(leads_csv: Path, tiny_models_dir: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    one, many = tmp_path / "one.csv", tmp_path / "many.csv"
    printed_one = score(capsys, str(leads_csv), "--model", str(tiny_models_dir), "-o", str(one))
    printed_many = score(capsys, str(leads_csv), "--model", str(tiny_models_dir), "-o", str(many),
                         "--chunk-rows", "37")
    assert one.read_bytes() == many.read_bytes()
    assert printed_one.splitlines()[:-1] == printed_many.splitlines()[:-1]  # the last line says the time taken
    assert "Top 10 open leads" in printed_many


def test_parquet_output_holds_the_csv_output_with_typed_scores(leads_csv: Path, tiny_models_dir: Path,
                                                               tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                               ) -> None:
    as_csv, as_parquet = tmp_path / "s.csv", tmp_path / "s.parquet"
    score(capsys, str(leads_csv), "--model", str(tiny_models_dir), "-o", str(as_csv))
    score(capsys, str(leads_csv), "--model", str(tiny_models_dir), "-o", str(as_parquet), "--chunk-rows", "150")
    written = pd.read_parquet(as_parquet)
    assert str(written["Lead Score"].dtype) == "Int64"
    assert written["Close Probability"].dtype == "float64" and written["Predicted MRR"].dtype == "float64"
    text = read_text(as_csv)
    numbers = ["Lead Score", "Close Probability", "Predicted MRR"]
    strings = [c for c in written.columns if c not in numbers]
    assert list(written.columns) == list(text.columns)
    pd.testing.assert_frame_equal(written[strings].fillna(""), text[strings], check_dtype=False)
    for name in numbers:
        np.testing.assert_array_equal(written[name].to_numpy(dtype=float, na_value=np.nan),
                                      pd.to_numeric(text[name]).to_numpy(dtype=float))


def test_a_parquet_sheet_scores_like_its_csv(leads_csv: Path, tiny_models_dir: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "leads.parquet"
    read_text(leads_csv).to_parquet(source)
    score(capsys, str(source), "--model", str(tiny_models_dir), "--chunk-rows", "64")
    score(capsys, str(leads_csv), "--model", str(tiny_models_dir), "-o", str(tmp_path / "from_csv.csv"))
    pd.testing.assert_frame_equal(read_text(tmp_path / "leads.scored.csv"), read_text(tmp_path / "from_csv.csv"))


def test_a_file_can_be_scored_onto_itself(leads_csv: Path, tiny_models_dir: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "leads.csv"
    path.write_bytes(leads_csv.read_bytes())
    score(capsys, str(path), "--model", str(tiny_models_dir), "-o", str(path), "--chunk-rows", "50")
    scored = read_text(path)
    assert len(scored) == 400 and list(scored.columns)[-len(OUTPUT_COLUMNS):] == list(OUTPUT_COLUMNS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["leads.csv"]


def test_a_run_that_fails_half_way_leaves_no_output(leads_csv: Path, tiny_models_dir: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "leads.csv"
    lines = leads_csv.read_text().splitlines()
    lines[300] += ",an extra cell"
    path.write_text("\n".join(lines) + "\n")
    code = main(["score", str(path), "--model", str(tiny_models_dir), "--chunk-rows", "50"])
    assert code == 2
    assert "Row 301 of leads.csv has more cells than the header row" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["leads.csv"]


def test_chunk_rows_must_be_a_positive_number(leads_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["score", str(leads_csv), "--chunk-rows", "0"])
    assert exit_.value.code == 2
    assert "whole number of rows above 0" in capsys.readouterr().err
