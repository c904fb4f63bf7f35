"""Scoring a big CSV in one process vs on Dask: rows/s each, the ratio, and whether the cells agree.

    PYTHONPATH=$PWD .venv/bin/python bench/bench_dask.py [--rows 1000000] [--workers 2] [--quick]

Method
- input: a generated lead sheet (``backend.sample.generate``, 100,000 rows, seed 5) written
  ``rows / 100,000`` times into one CSV, so the file has ``--rows`` rows;
- single process: ``python -m backend score big.csv -o single.csv`` in a subprocess (the
  default path: CSV streamed in 100k-row chunks, XGBoost on every core);
- Dask: ``python -m backend score big.csv --engine dask --workers N -o parts/`` in a
  subprocess: a LocalCluster of N worker processes (1 thread each) started by the command,
  16 MB of CSV (~110k rows) per partition, one CSV part per partition;
- both with the bundled model and reasons; wall time of the whole command (start-up,
  reading, scoring, writing; for Dask also starting the cluster), and the time the command
  itself reports for the scoring;
- check: the two outputs read back (every column except ``Scored At``, which holds the
  minute each run started) must hold the same cells in the same order.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from backend.sample.generate import generate

ROOT = Path(__file__).resolve().parent.parent
BLOCK = 100_000


def make_csv(path: Path, rows: int) -> int:
    block = generate(rows=min(rows, BLOCK), seed=5)
    reps = -(-rows // len(block))
    with path.open("w", newline="") as fh:
        block.to_csv(fh, index=False)
        for _ in range(reps - 1):
            block.to_csv(fh, index=False, header=False)
    return reps * len(block)


def run(cmd: list[str]) -> tuple[float, float | None]:
    """Wall seconds of the command, and the seconds it reports for scoring ("... in 12.34s")."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    found = re.search(r"Scored [\d,]+ rows .* in ([\d.]+)s", proc.stdout)
    return wall, float(found.group(1)) if found else None


def digest(paths: list[str]) -> tuple[int, str]:
    """Rows and a sha256 of every cell but Scored At, read in order in chunks."""
    h, n = hashlib.sha256(), 0
    for p in paths:
        for chunk in pd.read_csv(p, dtype=str, keep_default_na=False, chunksize=200_000):
            chunk = chunk.drop(columns=["Scored At"])
            h.update(pd.util.hash_pandas_object(chunk, index=False).to_numpy().tobytes())
            n += len(chunk)
    return n, h.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="100,000 rows: a smoke run")
    args = parser.parse_args()
    rows = 100_000 if args.quick else args.rows
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        src = work / "big.csv"
        total = make_csv(src, rows)
        size_mb = src.stat().st_size / 1e6
        print(f"{total:,} rows, {size_mb:.0f} MB CSV; {os.cpu_count()} cores ({platform.processor() or 'cpu'}), "
              f"load average before: {os.getloadavg()[0]:.1f}")
        single_out = work / "single.csv"
        s_wall, s_rep = run([sys.executable, "-m", "backend", "score", str(src), "-o", str(single_out), "--top", "1"])
        d_out = work / "parts"
        d_wall, d_rep = run([sys.executable, "-m", "backend", "score", str(src), "--engine", "dask",
                             "--workers", str(args.workers), "-o", str(d_out)])
        parts = sorted(glob.glob(str(d_out / "part-*.csv")))
        same = digest([str(single_out)]) == digest(parts)
        print(f"load average after: {os.getloadavg()[0]:.1f}")
        print()
        print("| path | wall (whole command) | rows/s (wall) | scoring time it reports | rows/s (scoring) |")
        print("|---|---|---|---|---|")
        print(f"| `score` (one process) | {s_wall:.1f} s | {total / s_wall:,.0f} | {s_rep:.1f} s | "
              f"{total / s_rep:,.0f} |")
        print(f"| `score --engine dask --workers {args.workers}` (LocalCluster, {len(parts)} parts) | {d_wall:.1f} s | "
              f"{total / d_wall:,.0f} | {d_rep:.1f} s | {total / d_rep:,.0f} |")
        print()
        print(f"Dask / one process, rows/s (wall): {s_wall / d_wall:.2f}x; (scoring): {s_rep / d_rep:.2f}x")
        print(f"Same cells in the same order (all columns but Scored At): {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
