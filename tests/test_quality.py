"""A history typed the way sales teams type it: nothing lost, every unreadable cell counted, reasons honest."""

from __future__ import annotations

import re

import numpy as np
import pytest

from backend.core.evaluate import Gates
from backend.core.features import TransformReport
from backend.core.quality import format_quality
from backend.core.schema import OTHER_LEVEL, Column
from backend.core.scoring import _describe, _warnings, score_frame
from backend.core.train import TrainConfig, TrainResult, train
from backend.reports.model_report import attach_report
from backend.sample.messy import MessyHistory, messy_history

FEATURES = {"Employees": "numeric", "Signup Date": "date", "First Call Date": "date", "Monthly Budget": "numeric",
            "Demo Booked": "boolean", "Lead Source": "category", "Region": "category"}


def config(**extra: object) -> TrainConfig:
    return TrainConfig(target="Status", positive="Won", value="MRR", max_rounds=200, now_days=20_800.0,
                       gates=Gates(min_auc=0.5, min_precision=0.1, min_recall=0.1), **extra)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def history() -> MessyHistory:
    return messy_history(rows=4000, seed=0)


@pytest.fixture(scope="module")
def messy(history: MessyHistory) -> TrainResult:
    result = train(history.messy, config())
    attach_report(result)  # as the CLI does
    return result


@pytest.fixture(scope="module")
def clean(history: MessyHistory) -> TrainResult:
    return train(history.clean, config())


def test_no_column_is_lost(messy: TrainResult, clean: TrainResult) -> None:
    for result in (messy, clean):
        assert {c["name"]: c["role"] for c in result.bundle.card["features"]} == FEATURES
    dates = {c["name"]: c for c in messy.bundle.card["features"] if c["role"] == "date"}
    assert all(c["dayfirst"] is True for c in dates.values())


def test_held_out_auc_matches_a_model_trained_on_the_clean_values(messy: TrainResult, clean: TrainResult) -> None:
    auc_messy = messy.bundle.card["metrics"]["classifier"]["auc"]
    auc_clean = clean.bundle.card["metrics"]["classifier"]["auc"]
    assert auc_clean > 0.7  # the outcome really depends on the columns read
    assert abs(auc_messy - auc_clean) <= 0.01, (auc_messy, auc_clean)


def test_every_unreadable_cell_is_counted_exactly(history: MessyHistory, messy: TrainResult) -> None:
    dq = messy.bundle.card["data_quality"]
    counted = {c["name"]: c["unreadable"] for c in dq["columns"]}
    assert counted == {name: history.unreadable.get(name, 0) for name in counted}
    assert set(history.unreadable) <= set(counted)
    for c in dq["columns"]:
        assert c["read"] + c["blank"] + c["unreadable"] == len(history.messy)
        assert len(c["examples"]) <= 3 and bool(c["examples"]) == bool(c["unreadable"])
    employees = next(c for c in dq["columns"] if c["name"] == "Employees")
    assert employees["ranges"] > 0 and set(employees["examples"]) <= {"lots", "ask Sam", "big team", "see notes"}
    assert employees["flag"] == "--categorical Employees"
    assert [c["name"] for c in dq["excluded"]] == ["Lead ID"]


def test_the_report_section_lists_every_count(history: MessyHistory, messy: TrainResult) -> None:
    page = messy.bundle.attachments["report.html"].decode()
    section = re.search(r"<section id='data-quality'>(.*?)</section>", page, re.S)
    assert section is not None
    for c in messy.bundle.card["data_quality"]["columns"]:
        row = re.search(rf"<tr><td class='l'>{re.escape(c['name'])}</td>(.*?)</tr>", section.group(1), re.S)
        assert row is not None, c["name"]
        cells = [re.sub(r"<[^>]+>", "", td) for td in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)]
        assert cells[2:5] == [str(c["read"]), str(c["blank"]), str(history.unreadable.get(c["name"], 0))]


def test_text_in_the_value_column_is_said_not_dropped_silently(history: MessyHistory, messy: TrainResult) -> None:
    note = next(n for n in messy.notes if "value column 'MRR'" in n)
    assert f"in {history.unreadable['MRR']} won row(s)" in note and "'tbc'" in note
    assert "left out of the MRR model" in note
    printed = "\n".join(format_quality(messy.bundle.card["data_quality"]))
    assert "Employees — numeric" in printed and "ranges read as their midpoint" in printed


def test_reasons_say_unreadable_not_missing_and_use_the_usual_spelling(history: MessyHistory,
                                                                       messy: TrainResult) -> None:
    frame = history.messy.head(1500)
    result = score_frame(messy.bundle, frame, now_days=20_800.0)
    garbage = frame["Employees"].isin(["lots", "ask Sam", "big team", "see notes"]).to_numpy()
    said = [r for i, rs in enumerate(result.reasons) if garbage[i] for r in rs if r.startswith("Employees")]
    assert said and all("could not be read" in r for r in said)
    sources = {r.split(" = ")[1].rsplit(" ", 1)[0] for rs in result.reasons for r in rs
               if r.startswith("Lead Source =")}
    assert sources and sources <= {"Referral", "Webinar", "Organic Search", "Paid Search", "Cold Outbound"}


def test_rare_in_training_is_not_unseen() -> None:
    city = Column("City", "category", levels=["lyon"], labels={"lyon": "Lyon"}, rare=["nice", "metz"])
    assert _describe(city, "lyon ", "lyon") == "City = Lyon"
    assert _describe(city, " Nice", OTHER_LEVEL) == "City = Nice (rare in training)"
    assert _describe(city, "Paris", OTHER_LEVEL) == "City = Paris (not seen in training)"
    report = TransformReport(unseen={"City": ["Metz", "Paris"]})
    message = _warnings(report, history_frame(), True, [city])[0]["message"]
    assert "rare in training (Metz)" in message and "not seen in training (Paris)" in message


def test_missing_and_unreadable_are_told_apart() -> None:
    size = Column("Employees", "numeric")
    assert _describe(size, "40-lots", np.nan) == "Employees '40-lots' could not be read"
    assert _describe(size, "N/A", np.nan) == "Employees missing"
    assert _describe(size, None, np.nan) == "Employees missing"


def history_frame():  # type: ignore[no-untyped-def]
    import pandas as pd

    return pd.DataFrame({"City": ["Metz", "Paris"]}, dtype=object)
