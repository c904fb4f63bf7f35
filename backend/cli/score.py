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


def add_parsers(sub: Any) -> None:
    """The ``score`` and ``evaluate`` sub-commands."""
    s = sub.add_parser("score", help="score a lead sheet; writes the rows with the output columns")
    s.add_argument("data")
    s.add_argument("--model", help="a bundle directory or a models directory (default: the active model)")
    s.add_argument("-o", "--out", help="output .csv / .xlsx / .parquet (default: <name>.scored.csv)")
    s.set_defaults(func=cmd_score)
    s.add_argument("--top", type=int, default=10, help="how many ranked leads to print")
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
    import pandas as pd

    from backend.cli.common import row_progress
    from backend.core.batch import score_chunk
    from backend.core.outputs import CLOSE_PROBABILITY, LEAD_SCORE, PREDICTED_MRR
    from backend.sources.files import check_writable, iter_table, sheet_name, write_table
    from backend.store import registry
    from backend.store.bundle import ModelBundle

    if getattr(args, "rules", None):
        from backend.cli.rules import score_with_rules

        return score_with_rules(args, settings)
    bundle = ModelBundle.load(registry.resolve(args.model, settings.model_dir))
    for booster in (bundle.classifier, bundle.regressor):  # a batch job may use every core
        if booster is not None:
            booster.set_param({"nthread": os.cpu_count() or 1})
    src = Path(args.data)
    # By default the scored copy sits next to the sheet it came from: leads.csv → leads.scored.csv.
    out = check_writable(args.out or src.with_name(f"{src.stem}.scored.csv"))
    scored_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    stream = out.suffix.lower() == ".csv"
    parts: list[pd.DataFrame] = []
    top: pd.DataFrame | None = None
    warnings: dict[str, str] = {}
    n_rows, n_open, offset, first = 0, 0, 0, True
    started = time.perf_counter()
    with row_progress(f"Scoring {src.name}") as advance:
        for chunk in iter_table(src):
            merged, result = score_chunk(bundle, chunk, scored_at=scored_at)
            for w in result.warnings:
                warnings.setdefault(w["code"] + str(w.get("columns")), w["message"])
            if stream:
                merged.to_csv(out, mode="w" if first else "a", header=first, index=False)
            else:
                parts.append(merged)
            ev = merged[CLOSE_PROBABILITY].astype(float) * (
                merged[PREDICTED_MRR].astype(float) if bundle.regressor is not None else 1.0)
            ranked = merged.assign(_ev=ev.to_numpy(), _row=range(offset + 2, offset + 2 + len(merged)),
                                   _open=_open_rows(chunk, bundle.card["target"]))
            ranked = ranked[ranked[LEAD_SCORE].notna()]
            n_open += int(ranked["_open"].sum())
            ranked = pd.concat([ranked[ranked["_open"]].nlargest(args.top, "_ev"), ranked.nlargest(args.top, "_ev")])
            top = ranked if top is None else pd.concat([top, ranked])
            n_rows += len(chunk)
            offset += len(chunk)
            first = False
            advance(len(chunk))
    if not stream:
        write_table(pd.concat(parts) if parts else pd.DataFrame(), out, sheet=sheet_name(src))
    elapsed = time.perf_counter() - started
    for message in warnings.values():
        print(f"warning: {message}", file=sys.stderr)
    if top is not None:  # the leads to call are the open ones, when the sheet says which those are
        top = top.drop_duplicates("_row")
        top = (top[top["_open"]] if top["_open"].any() else top).nlargest(args.top, "_ev")
    _print_ranked(top, bundle, n_open if n_open else n_rows)
    print(f"Scored {n_rows} rows with {bundle.name} {bundle.version} in {elapsed:.2f}s → {out}")
    return EXIT_OK


def _open_rows(chunk: Any, target: dict[str, Any]) -> Any:
    """True for rows whose outcome cell is neither the positive nor a negative value (still open).

    All rows count as open when the sheet has no outcome column.
    """
    import numpy as np
    import pandas as pd

    from backend.core.schema import normalize_label, normalize_name

    column = next((c for c in chunk.columns if normalize_name(c) == normalize_name(target["column"])), None)
    if column is None:
        return np.ones(len(chunk), dtype=bool)
    closed = set(normalize_label(pd.Series([target["positive"], *target.get("negatives", [])], dtype=object)))
    return (~normalize_label(chunk[column]).isin(closed)).to_numpy()


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


