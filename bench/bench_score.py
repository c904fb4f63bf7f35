"""Scoring speed: in-process latency for 200 leads, a 1M-row CSV, and training on 100k rows.

    .venv/bin/python bench/bench_score.py [--quick]

Method
- latency: 200 leads as row lists (the shape a sheet sends) → output frame, with the
  bundled default model; median and p95 over many runs after warm-up, timed with
  perf_counter. Baseline in the same run: a naive loop that scores one row at a time
  with the same model and code path.
- 1M rows: `python -m backend score` in a subprocess on a generated 1,000,000-row CSV
  (the sample sheet repeated); rows/s and peak RSS of the child (getrusage). Baseline in
  the same run: only reading the same CSV with pandas in chunks.
- training: `train()` on 100,000 generated leads; wall time. Baseline: the 1,500-row
  bundled sample in the same run.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from backend.core.scoring import score_rows
from backend.core.train import TrainConfig, train
from backend.sample import SAMPLE_CSV
from backend.sample.generate import generate
from backend.store import registry

ROOT = Path(__file__).resolve().parent.parent



def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1]


def bench_latency(runs: int) -> None:
    bundle = registry.load_active(ROOT / "models")
    frame = pd.read_csv(SAMPLE_CSV, dtype=str, keep_default_na=False).head(200)
    header, rows = list(frame.columns), frame.values.tolist()
    for _ in range(5):
        score_rows(bundle, header, rows).output_frame(scored_at="now")
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        score_rows(bundle, header, rows).output_frame(scored_at="now")
        times.append((time.perf_counter() - t) * 1000)
    naive = []
    for _ in range(3):
        t = time.perf_counter()
        for row in rows:
            score_rows(bundle, header, [row]).output_frame(scored_at="now")
        naive.append((time.perf_counter() - t) * 1000)
    med, p95, nmed = statistics.median(times), pct(times, 95), statistics.median(naive)
    print(f"[latency] 200 leads, row lists → output frame (reasons included), {runs} runs")
    print(f"  vectorized: median {med:.2f} ms, p95 {p95:.2f} ms")
    print(f"  per-row loop (same model, same code, 3 runs): median {nmed:.1f} ms")
    print(f"  speed-up: {nmed / med:.0f}x")


def bench_million(rows: int, workdir: Path) -> None:
    sample = pd.read_csv(SAMPLE_CSV, dtype=str, keep_default_na=False)
    path = workdir / "big.csv"
    reps = -(-rows // len(sample))
    with path.open("w") as fh:
        sample.to_csv(fh, index=False)
        for _ in range(reps - 1):
            sample.to_csv(fh, index=False, header=False)
    total = reps * len(sample)
    t = time.perf_counter()
    n = sum(len(c) for c in pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=100_000))
    read_s = time.perf_counter() - t
    out = workdir / "big.scored.csv"
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "backend", "score", str(path), "-o", str(out)], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    score_s = time.perf_counter() - t
    peak_mb = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    print(f"[big file] `python -m backend score` on {total:,} rows ({path.stat().st_size / 1e6:.0f} MB CSV)")
    print(f"  {score_s:.1f} s wall, {total / score_s:,.0f} rows/s, peak RSS {peak_mb:.0f} MB "
          "(streamed in 100k-row chunks)")
    print(f"  baseline, pandas only reading the same CSV in chunks: {read_s:.1f} s ({n:,} rows); "
          f"scoring costs {score_s / read_s:.1f}x a plain read")


def bench_training(rows: int) -> None:
    small = pd.read_csv(SAMPLE_CSV, dtype=str, keep_default_na=False)
    t = time.perf_counter()
    train(small, TrainConfig(target="Status", positive="Won", value="MRR"))
    small_s = time.perf_counter() - t
    big = generate(rows=rows, seed=5)
    t = time.perf_counter()
    result = train(big, TrainConfig(target="Status", positive="Won", value="MRR"))
    big_s = time.perf_counter() - t
    m = result.bundle.card["metrics"]["classifier"]
    print(f"[training] {rows:,} generated leads ({result.counts['labelled']:,} labelled): {big_s:.1f} s wall "
          f"(held-out AUC {m['auc']}); baseline {len(small):,}-row sample: {small_s:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes for a smoke run")
    args = parser.parse_args()
    bench_latency(runs=50 if args.quick else 300)
    with tempfile.TemporaryDirectory() as tmp:
        bench_million(50_000 if args.quick else 1_000_000, Path(tmp))
    bench_training(10_000 if args.quick else 100_000)


if __name__ == "__main__":
    main()
