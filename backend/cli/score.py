"""``score`` and ``evaluate``: a model applied to a lead sheet."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backend.cli.common import EXIT_OK, target_args
from backend.config import Settings

# Measured (bench/bench_files.py, 100k-row runs): 25k rows cost ~5 % more time than 50k, 100k saves nothing
# more; peak RSS grows ~3 MB per 1,000 rows of chunk (~400 MB at 50k with the compute core of 2026-12).
DEFAULT_CHUNK_ROWS = 50_000


def _positive(text: str) -> int:
    try:
        value = int(text.replace(",", "").replace("_", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of rows above 0, got {text!r}")
    return value


def add_parsers(sub: Any) -> None:
    """The ``score`` and ``evaluate`` sub-commands."""
    s = sub.add_parser("score", help="score a lead sheet; writes the rows with the output columns")
    s.add_argument("data")
    s.add_argument("--model", help="a bundle directory or a models directory (default: the active model)")
    s.add_argument("-o", "--out", help="output .csv / .xlsx / .parquet (default: <name>.scored.csv)")
    s.set_defaults(func=cmd_score)
    s.add_argument("--top", type=int, default=10, help="how many ranked leads to print")
    s.add_argument("--no-reasons", action="store_true",
                   help="leave Score Reasons blank (faster on big files; every other column is the same)")
    s.add_argument("--chunk-rows", type=_positive, default=DEFAULT_CHUNK_ROWS, metavar="N",
                   help="rows read and scored at a time: memory grows with it, not with the file "
                        f"(default {DEFAULT_CHUNK_ROWS:,})")
    s.add_argument("--rules", metavar="FILE",
                   help="score with a points rulebook (YAML, or a CSV of the Scoring Rules tab); without --model "
                        "no model is used, with --model the rule points are written beside the model's scores")
    d = s.add_argument_group("distributed scoring (docs/SCALE.md)")
    d.add_argument("--engine", choices=("local", "dask"), default="local",
                   help="local: this process (default); dask: partition by partition on a Dask cluster, "
                        "DATA may be a glob or a folder, -o a folder of parts (DIR.parquet / DIR.csv picks the format)")
    d.add_argument("--scheduler", metavar="ADDRESS", help="the Dask scheduler, e.g. tcp://scheduler:8786 "
                   "(default: a local cluster for the run)")
    d.add_argument("--workers", type=int, metavar="N", help="workers of the local cluster (default: one per core)")
    d.add_argument("--blocksize", metavar="SIZE",
                   help="input bytes per partition (default 16MB, ~100k rows; 0: one per file)")

    e = sub.add_parser("evaluate", help="measure a model on labelled rows it was not trained on")
    e.add_argument("data")
    target_args(e)
    e.add_argument("--model")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_evaluate)



def cmd_score(args: argparse.Namespace, settings: Settings) -> int:
    if getattr(args, "engine", "local") == "dask":
        from backend.scale.dask_score import run_score

        return run_score(args, settings)
    from backend.cli.common import row_progress
    from backend.core.batch import chunk_outputs, user_positions
    from backend.sources.files import TableWriter, check_writable, iter_chunks, sheet_name
    from backend.store import registry
    from backend.store.bundle import ModelBundle

    if getattr(args, "rules", None):
        from backend.cli.rules import score_with_rules

        return score_with_rules(args, settings)
    bundle = ModelBundle.load(registry.resolve(args.model, settings.model_dir))
    for booster in (bundle.classifier, bundle.regressor):  # a batch job may use every core
        if booster is not None:
            booster.set_param({"nthread": os.cpu_count() or 1})
    _lean_arrow_memory()
    src = Path(args.data)
    # By default the scored copy sits next to the sheet it came from: leads.csv → leads.scored.csv.
    out = check_writable(args.out or src.with_name(f"{src.stem}.scored.csv"))
    scored_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    reasons = not getattr(args, "no_reasons", False)
    ranked = _Ranked(args.top, bundle.card["target"], bundle.regressor is not None)
    warnings: dict[str, str] = {}
    n_rows = 0
    started = time.perf_counter()
    with row_progress(f"Scoring {src.name}") as advance, TableWriter(out, sheet=sheet_name(src)) as writer:
        for chunk in iter_chunks(src, getattr(args, "chunk_rows", None) or DEFAULT_CHUNK_ROWS):
            cells = chunk.cells
            outputs, result = chunk_outputs(bundle, cells, scored_at=scored_at, reasons=reasons)
            for w in result.warnings:
                warnings.setdefault(w["code"] + str(w.get("columns")), w["message"])
            own = user_positions(chunk.columns)
            ranked.add(cells, own, outputs, first_row=n_rows + 2)
            writer.write(chunk.select(own), outputs)  # written on the writer's thread while the next chunk is read
            n_rows += len(chunk)
            advance(len(chunk))
    elapsed = time.perf_counter() - started
    for message in warnings.values():
        print(f"warning: {message}", file=sys.stderr)
    _print_ranked(ranked.best(), bundle, ranked.n_open if ranked.n_open else n_rows)
    print(f"Scored {n_rows} rows with {bundle.name} {bundle.version} in {elapsed:.2f}s → {out}")
    return EXIT_OK


def _lean_arrow_memory() -> None:
    """Let pyarrow give each chunk's memory back to the system when it is done (its jemalloc pool
    does, its default mimalloc pool keeps it), so that memory stays flat; the pool named by
    ARROW_DEFAULT_MEMORY_POOL is kept."""
    import contextlib

    import pyarrow as pa

    if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        with contextlib.suppress(NotImplementedError, AttributeError):  # a pyarrow built without jemalloc
            pa.set_memory_pool(pa.jemalloc_memory_pool())


class _Ranked:
    """The leads to call first, kept while the chunks go by: at most ``top`` open leads and
    ``top`` of all (for a sheet with no open lead), whatever the file's size.

    Ranked by expected value (close probability × predicted MRR, or the probability alone);
    ties keep the sheet's order.  The same leads as ranking the whole table at once.
    """

    def __init__(self, top: int, target: dict[str, Any], has_value_model: bool) -> None:
        self.top, self.target, self.has_value_model = top, target, has_value_model
        self.n_open = 0
        self.rows: Any = None

    def add(self, cells: Any, own: list[int], outputs: Any, *, first_row: int) -> None:
        import numpy as np
        import pandas as pd

        from backend.core.outputs import CLOSE_PROBABILITY, LEAD_SCORE, PREDICTED_MRR

        ev = outputs[CLOSE_PROBABILITY].to_numpy(dtype=float, na_value=np.nan)
        if self.has_value_model:
            ev = ev * outputs[PREDICTED_MRR].to_numpy(dtype=float, na_value=np.nan)
        scored = outputs[LEAD_SCORE].notna().to_numpy() & ~np.isnan(ev)
        is_open = _open_rows(cells, self.target)
        self.n_open += int((is_open & scored).sum())
        picks = [*_largest(ev, scored & is_open, self.top), *_largest(ev, scored, self.top)]
        if not picks:
            return
        rows = pd.concat([cells.iloc[picks, own], outputs.iloc[picks]], axis=1).assign(
            _ev=ev[picks], _row=np.asarray(picks) + first_row, _open=is_open[picks])
        rows = rows if self.rows is None else pd.concat([self.rows, rows])
        rows = rows.drop_duplicates("_row")
        keep = {*rows[rows["_open"]].nlargest(self.top, "_ev")["_row"], *rows.nlargest(self.top, "_ev")["_row"]}
        self.rows = rows[rows["_row"].isin(keep)]

    def best(self) -> Any:
        """The leads to call are the open ones, when the sheet says which those are."""
        if self.rows is None:
            return None
        rows = self.rows
        return (rows[rows["_open"]] if rows["_open"].any() else rows).nlargest(self.top, "_ev")


def _largest(values: Any, mask: Any, k: int) -> Any:
    """Positions of the ``k`` largest ``values`` where ``mask``, largest first, ties in row order
    (what pandas' ``nlargest`` picks), without sorting the whole chunk."""
    import numpy as np

    where = np.flatnonzero(mask)
    if len(where) > k > 0:
        picked = values[where]
        kth = np.partition(picked, len(picked) - k)[len(picked) - k]
        above = where[picked > kth]
        where = np.concatenate([above, where[picked == kth][:k - len(above)]])
    elif k <= 0:
        where = where[:0]
    return where[np.lexsort((where, -values[where]))]


def _open_rows(chunk: Any, target: dict[str, Any]) -> Any:
    """True for rows whose outcome cell is neither the positive nor a negative value (still open).

    All rows count as open when the sheet has no outcome column.
    """
    import numpy as np
    import pandas as pd

    from backend.core.schema import normalize_label, normalize_name

    column = next((j for j, c in enumerate(chunk.columns) if normalize_name(c) == normalize_name(target["column"])),
                  None)
    if column is None:
        return np.ones(len(chunk), dtype=bool)
    closed = set(normalize_label(pd.Series([target["positive"], *target.get("negatives", [])], dtype=object)))
    codes, distinct = pd.factorize(chunk.iloc[:, column], use_na_sentinel=False)  # each distinct cell read once
    return (~normalize_label(pd.Series(distinct, dtype=object)).isin(closed)).to_numpy()[codes]


def _print_ranked(top: Any, bundle: Any, pool: int) -> None:
    from rich.console import Console
    from rich.table import Table

    from backend.core.outputs import CLOSE_PROBABILITY, LEAD_SCORE, PREDICTED_MRR, SCORE_REASONS, SEGMENT

    if top is None or top.empty:
        print("No rows could be scored.")
        return
    ids = [c["name"] for c in bundle.card.get("excluded", []) if c["role"] == "id"]
    label = next((c for c in ids if c in top.columns), top.columns[0])
    which = "open leads" if top["_open"].all() else "leads"
    basis = "close probability x predicted MRR" if bundle.regressor is not None else "close probability"
    table = Table(title=f"Top {len(top)} {which} of {pool:,} (ranked by expected value: {basis})",
                  caption="Row = the lead's row number in the sheet (row 1 is the header).")
    for name in ("Row", str(label), LEAD_SCORE, CLOSE_PROBABILITY, PREDICTED_MRR, SEGMENT, "Top reason"):
        table.add_column(name, overflow="fold")
    for _, r in top.iterrows():
        mrr = r[PREDICTED_MRR]
        table.add_row(str(r["_row"]), str(r[label]), str(r[LEAD_SCORE]), f"{float(r[CLOSE_PROBABILITY]):.0%}",
                      "" if mrr != mrr else f"${float(mrr):,.0f}", str(r[SEGMENT]),
                      str(r[SCORE_REASONS]).split("; ")[0])
    Console(width=max(150, Console().width)).print(table)


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from backend.core.evaluate import classification_metrics
    from backend.core.labels import outcome_labels
    from backend.core.schema import resolve_column
    from backend.core.scoring import score_frame
    from backend.sources.files import read_table
    from backend.store import registry
    from backend.store.bundle import ModelBundle

    bundle = ModelBundle.load(registry.resolve(args.model, settings.model_dir))
    frame = read_table(args.data)
    target = resolve_column(frame, args.target, "target")
    y, _ = outcome_labels(frame[target], args.positive, args.negative)
    keep = ~(y != y)
    labelled = frame[keep].reset_index(drop=True)
    result = score_frame(bundle, labelled, with_reasons=False)
    gates = bundle.card["gates"]
    metrics = classification_metrics(y[keep].astype(int), result.close_probability,
                                     bundle.card["thresholds"]["decision"], gates["min_recall"])
    metrics.update({"model": bundle.version, "open_rows_skipped": int((~keep).sum())})
    if args.json:
        print(json.dumps(metrics))
    else:
        print(f"{bundle.name} {bundle.version} on {metrics['n']} labelled rows of {args.data} "
              f"(base rate {metrics['base_rate']:.1%}):")
        for key in ("auc", "precision", "recall", "f1", "threshold", "top_decile_lift", "brier", "calibration_error"):
            print(f"  {key:<18} {metrics[key]}")
        print("Note: these figures are held-out only if the model was not trained on these rows.")
    return EXIT_OK


