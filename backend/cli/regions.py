"""``python -m backend regions``: where to sell, from a sheet with ZIP codes and the company's sites.

    python -m backend regions leads.csv --target Status --positive Won --value MRR \\
        --industry Industry --zip ZIP --sites sites.csv [--model DIR] -o where-to-sell/

writes ``regions.csv``, ``industries.csv``, ``targets.csv`` and ``regions.html`` into the folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from backend.config import Settings
from backend.errors import BadInput


def add_parsers(subparsers: Any) -> None:
    """Register the ``regions`` command."""
    p = subparsers.add_parser("regions", help="where to sell: customers and prospects per site, industries, targets")
    p.set_defaults(func=run)
    p.add_argument("data", help="the sheet: .csv, .xlsx, .parquet, or sheet://SPREADSHEET_ID/TAB")
    p.add_argument("--target", required=True, help="the outcome column (e.g. Status)")
    p.add_argument("--positive", required=True, help="the value that marks a customer (e.g. Won)")
    p.add_argument("--value", help="the customer value column (e.g. MRR): averages, industries above average")
    p.add_argument("--industry", help="the industry column: targets come from industries paying above average")
    p.add_argument("--zip", dest="zip_column", metavar="COL",
                   help="the US ZIP code column (default: found by its header and content)")
    p.add_argument("--sites", required=True, type=Path, help="a table of the company's sites: name,zip")
    p.add_argument("--model", help="a bundle or models directory: rank targets by the model's expected value")
    p.add_argument("--radius", type=float, default=100.0, help="miles around a site that count as near (default 100)")
    p.add_argument("--top-sites", type=int, default=1, help="how many of the most under-served sites to target")
    p.add_argument("--seed", type=int, default=0, help="seed of the sales-region clustering")
    p.add_argument("-o", "--out", type=Path, required=True, help="folder for the CSV files and regions.html")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Build the report and write it; print the plain-language summary."""
    from backend.core.geo import detect_zip_column, sites_from_frame
    from backend.core.regions import build_report, model_expected_value
    from backend.reports.regions import write_report
    from backend.sources.files import read_table
    from backend.sources.history import read_history

    frame = read_history(args.data, settings)
    sites = sites_from_frame(read_table(args.sites))
    zip_column = args.zip_column or detect_zip_column(frame)
    if zip_column is None:
        raise BadInput("No column of ZIP codes was found (a header such as 'ZIP' or 'Postal Code' with 5-digit US "
                       "ZIP codes). Name it with --zip COL.")
    expected = None
    if args.model:
        from backend.store import registry
        from backend.store.bundle import ModelBundle

        expected = model_expected_value(ModelBundle.load(registry.resolve(args.model, settings.model_dir)), frame)
    report = build_report(frame, target=args.target, positive=args.positive, zip_column=zip_column, sites=sites,
                          value=args.value, industry=args.industry, radius=args.radius, top_sites=args.top_sites,
                          expected_value=expected, seed=args.seed)
    source = str(args.data) if str(args.data).startswith("sheet://") else Path(args.data).name
    paths = write_report(report, args.out, source=source)
    for line in report.summary:
        print(line)
    for note in report.notes:
        print(f"note: {note}")
    print(f"{len(report.targets)} targets (ranked by {report.ranked_by}) → {paths['targets']}")
    print(f"Report: {paths['html']}")
    return 0


def add_geo_args(sp: argparse.ArgumentParser) -> None:
    """``--zip COL --sites FILE`` for training: adds distance / nearest site / sales region features."""
    sp.add_argument("--zip", dest="zip_column", metavar="COL",
                    help="the US ZIP code column for --sites (default: found by its header and content)")
    sp.add_argument("--sites", type=Path, metavar="FILE",
                    help="the company's sites as a name,zip table: adds distance to the nearest site, the site and a "
                         "sales region as features")


def geo_config(args: argparse.Namespace) -> Any:
    """The training's geo setup from ``--zip`` / ``--sites`` (None when neither is given)."""
    zip_column, sites_path = getattr(args, "zip_column", None), getattr(args, "sites", None)
    if zip_column is None and sites_path is None:
        return None
    if sites_path is None:
        raise BadInput("Geo features need --sites FILE (name,zip of each of the company's sites) with --zip COL.")
    from backend.core.geo import GeoConfig, sites_from_frame
    from backend.sources.files import read_table

    return GeoConfig(zip_column=zip_column, sites=tuple(sites_from_frame(read_table(sites_path))))
