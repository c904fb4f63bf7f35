"""Geography from US ZIP codes: locations, distances to the company's sites, sales regions.

Everything is offline: ZIP → latitude/longitude comes from the ``zipcodes`` package, which
ships its data (code MIT; coordinates from GeoNames, CC BY 4.0).  Spreadsheets drop the
leading zeros of New England ZIPs (``2134`` for ``02134``); those are repaired.  A ZIP
that cannot be read or is not a US ZIP is counted and reported, never an error.

:class:`GeoFeatures` is the fitted part the models use: for every lead, the distance in
miles to the nearest of the company's sites, which site that is, and a sales region (a
k-means cluster of the customers' locations; k from 2 to 8, the one with the best
silhouette, seeded).  It saves to JSON and rebuilds from it, like the feature builder.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from backend.core.schema import (
    Column,
    clean_cell,
    is_blank,
    missing_mask,
    normalize_name,
    per_distinct,
    resolve_column,
)
from backend.errors import BadInput

EARTH_RADIUS_MI = 3958.8          # mean Earth radius (IUGG), miles
DISTANCE = "Miles to Nearest Site"
SITE = "Nearest Site"
REGION = "Sales Region"
GEO_COLUMNS = (DISTANCE, SITE, REGION)
K_RANGE = (2, 8)
MIN_CUSTOMERS_FOR_REGIONS = 10
_SILHOUETTE_SAMPLE = 2000         # silhouette on at most this many customers (it is O(n²))
_FIT_SAMPLE = 5000                # k-means on at most this many customers (a seeded sample)
_ZIP_HEADER = re.compile(r"zip|postal|post code|postcode", re.IGNORECASE)
_DIGITS = re.compile(r"^\d+$")
_TABLE_FROM = 50                  # this many distinct ZIPs or more: load the whole table once (~1 s;
                                  # one zipcodes.matching call costs ~10 ms)


# ---------------------------------------------------------------- ZIP codes

def normalize_zip(value: object) -> str | None:
    """A cell as a 5-digit ZIP string, or None when it cannot be one.

    ``02134``, ``2134`` (a spreadsheet dropped the zero), ``2134.0``, ``02134-1234``,
    ``021341234`` and ``"MA 02134"`` all read as ``02134``.
    """
    if is_blank(value) or isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)):
        text = str(int(value))
    elif isinstance(value, (float, np.floating)):
        if not math.isfinite(value) or value != int(value):
            return None
        text = str(int(value))
    else:
        text = clean_cell(value).upper()
        text = re.sub(r"^[A-Z]{2}\s+", "", text)          # "MA 02134"
        text = re.sub(r"\.0+$", "", text)                 # "2134.0" from a float column
    text = text.replace(" ", "")
    if "-" in text:
        head, _, tail = text.partition("-")
        if not (_DIGITS.match(head) and _DIGITS.match(tail) and len(tail) == 4):
            return None
        text = head
    elif _DIGITS.match(text or "x") and len(text) in (8, 9):
        text = text.zfill(9)[:5]                          # ZIP+4 without its dash
    if not _DIGITS.match(text or "x") or not 3 <= len(text) <= 5:
        return None
    return text.zfill(5)


@dataclass(frozen=True)
class Place:
    """Where a ZIP code is."""

    zip: str
    lat: float
    lon: float
    city: str
    state: str


@lru_cache(maxsize=1)
def zip_table() -> dict[str, Place]:
    """Every ZIP of the packaged data, once per process (about a second)."""
    import zipcodes

    table: dict[str, Place] = {}
    for z in zipcodes.list_all():
        place = _place(z)
        if place is not None:
            table[place.zip] = place
    return table


def _place(record: Mapping[str, Any]) -> Place | None:
    try:
        return Place(str(record["zip_code"]), float(record["lat"]), float(record["long"]),
                     str(record.get("city") or ""), str(record.get("state") or ""))
    except (KeyError, TypeError, ValueError):
        return None


@lru_cache(maxsize=65536)
def lookup(zip5: str) -> Place | None:
    """The place of one 5-digit ZIP, or None when the packaged data does not know it."""
    import zipcodes

    if zip_table.cache_info().currsize:
        return zip_table().get(zip5)
    try:
        found = zipcodes.matching(zip5)
    except (TypeError, ValueError):
        return None
    return _place(found[0]) if found else None


@dataclass
class Located:
    """A column of ZIP cells, read and placed."""

    zip: np.ndarray            # object: the 5-digit ZIP, or None
    lat: np.ndarray            # float, NaN where unknown
    lon: np.ndarray
    city: np.ndarray           # object: "" where unknown
    state: np.ndarray
    blank: int = 0             # empty cells
    repaired: int = 0          # cells whose leading zeros were restored
    unknown: int = 0           # non-blank cells that are not a known US ZIP
    unknown_examples: list[str] = field(default_factory=list)

    @property
    def known(self) -> np.ndarray:
        """True where the row has a location."""
        return ~np.isnan(self.lat)

    def summary(self) -> dict[str, Any]:
        """The counts, for reports and the card."""
        return {"rows": int(len(self.lat)), "located": int(self.known.sum()), "blank": self.blank,
                "repaired_leading_zeros": self.repaired, "unknown": self.unknown,
                "unknown_examples": self.unknown_examples}


def _lost_zero(value: object) -> bool:
    """True when a cell reads as a ZIP only once leading zeros are put back."""
    if is_blank(value) or isinstance(value, bool):
        return False
    if isinstance(value, (int, np.integer, float, np.floating)):
        try:
            return 0 < int(value) < 10000
        except (OverflowError, ValueError):
            return False
    text = re.sub(r"\.0+$", "", clean_cell(value)).partition("-")[0]
    return bool(_DIGITS.match(text or "x")) and len(text) in (3, 4, 8)


def locate(values: pd.Series | Sequence[object]) -> Located:
    """Read a column of ZIP cells and place each row (vectorized over distinct cells)."""
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    zips = per_distinct(series, normalize_zip, None)
    blank = missing_mask(series)                       # blank, or a placeholder such as N/A
    codes, distinct = pd.factorize(zips, use_na_sentinel=True)
    if len(distinct) >= _TABLE_FROM:
        zip_table()
    places = [lookup(z) for z in distinct] + [None]  # code -1 (no ZIP) picks the last entry
    lat = np.array([p.lat if p else np.nan for p in places])[codes]
    lon = np.array([p.lon if p else np.nan for p in places])[codes]
    city = np.array([p.city if p else "" for p in places], dtype=object)[codes]
    state = np.array([p.state if p else "" for p in places], dtype=object)[codes]
    unknown = ~blank & np.isnan(lat)
    repaired = per_distinct(series, _lost_zero, False).astype(bool) & ~np.isnan(lat)
    examples = list(dict.fromkeys(str(v).strip() for v in series[unknown]))[:5]
    return Located(zips, lat, lon, city, state, blank=int(blank.sum()), repaired=int(repaired.sum()),
                   unknown=int(unknown.sum()), unknown_examples=examples)


def detect_zip_column(frame: pd.DataFrame) -> str | None:
    """The column that holds US ZIP codes: a ZIP-like header whose cells are mostly known ZIPs."""
    for name in frame.columns:
        if not _ZIP_HEADER.search(normalize_name(name)):
            continue
        cells = frame[name].dropna()
        cells = cells[cells.astype(str).str.strip() != ""]
        if len(cells) and locate(cells.head(500)).known.mean() >= 0.8:
            return str(name)
    return None


# ---------------------------------------------------------------- distances and sites

def haversine_miles(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> np.ndarray:
    """Great-circle distance in miles (haversine, mean Earth radius); broadcasts like numpy."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_MI * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


