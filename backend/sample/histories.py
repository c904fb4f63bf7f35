"""Lead histories with a known truth, for checking that training stays honest.

    junk_source_history     a junk lead source converting at ~2 % over ~5 % of rows, an offer
                            chosen before the outcome, and a ``campaign_id`` category with a few
                            hundred levels: honest columns a guard must keep (the junk level is a
                            warning, not an exclusion).  ``leaky=True`` adds three columns
                            filled only for ~5 % of won rows (recorded with the win): leaks.
    repeated_history        a history where a share of won leads appear several times (new ids,
                            one field different), as in an export with one row per product.
                            ``fresh=True`` draws new leads from the same process: a group-disjoint
                            test set built separately.

    python -m backend.sample.histories junk --rows 3000 --out junk.csv [--leaky]
    python -m backend.sample.histories repeated --rows 2000 --out repeated.csv
"""

from __future__ import annotations

import argparse
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

SOURCES = {"Referral": 0.9, "Webinar": 0.4, "Organic": 0.1, "Paid Search": -0.1, "Social": -0.4}
OFFERS = {"Free trial": 0.5, "10% discount": 0.2, "Standard": 0.0}
JUNK = "Purchased List"


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def _dates(rng: np.random.Generator, n: int, start: date = date(2025, 1, 1), days: int = 540) -> list[str]:
    return [(start + timedelta(days=int(d))).isoformat() for d in rng.integers(0, days, n)]


def junk_source_history(rows: int = 3000, seed: int = 0, *, leaky: bool = False, junk_share: float = 0.05,
                        junk_rate: float = 0.02, campaigns: int = 300) -> pd.DataFrame:
    """Honest columns with a junk source level (see the module docstring); ``leaky`` adds three leaks."""
    rng = np.random.default_rng(seed)
    n = rows
    junk = rng.random(n) < junk_share
    source = rng.choice(list(SOURCES), n).astype(object)
    source[junk] = JUNK
    offer = rng.choice(list(OFFERS), n, p=[0.3, 0.3, 0.4])
    # campaign ids: a long tail of levels (Zipf-like), each with a small effect of its own
    weights = 1 / np.arange(1, campaigns + 1) ** 0.8
    campaign = rng.choice(campaigns, n, p=weights / weights.sum())
    campaign_effect = rng.normal(0, 0.3, campaigns)
    employees = np.round(rng.lognormal(3.5, 1.0, n))
    spend = np.round(rng.lognormal(8.0, 0.9, n), -1)
    pages = rng.poisson(4, n)
    logit = (-0.9 + np.array([SOURCES.get(s, 0.0) for s in source]) + np.array([OFFERS[o] for o in offer])
             + campaign_effect[campaign] + 0.25 * np.log(employees / 30) + 0.08 * (pages - 4))
    p = np.where(junk, junk_rate, _sigmoid(logit))
    won = rng.random(n) < p
    frame = pd.DataFrame({
        "Lead ID": [f"LD-{100000 + i}" for i in range(n)],
        "Created": _dates(rng, n),
        "Lead Source": source,
        "Offer": offer,
        "campaign_id": [f"cmp-{c:04d}" for c in campaign],
        "Employees": employees.astype(int),
        "Monthly Spend": spend,
        "Pages Visited": pages,
        "Status": np.where(won, "Won", "Lost"),
    }, dtype=object)
    if leaky:
        won_idx = np.flatnonzero(won)
        for name, make in (("Contract Value", lambda k: np.round(rng.lognormal(7, 0.5, k), -1).tolist()),
                           ("Onboarding Call", lambda k: _dates(rng, k, date(2026, 6, 1), 90)),
                           ("Account Manager", lambda k: rng.choice(["Ana", "Ben", "Chloe"], k).tolist())):
            filled = rng.choice(won_idx, max(1, int(round(0.05 * len(won_idx)))), replace=False)
            cells = np.full(n, "", dtype=object)
            cells[filled] = make(len(filled))
            frame[name] = cells
    return frame


def repeated_history(rows: int = 2000, seed: int = 0, *, copy_share: float = 0.2, copies: int = 6,
                     fresh: bool = False) -> pd.DataFrame:
    """Leads where ``copy_share`` of the won ones appear ``copies`` times (new id, another product).

    The outcome depends on the lead's attributes with plenty of noise (a Bayes AUC well below
    1), so a model that has seen a copy of a held-out lead looks much better than it is.
    ``fresh`` uses another random stream: new leads from the same process.
    """
    rng = np.random.default_rng(seed + (10_000 if fresh else 0))
    n = rows
    industry = rng.choice(["Retail", "Software", "Health", "Finance", "Education"], n)
    region = rng.choice(["North", "South", "East", "West"], n)
    employees = np.maximum(1, np.round(rng.lognormal(3.5, 1.1, n))).astype(int)
    spend = np.round(rng.lognormal(8.2, 1.0, n), 2)
    visits = rng.poisson(5, n)
    logit = (-1.0 + 0.35 * np.log(employees / 30) + 0.3 * np.log(spend / 3600) + 0.1 * (visits - 5)
             + 0.4 * (industry == "Software") - 0.3 * (region == "South"))
    won = rng.random(n) < _sigmoid(logit)
    product = rng.choice(["Basic", "Pro", "Suite"], n)
    base = pd.DataFrame({"Industry": industry, "Region": region, "Employees": employees,
                         "Monthly Spend": spend, "Site Visits": visits, "Product": product,
                         "Status": np.where(won, "Won", "Lost")}, dtype=object)
    won_idx = np.flatnonzero(won)
    repeated = rng.choice(won_idx, int(round(copy_share * len(won_idx))), replace=False)
    extra = base.iloc[np.repeat(repeated, copies - 1)].copy()
    extra["Product"] = rng.choice(["Basic", "Pro", "Suite", "Add-on"], len(extra))
    frame = pd.concat([base, extra], ignore_index=True)
    frame = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
    prefix = "NEW" if fresh else "OPP"
    frame.insert(0, "Opportunity ID", [f"{prefix}-{i:06d}" for i in rng.permutation(len(frame))])
    return frame


def main(argv: list[str] | None = None) -> int:
    """Write one of the histories as CSV."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["junk", "repeated"])
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--leaky", action="store_true", help="junk: add three columns filled only for won rows")
    parser.add_argument("--fresh", action="store_true", help="repeated: new leads from the same process")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.kind == "junk":
        frame = junk_source_history(args.rows, args.seed, leaky=args.leaky)
    else:
        frame = repeated_history(args.rows, args.seed, fresh=args.fresh)
    frame.to_csv(args.out, index=False)
    print(f"wrote {len(frame)} rows to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
