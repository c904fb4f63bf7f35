"""Where to sell: customers and prospects per site and per sales region, industries, targets.

Definitions (also printed in the report):

- a *customer* is a row whose outcome is the positive value; a *prospect* is any other row
  (lost or still open);
- a row is *near* a site when that site is the nearest one and within ``radius`` miles;
- ``underserved_rank`` orders sites (and, separately, regions) by prospects per customer,
  ``prospects / (customers + 1)`` (the +1 keeps a site without customers finite), the more
  prospects first; 1 is the most under-served;
- an industry *pays above average* when its customers' average value is above the average
  value of all customers; its ``z_score`` is (industry average − overall average) / the
  standard deviation of all customers' values;
- *targets* are the prospects near the ``top_sites`` most under-served sites, in
  above-average industries, ranked by the model's expected value (close probability ×
  predicted value) when one is given, else by their industry's average value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from backend.core.geo import Located, RegionClusters, Site, locate, nearest_site
from backend.core.schema import normalize_label, normalize_text, parse_numbers, resolve_column
from backend.errors import BadInput

DEFAULT_RADIUS = 100.0
TARGET_COLUMNS = ("Rank", "Row", "Nearest Site", "Miles", "Industry Avg Value", "Expected Value")


@dataclass
class RegionReport:
    """The report's tables and what a person reads first."""

    regions: pd.DataFrame                 # one row per site, per sales region (and the rows beyond every site)
    industries: pd.DataFrame | None       # None without an industry column
    targets: pd.DataFrame                 # the prospects to call first, ranked
    points: pd.DataFrame                  # lat, lon, customer (for the map)
    sites: list[Site]
    radius: float
    located: dict[str, Any]
    summary: list[str]                    # plain-language sentences
    notes: list[str] = field(default_factory=list)
    ranked_by: str = "industry value"
    regions_fit: RegionClusters | None = None
    columns: dict[str, str | None] = field(default_factory=dict)
    average_value: float | None = None    # all customers' average value (the industries' benchmark)


def _customers(frame: pd.DataFrame, target: str, positive: str) -> np.ndarray:
    labels = normalize_label(frame[target])
    pos = normalize_label(pd.Series([positive], dtype=object)).iloc[0]
    if not (labels == pos).any():
        shown = ", ".join(sorted(set(labels[labels != ""]))[:10]) or "no values"
        raise BadInput(f"The positive value '{positive}' does not occur in '{target}' (values: {shown}). Pass "
                       "--positive with the value that marks a customer (e.g. Won).", column=target)
    return (labels == pos).to_numpy()


def _rank(prospects: np.ndarray, customers: np.ndarray) -> np.ndarray:
    """1 = the most prospects per customer (ties: more prospects first)."""
    ratio = prospects / (customers + 1.0)
    order = np.lexsort((-prospects, -ratio))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    return rank


def _group_table(kind: str, names: Sequence[str], group: np.ndarray, customer: np.ndarray,
                 values: np.ndarray | None) -> pd.DataFrame:
    """Counts and value per group index (rows with group -1 belong to none)."""
    rows = []
    for i, name in enumerate(names):
        mine = group == i
        cust = mine & customer
        val = values[cust] if values is not None else np.zeros(0)
        val = val[~np.isnan(val)]
        total = round(float(val.sum()), 2) if len(val) else (0.0 if values is not None else np.nan)
        rows.append({"kind": kind, "name": name, "customers": int(cust.sum()),
                     "prospects": int((mine & ~customer).sum()),
                     "avg_value": round(float(val.mean()), 2) if len(val) else np.nan, "total_value": total})
    table = pd.DataFrame(rows, columns=["kind", "name", "customers", "prospects", "avg_value", "total_value"])
    if len(table):
        c, p = table["customers"].to_numpy(float), table["prospects"].to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            table.insert(4, "customers_per_prospect", np.where(p > 0, np.round(c / np.maximum(p, 1), 3), np.nan))
        table["underserved_rank"] = _rank(p, c)
    else:
        table.insert(4, "customers_per_prospect", [])
        table["underserved_rank"] = []
    return table


