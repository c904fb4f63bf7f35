"""Big files: `python -m backend score` on a 1M-row lead file (CSV and Parquet), beside its floors.

    PYTHONPATH=$PWD .venv/bin/python bench/bench_files.py [--rows 1000000] [--quick] [--chunk-rows N]

Prints its method first, then one line per run: rows/s and the peak RSS of that run's own
process, each score run beside its floors and the ratio to them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"
DISTINCT = 100_000  # generated leads; the file repeats them (shuffled) up to --rows
SEED = 7

METHOD = """\
Method
- data: backend.sample.generate.generate(rows={distinct:,}, seed={seed}) ({distinct:,} distinct leads, messy
  cells as a sheet holds them: the generator makes about 12k rows/s, so a million are not generated one by one);
  repeated and shuffled (numpy seed 0) up to {rows:,} rows, each with its own Lead ID; written once as CSV and as
  Parquet (every column text) and cached in bench/.cache/.
- each run is its own process: `python -m backend score DATA -o OUT --model models --chunk-rows {chunk:,}` started
  through a wrapper that runs the CLI in-process and then reports that process's own peak RSS
  (VmHWM of /proc/self/status); rows/s = rows / wall time of the whole process (start-up, model load,
  read, score, write); its CPU time (user + system, all threads) is printed beside it, since the machine is
  shared. Output goes to a file in bench/.cache, deleted after the run.
- floors, same data, same way (own process, own peak RSS):
  (a) read only: pyarrow streaming the same file, every column as text (CSV: pyarrow.csv.open_csv with the
      block size the product uses; Parquet: ParquetFile.iter_batches), nothing else;
  (b) predict only: the bundled model's classifier and regressor `inplace_predict` on an already-built float
      feature matrix of the same row count (built from the same leads before the clock starts).
  Floors time only their work (after imports); score runs include start-up (~2-8 s of imports and model load).
- {cores} cores, shared with other jobs (load average at the start: {load}); one run of each."""

# The process's own peak RSS: VmHWM (ru_maxrss would include the bench's own size at fork on Linux).
PEAK = """\
import resource
def peak_kb():
    try:
        with open("/proc/self/status") as fh:
            return int(next(x for x in fh if x.startswith("VmHWM:")).split()[1])
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
"""

WRAPPER = PEAK + """\
import resource, sys, time
started = time.perf_counter()
from backend.cli import main
code = main(sys.argv[1:])
print(f"@@ {code} {time.perf_counter() - started} {peak_kb()} "
      f"{sum(resource.getrusage(resource.RUSAGE_SELF)[:2])}", file=sys.stderr)
"""

READ_FLOOR = PEAK + """\
import resource, sys, time
import pyarrow as pa, pyarrow.csv as pacsv, pyarrow.parquet as pq
started = time.perf_counter()
path = sys.argv[1]
rows = 0
if path.endswith(".parquet"):
    for batch in pq.ParquetFile(path).iter_batches(batch_size=int(sys.argv[2]), use_threads=False):
        rows += batch.num_rows
else:
    names = pacsv.open_csv(path).schema.names
    reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=int(sys.argv[3]), use_threads=False),
                            parse_options=pacsv.ParseOptions(newlines_in_values=True),
                            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                                                 strings_can_be_null=False))
    for batch in reader:
        rows += batch.num_rows
print(f"@@ {rows} {time.perf_counter() - started} {peak_kb()} "
      f"{sum(resource.getrusage(resource.RUSAGE_SELF)[:2])}", file=sys.stderr)