@dataclass(frozen=True)
class Site:
    """One of the company's sites (office, data centre, store)."""

    name: str
    zip: str
    lat: float
    lon: float
    city: str = ""
    state: str = ""

    def to_json(self) -> dict[str, Any]:
        """Plain data."""
        return {"name": self.name, "zip": self.zip, "lat": self.lat, "lon": self.lon, "city": self.city,
                "state": self.state}


def sites_from_frame(frame: pd.DataFrame) -> list[Site]:
    """The sites of a ``name,zip`` table (any header case; extra columns ignored)."""
    columns = {normalize_name(c): c for c in frame.columns}
    name_col = next((columns[k] for k in ("name", "site", "site name", "location") if k in columns), None)
    zip_col = next((columns[k] for k in columns if _ZIP_HEADER.search(k)), None)
    if name_col is None or zip_col is None:
        shown = ", ".join(map(str, frame.columns)) or "none"
        raise BadInput(f"The sites table needs a 'name' and a 'zip' column (found: {shown}). Write one site per "
                       "row, e.g. 'Houston,77002'.")
    sites: list[Site] = []
    for i, (name, cell) in enumerate(zip(frame[name_col], frame[zip_col]), start=2):
        if is_blank(name) and is_blank(cell):
            continue
        label = "" if is_blank(name) else str(name).strip()
        zip5 = normalize_zip(cell)
        place = lookup(zip5) if zip5 else None
        if not label:
            raise BadInput(f"Site row {i} has no name: give every site a name (e.g. the city).", row=i)
        if place is None:
            raise BadInput(f"Site '{label}' (row {i}): '{cell}' is not a known US ZIP code. Use the site's "
                           "5-digit ZIP, e.g. 77002.", row=i, column=str(zip_col))
        if any(s.name.casefold() == label.casefold() for s in sites):
            raise BadInput(f"Two sites are called '{label}': give each site its own name.", row=i)
        sites.append(Site(label, zip5 or "", place.lat, place.lon, place.city, place.state))
    if not sites:
        raise BadInput("The sites table has no rows: list the company's sites as name,zip (one per row).")
    return sites