def industry_table(labels: pd.Series, customer: np.ndarray, values: np.ndarray | None) -> tuple[pd.DataFrame, float]:
    """Per industry: customers, prospects, average customer value and its z-score; and the overall mean."""
    key = normalize_text(labels)
    shown = labels.astype(str).str.strip()
    first = pd.Series(shown.to_numpy(), index=key.to_numpy())
    first = first[~first.index.duplicated()]
    all_vals = values[customer] if values is not None else np.zeros(0)
    all_vals = all_vals[~np.isnan(all_vals)]
    mean = float(all_vals.mean()) if len(all_vals) else np.nan
    sd = float(all_vals.std(ddof=1)) if len(all_vals) > 1 else np.nan
    rows = []
    for k in sorted(set(key) - {""}):
        mine = (key == k).to_numpy()
        cust = mine & customer
        val = values[cust] if values is not None else np.zeros(0)
        val = val[~np.isnan(val)]
        avg = float(val.mean()) if len(val) else np.nan
        z = (avg - mean) / sd if len(val) and sd == sd and sd > 0 else np.nan
        rows.append({"industry": str(first[k]), "customers": int(cust.sum()),
                     "prospects": int((mine & ~customer).sum()),
                     "avg_value": round(avg, 2) if avg == avg else np.nan,
                     "z_score": round(z, 3) if z == z else np.nan,
                     "above_average": bool(avg == avg and mean == mean and avg > mean)})
    table = pd.DataFrame(rows, columns=["industry", "customers", "prospects", "avg_value", "z_score", "above_average"])
    table = table.sort_values(["avg_value", "customers"], ascending=[False, False], na_position="last")
    return table.reset_index(drop=True), mean


def build_report(frame: pd.DataFrame, *, target: str, positive: str, zip_column: str, sites: Sequence[Site],
                 value: str | None = None, industry: str | None = None, radius: float = DEFAULT_RADIUS,
                 top_sites: int = 1, expected_value: np.ndarray | None = None, seed: int = 0) -> RegionReport:
    """All of the report's tables from one sheet (rows in sheet order; row 1 is the header)."""
    if radius <= 0:
        raise BadInput(f"The radius must be a positive number of miles (got {radius}).")
    if top_sites < 1:
        raise BadInput(f"--top-sites must be at least 1 (got {top_sites}).")
    target_col = resolve_column(frame, target, "target")
    zip_col = resolve_column(frame, zip_column, "ZIP")
    value_col = resolve_column(frame, value, "value") if value else None
    industry_col = resolve_column(frame, industry, "industry") if industry else None
    customer = _customers(frame, target_col, positive)
    where: Located = locate(frame[zip_col])
    if not where.known.any():
        examples = ", ".join(map(repr, where.unknown_examples[:3])) or "all blank"
        raise BadInput(f"No cell of '{zip_col}' is a known US ZIP code (e.g. {examples}). Pass --zip with the "
                       "column that holds 5-digit ZIP codes.", column=zip_col)
    notes: list[str] = []
    values = None
    if value_col is not None:
        values, bad = parse_numbers(frame[value_col])
        if (bad & customer).sum() > max(3, 0.2 * customer.sum()):
            example = frame[value_col][bad & customer].iloc[0]
            raise BadInput(f"The value column '{value_col}' holds text (e.g. '{example}') in customer rows: it must "
                           "hold amounts such as 1200, $1,200 or 1.2k.", column=value_col)
    site_idx, miles = nearest_site(where.lat, where.lon, sites)
    near = where.known & (miles <= radius)
    group = np.where(near, site_idx, -1)
    names = [s.name for s in sites]
    tables = [_group_table("site", names, group, customer, values)]
    beyond = where.known & ~near
    if beyond.any():
        far = _group_table("beyond", [f"more than {radius:,.0f} mi from every site"], np.where(beyond, 0, -1),
                           customer, values)
        far["underserved_rank"] = pd.NA
        tables.append(far)
    fitted = RegionClusters.fit(where.lat[customer], where.lon[customer], where.city[customer], where.state[customer],
                                seed=seed)
    if fitted is not None:
        tables.append(_group_table("region", fitted.names, fitted.predict(where.lat, where.lon), customer, values))
    else:
        notes.append("Too few located customers to learn sales regions (at least 10 are needed).")
    regions = pd.concat(tables, ignore_index=True)
    regions["underserved_rank"] = regions["underserved_rank"].astype("Int64")

    industries = None
    mean = None
    above = np.ones(len(frame), dtype=bool)
    industry_avg = np.full(len(frame), np.nan)
    above_names: list[str] = []
    if industry_col is not None:
        industries, mean = industry_table(frame[industry_col], customer, values)
        key = normalize_text(frame[industry_col]).to_numpy()
        by_key = dict(zip(normalize_text(industries["industry"]), industries["avg_value"]))
        industry_avg = np.array([by_key.get(k, np.nan) for k in key], dtype=float)
        if values is not None:
            above_names = industries.loc[industries["above_average"], "industry"].tolist()
            above = np.isin(key, list(normalize_text(pd.Series(above_names, dtype=object))))
        else:
            notes.append("Without a value column (--value) no industry can be called above average: targets are not "
                         "filtered by industry.")
    else:
        notes.append("Without an industry column (--industry) targets are not filtered by industry.")

    site_rows = regions[regions["kind"] == "site"].sort_values("underserved_rank")
    chosen = site_rows["name"].head(top_sites).tolist()
    chosen_idx = np.array([names.index(n) for n in chosen])
    prospect = ~customer
    pick = prospect & near & np.isin(site_idx, chosen_idx) & above
    targets = _targets(frame, pick, site_idx, miles, names, industry_avg, expected_value)
    ranked_by = "model expected value" if expected_value is not None else (
        "industry value" if industry_col is not None and values is not None else "distance to the site")

    summary = []
    for name in chosen:
        row = site_rows[site_rows["name"] == name].iloc[0]
        i = names.index(name)
        n_pick = int((pick & (site_idx == i)).sum())
        text = (f"{name}: {row['customers']} customer{'s' if row['customers'] != 1 else ''} within "
                f"{radius:,.0f} mi, {row['prospects']} prospect{'s' if row['prospects'] != 1 else ''}")
        if above_names:
            text += (f"; {n_pick} of them {'are' if n_pick != 1 else 'is'} in industries paying above average "
                     f"({', '.join(above_names)})")
        summary.append(text + ".")
    points = pd.DataFrame({"lat": where.lat, "lon": where.lon, "customer": customer})
    points = points[where.known].reset_index(drop=True)
    if where.unknown or where.blank:
        notes.append(f"{where.unknown} row(s) have a ZIP that is not a known US ZIP code"
                     + (f" (e.g. {', '.join(where.unknown_examples[:3])})" if where.unknown_examples else "")
                     + f"; {where.blank} row(s) have no ZIP. They are counted but left out of the distances.")
    if where.repaired:
        notes.append(f"{where.repaired} ZIP code(s) had lost their leading zero (e.g. 2134 for 02134) and were "
                     "read with it.")
    return RegionReport(regions=regions, industries=industries, targets=targets, points=points, sites=list(sites),
                        radius=radius, located=where.summary(), summary=summary, notes=notes, ranked_by=ranked_by,
                        regions_fit=fitted, average_value=mean if mean == mean else None,
                        columns={"target": target_col, "zip": zip_col, "value": value_col, "industry": industry_col})


