"""Cell reading: ranges, units and currencies anywhere, mixed dates, serial dates, out-of-range numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backend.core.cells import decide_dayfirst, read_booleans, read_dates, read_numbers
from backend.core.schema import RoleOverrides, infer_schema


def col(values: list[object]) -> pd.Series:
    return pd.Series(values, dtype=object)


@pytest.mark.parametrize(("cell", "expected"), [
    ("10-50", 30.0), ("40-200", 120.0), ("10 - 50", 30.0), ("10 to 50", 30.0), ("1k-5k", 3000.0),
    ("$10k–$50k", 30_000.0), ("1-5k", 3000.0), ("500-5k", 2750.0), ("10-20%", 0.15),
    ("50+", 50.0), (">50", 50.0), ("over 100", 100.0), ("<10", 5.0), ("under 10", 5.0),
    (np.str_("10-50"), 30.0),
])
def test_ranges_read_as_midpoint_and_are_flagged(cell: object, expected: float) -> None:
    values, bad, ranged = read_numbers(col([cell, "7"]))
    assert values[0] == pytest.approx(expected)
    assert not bad[0] and ranged[0]
    assert not ranged[1]


@pytest.mark.parametrize(("cell", "expected"), [
    ("1200 USD", 1200.0), ("USD 1,200", 1200.0), ("EUR 900", 900.0), ("1.2k €", 1200.0), ("1,200$", 1200.0),
    ("US$ 1,200", 1200.0), ("£800", 800.0), ("40 employees", 40.0), ("$500/mo", 500.0), ("12 k", 12_000.0),
    ("2.5 M", 2_500_000.0), ("(300)", -300.0), ("-$40", -40.0),
])
def test_units_and_currencies_in_any_position(cell: str, expected: float) -> None:
    values, bad, ranged = read_numbers(col([cell]))
    assert values[0] == pytest.approx(expected)
    assert not bad[0] and not ranged[0]


@pytest.mark.parametrize("cell", ["1e39", "-1e39", 1e39, float("inf"), "$1e39", "inf", np.float64(-1e300)])
def test_numbers_beyond_float32_are_unreadable_cells(cell: object) -> None:
    """A float32 feature cannot hold them: they are unreadable (NaN + flagged), never an error for the batch."""
    values, bad, _ = read_numbers(col([cell, "12"]))
    assert np.isnan(values[0]) and bad[0]
    assert values[1] == 12 and not bad[1]


def test_typed_number_columns_beyond_float32_are_unreadable() -> None:
    values, bad, _ = read_numbers(pd.Series([1.0, 1e39, np.nan, -np.inf]))
    assert values[0] == 1.0 and np.isnan(values[1:]).all()
    assert bad.tolist() == [False, True, False, True]


@pytest.mark.parametrize("cell", ["2025-06", "50-10", "call me", "10-", "1.2.3"])
def test_not_a_range(cell: str) -> None:
    values, bad, _ = read_numbers(col([cell]))
    assert np.isnan(values[0]) and bad[0]


def test_booleans_in_any_case() -> None:
    values, bad = read_booleans(col(["YES", "yes", "Yes", "y", "TRUE", "true", "No", "NO", "n", "FALSE", "maybe"]))
    assert values[:10].tolist() == [1, 1, 1, 1, 1, 1, 0, 0, 0, 0]
    assert bad.tolist() == [False] * 10 + [True]


def days(text: str) -> float:
    return (pd.Timestamp(text) - pd.Timestamp("1970-01-01")).days


def test_mixed_date_formats_in_one_column() -> None:
    cells = col(["14 Mar 2025", "March 14, 2025", "2025-03-14", "14.03.2025", "14/3/2025", 45730, "45730",
                 "2025/03/14", "Mar 14 2025"])
    values, bad = read_dates(cells, dayfirst=True)
    assert not bad.any()
    assert values.tolist() == [days("2025-03-14")] * len(cells)


def test_day_first_decided_per_column_from_unambiguous_cells() -> None:
    dotted = col(["28.07.2026", "04.06.2026", "01.02.2026"])
    dayfirst, why = decide_dayfirst(dotted)
    assert dayfirst is True and "28.07.2026" in why
    values, _ = read_dates(dotted, dayfirst)
    assert values[1] == days("2026-06-04")  # 4 June, not 6 April
    us = col(["07/28/2026", "04/06/2026"])
    dayfirst, _ = decide_dayfirst(us)
    assert dayfirst is False
    assert read_dates(us, dayfirst)[0][1] == days("2026-04-06")


def test_a_cell_that_can_only_be_read_one_way_is_read_that_way() -> None:
    values, bad = read_dates(col(["28/07/2026"]), dayfirst=False)
    assert values[0] == days("2026-07-28") and not bad[0]


@pytest.mark.parametrize("cell", ["31.02.2026", "14 Mar", "sometime in May", "Q3", "99999999", "2025"])
def test_unreadable_dates(cell: str) -> None:
    values, bad = read_dates(col([cell]), dayfirst=True)
    assert np.isnan(values[0]) and bad[0]


def test_a_column_keeps_its_role_when_most_cells_read() -> None:
    """31 ranges and a few words in 300 employee counts: still a number column, the rest counted."""
    rng = np.random.default_rng(0)
    cells = [str(v) for v in rng.integers(1, 500, 300)]
    for i in range(31):
        cells[i] = ["10-50", "40-200", "50+"][i % 3]
    cells[40], cells[41] = "lots", "ask Sam"
    dates = [f"{d} Mar 2025" if i % 3 else f"{d:02d}.03.2025" for i, d in enumerate(rng.integers(1, 29, 300))]
    dates[0] = "March 14, 2025"
    frame = pd.DataFrame({"Employees": cells, "Signup Date": dates}, dtype=object)
    roles = {c.name: c for c in infer_schema(frame).columns}
    assert roles["Employees"].role == "numeric"
    assert roles["Signup Date"].role == "date" and roles["Signup Date"].dayfirst is True


def test_category_levels_kept_by_count_with_their_usual_spelling() -> None:
    """A city with 45 rows among many rare ones is kept; its label is the spelling used most often."""
    cities = (["Lyon"] * 30 + ["lyon "] * 10 + ["LYON"] * 5 + [f"City {i}" for i in range(40) for _ in range(25)]
              + [f"Town {i}" for i in range(1000) for _ in range(2)])
    schema = infer_schema(pd.DataFrame({"City": cities}, dtype=object))
    city = schema.columns[0]
    assert city.role == "category", city.reason
    assert "lyon" in city.levels and city.label("lyon") == "Lyon"
    assert len(city.levels) == 41 and len(city.rare) == 1000 and city.min_level_rows == 20
    assert "at least 20 rows" in city.reason


def test_dayfirst_option_reads_ambiguous_dates_day_first() -> None:
    frame = pd.DataFrame({"Created": ["04/06/2026", "05/07/2026"] * 20, "Source": ["a", "b"] * 20}, dtype=object)
    assert infer_schema(frame).columns[0].dayfirst is False
    forced = infer_schema(frame, overrides=RoleOverrides(dayfirst=True)).columns[0]
    assert forced.role == "date" and forced.dayfirst is True and "--dayfirst" in forced.reason


def test_an_excluded_column_names_the_option_that_keeps_it() -> None:
    """Free text that is mostly numbers, or unique dates taken for ids, point at --numeric / --date."""
    from backend.core.quality import data_quality

    n = 120
    frame = pd.DataFrame({
        "Ref Number": [f"{i}" for i in range(n)],
        "Notes": [f"note {i} about the call and what was said" for i in range(n)],
        "Source": ["a", "b", "c"] * (n // 3),
    }, dtype=object)
    schema = infer_schema(frame)
    dq = data_quality(frame, schema)
    flags = {c["name"]: c["flag"] for c in dq["excluded"]}
    assert flags["Ref Number"] == "--numeric 'Ref Number'"
    assert flags["Notes"] == "--categorical Notes"
    used = {c["name"]: c for c in dq["columns"]}
    assert used["Source"]["flag"] == "--drop Source" and used["Source"]["read"] == n
