"""In-process latency: 200 leads as a sheet sends them → the JSON-ready results, reasons included.

    .venv/bin/python bench/bench_latency.py [--rows 200] [--runs 500]

Method
- The bundled default model (models/active.json); ``--rows`` leads of the bundled sample
  sheet as row lists with plain numbers as numbers (the shape ``Range.getValues()`` gives and
  ``/v1/score`` receives); ``score_rows(...).results`` — cells read, features built, both
  boosters called, reasons and segments, one JSON-ready dict per lead.
- Timed with perf_counter over ``--runs`` runs after 30 warm-up runs; median and p95.
- Floor in the same run: the bare boosters on an already-built float matrix of the same rows
  (classifier and regressor ``inplace_predict``: no cells, no reasons) — what any scorer of
  this model pays.  And a cold-cache run: every cell text different from the last call (each
  number nudged), so the per-column cell cache cannot help.
"""

from __future__ import annotations

import argparse
import csv
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "backend" / "sample" / "leads.csv"
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def rows_as_sent(count: int) -> tuple[list[str], list[list[object]]]:
    """``count`` sample leads with plain numbers as numbers, as getValues gives them."""
    with SAMPLE.open(newline="", encoding="utf-8") as handle:
        table = list(csv.reader(handle))
    header, data = table[0], table[1:]
    picked = [data[i % len(data)] for i in range(count)]
    return header, [[(float(c) if "." in c else int(c)) if _NUMBER.fullmatch(c) else c for c in row]
                    for row in picked]


def timed(fn: Callable[[], object], runs: int, warmup: int = 30) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[94]


def main() -> None:
    import numpy as np

    from backend.core.scoring import rows_to_frame, score_rows
    from backend.store import registry

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--runs", type=int, default=500)
    args = parser.parse_args()
    bundle = registry.load_active(ROOT / "models")
    header, rows = rows_as_sent(args.rows)
    full = timed(lambda: score_rows(bundle, header, rows).results, args.runs)

    # Cold cells: every number differs from any earlier call.
    counter = [0]
    variants = []
    for k in range(args.runs + 30):
        variants.append([[c + (k + 1) * 1e-3 if isinstance(c, float) else c + k + 1 if isinstance(c, int) else c
                          for c in row] for row in rows])

    def cold() -> object:
        counter[0] += 1
        return score_rows(bundle, header, variants[counter[0] % len(variants)]).results

    cold_ms = timed(cold, args.runs)

    matrix = bundle.features.transform_matrix(rows_to_frame(header, rows))[0].astype(np.float32)

    def floor() -> None:
        bundle.classifier.inplace_predict(matrix, predict_type="margin")
        if bundle.regressor is not None:
            bundle.regressor.inplace_predict(matrix)

    floor_ms = timed(floor, args.runs)
    med, fmed = statistics.median(full), statistics.median(floor_ms)
    print(f"[latency] {args.rows} leads, row lists → JSON-ready results with reasons; model {bundle.ref['version']}; "
          f"{args.runs} runs after 30 warm-up")
    print(f"  scoring, repeated cells: median {med:.2f} ms, p95 {p95(full):.2f} ms")
    print(f"  scoring, every cell new: median {statistics.median(cold_ms):.2f} ms, p95 {p95(cold_ms):.2f} ms")
    print(f"  floor, bare boosters (inplace_predict on a built matrix): median {fmed:.2f} ms")
    print(f"  ratio scoring / floor: {med / fmed:.1f}x (every cell new: {statistics.median(cold_ms) / fmed:.1f}x)")


if __name__ == "__main__":
    main()
