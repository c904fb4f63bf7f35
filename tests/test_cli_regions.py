"""``python -m backend regions``: files written, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from backend.cli import main
from backend.sample.geo import generate


@pytest.fixture(scope="module")
def sheet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("geo")
    sample = generate()
    sample.leads.to_csv(folder / "leads.csv", index=False)
    sample.sites.to_csv(folder / "sites.csv", index=False)
    return folder / "leads.csv", folder / "sites.csv"


def test_regions_writes_the_tables_and_the_page(sheet: tuple[Path, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    leads, sites = sheet
    code = main(["regions", str(leads), "--target", "Status", "--positive", "Won", "--value", "MRR",
                 "--industry", "Industry", "--zip", "ZIP", "--sites", str(sites), "-o", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "Indianapolis: 3 customers within 100 mi, 57 prospects; 31 of them are in industries paying above" in out
    regions = pd.read_csv(tmp_path / "regions.csv")
    assert regions.loc[regions["kind"] == "site"].set_index("name")["underserved_rank"].idxmin() == "Indianapolis"
    assert len(pd.read_csv(tmp_path / "targets.csv")) == 31
    industries = pd.read_csv(tmp_path / "industries.csv")
    assert {"industry", "customers", "avg_value", "z_score"} <= set(industries.columns)
    page = (tmp_path / "regions.html").read_text()
    assert "Indianapolis: 3 customers within 100 mi" in page and "data:image/png;base64," in page
    assert "http://" not in page and "https://" not in page  # nothing is loaded from elsewhere


def test_zip_column_is_found_without_zip_flag(sheet: tuple[Path, Path], tmp_path: Path) -> None:
    leads, sites = sheet
    assert main(["regions", str(leads), "--target", "Status", "--positive", "Won", "--sites", str(sites),
                 "-o", str(tmp_path)]) == 0
    assert len(pd.read_csv(tmp_path / "targets.csv")) == 57  # no industry filter without --industry


def test_bad_sites_and_missing_zip_column_exit_2_with_a_message(sheet: tuple[Path, Path], tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    leads, _ = sheet
    bad_sites = tmp_path / "sites.csv"
    bad_sites.write_text("name,zip\nHouston,99999\n")
    assert main(["regions", str(leads), "--target", "Status", "--positive", "Won", "--sites", str(bad_sites),
                 "-o", str(tmp_path / "out")]) == 2
    assert "'99999' is not a known US ZIP code" in capsys.readouterr().err
    no_zip = tmp_path / "nozip.csv"
    pd.read_csv(leads, dtype=str).drop(columns=["ZIP"]).to_csv(no_zip, index=False)
    good_sites = tmp_path / "good.csv"
    good_sites.write_text("name,zip\nHouston,77002\n")
    assert main(["regions", str(no_zip), "--target", "Status", "--positive", "Won", "--sites", str(good_sites),
                 "-o", str(tmp_path / "out")]) == 2
    assert "--zip COL" in capsys.readouterr().err
    assert not (tmp_path / "out" / "regions.html").exists()


def test_train_with_zip_needs_sites_too(sheet: tuple[Path, Path], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    leads, _ = sheet
    assert main(["train", str(leads), "--target", "Status", "--positive", "Won", "--zip", "ZIP",
                 "--out", str(tmp_path)]) == 2
    assert "--sites FILE" in capsys.readouterr().err


def test_train_with_sites_finds_the_zip_column_and_records_geo(sheet: tuple[Path, Path], tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    leads, sites = sheet
    assert main(["train", str(leads), "--target", "Status", "--positive", "Won", "--value", "MRR", "--sites",
                 str(sites), "--out", str(tmp_path), "--cv", "0", "--force", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    card = json.loads((Path(out["bundle"]) / "card.json").read_text())
    assert card["geo"]["zip_column"] == "ZIP" and len(card["geo"]["sites"]) == 6
    # the report ranks its targets by that model's expected value
    report = tmp_path / "report"
    assert main(["regions", str(leads), "--target", "Status", "--positive", "Won", "--value", "MRR", "--industry",
                 "Industry", "--sites", str(sites), "--model", out["bundle"], "-o", str(report)]) == 0
    assert "31 targets (ranked by model expected value)" in capsys.readouterr().out
    targets = pd.read_csv(report / "targets.csv")
    assert targets["Expected Value"].is_monotonic_decreasing and targets["Expected Value"].notna().all()
