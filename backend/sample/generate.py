"""Generate a realistic B2B SaaS lead sheet, messy the way real sheets are.

The product sold is a marketing-analytics subscription.  Each lead has the signals a
sales team records (ad spend, business type, paid platforms, traffic, source,
engagement); closed leads carry Won/Lost and won leads an MRR.  Outcomes follow a
known generative model, so the default model's behaviour can be checked
directionally (more engagement and a booked demo raise the close probability; larger
ad budgets raise MRR).

    python -m backend.sample.generate --rows 1500 --seed 7 --out backend/sample/leads.csv
"""

from __future__ import annotations

import argparse
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

BUSINESS_TYPES = {  # name: (share, close-odds shift, MRR multiplier)
    "E-commerce": (0.24, 0.35, 1.25),
    "Agency": (0.18, 0.55, 1.10),
    "SaaS": (0.16, 0.25, 1.40),
    "Local Services": (0.14, -0.45, 0.55),
    "Healthcare": (0.08, -0.10, 1.30),
    "Education": (0.07, -0.30, 0.80),
    "Real Estate": (0.08, -0.05, 0.90),
    "Nonprofit": (0.05, -0.70, 0.50),
}
LEAD_SOURCES = {  # name: (share, close-odds shift)
    "Referral": (0.12, 1.05),
    "Partner": (0.08, 0.70),
    "Webinar": (0.10, 0.45),
    "Organic Search": (0.22, 0.15),
    "Paid Search": (0.18, -0.05),
    "Social": (0.12, -0.40),
    "Trade Show": (0.06, 0.20),
    "Cold Outbound": (0.12, -0.85),
}
REGIONS = {"North America": 0.45, "EMEA": 0.30, "APAC": 0.15, "LATAM": 0.10}
PLACEHOLDERS = ["", "Select", "N/A", "-", "unknown"]
FIRST = ["Acme", "Blue", "North", "Bright", "Summit", "Pixel", "Green", "Atlas", "Nova", "Urban",
         "Silver", "Peak", "Harbor", "Cedar", "Lumen", "Vector", "Orbit", "Maple", "Iron", "Coral"]
SECOND = ["Labs", "Digital", "Goods", "Partners", "Health", "Learning", "Homes", "Media", "Works",
          "Studio", "Outfitters", "Systems", "Group", "Co", "Collective", "Dental", "Realty"]


def _money_text(rng: np.random.Generator, values: np.ndarray) -> list[object]:
    """Render amounts as a rep would type them: 12000, $12,000, 12k, $1.2M, ' 12000 '."""
    out: list[object] = []
    for v in values:
        form = rng.integers(0, 6)
        if form == 0:
            out.append(int(round(v, -1)))
        elif form == 1:
            out.append(f"${v:,.0f}")
        elif form == 2:
            out.append(f"{v / 1000:.1f}k".replace(".0k", "k"))
        elif form == 3 and v >= 1e6:
            out.append(f"${v / 1e6:.1f}M")
        elif form == 4:
            out.append(f" {v:.0f} ")
        else:
            out.append(f"{v:,.0f}")
    return out