def nearest_site(lat: np.ndarray, lon: np.ndarray, sites: Sequence[Site]) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest site (-1 where the row has no location) and the distance in miles."""
    lat, lon = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
    s_lat = np.array([s.lat for s in sites])
    s_lon = np.array([s.lon for s in sites])
    miles = haversine_miles(lat[:, None], lon[:, None], s_lat[None, :], s_lon[None, :])
    known = ~np.isnan(lat)
    index = np.full(len(lat), -1, dtype=np.int64)
    dist = np.full(len(lat), np.nan)
    if known.any():
        index[known] = np.argmin(miles[known], axis=1)
        dist[known] = miles[known, index[known]]
    return index, dist


# ---------------------------------------------------------------- regions

def _unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Points on the unit sphere: straight-line distance there grows with great-circle distance."""
    p, lam = np.radians(lat), np.radians(lon)
    return np.column_stack([np.cos(p) * np.cos(lam), np.cos(p) * np.sin(lam), np.sin(p)])


@dataclass
class RegionClusters:
    """Sales regions: k-means clusters of customers' locations, k chosen by silhouette."""

    centers: list[tuple[float, float]]          # (lat, lon) per region
    names: list[str]
    k: int
    silhouette: dict[int, float]                  # k → mean silhouette on the customers
    criterion: str = (f"k from {K_RANGE[0]} to {K_RANGE[1]} with the highest mean silhouette of the customers' "
                      "locations (k-means on points of the unit sphere, seeded; at most 5,000 customers, sampled)")

    @classmethod
    def fit(cls, lat: np.ndarray, lon: np.ndarray, city: np.ndarray, state: np.ndarray, *, seed: int = 0
            ) -> RegionClusters | None:
        """Learn regions from customers' locations; None when there are too few to cluster."""
        from sklearn.cluster import KMeans
        from sklearn.metrics import silhouette_score

        known = ~np.isnan(lat)
        points = _unit_vectors(lat[known], lon[known])
        distinct = len(np.unique(np.round(points, 6), axis=0))
        if known.sum() < MIN_CUSTOMERS_FOR_REGIONS or distinct < K_RANGE[0] + 1:
            return None
        rng = np.random.default_rng(seed)
        fit_on = points if len(points) <= _FIT_SAMPLE else points[rng.choice(len(points), _FIT_SAMPLE, replace=False)]
        scores: dict[int, float] = {}
        models: dict[int, Any] = {}
        for k in range(K_RANGE[0], min(K_RANGE[1], distinct - 1) + 1):
            km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(fit_on)
            sample = min(_SILHOUETTE_SAMPLE, len(fit_on))
            scores[k] = round(float(silhouette_score(fit_on, km.labels_, sample_size=sample, random_state=seed)), 4)
            models[k] = km
        best = max(scores, key=lambda k: (scores[k], -k))
        km = models[best]
        labels = km.predict(points)
        centers = []
        for c in km.cluster_centers_:
            x, y, z = c / np.linalg.norm(c)
            centers.append((round(math.degrees(math.asin(z)), 5), round(math.degrees(math.atan2(y, x)), 5)))
        places = np.array([f"{c}, {s}" if c else s for c, s in zip(city[known], state[known])], dtype=object)
        names: list[str] = []
        for r in range(best):
            members = pd.Series(places[labels == r])
            top = members.value_counts().index[0] if len(members) else f"Region {r + 1}"
            name = f"{top} area"
            names.append(name if name not in names else f"{name} {r + 1}")
        return cls(centers=centers, names=names, k=best, silhouette=scores)

    def predict(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Region index of each row (-1 where the row has no location)."""
        lat, lon = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
        out = np.full(len(lat), -1, dtype=np.int64)
        known = ~np.isnan(lat)
        if known.any():
            c_lat = np.array([c[0] for c in self.centers])
            c_lon = np.array([c[1] for c in self.centers])
            miles = haversine_miles(lat[known, None], lon[known, None], c_lat[None, :], c_lon[None, :])
            out[known] = np.argmin(miles, axis=1)
        return out

    def to_json(self) -> dict[str, Any]:
        """Plain data."""
        return {"centers": [list(c) for c in self.centers], "names": self.names, "k": self.k,
                "silhouette": {str(k): v for k, v in self.silhouette.items()}, "criterion": self.criterion}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RegionClusters:
        """Rebuild what :meth:`to_json` wrote."""
        return cls(centers=[(float(a), float(b)) for a, b in data["centers"]], names=list(data["names"]),
                   k=int(data["k"]), silhouette={int(k): float(v) for k, v in data["silhouette"].items()},
                   criterion=str(data.get("criterion", "")))


# ---------------------------------------------------------------- model features

@dataclass(frozen=True)
class GeoConfig:
    """What training needs to add geo features: the ZIP column and the company's sites."""

    zip_column: str | None            # None: found by header and content
    sites: tuple[Site, ...]

    def to_dict(self) -> dict[str, Any]:
        """For the training fingerprint."""
        return {"zip_column": normalize_name(self.zip_column) if self.zip_column else None,
                "sites": [[s.name, s.zip] for s in self.sites]}

    def resolve(self, frame: pd.DataFrame) -> str:
        """The ZIP column of ``frame``: the one named, or the one found by header and content."""
        if self.zip_column:
            return resolve_column(frame, self.zip_column, "ZIP")
        found = detect_zip_column(frame)
        if found is None:
            raise BadInput("No column of ZIP codes was found (a header such as 'ZIP' or 'Postal Code' with 5-digit "
                           "US ZIP codes). Name it with --zip COL.")
        return found


def miles_text(miles: float, site: str) -> str:
    """'12 mi from Houston' (a reason's wording)."""
    return f"{miles:,.0f} mi from {site}"


class GeoFeatures:
    """Fitted geography for the models: distance to the nearest site, which site, sales region.

    ``augment`` adds the three columns to a frame (blank where the ZIP is unknown), so the
    feature builder reads them like any other column, at training and at scoring time.
    """

    def __init__(self, zip_column: str, sites: Sequence[Site], regions: RegionClusters | None = None,
                 located: dict[str, Any] | None = None) -> None:
        if not sites:
            raise BadInput("Geo features need at least one site (--sites sites.csv with name,zip).")
        self.zip_column = zip_column
        self.sites = list(sites)
        self.regions_ = regions
        self.located_ = dict(located or {})

    @classmethod
    def fit(cls, frame: pd.DataFrame, zip_column: str, sites: Sequence[Site], customers: np.ndarray, *,
            seed: int = 0) -> GeoFeatures:
        """Learn the sales regions from the customers' rows (``customers``: a boolean mask)."""
        column = resolve_column(frame, zip_column, "ZIP")
        taken = [c for c in frame.columns if normalize_name(c) in {normalize_name(g) for g in GEO_COLUMNS}]
        if taken:
            raise BadInput(f"The sheet already has a column called '{taken[0]}', which the geo features add. "
                           "Rename that column, then train again.", column=str(taken[0]))
        where = locate(frame[column])
        mask = np.asarray(customers, dtype=bool)
        regions = RegionClusters.fit(where.lat[mask], where.lon[mask], where.city[mask], where.state[mask], seed=seed)
        return cls(column, sites, regions, {**where.summary(), "customers_for_regions": int(mask.sum())})

    def augment(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` plus the geo columns; unchanged when it has no ZIP column."""
        key = normalize_name(self.zip_column)
        column = next((c for c in frame.columns if normalize_name(c) == key), None)
        if column is None:
            return frame
        where = locate(frame[column])
        index, miles = nearest_site(where.lat, where.lon, self.sites)
        names = np.array([s.name for s in self.sites] + [None], dtype=object)
        out = frame.drop(columns=[c for c in frame.columns if normalize_name(c) in
                                  {normalize_name(g) for g in GEO_COLUMNS}])
        out = out.assign(**{DISTANCE: np.round(miles, 1), SITE: names[index]})
        if self.regions_ is not None:
            region = self.regions_.predict(where.lat, where.lon)
            labels = np.array([*self.regions_.names, None], dtype=object)
            out[REGION] = labels[region]
        return out

    def reword(self, reasons: list[list[str]], frame: pd.DataFrame) -> list[list[str]]:
        """Reasons about the distance read '12 mi from Houston ↑' (``frame``: augmented)."""
        if DISTANCE not in frame.columns or SITE not in frame.columns:
            return reasons
        prefix = DISTANCE + " "
        miles, sites = frame[DISTANCE].to_numpy(), frame[SITE].to_numpy(dtype=object)
        out = []
        for r, row in enumerate(reasons):
            fixed = []
            for text in row:
                if text.startswith(prefix) and sites[r] is not None and miles[r] == miles[r]:
                    text = f"{miles_text(float(miles[r]), str(sites[r]))} {text[-1]}"
                fixed.append(text)
            out.append(fixed)
        return out

    def notes(self) -> list[str]:
        """What a person should know about the training rows' ZIP codes and the regions."""
        seen = self.located_
        out = []
        if seen.get("unknown") or seen.get("blank"):
            examples = ", ".join(repr(e) for e in seen.get("unknown_examples", [])[:3])
            out.append(f"'{self.zip_column}': {seen.get('unknown', 0)} row(s) hold no known US ZIP code"
                       + (f" (e.g. {examples})" if examples else "") + f" and {seen.get('blank', 0)} are blank; "
                       "their distance, nearest site and region are left blank.")
        if seen.get("repaired_leading_zeros"):
            out.append(f"'{self.zip_column}': {seen['repaired_leading_zeros']} ZIP code(s) had lost their leading "
                       "zero (2134 for 02134) and were read with it.")
        if self.regions_ is None:
            out.append(f"Too few customers have a known ZIP code to learn sales regions (at least "
                       f"{MIN_CUSTOMERS_FOR_REGIONS} are needed): only distance and nearest site are features.")
        return out

    def schema_columns(self) -> list[Column]:
        """The added columns as the feature builder reads them (their levels are known, not inferred)."""
        def category(name: str, labels: list[str], reason: str) -> Column:
            levels = [clean_cell(v) for v in labels]
            return Column(name, "category", reason, levels=levels, labels=dict(zip(levels, labels)))

        cols = [Column(DISTANCE, "numeric", f"miles from the ZIP code in '{self.zip_column}' to the nearest site"),
                category(SITE, [s.name for s in self.sites], "the nearest site")]
        if self.regions_ is not None:
            cols.append(category(REGION, self.regions_.names, f"{self.regions_.k} regions learnt from the "
                                                               "customers' locations"))
        return cols

    def columns(self) -> list[str]:
        """The columns :meth:`augment` adds."""
        return [DISTANCE, SITE] + ([REGION] if self.regions_ is not None else [])

    def to_json(self) -> dict[str, Any]:
        """The fitted geography as plain data (saved with the preprocessing)."""
        return {"format": 1, "zip_column": self.zip_column, "sites": [s.to_json() for s in self.sites],
                "regions": self.regions_.to_json() if self.regions_ is not None else None,
                "located": self.located_}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GeoFeatures:
        """Rebuild what :meth:`to_json` wrote."""
        if data.get("format") != 1:
            raise ValueError(f"unsupported geo format {data.get('format')!r}")
        sites = [Site(**s) for s in data["sites"]]
        regions = RegionClusters.from_json(data["regions"]) if data.get("regions") else None
        return cls(str(data["zip_column"]), sites, regions, data.get("located"))

    def card(self) -> dict[str, Any]:
        """What the model card records about the geography."""
        regions = self.regions_
        return {
            "zip_column": self.zip_column,
            "features": self.columns(),
            "sites": [{"name": s.name, "zip": s.zip} for s in self.sites],
            "distance": "great-circle miles (haversine, Earth radius 3,958.8 mi) from the ZIP's centre",
            "regions": None if regions is None else {
                "k": regions.k, "names": regions.names, "silhouette_by_k": regions.silhouette,
                "criterion": regions.criterion},
            "training_zips": self.located_,
            "zip_data": "zipcodes package (MIT); coordinates from GeoNames (CC BY 4.0)",
        }
