"""Geo speed: placing ZIP codes and building the where-to-sell report on a large sheet.

    .venv/bin/python bench/bench_geo.py [--rows 100000]

Method
- locate: a column of N ZIP cells drawn from every ZIP the packaged data knows (a quarter
  of them written without leading zeros, 1 % not ZIP codes), read and placed by
  ``backend.core.geo.locate``; wall time of a cold run (the table loads once per process)
  and the median of 3 warm runs. Baseline in the same run: ``zipcodes.matching`` called
  once per cell for the first 300 cells, scaled to N.
- report: ``build_report`` on the generated geo sample repeated to N rows (six sites,
  industries, values), without a model; median of 3 runs.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import numpy as np
import pandas as pd


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=100_000)
    args = p.parse_args()
    n = args.rows
    import zipcodes

    from backend.core import geo
    from backend.core.regions import build_report
    from backend.sample.geo import generate

    every = sorted(geo.zip_table())
    rng = np.random.default_rng(0)
    cells = rng.choice(every, n).astype(object)
    drop = rng.random(n) < 0.25
    cells[drop] = [str(int(z)) for z in cells[drop]]
    cells[rng.random(n) < 0.01] = "n/a"
    column = pd.Series(cells, dtype=object)
    geo.lookup.cache_clear()
    geo.zip_table.cache_clear()
    started = time.perf_counter()
    where = geo.locate(column)
    cold = time.perf_counter() - started
    warm = []
    for _ in range(3):
        started = time.perf_counter()
        geo.locate(column)
        warm.append(time.perf_counter() - started)
    started = time.perf_counter()
    for z in cells[:300]:
        with contextlib.suppress(ValueError):
            zipcodes.matching(str(z).zfill(5))
    naive = (time.perf_counter() - started) / 300 * n
    print(f"locate {n:,} ZIP cells ({where.summary()['located']:,} placed, {where.repaired:,} repaired, "
          f"{where.unknown + where.blank:,} not ZIPs): cold {cold:.2f}s, warm median {statistics.median(warm):.2f}s; "
          f"one zipcodes.matching per cell (extrapolated): {naive:.1f}s")

    sample = generate()
    reps = -(-n // len(sample.leads))
    big = pd.concat([sample.leads] * reps, ignore_index=True).head(n)
    sites = geo.sites_from_frame(sample.sites)
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        report = build_report(big, target="Status", positive="Won", zip_column="ZIP", sites=sites, value="MRR",
                              industry="Industry")
        runs.append(time.perf_counter() - started)
    print(f"build_report on {n:,} rows: median {statistics.median(runs):.2f}s "
          f"({len(report.targets):,} targets, regions k={report.regions_fit.k if report.regions_fit else '-'})")


if __name__ == "__main__":
    main()
