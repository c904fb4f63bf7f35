"""Generate a lead history typed the way small sales teams type it, next to its clean twin.

The messy sheet holds company sizes as ranges (``10-50``, ``50+``, ``<10``, ``1k-5k``), dates
in mixed formats in one column (``14 Mar 2025``, ``March 14, 2025``, day-first
``28.07.2026``, ISO, spreadsheet serial numbers), budgets with currencies before or after
the amount (``$1,200``, ``1200 USD``, ``EUR 900``, ``1.2k €``), yes/no in any case, stray
spaces, placeholders (``N/A``, ``Select``, ``-``) and a few cells nobody can read
(``ask Sam``).  The clean twin holds the true values in plain form; blank and placeholder
cells are blank in both.  The outcome depends on the company size and on the days between
signing up and the first call (a date effect that does not move with the calendar).  The
size effect is by band (1-10, 10-50, 50-200 …): a range such as ``10-50`` carries all of
it, so a model reading the messy sheet can match one trained on the clean values.

    python -m backend.sample.messy --rows 3000 --seed 1 --out messy.csv --clean-out clean.csv

``unreadable`` counts, per column, the cells planted so that no reader can parse them:
the data-quality report must show exactly these numbers.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

SOURCES = {"Referral": 0.9, "Webinar": 0.3, "Organic Search": 0.0, "Paid Search": -0.2, "Cold Outbound": -0.8}
REGIONS = ("North America", "EMEA", "APAC")
PLACEHOLDERS = ("", "N/A", "-", "Select", "unknown")
GARBAGE = {
    "Employees": ("lots", "ask Sam", "big team", "see notes"),
    "Signup Date": ("sometime in May", "31.02.2026", "last week", "Q3"),
    "First Call Date": ("after demo", "tbd soon", "30.02.2025"),
    "Monthly Budget": ("ask finance", "flexible", "depends"),
    "Demo Booked": ("maybe", "pending"),
}
SIZE_BANDS = ((1, 10), (10, 50), (50, 200), (200, 1000), (1000, 5000))
BAND_EFFECT = (-1.3, -0.5, 0.2, 0.8, 1.2, 1.4)  # close-odds shift per size band (the last: 5000+)
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
               "November", "December")


@dataclass
class MessyHistory:
    """The messy sheet, its clean twin (same rows, true values) and the planted unreadable cells per column."""

    messy: pd.DataFrame
    clean: pd.DataFrame
    unreadable: dict[str, int]


def _size_text(rng: np.random.Generator, n: int) -> str:
    """A company size as typed: mostly a number, sometimes the band it falls in."""
    form = rng.random()
    if form < 0.8:
        return f" {n} " if rng.random() < 0.1 else str(n)
    if n < 10 and rng.random() < 0.5:
        return "<10"
    if n >= 1000 and rng.random() < 0.6:
        return "1k-5k" if n < 5000 else "5000+"
    low, high = next(((a, b) for a, b in SIZE_BANDS if a <= n < b), (5000, 5000))
    if high == 5000 and low == 5000:
        return "5000+"
    return rng.choice([f"{low}-{high}", f"{low} - {high}", f"{low} to {high}"]) if low < 200 else f"{low}-{high}"


def _date_text(rng: np.random.Generator, d: date, serials: bool = True) -> str | int:
    """A date as typed: ISO, day-first with dots or slashes, month names, or a spreadsheet day number."""
    form = rng.random()
    if form < 0.25:
        return d.isoformat()
    if form < 0.45:
        return f"{d.day:02d}.{d.month:02d}.{d.year}"
    if form < 0.55:
        return f"{d.day}/{d.month}/{d.year}"
    if form < 0.7:
        return f"{d.day} {MONTHS[d.month - 1]} {d.year}"
    if form < 0.85:
        return f"{MONTH_NAMES[d.month - 1]} {d.day}, {d.year}"
    if serials:
        return int((d - date(1899, 12, 30)).days)
    return f"{d.day:02d}.{d.month:02d}.{d.year}"


def _money_text(rng: np.random.Generator, v: float) -> str:
    """An amount with its currency before or after it."""
    form = rng.integers(0, 6)
    if form == 0:
        return f"${v:,.0f}"
    if form == 1:
        return f"{v:.0f} USD"
    if form == 2:
        return f"USD {v:,.0f}"
    if form == 3:
        return f"{v / 1000:.2f}k $".replace(".00k", "k")
    if form == 4:
        return f" {v:.0f} "
    return f"{v:,.0f}$"


def messy_history(rows: int = 2000, seed: int = 0, open_share: float = 0.1) -> MessyHistory:
    """A messy lead history, its clean twin and the unreadable cells planted in it."""
    rng = np.random.default_rng(seed)
    n = rows
    employees = np.clip(np.round(rng.lognormal(3.6, 1.3, n)), 1, 20_000).astype(int)
    start = date(2024, 1, 1)
    signup = [start + timedelta(days=int(d)) for d in rng.integers(0, 1000, n)]
    gap = rng.integers(0, 60, n)
    first_call = [s + timedelta(days=int(g)) for s, g in zip(signup, gap)]
    budget = np.round(np.clip(rng.lognormal(7.5, 0.9, n), 100, 200_000), -1)
    demo = rng.random(n) < 0.35
    source = rng.choice(list(SOURCES), n)
    region = rng.choice(REGIONS, n)

    # The size band (what a range such as 10-50 says) drives the outcome, not the exact head count.
    band = np.searchsorted([b[1] for b in SIZE_BANDS], employees, side="right")
    logit = 2.0 * (-0.3 + np.array(BAND_EFFECT)[band] - 0.06 * (gap - 30) + 1.2 * demo
                   + np.array([SOURCES[s] for s in source]) + 0.15 * np.log10(budget / 2000))
    won = rng.random(n) < 1 / (1 + np.exp(-logit))
    status = np.where(won, "Won", "Lost").astype(object)
    is_open = rng.random(n) < open_share
    status[is_open] = "Open"
    mrr = np.round(np.clip(40 * employees ** 0.45 * rng.lognormal(0, 0.3, n), 30, 50_000), -1)

    clean = pd.DataFrame({
        "Lead ID": [f"L-{i:05d}" for i in range(n)],
        "Employees": employees.astype(object),
        "Signup Date": [d.isoformat() for d in signup],
        "First Call Date": [d.isoformat() for d in first_call],
        "Monthly Budget": budget.astype(object),
        "Demo Booked": np.where(demo, "Yes", "No").astype(object),
        "Lead Source": source.astype(object),
        "Region": region.astype(object),
        "Status": status,
        "MRR": np.where(status == "Won", mrr, np.nan).astype(object),
    }, dtype=object)

    messy = pd.DataFrame({
        "Lead ID": clean["Lead ID"],
        "Employees": [_size_text(rng, int(v)) for v in employees],
        "Signup Date": [_date_text(rng, d) for d in signup],
        "First Call Date": [_date_text(rng, d, serials=False) for d in first_call],
        "Monthly Budget": [_money_text(rng, float(v)) for v in budget],
        "Demo Booked": [rng.choice(["Yes", "YES", "yes", "y", "TRUE", "true"]) if d else
                        rng.choice(["No", "NO", "no", "n", "FALSE", "false"]) for d in demo],
        "Lead Source": [s if rng.random() < 0.7 else rng.choice([f" {s}", s.upper(), f"{s.lower()} ", f"{s}  "])
                        for s in source],
        "Region": list(region),
        "Status": [s if rng.random() < 0.9 else rng.choice([f" {s.lower()} ", s.upper()]) for s in status],
        "MRR": [_money_text(rng, float(v)) if s == "Won" else "" for v, s in zip(mrr, status)],
    }, dtype=object)
    clean["MRR"] = clean["MRR"].where(clean["MRR"].notna(), "")

    # Placeholders: blank in both sheets (they mean "missing" by design).
    for column in ("Employees", "Monthly Budget", "Region", "Lead Source", "First Call Date"):
        blank = rng.random(n) < 0.04
        messy.loc[blank, column] = rng.choice(PLACEHOLDERS, int(blank.sum()))
        clean.loc[blank, column] = ""
    # Cells nobody can read: the clean twin keeps the true value.
    unreadable: dict[str, int] = {}
    for column, texts in GARBAGE.items():
        filled = np.flatnonzero(clean[column].astype(str).str.strip() != "")
        picks = rng.choice(filled, max(1, int(0.005 * n)), replace=False)
        messy.loc[picks, column] = rng.choice(texts, len(picks))
        unreadable[column] = int(len(picks))
    # A few won rows with a note instead of an amount: left out of the MRR model, and said so.
    won_rows = np.flatnonzero(status == "Won")
    text_mrr = rng.choice(won_rows, max(1, len(won_rows) // 50), replace=False)
    messy.loc[text_mrr, "MRR"] = "tbc"
    clean.loc[text_mrr, "MRR"] = ""
    unreadable["MRR"] = int(len(text_mrr))
    return MessyHistory(messy=messy, clean=clean, unreadable=unreadable)


def main() -> None:
    """Write the messy sheet (and optionally its clean twin) as CSV."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--clean-out", type=Path)
    args = p.parse_args()
    history = messy_history(args.rows, args.seed)
    history.messy.to_csv(args.out, index=False)
    if args.clean_out:
        history.clean.to_csv(args.clean_out, index=False)
    print(f"Wrote {len(history.messy)} rows to {args.out}; unreadable cells planted: {history.unreadable}")


if __name__ == "__main__":
    main()
