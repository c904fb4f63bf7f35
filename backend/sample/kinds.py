"""Generate a lead sheet with three planted kinds of lead, to check that segments find them.

    Agencies      high ad spend, referred or partner leads, many pages visited; convert often, big MRR
    Local shops   small spend, cold outbound or social, few pages; rarely convert, small MRR
    SaaS trials   mid spend, webinar or organic search, trial signups; convert sometimes

Every kind has its own traits and conversion rate; the planted kind of each lead is
returned beside the sheet (never a column of it).  Region is noise shared by all kinds.

    python -m backend.sample.kinds --rows 900 --seed 3 --out kinds.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

KINDS = {  # name: (share, business types, sources, log ad spend (mean, sd), pages (mean), trial share, close rate)
    "Agencies": (0.3, ["Agency", "Marketing Agency"], ["Referral", "Partner"], (10.0, 0.35), 14, 0.2, 0.70),
    "Local shops": (0.4, ["Local Services", "Retail"], ["Cold Outbound", "Social"], (6.5, 0.35), 2, 0.05, 0.08),
    "SaaS trials": (0.3, ["SaaS", "Software"], ["Webinar", "Organic Search"], (8.3, 0.35), 7, 0.85, 0.35),
}
MRR_BY_KIND = {"Agencies": 900.0, "Local shops": 120.0, "SaaS trials": 400.0}


def generate_kinds(rows: int = 900, seed: int = 3, open_share: float = 0.2) -> tuple[pd.DataFrame, np.ndarray]:
    """(sheet, planted kind per row): three kinds of lead with different traits and conversion rates."""
    rng = np.random.default_rng(seed)
    names = list(KINDS)
    kind = rng.choice(len(names), size=rows, p=[KINDS[k][0] for k in names])
    btype, source, spend, pages, trial, won = [], [], [], [], [], []
    for i in kind:
        _, types, sources, (mu, sd), page_mean, trial_share, rate = KINDS[names[i]]
        btype.append(types[rng.integers(len(types))])
        source.append(sources[rng.integers(len(sources))])
        spend.append(float(np.exp(rng.normal(mu, sd))))
        pages.append(int(rng.poisson(page_mean)))
        trial.append(bool(rng.random() < trial_share))
        won.append(bool(rng.random() < rate))
    status = np.where(won, "Won", "Lost").astype(object)
    status[rng.random(rows) < open_share] = "Open"
    mrr = [round(MRR_BY_KIND[names[k]] * float(np.exp(rng.normal(0, 0.3))), -1) if s == "Won" else ""
           for k, s in zip(kind, status)]
    frame = pd.DataFrame({
        "Lead ID": [f"K-{i:05d}" for i in range(rows)],
        "Business Type": btype,
        "Lead Source": source,
        "Region": rng.choice(["North America", "EMEA", "APAC"], size=rows),
        "Monthly Ad Spend": [f"${v:,.0f}" for v in spend],
        "Pages Visited": pages,
        "Trial Signup": ["Yes" if t else "No" for t in trial],
        "Status": status,
        "MRR": mrr,
    }).astype(object)
    return frame, np.array([names[k] for k in kind], dtype=object)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=900)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--out", type=Path, default=Path("kinds.csv"))
    args = p.parse_args()
    frame, _ = generate_kinds(args.rows, args.seed)
    frame.to_csv(args.out, index=False)
    print(f"Wrote {len(frame)} rows to {args.out}")


if __name__ == "__main__":
    main()
