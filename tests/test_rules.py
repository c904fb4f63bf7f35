"""The points rulebook: parsing (YAML and the Scoring Rules tab), every condition, caps, decay, errors."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from backend.core.rules import load_rulebook, parse_rulebook, points_to_score, rulebook_from_rows
from backend.errors import BadInput

NOW = (datetime(2026, 11, 1) - datetime(1970, 1, 1)).days  # a fixed "now" (days since 1970-01-01)

SHEET = pd.DataFrame({
    "Business Type": [" agency", "E-COMMERCE", "SaaS", "Select", None],
    "Monthly Ad Spend": ["$12,000", "9.5k", "800", "", "1.2M"],
    "Demo Booked": ["TRUE", "no", "Yes", "1", ""],
    "Lead Source": ["Referral", "purchased  list", "Cold Outbound", "Webinar", "N/A"],
    "Emails Opened": [5, 1, 7, "3", ""],
    "Notes": ["wants a demo asap", "", "DEMO later", "call", None],
    "Last Activity": ["2026-11-01", "2026-10-02", "2026-09-02", "", "10/17/2026"],
}, dtype=object)


def fired(rule_yaml: str, frame: pd.DataFrame = SHEET) -> list[bool]:
    book = parse_rulebook(f"rules:\n  - {rule_yaml}\n", "test.yaml")
    return book.evaluate(frame, now_days=NOW).fired[:, 0].tolist()


@pytest.mark.parametrize("rule, expected", [
    # is: case and spaces do not matter; a list is any of its values; placeholders match nothing
    ("{column: Business Type, is: [Agency, e-commerce], points: 1}", [True, True, False, False, False]),
    ("{column: Business Type, is: '  SAAS ', points: 1}", [False, False, True, False, False]),
    # yes/no read as the product reads them: TRUE, Yes and 1 are all yes
    ("{column: Demo Booked, is: true, points: 1}", [True, False, True, True, False]),
    ("{column: Demo Booked, is: 'Yes', points: 1}", [True, False, True, True, False]),
    ("{column: Demo Booked, is: false, points: 1}", [False, True, False, False, False]),
    # numbers read in sheet forms: $12,000 = 12k
    ("{column: Monthly Ad Spend, is: 12k, points: 1}", [True, False, False, False, False]),
    # is_not: the opposite of is (a blank cell is not Cold Outbound)
    ("{column: Lead Source, is_not: cold outbound, points: 1}", [True, True, False, True, True]),
    ("{column: Lead Source, is_not: [Referral, Webinar], points: 1}", [False, True, True, False, True]),
    ("{column: Monthly Ad Spend, at_least: 9500, points: 1}", [True, True, False, False, True]),
    ("{column: Monthly Ad Spend, at_least: '$10k', points: 1}", [True, False, False, False, True]),
    ("{column: Monthly Ad Spend, at_most: 9500, points: 1}", [False, True, True, False, False]),
    ("{column: Emails Opened, between: [3, 5], points: 1}", [True, False, False, True, False]),
    ("{column: Emails Opened, between: [5, 3], points: 1}", [True, False, False, True, False]),
    ("{column: Notes, contains: demo, points: 1}", [True, False, True, False, False]),
    ("{column: Notes, contains: [asap, call], points: 1}", [True, False, False, True, False]),
    ("{column: Business Type, is_blank: true, points: 1}", [False, False, False, True, True]),
    ("{column: Business Type, is_present: true, points: 1}", [True, True, True, False, False]),
    ("{all: [{column: Emails Opened, at_least: 3}, {column: Lead Source, is_not: Cold Outbound}], points: 1}",
     [True, False, False, True, False]),
    ("{any: [{column: Demo Booked, is: no}, {column: Business Type, is_blank: true}], points: 1}",
     [False, True, False, True, True]),
    ("{any: [{all: [{column: Demo Booked, is: yes}, {column: Emails Opened, at_least: 6}]}, "
     "{column: Notes, contains: asap}], points: 1}", [True, False, True, False, False]),
])
def test_every_condition(rule: str, expected: list[bool]) -> None:
    assert fired(rule) == expected


def test_points_groups_caps_and_score() -> None:
    book = parse_rulebook(
        "groups:\n"
        "  fit: {max: 30}\n"
        "rules:\n"
        "  - {column: Business Type, is: [Agency, E-commerce], points: 20, group: fit}\n"
        "  - {column: Monthly Ad Spend, at_least: 10000, points: 25, group: fit}\n"
        "  - {column: Demo Booked, is: yes, points: 30}\n"
        "  - {column: Lead Source, is: Purchased list, points: -20}\n", "t.yaml")
    assert book.max_points == 60  # fit capped at 30, plus 30; negative rules add nothing
    out = book.evaluate(SHEET, now_days=NOW)
    # row 0: fit 20 + 25 = 45 → capped 30, demo 30 → 60; row 1: fit 20, purchased −20 → 0
    assert out.points.tolist() == [60, 0, 30, 30, 25]
    assert out.lead_score.tolist() == [10, 1, 6, 6, 5]
    assert out.reasons[1] == ["Business Type is Agency or E-commerce +20", "Lead Source is Purchased list −20"]
    assert out.reasons[0][0] == "Demo Booked is Yes +30"
    assert out.reasons[0][-1] == "fit capped at 30" and "fit capped at 30" not in out.reasons[1]


def test_score_is_the_range_in_tenths() -> None:
    assert points_to_score(np.array([-5, 0, 9.9, 10, 50, 89.9, 90, 100, 130]), 100).tolist() == [
        1, 1, 1, 2, 6, 9, 10, 10, 10]


def test_disjoint_values_of_one_column_count_once_in_the_maximum() -> None:
    book = parse_rulebook("rules:\n  - {column: Lead Source, is: Referral, points: 30}\n"
                          "  - {column: Lead Source, is: Partner, points: 20}\n"
                          "  - {column: Demo Booked, is: yes, points: 10}\n")
    assert book.max_points == 40


def test_engagement_decay_with_a_fixed_now() -> None:
    book = parse_rulebook("groups:\n  engagement: {half_life_days: 30, date_column: Last Activity}\n"
                          "rules:\n  - {any: [{column: Lead Source, is_present: true}, "
                          "{column: Lead Source, is_blank: true}], "
                          "points: 40, group: engagement}\n")
    out = book.evaluate(SHEET, now_days=NOW)
    # 0, 30 and 60 days old: 40, 20, 10; no date: kept; 15 days: 40 / √2
    assert out.points.tolist() == [40, 20, 10, 40, round(40 / np.sqrt(2), 2)]
    assert any("×0.50" in r for r in out.reasons[1])
    later = book.evaluate(SHEET, now_days=NOW + 30)
    assert later.points[0] == 20  # the same lead, a month later: its engagement has gone stale


def test_yaml_round_trip() -> None:
    text = ("groups:\n  engagement: {max: 40, half_life_days: 30, date_column: Last Activity}\n"
            "rules:\n  - {column: Business Type, is: [Agency, E-commerce], points: 20}\n"
            "  - {all: [{column: Emails Opened, at_least: 3}, {column: Lead Source, is_not: Cold Outbound}], "
            "points: 10, group: engagement}\n")
    book = parse_rulebook(text)
    assert parse_rulebook(book.to_yaml()).to_dict() == book.to_dict()


@pytest.mark.parametrize("text, words", [
    ("rules:\n  - {column: Demo Booked, is: yes, points: 30}\n  - {column: Demo Bookd, is: yes, points: 5}\n",
     ["line 3 of bad.yaml", "'Demo Bookd'", "not in the sheet"]),
    ("rules:\n  - {column: Demo Booked, is: yes, points: 30}\n\n  - {column: Emails Opened, greater_than: 3, "
     "points: 5}\n", ["line 4 of bad.yaml", "unknown condition", "greater_than"]),
    ("rules:\n  - {column: Monthly Ad Spend, at_least: lots, points: 5}\n",
     ["line 2 of bad.yaml", "'lots' is not a number"]),
    ("rules:\n  - {column: Demo Booked, is: yes, points: many}\n", ["line 2 of bad.yaml", "points"]),
    ("rules:\n  - {column: Demo Booked, is: yes, at_least: 3, points: 1}\n", ["line 2", "several conditions"]),
    ("rules:\n  - {column: Demo Booked, points: 1}\n", ["line 2", "no condition"]),
    ("groups:\n  engagement: {half_life_days: 30, date_column: Last Seen}\n"
     "rules:\n  - {column: Demo Booked, is: yes, points: 1, group: engagement}\n",
     ["line 2 of bad.yaml", "'Last Seen'"]),
    ("rules:\n  - {column: Demo Booked, is: yes, points: 1\n", ["not valid YAML", "line"]),
])
def test_invalid_rulebook_names_the_rule(text: str, words: list[str]) -> None:
    with pytest.raises(BadInput) as err:
        parse_rulebook(text, "bad.yaml").evaluate(SHEET, now_days=NOW)
    for word in words:
        assert word in err.value.detail


TAB = [
    ["Group", "Column", "Condition", "Value", "Points", "Note"],
    ["fit", "", "max", 30, "", ""],
    ["fit", "Business Type", "is", "Agency, E-commerce", 20, ""],
    ["fit", "Monthly Ad Spend", "At least", "$10,000", 25, "Big spender"],
    ["", "Demo Booked", "is", "Yes", 30, ""],
    ["", "Emails Opened", "at least", 3, 10, ""],
    ["", "Lead Source", "is not", "Cold Outbound", "", ""],   # no points: joins the rule above
    ["", "", "", "", "", ""],
    ["engagement", "Last Activity", "date column", "", "", ""],
    ["engagement", "", "half life days", "30", "", ""],
    ["engagement", "Emails Opened", "between", "1 - 5", 5, ""],
]


def test_tab_form_matches_the_yaml_form() -> None:
    tab = rulebook_from_rows(TAB)
    yaml_book = parse_rulebook(
        "groups:\n  fit: {max: 30}\n  engagement: {half_life_days: 30, date_column: Last Activity}\nrules:\n"
        "  - {column: Business Type, is: [Agency, E-commerce], points: 20, group: fit}\n"
        "  - {column: Monthly Ad Spend, at_least: 10000, points: 25, group: fit, note: Big spender}\n"
        "  - {column: Demo Booked, is: 'Yes', points: 30}\n"
        "  - {all: [{column: Emails Opened, at_least: 3}, {column: Lead Source, is_not: Cold Outbound}], points: 10}\n"
        "  - {column: Emails Opened, between: [1, 5], points: 5, group: engagement}\n")
    assert tab.to_dict() == yaml_book.to_dict()
    a, b = tab.evaluate(SHEET, now_days=NOW), yaml_book.evaluate(SHEET, now_days=NOW)
    assert a.points.tolist() == b.points.tolist()
    assert "Big spender +25" in a.reasons[0]
    assert tab.rules[0].where == "row 3 of the Scoring Rules tab"


@pytest.mark.parametrize("row, words", [
    (["", "Demo Bookd", "is", "Yes", 30, ""], ["row 2 of the Scoring Rules tab", "'Demo Bookd'"]),
    (["", "Emails Opened", "more than", 3, 30, ""],
     ["row 2 of the Scoring Rules tab", "unknown condition 'more than'"]),
    (["", "Monthly Ad Spend", "at least", "a lot", 30, ""],
     ["row 2 of the Scoring Rules tab", "'a lot' is not a number"]),
])
def test_tab_errors_name_the_row(row: list[object], words: list[str]) -> None:
    with pytest.raises(BadInput) as err:
        rulebook_from_rows([TAB[0], row]).evaluate(SHEET, now_days=NOW)
    for word in words:
        assert word in err.value.detail


def test_load_rulebook_reads_yaml_and_a_tab_export(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "r.yaml").write_text("rules:\n  - {column: Demo Booked, is: yes, points: 30}\n")
    pd.DataFrame(TAB[1:], columns=TAB[0]).to_csv(tmp_path / "tab.csv", index=False)
    assert load_rulebook(str(tmp_path / "r.yaml")).rules[0].where == "line 2 of r.yaml"
    assert load_rulebook(str(tmp_path / "tab.csv")).rules[0].where.startswith("row 3 of Scoring Rules")
    with pytest.raises(BadInput, match="does not exist"):
        load_rulebook(str(tmp_path / "missing.yaml"))


def test_evaluation_is_vectorised_over_many_leads() -> None:
    big = pd.concat([SHEET] * 2000, ignore_index=True)
    book = parse_rulebook("rules:\n  - {column: Demo Booked, is: yes, points: 30}\n"
                          "  - {column: Monthly Ad Spend, at_least: 10k, points: 20}\n")
    out = book.evaluate(big, now_days=NOW)
    assert out.points.tolist() == [50, 0, 30, 30, 20] * 2000
    assert len(out.reasons) == 10_000 and out.reasons[5] == out.reasons[0]


@pytest.mark.parametrize("text", ["3 - 5", "3-5", "3 to 5", "3; 5", "3, 5", "5 and 3"])
def test_tab_between_reads_the_ways_people_write_a_range(text: str) -> None:
    book = rulebook_from_rows([TAB[0], ["", "Emails Opened", "between", text, 1, ""]])
    assert book.rules[0].condition.value == (3.0, 5.0)
    assert book.evaluate(SHEET, now_days=NOW).fired[:, 0].tolist() == [True, False, False, True, False]