def _targets(frame: pd.DataFrame, pick: np.ndarray, site_idx: np.ndarray, miles: np.ndarray, names: list[str],
             industry_avg: np.ndarray, expected_value: np.ndarray | None) -> pd.DataFrame:
    """The picked rows with where they are and why, best first; the user's columns as they are."""
    rows = np.flatnonzero(pick)
    ev = np.asarray(expected_value, dtype=float)[rows] if expected_value is not None else None
    if ev is not None:
        order = np.lexsort((miles[rows], -np.nan_to_num(ev, nan=-np.inf)))
    else:
        order = np.lexsort((miles[rows], -np.nan_to_num(industry_avg[rows], nan=-np.inf)))
    rows = rows[order]
    extra = pd.DataFrame({
        "Rank": np.arange(1, len(rows) + 1),
        "Row": rows + 2,                                  # sheet row numbers: row 1 is the header
        "Nearest Site": np.array(names, dtype=object)[site_idx[rows]] if len(rows) else [],
        "Miles": np.round(miles[rows], 1),
        "Industry Avg Value": np.round(industry_avg[rows], 2),
    })
    if ev is not None:
        extra["Expected Value"] = np.round(ev[order], 2)
    user = frame.iloc[rows].reset_index(drop=True)
    user = user.drop(columns=[c for c in user.columns if str(c) in extra.columns])
    return pd.concat([extra, user], axis=1)


def model_expected_value(bundle: Any, frame: pd.DataFrame) -> np.ndarray:
    """Close probability × predicted value per row from a model bundle (probability alone without a value model)."""
    from backend.core.scoring import score_frame

    result = score_frame(bundle, frame, with_reasons=False)
    ev = result.close_probability * (result.predicted_mrr if result.predicted_mrr is not None else 1.0)
    ev = np.asarray(ev, dtype=float).copy()
    ev[list(result.errors)] = np.nan
    return ev