def generate(rows: int = 1500, seed: int = 7, open_share: float = 0.2,
             today: date = date(2026, 11, 1)) -> pd.DataFrame:
    """Return a lead sheet as a frame of cells (mixed types, messy strings, blanks)."""
    rng = np.random.default_rng(seed)
    n = rows
    btype = rng.choice(list(BUSINESS_TYPES), n, p=[v[0] for v in BUSINESS_TYPES.values()])
    source = rng.choice(list(LEAD_SOURCES), n, p=[v[0] for v in LEAD_SOURCES.values()])
    region = rng.choice(list(REGIONS), n, p=list(REGIONS.values()))
    employees = np.clip(rng.lognormal(3.3, 1.1, n), 1, 5000).round()
    ad_spend = np.clip(rng.lognormal(8.4, 1.0, n) * (employees / 30) ** 0.35, 200, 2_500_000)
    platforms = np.clip(rng.poisson(1.2 + np.log10(ad_spend) - 3, n), 0, 7)
    traffic = np.clip(rng.lognormal(9.6, 1.1, n) * (1 + platforms / 4), 300, 5_000_000)
    demo = rng.random(n) < 0.25 + 0.1 * (source == "Referral")
    trial = rng.random(n) < 0.30 + 0.25 * demo
    opens = rng.poisson(2 + 4 * demo + 2 * trial, n)
    visits = rng.poisson(3 + 5 * trial + opens * 0.6, n)
    days_ago = rng.integers(1, 540, n)
    created = [today - timedelta(days=int(d)) for d in days_ago]

    logit = (
        -1.55
        + np.array([BUSINESS_TYPES[b][1] for b in btype])
        + np.array([LEAD_SOURCES[s][1] for s in source])
        + 1.35 * demo + 0.75 * trial
        + 0.16 * np.minimum(opens, 12) + 0.06 * np.minimum(visits, 25)
        + 0.32 * np.log10(ad_spend / 5000)
        + 0.12 * np.minimum(platforms, 5)
        - 0.35 * (region == "LATAM")
    )
    won = rng.random(n) < 1 / (1 + np.exp(-logit))
    mrr = (
        np.array([BUSINESS_TYPES[b][2] for b in btype])
        * 180 * (ad_spend / 5000) ** 0.45 * (employees / 30) ** 0.2
        * (1 + 0.12 * platforms) * rng.lognormal(0, 0.35, n)
    )
    mrr = np.clip(mrr, 49, 60_000).round(-1)

    status = np.where(won, "Won", "Lost").astype(object)
    is_open = rng.random(n) < open_share
    status[is_open] = rng.choice(["Open", "", "In Progress"], is_open.sum(), p=[0.6, 0.25, 0.15])
    # Stray case and spaces, as typed by hand.
    messy = (~is_open) & (rng.random(n) < 0.06)
    status[messy] = [f" {s.lower()} " if rng.random() < 0.5 else s.upper() for s in status[messy]]

    def sprinkle(values: list[object], share: float) -> list[object]:
        mask = rng.random(n) < share
        return [rng.choice(PLACEHOLDERS) if m else v for v, m in zip(values, mask)]

    def yes_no(flags: np.ndarray) -> list[object]:
        forms = [("Yes", "No"), ("Y", "N"), ("TRUE", "FALSE"), ("yes", "no"), (1, 0)]
        picks = rng.integers(0, len(forms), n)
        return [forms[p][0] if f else forms[p][1] for f, p in zip(flags, picks)]

    won_mask = pd.Series(status).astype(str).str.strip().str.lower().eq("won").to_numpy()
    mrr_cells: list[object] = [""] * n
    for i, cell in zip(np.flatnonzero(won_mask), _money_text(rng, mrr[won_mask])):
        mrr_cells[i] = cell

    companies = [f"{rng.choice(FIRST)} {rng.choice(SECOND)} {i:04d}" for i in range(n)]
    btype_cells = [b if rng.random() > 0.08 else f"  {b.lower()} " for b in btype]
    source_cells = [s if rng.random() > 0.05 else s.upper() for s in source]
    frame = pd.DataFrame({
        "Lead ID": [f"L-{10000 + i}" for i in range(n)],
        "Company": companies,
        "Contact Email": [f"{c.split()[0].lower()}{i}@example.com" for i, c in enumerate(companies)],
        "Created": [d.isoformat() if i % 3 else d.strftime("%m/%d/%Y") for i, d in enumerate(created)],
        "Business Type": sprinkle(btype_cells, 0.03),
        "Lead Source": sprinkle(source_cells, 0.04),
        "Region": region,
        "Employees": sprinkle([int(e) for e in employees], 0.05),
        "Monthly Ad Spend": sprinkle(_money_text(rng, ad_spend), 0.06),
        "Paid Traffic Platforms": sprinkle([int(p) for p in platforms], 0.04),
        "Monthly Traffic": sprinkle(_money_text(rng, traffic), 0.05),
        "Demo Booked": yes_no(demo),
        "Trial Signup": yes_no(trial),
        "Email Opens": opens,
        "Pages Visited": sprinkle([int(v) for v in visits], 0.03),
        "Status": status,
        "MRR": mrr_cells,
        "Notes": [rng.choice(["", "", "Asked for pricing", "Follow up next quarter",
                              "Wants integration with Shopify", "Budget review in Q1", "Call back"])
                  for _ in range(n)],
    }, dtype=object)
    return frame


def main(argv: list[str] | None = None) -> int:
    """Write the sample sheet as CSV."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "leads.csv")
    args = parser.parse_args(argv)
    generate(args.rows, args.seed).to_csv(args.out, index=False)
    print(f"wrote {args.rows} leads to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
