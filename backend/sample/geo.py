"""Generate a customers-and-prospects sheet with ZIP codes, and the company's sites.

Six sites: customers cluster around the first five; the sixth (Indianapolis) has only a
few customers near it but many prospects, about half of them in industries whose
customers pay above average.  That is the situation the prospect-region report must find.
Boston-area ZIPs are written without their leading zero in half of the rows (as a
spreadsheet stores them), and a few cells are not ZIP codes at all.

    python -m backend.sample.geo OUT_DIR     # writes OUT_DIR/geo_leads.csv and OUT_DIR/sites.csv
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from backend.core.geo import haversine_miles, lookup, zip_table

SITES = (("Boston", "02108"), ("Chicago", "60602"), ("Dallas", "75201"), ("Atlanta", "30303"),
         ("Denver", "80202"), ("Indianapolis", "46204"))
UNDERSERVED = "Indianapolis"
INDUSTRIES = {  # name: typical MRR of a customer
    "Finance": 7000.0, "Healthcare": 5000.0, "Software": 2200.0, "Manufacturing": 1600.0,
    "Retail": 1000.0, "Education": 700.0,
}
HIGH_VALUE = ("Finance", "Healthcare")   # above the customers' average by construction
SOURCES = ("Referral", "Website", "Trade Show", "Cold Outbound", "Partner")
NEAR_MILES = 45.0                        # leads are placed within this distance of their site


@dataclass
class GeoSample:
    """The sheet, the sites table, and where each row was placed (its home site, or None)."""

    leads: pd.DataFrame
    sites: pd.DataFrame
    home: np.ndarray


def _zips_near(zip5: str, miles: float) -> list[str]:
    place = lookup(zip5)
    assert place is not None, zip5
    table = zip_table()
    names = sorted(table)
    lat = np.array([table[z].lat for z in names])
    lon = np.array([table[z].lon for z in names])
    near = haversine_miles(place.lat, place.lon, lat, lon) <= miles
    return [z for z, ok in zip(names, near) if ok]


def generate(seed: int = 11, *, customers_per_site: int = 40, prospects_per_site: int = 18,
             underserved_customers: int = 3, underserved_prospects: int = 57,
             underserved_high_value: int = 31) -> GeoSample:
    """The sheet: one row per company, Status Won (customer), Lost or Open (prospects)."""
    rng = np.random.default_rng(seed)
    industries = list(INDUSTRIES)
    low = [i for i in industries if i not in HIGH_VALUE]
    rows: list[dict[str, object]] = []
    homes: list[str | None] = []

    def add(site: str, zip_pool: list[str], status: str, industry: str) -> None:
        zip5 = str(rng.choice(zip_pool))
        cell: object = zip5
        if zip5.startswith("0") and rng.random() < 0.5:
            cell = str(int(zip5))                  # the spreadsheet dropped the leading zero
        won = status == "Won"
        demo = rng.random() < (0.8 if won else 0.3)
        employees = int(rng.lognormal(4.0 + (0.4 if won else 0.0), 0.8))
        value = INDUSTRIES[industry] * rng.lognormal(0.0, 0.2) if won else None
        rows.append({"Company": f"Company {len(rows) + 1:04d}", "Industry": industry, "ZIP": cell,
                     "Lead Source": str(rng.choice(SOURCES)), "Employees": employees,
                     "Demo Booked": "Yes" if demo else "No", "Status": status,
                     "MRR": f"${value:,.0f}" if value is not None else ""})
        homes.append(site)

    for name, zip5 in SITES:
        pool = _zips_near(zip5, NEAR_MILES)
        if name == UNDERSERVED:
            for _ in range(underserved_customers):
                add(name, pool, "Won", str(rng.choice(industries)))
            picks = [str(rng.choice(HIGH_VALUE)) for _ in range(underserved_high_value)]
            picks += [str(rng.choice(low)) for _ in range(underserved_prospects - underserved_high_value)]
            for industry in picks:
                add(name, pool, "Open" if rng.random() < 0.65 else "Lost", industry)
            continue
        for _ in range(customers_per_site):
            add(name, pool, "Won", str(rng.choice(industries)))
        for _ in range(prospects_per_site):
            add(name, pool, "Open" if rng.random() < 0.4 else "Lost", str(rng.choice(industries)))
    for cell in ("n/a", "00000", "12"):        # not ZIP codes: counted and reported, never an error
        rows.append({"Company": f"Company {len(rows) + 1:04d}", "Industry": str(rng.choice(industries)),
                     "ZIP": cell, "Lead Source": "Website", "Employees": 20, "Demo Booked": "No",
                     "Status": "Open", "MRR": ""})
        homes.append(None)
    order = rng.permutation(len(rows))
    leads = pd.DataFrame(rows).iloc[order].reset_index(drop=True)
    home = np.array(homes, dtype=object)[order]
    sites = pd.DataFrame({"name": [n for n, _ in SITES], "zip": [z for _, z in SITES]})
    return GeoSample(leads=leads, sites=sites, home=home)


def main(argv: list[str] | None = None) -> int:
    """Write the sample sheet and sites table into a folder."""
    p = argparse.ArgumentParser(prog="python -m backend.sample.geo", description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--seed", type=int, default=11)
    args = p.parse_args(argv)
    sample = generate(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    sample.leads.to_csv(args.out / "geo_leads.csv", index=False)
    sample.sites.to_csv(args.out / "sites.csv", index=False)
    print(f"Wrote {len(sample.leads)} rows to {args.out / 'geo_leads.csv'} and {len(sample.sites)} sites to "
          f"{args.out / 'sites.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