"""

PREDICT_FLOOR = PEAK + """\
import os, resource, sys, time
import numpy as np, pandas as pd
from backend.store import registry
rows, sample = int(sys.argv[1]), sys.argv[2]
bundle = registry.load_active(sys.argv[3])
cells = pd.read_csv(sample, dtype=str, keep_default_na=False, nrows=100_000).astype(object)
block, _ = bundle.features.transform_matrix(cells)
matrix = np.ascontiguousarray(np.tile(block, (-(-rows // len(block)), 1))[:rows])
boosters = [b for b in (bundle.classifier, bundle.regressor) if b is not None]
for booster in boosters:
    booster.set_param({"nthread": os.cpu_count() or 1})
started = time.perf_counter()
for booster in boosters:
    booster.inplace_predict(matrix)
print(f"@@ {rows} {time.perf_counter() - started} {peak_kb()} "
      f"{sum(resource.getrusage(resource.RUSAGE_SELF)[:2])}", file=sys.stderr)
"""


def make_data(rows: int) -> tuple[Path, Path]:
    """The cached CSV and Parquet files of ``rows`` leads (made once)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    csv_path, parquet_path = CACHE / f"leads-{rows}-s{SEED}.csv", CACHE / f"leads-{rows}-s{SEED}.parquet"
    if csv_path.exists() and parquet_path.exists():
        return csv_path, parquet_path
    import pyarrow as pa
    import pyarrow.parquet as pq

    from backend.sample.generate import generate

    started = time.perf_counter()
    distinct = generate(rows=min(DISTINCT, rows), seed=SEED).astype(str).replace({"nan": "", "None": ""})
    rng = np.random.default_rng(0)
    reps = -(-rows // len(distinct))
    order = np.concatenate([rng.permutation(len(distinct)) for _ in range(reps)])[:rows]
    frame = distinct.iloc[order].reset_index(drop=True)
    frame["Lead ID"] = [f"L-{i:07d}" for i in range(rows)]
    frame.to_csv(csv_path.with_suffix(".tmp"), index=False)
    os.replace(csv_path.with_suffix(".tmp"), csv_path)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table.cast(pa.schema([pa.field(n, pa.string()) for n in table.column_names])),
                   parquet_path.with_suffix(".tmp"))
    os.replace(parquet_path.with_suffix(".tmp"), parquet_path)
    print(f"(made the data in {time.perf_counter() - started:.0f}s)", flush=True)
    return csv_path, parquet_path


def run_child(code: str, *args: str) -> tuple[float, float, float]:
    """Run ``code`` in a fresh interpreter: (seconds, peak RSS in MB, CPU seconds) as it reports them (a score
    run's seconds are its whole wall time, measured from outside)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    line = next((x for x in proc.stderr.splitlines() if x.startswith("@@ ")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"run failed ({proc.returncode}): {' '.join(args)}\n{proc.stderr[-2000:]}")
    _, status, inner, rss_kb, cpu = line.split()
    if code is WRAPPER and status != "0":
        raise SystemExit(f"score exited {status}: {proc.stderr[-2000:]}")
    return (wall if code is WRAPPER else float(inner)), int(rss_kb) / 1024, float(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 rows, CSV runs only")
    parser.add_argument("--chunk-rows", type=int, default=None, help="default: the CLI's default")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from backend.cli.score import DEFAULT_CHUNK_ROWS
    from backend.sources.files import _BLOCK_BYTES

    rows = 100_000 if args.quick else args.rows
    chunk = args.chunk_rows or DEFAULT_CHUNK_ROWS
    print(METHOD.format(distinct=min(DISTINCT, rows), seed=SEED, rows=rows, chunk=chunk, cores=os.cpu_count(),
                        load=", ".join(f"{x:.1f}" for x in os.getloadavg())))
    csv_path, parquet_path = make_data(rows)
    print(f"- files: {csv_path.name} {csv_path.stat().st_size / 1e6:.0f} MB, "
          f"{parquet_path.name} {parquet_path.stat().st_size / 1e6:.0f} MB\n")

    floors: dict[str, tuple[float, float]] = {}
    results: list[dict[str, object]] = []

    def floor(name: str, code: str, *extra: str) -> None:
        seconds, rss, _ = run_child(code, *extra)
        floors[name] = (rows / seconds, rss)
        print(f"{name:<44} {rows / seconds:>11,.0f} rows/s  {rss:>6.0f} MB peak RSS  ({seconds:.1f}s timed)",
              flush=True)

    def score(name: str, data: Path, suffix: str, *flags: str, against: tuple[str, ...]) -> None:
        out = CACHE / f"bench-out{suffix}"
        try:
            seconds, rss, cpu = run_child(WRAPPER, "score", str(data), "-o", str(out), "--model", str(ROOT / "models"),
                                     "--chunk-rows", str(chunk), *flags)
        finally:
            out.unlink(missing_ok=True)
        speed = rows / seconds
        ratios = ", ".join(f"{speed / floors[f][0]:.2f}x of {f}" for f in against)
        print(f"{name:<44} {speed:>11,.0f} rows/s  {rss:>6.0f} MB peak RSS  ({seconds:.1f}s wall, {cpu:.1f}s CPU; "
              f"{ratios})", flush=True)
        results.append({"run": name, "rows_per_s": round(speed), "peak_rss_mb": round(rss),
                        "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1)})

    floor("floor (a): read CSV, pyarrow only", READ_FLOOR, str(csv_path), str(chunk), str(_BLOCK_BYTES))
    floor("floor (b): predict only (inplace_predict x2)", PREDICT_FLOOR, str(rows), str(csv_path),
          str(ROOT / "models"))
    if not args.quick:
        floor("floor (a): read Parquet, pyarrow only", READ_FLOOR, str(parquet_path), str(chunk), "0")
    print()
    score("score CSV → CSV, with reasons", csv_path, ".csv",
          against=("floor (a): read CSV, pyarrow only", "floor (b): predict only (inplace_predict x2)"))
    score("score CSV → CSV, --no-reasons", csv_path, ".csv", "--no-reasons",
          against=("floor (a): read CSV, pyarrow only", "floor (b): predict only (inplace_predict x2)"))
    if not args.quick:
        score("score Parquet → Parquet, with reasons", parquet_path, ".parquet",
              against=("floor (a): read Parquet, pyarrow only", "floor (b): predict only (inplace_predict x2)"))
        score("score Parquet → Parquet, --no-reasons", parquet_path, ".parquet", "--no-reasons",
              against=("floor (a): read Parquet, pyarrow only", "floor (b): predict only (inplace_predict x2)"))
    print("\n" + json.dumps({"rows": rows, "chunk_rows": chunk, "floors": {k: {"rows_per_s": round(v[0]),
                                                                               "peak_rss_mb": round(v[1])}
                                                                           for k, v in floors.items()},
                             "runs": results}))


if __name__ == "__main__":
    main()
