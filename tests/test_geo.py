"""ZIP codes, distances, sites and sales regions (backend.core.geo)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.core import geo
from backend.errors import BadInput

# City-centre ZIPs and accepted great-circle distances in miles.
CITY_PAIRS = [
    ("10007", "90012", 2445.0),   # New York City Hall – Los Angeles City Hall
    ("10007", "60602", 713.0),    # New York – Chicago
    ("94102", "90012", 347.0),    # San Francisco – Los Angeles
    ("02108", "10007", 190.0),    # Boston – New York
    ("98101", "33131", 2734.0),   # Seattle – Miami
]


@pytest.mark.parametrize(("a", "b", "miles"), CITY_PAIRS)
def test_distance_between_known_cities_within_one_percent(a: str, b: str, miles: float) -> None:
    pa, pb = geo.lookup(a), geo.lookup(b)
    assert pa is not None and pb is not None
    d = float(geo.haversine_miles(pa.lat, pa.lon, pb.lat, pb.lon))
    assert abs(d - miles) / miles < 0.01
    assert float(geo.haversine_miles(pb.lat, pb.lon, pa.lat, pa.lon)) == pytest.approx(d)


def test_haversine_is_zero_at_the_same_point_and_half_the_earth_at_antipodes() -> None:
    assert float(geo.haversine_miles(40.0, -75.0, 40.0, -75.0)) == 0.0
    assert float(geo.haversine_miles(0.0, 0.0, 0.0, 180.0)) == pytest.approx(np.pi * geo.EARTH_RADIUS_MI)


@pytest.mark.parametrize(("cell", "expected"), [
    ("02134", "02134"), (2134, "02134"), (2134.0, "02134"), ("2134", "02134"), ("2134.0", "02134"),
    ("02134-1234", "02134"), ("021341234", "02134"), (21341234, "02134"), (" MA 02134 ", "02134"),
    ("501", "00501"), ("77002", "77002"),
    ("12", None), ("abc", None), ("", None), (None, None), (float("nan"), None), ("0213-12", None),
    (2134.5, None), (True, None), ("123456", None),
])
def test_normalize_zip_repairs_leading_zeros_and_refuses_non_zips(cell: object, expected: str | None) -> None:
    assert geo.normalize_zip(cell) == expected


@given(st.integers(min_value=100, max_value=99999), st.sampled_from(["int", "float", "text", "padded", "plus4"]))
def test_any_zip_reads_back_as_five_digits_however_the_sheet_stored_it(number: int, form: str) -> None:
    zip5 = f"{number:05d}"
    cell = {"int": number, "float": float(number), "text": str(number), "padded": zip5,
            "plus4": f"{zip5}-0001"}[form]
    assert geo.normalize_zip(cell) == zip5


def test_locate_counts_unknown_blank_and_repaired_cells_without_failing() -> None:
    where = geo.locate(pd.Series([2134, "02134", "99999", "not a zip", None, "N/A", "46204"], dtype=object))
    assert where.known.tolist() == [True, True, False, False, False, False, True]
    assert where.city[0] == where.city[1] == "Allston" and where.state[6] == "IN"
    assert (where.unknown, where.blank, where.repaired) == (2, 2, 1)
    assert where.unknown_examples == ["99999", "not a zip"]
    assert where.lat[0] == where.lat[1]


def test_detect_zip_column_by_header_and_content() -> None:
    frame = pd.DataFrame({"Zip Code": ["10007", "60602", "77002"], "Zipper size": ["S", "M", "L"],
                          "Postal": ["a", "b", "c"]})
    assert geo.detect_zip_column(frame) == "Zip Code"
    assert geo.detect_zip_column(frame[["Zipper size", "Postal"]]) is None


def _sites() -> list[geo.Site]:
    return geo.sites_from_frame(pd.DataFrame({"Name": ["Houston", "Chicago", "Boston"],
                                              "ZIP": ["77002", 60602, 2108]}))


def test_sites_from_frame_reads_names_and_repairs_zips() -> None:
    sites = _sites()
    assert [s.name for s in sites] == ["Houston", "Chicago", "Boston"]
    assert sites[2].zip == "02108" and sites[2].state == "MA"


@pytest.mark.parametrize(("table", "words"), [
    (pd.DataFrame({"city": ["A"], "where": ["77002"]}), "'name' and a 'zip'"),
    (pd.DataFrame({"name": ["Houston"], "zip": ["99999"]}), "Houston"),
    (pd.DataFrame({"name": ["A", "a"], "zip": ["77002", "60602"]}), "Two sites"),
    (pd.DataFrame({"name": [], "zip": []}), "no rows"),
])
def test_bad_sites_tables_say_what_to_fix(table: pd.DataFrame, words: str) -> None:
    with pytest.raises(BadInput, match=words):
        geo.sites_from_frame(table)


def test_nearest_site_picks_the_closest_and_leaves_unknown_rows_out() -> None:
    sites = _sites()
    where = geo.locate(pd.Series(["77056", "60614", "02139", "nope"], dtype=object))  # Galleria, Lincoln Park, MIT
    index, miles = geo.nearest_site(where.lat, where.lon, sites)
    assert index.tolist() == [0, 1, 2, -1]
    assert np.all(miles[:3] < 15) and np.isnan(miles[3])


def _customers(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = [(29.76, -95.36), (41.88, -87.63), (42.36, -71.06)]
    lat = np.concatenate([c[0] + rng.normal(0, 0.2, 40) for c in centres])
    lon = np.concatenate([c[1] + rng.normal(0, 0.2, 40) for c in centres])
    return lat, lon


def test_regions_choose_k_by_silhouette_and_find_the_three_metros() -> None:
    lat, lon = _customers()
    names = np.array(["X"] * len(lat), dtype=object)
    fitted = geo.RegionClusters.fit(lat, lon, names, names, seed=0)
    assert fitted is not None
    assert fitted.k == 3 and max(fitted.silhouette, key=fitted.silhouette.get) == 3
    assert set(fitted.silhouette) == set(range(2, 9))
    labels = fitted.predict(lat, lon)
    assert all(len(set(labels[i * 40:(i + 1) * 40])) == 1 for i in range(3))
    again = geo.RegionClusters.from_json(fitted.to_json())
    assert again.predict(lat, lon).tolist() == labels.tolist()
    assert geo.RegionClusters.fit(lat[:5], lon[:5], names[:5], names[:5]) is None


def test_geo_features_augment_reword_and_round_trip_through_json() -> None:
    frame = pd.DataFrame({"Company": list("abcd"), "Zip": ["77056", "60614", "2139", "?"],
                          "Status": ["Won", "Won", "Lost", "Open"]})
    feats = geo.GeoFeatures.fit(frame, "zip", _sites(), np.array([True, True, False, False]))
    assert feats.regions_ is None  # two customers are too few to learn regions
    out = feats.augment(frame)
    assert list(frame.columns) == ["Company", "Zip", "Status"]  # the input is not changed
    assert out[geo.SITE].tolist()[:3] == ["Houston", "Chicago", "Boston"] and pd.isna(out[geo.SITE].iloc[3])
    assert np.isnan(out[geo.DISTANCE].iloc[3])
    reasons = feats.reword([[f"{geo.DISTANCE} 7 ↑", "Status = Won ↑"], [], [], [f"{geo.DISTANCE} missing ↓"]], out)
    miles = out[geo.DISTANCE].iloc[0]
    assert reasons[0] == [f"{miles:,.0f} mi from Houston ↑", "Status = Won ↑"]
    assert reasons[3] == [f"{geo.DISTANCE} missing ↓"]
    again = geo.GeoFeatures.from_json(feats.to_json())
    pd.testing.assert_frame_equal(again.augment(frame), out)
    assert feats.augment(frame.drop(columns=["Zip"])).equals(frame.drop(columns=["Zip"]))


def test_geo_features_refuse_a_sheet_that_already_has_their_column_names() -> None:
    frame = pd.DataFrame({"Zip": ["77056"], "Nearest Site": ["ours"]})
    with pytest.raises(BadInput, match="Nearest Site"):
        geo.GeoFeatures.fit(frame, "Zip", _sites(), np.array([True]))
