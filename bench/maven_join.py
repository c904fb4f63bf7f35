"""Join the Maven CRM tables into one sheet of opportunities, as a sales team would export it.

    python bench/maven_join.py [--data ../shared/data/maven_crm] [--out /tmp/maven_crm_joined.csv]

``sales_pipeline.csv`` is joined with ``accounts.csv`` (sector, size, location), ``products.csv``
(series, list price) and ``sales_teams.csv`` (manager, regional office).  Product names drift
between tables (``GTXPro`` in the pipeline, ``GTX Pro`` in products): they are matched on the
name without spaces or case.  Open deals (Engaging / Prospecting) stay in the sheet: they are
the leads to score.  ``close_date`` and ``close_value`` stay too, as in a real export: the
leakage guard and the value column must cope with them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "maven_crm"


def _key(names: pd.Series) -> pd.Series:
    return names.astype(str).str.replace(r"\s+", "", regex=True).str.casefold()


def join(data: Path) -> pd.DataFrame:
    """The pipeline with account, product and team attributes (one row per opportunity)."""
    pipeline = pd.read_csv(data / "sales_pipeline.csv", dtype=str, keep_default_na=False)
    accounts = pd.read_csv(data / "accounts.csv", dtype=str, keep_default_na=False)
    products = pd.read_csv(data / "products.csv", dtype=str, keep_default_na=False)
    teams = pd.read_csv(data / "sales_teams.csv", dtype=str, keep_default_na=False)

    products = products.assign(_product=_key(products["product"])).drop(columns="product")
    joined = (pipeline.assign(_product=_key(pipeline["product"]))
              .merge(products, on="_product", how="left", validate="many_to_one")
              .drop(columns="_product")
              .merge(accounts, on="account", how="left", validate="many_to_one")
              .merge(teams, on="sales_agent", how="left", validate="many_to_one"))
    unmatched = joined["series"].isna() & pipeline["product"].ne("")
    if unmatched.any():
        missing = sorted(pipeline.loc[unmatched, "product"].unique())
        raise SystemExit(f"products not found in products.csv: {missing}")
    assert len(joined) == len(pipeline)
    return joined.fillna("")


def main(argv: list[str] | None = None) -> int:
    """Write the joined sheet and print where it is."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "maven_crm_joined.csv")
    args = p.parse_args(argv)
    if not (args.data / "sales_pipeline.csv").is_file():
        print(f"no Maven CRM data at {args.data}", file=sys.stderr)
        return 1
    frame = join(args.data)
    frame.to_csv(args.out, index=False)
    stages = frame["deal_stage"].value_counts().to_dict()
    print(f"{len(frame)} opportunities ({stages}) → {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
