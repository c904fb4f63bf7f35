"""Training in one process vs ``--engine dask`` (xgboost.dask on a 2-worker LocalCluster).

    .venv/bin/python bench/bench_dask_train.py [--rows 200000] [--seed 5]

Method
- data: ``backend.sample.generate.generate(rows, seed)`` written once as CSV (known truth:
  target Status, positive Won, value MRR; about 20 % open leads).
- each run is ``python -m backend train DATA --target Status --positive Won --value MRR
  --cv 0 --force --json --out DIR`` in a fresh subprocess (same gates, same seed, no
  cross-validation in either, so both fit the same stages); the Dask runs add
  ``--engine dask --workers 2`` (the CLI starts and stops the LocalCluster: included).
- wall: perf_counter around the subprocess (reading, training, report, saving);
  training: the run's elapsed_s in the experiment log (the training call only).
- AUC: the card's held-out AUC (each engine holds out its own test rows: single-process a
  stratified 20 %, Dask a hash-chosen 20 %).
- memory: peak RSS of the CLI process (the client) and the largest Dask worker process,
  polled with psutil every 0.1 s.
- the Dask engine is run twice: with the default --sample-rows (200,000: the schema sees
  every row here) and with --sample-rows 20000 (the schema from a 10 % sample).
On one 2-core machine the Dask engine is not expected to be faster: it is for histories
that do not fit in one machine's memory; here it only shows the cost of the machinery.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from backend.sample.generate import generate

ROOT = Path(__file__).resolve().parent.parent


def run(label: str, data: Path, out: Path, extra: list[str]) -> dict[str, object]:
    cmd = [sys.executable, "-m", "backend", "train", str(data), "--target", "Status", "--positive", "Won",
           "--value", "MRR", "--cv", "0", "--force", "--json", "--out", str(out), *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    proc = psutil.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    client_peak = worker_peak = 0
    while proc.poll() is None:
        try:
            client_peak = max(client_peak, proc.memory_info().rss)
            for child in proc.children(recursive=True):
                worker_peak = max(worker_peak, child.memory_info().rss)
        except psutil.Error:
            pass
        time.sleep(0.1)
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{label} failed ({proc.returncode}):\n{stderr[-3000:]}")
    body = json.loads(stdout[stdout.index("{"):])
    card = json.loads((Path(body["bundle"]) / "card.json").read_text())
    log = [json.loads(line) for line in (out / "experiments.jsonl").read_text().splitlines() if line.strip()]
    return {"label": label, "wall_s": wall, "train_s": float(log[-1].get("elapsed_s") or 0.0),
            "auc": card["metrics"]["classifier"]["auc"], "passed": card["gates"]["passed"],
            "test_rows": card["metrics"]["classifier"]["n"], "client_mb": client_peak / 2**20,
            "worker_mb": worker_peak / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    print(__doc__)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = folder / "leads.csv"
        t = time.perf_counter()
        generate(rows=args.rows, seed=args.seed).to_csv(data, index=False)
        print(f"data: {args.rows:,} generated leads, {data.stat().st_size / 2**20:.1f} MiB CSV "
              f"(generated in {time.perf_counter() - t:.0f}s); machine: {os.cpu_count()} cores\n")
        runs = [run("single process", data, folder / "local", []),
                run("dask, 2 workers", data, folder / "dask", ["--engine", "dask", "--workers", "2"]),
                run("dask, 2 workers, --sample-rows 20000", data, folder / "dask-sample",
                    ["--engine", "dask", "--workers", "2", "--sample-rows", "20000"])]
    base = runs[0]
    print(f"{'engine':<40} {'wall s':>7} {'train s':>8} {'x wall':>7} {'AUC':>7} {'gates':>6} {'test rows':>9} "
          f"{'client MiB':>10} {'worker MiB':>10}")
    for r in runs:
        print(f"{r['label']:<40} {r['wall_s']:>7.1f} {r['train_s']:>8.1f} {r['wall_s'] / base['wall_s']:>7.2f} "
              f"{r['auc']:>7.4f} {'pass' if r['passed'] else 'FAIL':>6} {r['test_rows']:>9,} "
              f"{r['client_mb']:>10.0f} {r['worker_mb'] if r['worker_mb'] else 0:>10.0f}")
    for r in runs[1:]:
        print(f"{r['label']}: wall time {r['wall_s'] / base['wall_s']:.2f}x single-process, "
              f"AUC {r['auc'] - base['auc']:+.4f}")


if __name__ == "__main__":
    main()
