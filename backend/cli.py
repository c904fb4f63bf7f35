"""The command line: ``python -m backend train | score | evaluate | serve | models``.

Exit codes: 0 ok, 2 usage or bad input (the message names the column / row and what to
do), 3 a quality gate failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backend.config import Settings
from backend.errors import LeadScoreError, QualityGateFailed

EXIT_OK, EXIT_USAGE, EXIT_GATE = 0, 2, 3


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m backend", description="Lead scoring for Google Sheets.")
    sub = p.add_subparsers(dest="command", required=True)

    def target_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--target", required=True, help="the outcome column (e.g. Status)")
        sp.add_argument("--positive", required=True, help="the value that means won/converted (e.g. Won, 1, yes)")
        sp.add_argument("--negative", action="append", default=[], metavar="VALUE",
                        help="a value that means lost (repeatable; default: inferred, e.g. Lost for Won)")

    t = sub.add_parser("train", help="train a model bundle on a lead sheet's history")
    t.add_argument("data", help="history: .csv, .xlsx or .parquet")
    target_args(t)
    t.add_argument("--value", help="the MRR / deal value column of won rows (trains the MRR model)")
    t.add_argument("--out", type=Path, help="models directory (default: LEADSCORE_MODEL_DIR or ./models)")
    t.add_argument("--name", default="lead-score", help="model name shown in the card")
    for flag, dest, text in (("--drop", "drop", "never use this column"),
                             ("--id", "ids", "treat as an identifier (never a feature)"),
                             ("--categorical", "categorical", "treat as a category"),
                             ("--numeric", "numeric", "treat as a number"),
                             ("--date", "dates", "treat as a date (used as an age in days)"),
                             ("--keep", "keep", "use this column even if flagged")):
        t.add_argument(flag, dest=dest, action="append", default=[], metavar="COL", help=text)
    t.add_argument("--min-auc", type=float, default=0.75)
    t.add_argument("--min-precision", type=float, default=0.65)
    t.add_argument("--min-recall", type=float, default=0.75)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--force", action="store_true", help="promote even if a quality gate fails")
    t.add_argument("--json", action="store_true", help="print the card's metrics as JSON")

    s = sub.add_parser("score", help="score a lead sheet; writes the rows with the output columns")
    s.add_argument("data")
    s.add_argument("--model", help="a bundle directory or a models directory (default: the active model)")
    s.add_argument("-o", "--out", help="output .csv / .xlsx / .parquet (default: <name>.scored.csv)")
    s.add_argument("--top", type=int, default=10, help="how many ranked leads to print")

    e = sub.add_parser("evaluate", help="measure a model on labelled rows it was not trained on")
    e.add_argument("data")
    target_args(e)
    e.add_argument("--model")
    e.add_argument("--json", action="store_true")

    v = sub.add_parser("serve", help="run the HTTP backend (production WSGI server)")
    v.add_argument("--host", default="127.0.0.1")
    v.add_argument("--port", type=int, default=8080)

    m = sub.add_parser("models", help="the model registry: list, promote, rollback")
    m.add_argument("action", choices=["list", "promote", "rollback"])
    m.add_argument("version", nargs="?")
    m.add_argument("--dir", type=Path, help="models directory (default: LEADSCORE_MODEL_DIR or ./models)")
    return p


def _progress():  # type: ignore[no-untyped-def]
    """A rich progress bar on an interactive terminal; None otherwise."""
    if not sys.stderr.isatty():
        return None, None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   transient=True)
    tasks: dict[str, Any] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(f"training {stage}", total=total)
        bar.update(tasks[stage], completed=done)

    return bar, update


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from backend import registry
    from backend.data import read_table
    from backend.evaluate import Gates
    from backend.schema import RoleOverrides
    from backend.train import TrainConfig, train

    frame = read_table(args.data)
    config = TrainConfig(
        target=args.target, positive=args.positive, negatives=args.negative, value=args.value,
        overrides=RoleOverrides(drop=args.drop, ids=args.ids, categorical=args.categorical,
                                numeric=args.numeric, dates=args.dates, keep=args.keep),
        gates=Gates(min_auc=args.min_auc, min_precision=args.min_precision, min_recall=args.min_recall),
        seed=args.seed, name=args.name)
    bar, update = _progress()
    started = time.perf_counter()
    if bar is not None:
        with bar:
            result = train(frame, config, progress=update)
    else:
        result = train(frame, config)
    elapsed = time.perf_counter() - started
    card = result.bundle.card
    out_dir = args.out or settings.model_dir
    bundle_dir = result.bundle.save(Path(out_dir) / card["version"])
    promoted = result.passed or args.force
    if promoted:
        registry.promote(Path(out_dir), card["version"])
    if args.json:
        print(json.dumps({"version": card["version"], "promoted": promoted, "metrics": card["metrics"],
                          "gates": card["gates"], "counts": result.counts}, indent=2))
    else:
        _print_training(card, result, bundle_dir, promoted, elapsed)
    if not result.passed and not args.force:
        raise QualityGateFailed("Not promoted: " + " ".join(result.failures)
                                + " Use --force to promote anyway, or set your own gates with --min-auc, "
                                  "--min-precision, --min-recall.")
    return EXIT_OK


def _print_training(card: dict[str, Any], result: Any, bundle_dir: Path, promoted: bool, elapsed: float) -> None:
    c = result.counts
    print(f"Trained {card['version']} in {elapsed:.1f}s on {c['labelled']} labelled rows "
          f"({c['positives']} {card['target']['positive']}, {c['negatives']} {'/'.join(card['target']['negatives'])}); "
          f"{c['open']} open rows not used.")
    print("Features: " + ", ".join(f["name"] for f in card["features"]))
    for col in card["excluded"]:
        if col["role"] not in ("target", "value"):
            print(f"  excluded {col['name']!r}: {col['reason']}")
    m = card["metrics"]["classifier"]
    print(f"Held-out ({m['n']} rows, base rate {m['base_rate']:.1%}): AUC {m['auc']}, precision {m['precision']}, "
          f"recall {m['recall']}, F1 {m['f1']} at threshold {m['threshold']}; top-decile lift {m['top_decile_lift']}, "
          f"Brier {m['brier']}, calibration error {m['calibration_error']}.")
    v = card["metrics"]["value"]
    if v.get("mae") is not None:
        print(f"MRR if won ({v['n']} held-out won rows): MAE {v['mae']:,.2f} vs {v['median_baseline_mae']:,.2f} "
              f"for the median baseline.")
    for note in result.notes:
        print(f"note: {note}")
    gates = card["gates"]
    print(f"Gates (AUC > {gates['min_auc']}, precision > {gates['min_precision']}, recall > {gates['min_recall']}): "
          f"{'passed' if gates['passed'] else 'FAILED'}.")
    print(f"Bundle: {bundle_dir} ({'active' if promoted else 'not promoted'}).")


def cmd_score(args: argparse.Namespace, settings: Settings) -> int:
    import pandas as pd

    from backend import registry
    from backend.bundle import ModelBundle
    from backend.data import check_writable, iter_table, write_table
    from backend.outputs import CLOSE_PROBABILITY, LEAD_SCORE, OUTPUT_COLUMNS, PREDICTED_MRR
    from backend.scoring import score_frame

    bundle = ModelBundle.load(registry.resolve(args.model, settings.model_dir))
    for booster in (bundle.classifier, bundle.regressor):  # a batch job may use every core
        if booster is not None:
            booster.set_param({"nthread": os.cpu_count() or 1})
    src = Path(args.data)
    out = check_writable(args.out or f"{src.stem}.scored.csv")
    scored_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    stream = out.suffix.lower() == ".csv"
    parts: list[pd.DataFrame] = []
    top: pd.DataFrame | None = None
    warnings: dict[str, str] = {}
    n_rows, offset, first = 0, 0, True
    started = time.perf_counter()
    for chunk in iter_table(src):
        result = score_frame(bundle, chunk)
        outputs = result.output_frame(scored_at=scored_at, index=chunk.index)
        user_cols = [c for c in chunk.columns if c not in OUTPUT_COLUMNS]
        merged = pd.concat([chunk[user_cols], outputs], axis=1)
        for w in result.warnings:
            warnings.setdefault(w["code"] + str(w.get("columns")), w["message"])
        if stream:
            merged.to_csv(out, mode="w" if first else "a", header=first, index=False)
        else:
            parts.append(merged)
        ev = merged[CLOSE_PROBABILITY].astype(float) * (
            merged[PREDICTED_MRR].astype(float) if bundle.regressor is not None else 1.0)
        ranked = merged.assign(_ev=ev.to_numpy(), _row=range(offset + 2, offset + 2 + len(merged)))
        ranked = ranked[ranked[LEAD_SCORE].notna()].nlargest(args.top, "_ev")
        top = ranked if top is None else pd.concat([top, ranked]).nlargest(args.top, "_ev")
        n_rows += len(chunk)
        offset += len(chunk)
        first = False
    if not stream:
        write_table(pd.concat(parts) if parts else pd.DataFrame(), out)
    elapsed = time.perf_counter() - started
    for message in warnings.values():
        print(f"warning: {message}", file=sys.stderr)
    _print_ranked(top, bundle)
    print(f"Scored {n_rows} rows with {bundle.name} {bundle.version} in {elapsed:.2f}s → {out}")
    return EXIT_OK


def _print_ranked(top: Any, bundle: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from backend.outputs import CLOSE_PROBABILITY, LEAD_SCORE, PREDICTED_MRR, SCORE_REASONS, SEGMENT

    if top is None or top.empty:
        print("No rows could be scored.")
        return
    ids = [c["name"] for c in bundle.card.get("excluded", []) if c["role"] == "id"]
    label = next((c for c in ids if c in top.columns), top.columns[0])
    table = Table(title=f"Top {len(top)} leads (by expected value: close probability x predicted MRR)")
    for name in ("Row", str(label), LEAD_SCORE, CLOSE_PROBABILITY, PREDICTED_MRR, SEGMENT, "Top reason"):
        table.add_column(name, overflow="fold")
    for _, r in top.iterrows():
        mrr = r[PREDICTED_MRR]
        table.add_row(str(r["_row"]), str(r[label]), str(r[LEAD_SCORE]), f"{float(r[CLOSE_PROBABILITY]):.0%}",
                      "" if mrr != mrr else f"${float(mrr):,.0f}", str(r[SEGMENT]),
                      str(r[SCORE_REASONS]).split("; ")[0])
    Console(width=max(150, Console().width)).print(table)


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from backend import registry
    from backend.bundle import ModelBundle
    from backend.data import read_table
    from backend.evaluate import classification_metrics
    from backend.schema import resolve_column
    from backend.scoring import score_frame
    from backend.train import outcome_labels

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


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from backend.server import run

    run(host=args.host, port=args.port, settings=settings)
    return EXIT_OK


def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    from backend import registry
    from backend.errors import BadInput

    model_dir = args.dir or settings.model_dir
    if args.action == "list":
        for v in registry.list_versions(model_dir):
            print(f"{'*' if v['active'] else ' '} {v['version']}  trained {v['trained_at']}  AUC {v['auc']}  "
                  f"precision {v['precision']}  recall {v['recall']}  "
                  f"{'promotable' if v['promotable'] else 'failed gates'}")
    elif args.action == "promote":
        if not args.version:
            raise BadInput("Name the version to promote: python -m backend models promote VERSION.")
        registry.promote(model_dir, args.version)
        print(f"Active model: {args.version}")
    else:
        print(f"Active model: {registry.rollback(model_dir)}")
    return EXIT_OK


COMMANDS = {"train": cmd_train, "score": cmd_score, "evaluate": cmd_evaluate, "serve": cmd_serve,
            "models": cmd_models}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; errors become a one-line message and an exit code, never a traceback."""
    args = _parser().parse_args(argv)
    settings = Settings.from_env()
    try:
        return COMMANDS[args.command](args, settings)
    except LeadScoreError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
