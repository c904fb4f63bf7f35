"""Schema inference and cell parsing: the messy forms sheets hold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backend.core.outputs import OUTPUT_COLUMNS
from backend.core.schema import (
    RoleOverrides,
    infer_schema,
    match_columns,
    missing_mask,
    parse_booleans,
    parse_categories,
    parse_dates,
    parse_numbers,
)
from backend.errors import BadInput


def col(values: list[object]) -> pd.Series:
    return pd.Series(values, dtype=object)


@pytest.mark.parametrize(("cell", "expected"), [
    ("$12,000", 12000.0), ("12k", 12000.0), ("12K", 12000.0), ("1.2M", 1_200_000.0), ("45%", 0.45),
    ("1,234.5", 1234.5), ("(300)", -300.0), ("-5", -5.0), (" 7 ", 7.0), ("$1.2k", 1200.0),
    ("-$40", -40.0), ("€3.5k", 3500.0), (3, 3.0), (2.5, 2.5), ("0.5", 0.5), (".5", 0.5), ("2bn", 2e9),
])
def test_numbers_in_sheet_forms(cell: object, expected: float) -> None:
    values, unparsed = parse_numbers(col([cell]))
    assert values[0] == pytest.approx(expected)
    assert not unparsed[0]


@pytest.mark.parametrize("cell", ["", None, "Select", "unknown", "N/A", "-", "  ", "n/a", "NULL"])
def test_placeholders_are_missing_not_errors(cell: object) -> None:
    values, unparsed = parse_numbers(col([cell, "5"]))
    assert np.isnan(values[0]) and values[1] == 5.0
    assert not unparsed[0]
    assert missing_mask(col([cell]))[0]


def test_text_in_a_number_column_is_reported() -> None:
    values, unparsed = parse_numbers(col(["abc", "12", "1.2.3"]))
    assert np.isnan(values[0]) and values[1] == 12 and np.isnan(values[2])
    assert unparsed.tolist() == [True, False, True]


@pytest.mark.parametrize(("cell", "expected"), [
    ("Yes", 1.0), ("no", 0.0), ("TRUE", 1.0), ("False", 0.0), ("Y", 1.0), ("n", 0.0),
    (1, 1.0), (0, 0.0), (True, 1.0), (False, 0.0), (" yes ", 1.0), ("1.0", 1.0),
])
def test_booleans(cell: object, expected: float) -> None:
    values, unparsed = parse_booleans(col([cell]))
    assert values[0] == expected and not unparsed[0]


def test_boolean_blank_and_garbage() -> None:
    values, unparsed = parse_booleans(col(["", "maybe"]))
    assert np.isnan(values).all()
    assert unparsed.tolist() == [False, True]


def test_categories_trimmed_and_case_folded() -> None:
    cats = parse_categories(col(["Referral", "  referral ", "REFERRAL", "Paid  Search", "Select", None]))
    assert cats.iloc[:3].tolist() == ["referral"] * 3
    assert cats.iloc[3] == "paid search"
    assert cats.iloc[4:].isna().all()


def test_dates_in_iso_and_us_forms() -> None:
    days, unparsed = parse_dates(col(["2026-01-02", "01/03/2026", "", "not a date"]))
    assert days[1] - days[0] == pytest.approx(1.0)
    assert np.isnan(days[2]) and np.isnan(days[3])
    assert unparsed.tolist() == [False, False, False, True]


def test_roles_inferred_on_the_sample_sheet(sample_frame: pd.DataFrame) -> None:
    schema = infer_schema(sample_frame, target="Status", value="MRR")
    roles = {c.name: c.role for c in schema.columns}
    assert roles["Lead ID"] == "id"
    assert roles["Company"] == "id"
    assert roles["Contact Email"] == "id"
    assert roles["Created"] == "date"
    assert roles["Business Type"] == "category"
    assert roles["Monthly Ad Spend"] == "numeric"
    assert roles["Demo Booked"] == "boolean"
    assert roles["Status"] == "target" and roles["MRR"] == "value"
    spend = next(c for c in schema.columns if c.name == "Monthly Ad Spend")
    assert spend.currency
    btype = next(c for c in schema.columns if c.name == "Business Type")
    assert "e-commerce" in btype.levels and "  e-commerce " not in btype.levels


def test_rare_levels_are_pooled() -> None:
    frame = pd.DataFrame({"Source": ["a"] * 60 + ["b"] * 60 + ["rare1", "rare2"]}, dtype=object)
    schema = infer_schema(frame)
    assert schema.columns[0].levels == ["a", "b"]


def test_output_columns_never_features(sample_frame: pd.DataFrame) -> None:
    frame = sample_frame.copy()
    for name in OUTPUT_COLUMNS:
        frame[name] = np.arange(len(frame)) % 10
    schema = infer_schema(frame, target="Status")
    assert {c.name for c in schema.features}.isdisjoint(OUTPUT_COLUMNS)
    assert all(c.role == "output" for c in schema.columns if c.name in OUTPUT_COLUMNS)


def test_overrides_win(sample_frame: pd.DataFrame) -> None:
    schema = infer_schema(sample_frame, target="Status",
                          overrides=RoleOverrides(drop=["region"], ids=["Email Opens"],
                                                  categorical=["Paid Traffic Platforms"]))
    roles = {c.name: c.role for c in schema.columns}
    assert roles["Region"] == "dropped"
    assert roles["Email Opens"] == "id"
    assert roles["Paid Traffic Platforms"] == "category"


def test_override_of_a_missing_column_names_it(sample_frame: pd.DataFrame) -> None:
    with pytest.raises(BadInput, match="nope"):
        infer_schema(sample_frame, overrides=RoleOverrides(drop=["nope"]))


def test_match_columns_ignores_case_spacing_and_order(sample_frame: pd.DataFrame) -> None:
    schema = infer_schema(sample_frame, target="Status")
    header = [" lead source ", "BUSINESS TYPE", "Extra"]
    positions, missing, unknown = match_columns(schema, header)
    assert positions["Lead Source"] == 0 and positions["Business Type"] == 1
    assert "Region" in missing
    assert unknown == ["Extra"]
