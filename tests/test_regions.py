"""The prospect-region report's tables (backend.core.regions) on the generated geo sheet."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backend.core.geo import sites_from_frame
from backend.core.regions import build_report
from backend.errors import BadInput
from backend.sample.geo import HIGH_VALUE, INDUSTRIES, UNDERSERVED, generate


@pytest.fixture(scope="module")
def sample():  # type: ignore[no-untyped-def]
    return generate()


@pytest.fixture(scope="module")
def report(sample):  # type: ignore[no-untyped-def]
    return build_report(sample.leads, target="Status", positive="Won", zip_column="ZIP",
                        sites=sites_from_frame(sample.sites), value="MRR", industry="Industry")


def test_the_sixth_site_is_the_most_underserved(report) -> None:  # type: ignore[no-untyped-def]
    sites = report.regions[report.regions["kind"] == "site"].set_index("name")
    assert sites["underserved_rank"].idxmin() == UNDERSERVED
    assert sorted(sites["underserved_rank"].tolist()) == [1, 2, 3, 4, 5, 6]
    indy = sites.loc[UNDERSERVED]
    assert (indy["customers"], indy["prospects"]) == (3, 57)
    assert indy["customers_per_prospect"] == pytest.approx(3 / 57, abs=1e-3)
    others = sites.drop(index=UNDERSERVED)
    assert (others["customers"] == 40).all() and (others["prospects"] == 18).all()


def test_targets_are_only_prospects_near_the_sixth_site_in_above_average_industries(sample, report) -> None:  # type: ignore[no-untyped-def]
    leads = sample.leads
    expected = set(np.flatnonzero((sample.home == UNDERSERVED) & (leads["Status"] != "Won").to_numpy()
                                  & leads["Industry"].isin(HIGH_VALUE).to_numpy()) + 2)
    targets = report.targets
    assert set(targets["Row"]) == expected and len(targets) == 31
    assert (targets["Nearest Site"] == UNDERSERVED).all() and (targets["Miles"] <= report.radius).all()
    assert set(targets["Industry"]) <= set(HIGH_VALUE) and (targets["Status"] != "Won").all()
    # the user's cells come through unchanged, next to the row they came from
    first = targets.iloc[0]
    assert leads.iloc[first["Row"] - 2]["Company"] == first["Company"]
    # ranked by industry value, nearest first within an industry
    assert targets["Rank"].tolist() == list(range(1, 32))
    assert targets["Industry Avg Value"].is_monotonic_decreasing


def test_industries_values_and_z_scores(report) -> None:  # type: ignore[no-untyped-def]
    table = report.industries.set_index("industry")
    assert set(table.index) == set(INDUSTRIES)
    assert set(table.index[table["above_average"]]) == set(HIGH_VALUE)
    assert table["customers"].sum() == 203
    assert (np.sign(table["z_score"]) == np.where(table["above_average"], 1, -1)).all()
    assert table.loc["Finance", "avg_value"] > table.loc["Education", "avg_value"]


def test_summary_reads_like_the_sales_question(report) -> None:  # type: ignore[no-untyped-def]
    assert report.summary == [
        "Indianapolis: 3 customers within 100 mi, 57 prospects; 31 of them are in industries paying above "
        "average (Finance, Healthcare)."]
    assert report.located["unknown"] == 2 and report.located["blank"] == 1
    assert report.located["repaired_leading_zeros"] > 0


def test_regions_are_clustered_from_customers(report) -> None:  # type: ignore[no-untyped-def]
    regions = report.regions[report.regions["kind"] == "region"]
    assert report.regions_fit is not None and len(regions) == report.regions_fit.k
    assert regions["customers"].sum() == 203
    assert sorted(regions["underserved_rank"]) == list(range(1, len(regions) + 1))


def test_model_expected_value_orders_the_targets(sample) -> None:  # type: ignore[no-untyped-def]
    ev = np.arange(len(sample.leads), dtype=float)  # later rows are worth more
    rep = build_report(sample.leads, target="Status", positive="Won", zip_column="ZIP",
                       sites=sites_from_frame(sample.sites), value="MRR", industry="Industry", expected_value=ev)
    assert rep.ranked_by == "model expected value"
    assert rep.targets["Expected Value"].is_monotonic_decreasing
    assert rep.targets["Row"].is_monotonic_decreasing


def test_without_industry_targets_are_every_prospect_near_the_site(sample) -> None:  # type: ignore[no-untyped-def]
    rep = build_report(sample.leads, target="Status", positive="Won", zip_column="ZIP",
                       sites=sites_from_frame(sample.sites), top_sites=2)
    assert rep.industries is None and len(rep.targets) == 57 + 18
    assert any("--industry" in n for n in rep.notes)


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"positive": "Closed"}, "does not occur"),
    ({"zip_column": "Company"}, "No cell of 'Company'"),
    ({"zip_column": "Postcode"}, "ZIP column 'Postcode' is not in the sheet"),
    ({"radius": 0}, "positive number of miles"),
])
def test_bad_options_say_what_to_fix(sample, kwargs, words) -> None:  # type: ignore[no-untyped-def]
    args = {"target": "Status", "positive": "Won", "zip_column": "ZIP", "sites": sites_from_frame(sample.sites)}
    with pytest.raises(BadInput, match=words):
        build_report(sample.leads, **{**args, **kwargs})


def test_unknown_zips_only_reduce_the_counts() -> None:
    frame = pd.DataFrame({"Zip": ["46204", "bad", None, "46220"], "Status": ["Won", "Open", "Open", "Lost"]})
    rep = build_report(frame, target="Status", positive="Won", zip_column="Zip",
                       sites=sites_from_frame(pd.DataFrame({"name": ["Indy"], "zip": ["46204"]})))
    indy = rep.regions.iloc[0]
    assert (indy["customers"], indy["prospects"]) == (1, 1)
    assert rep.located["unknown"] == 1 and rep.located["blank"] == 1
    assert any("not a known US ZIP" in n for n in rep.notes)
