"""The command line: ``python -m backend train | retrain | score | evaluate | serve | models``.

Exit codes: 0 ok, 2 usage or bad input (the message names the column / row and what to
do), 3 a quality gate failed.  ``train`` and ``retrain`` read a file or a Google Sheet tab
(``sheet://SPREADSHEET_ID/TAB``); every run is appended to ``models/experiments.jsonl``.
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

from backend.cli import regions
from backend.config import Settings
from backend.errors import LeadScoreError, QualityGateFailed

EXIT_OK, EXIT_USAGE, EXIT_GATE = 0, 2, 3
RETRAIN_LOCK = ".retrain.lock"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m backend", description="Lead scoring for Google Sheets.")
    sub = p.add_subparsers(dest="command", required=True)

    def target_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--target", required=True, help="the outcome column (e.g. Status)")
        sp.add_argument("--positive", required=True, help="the value that means won/converted (e.g. Won, 1, yes)")
        sp.add_argument("--negative", action="append", default=[], metavar="VALUE",
                        help="a value that means lost (repeatable; default: inferred, e.g. Lost for Won)")

    def training_args(sp: argparse.ArgumentParser) -> None:
        target_args(sp)
        sp.add_argument("--value", help="the MRR / deal value column of won rows (trains the MRR model)")
        sp.add_argument("--out", type=Path, help="models directory (default: LEADSCORE_MODEL_DIR or ./models)")
        sp.add_argument("--name", default="lead-score", help="model name shown in the card")
        for flag, dest, text in (("--drop", "drop", "never use this column"),
                                 ("--id", "ids", "treat as an identifier (never a feature)"),
                                 ("--categorical", "categorical", "treat as a category"),
                                 ("--numeric", "numeric", "treat as a number"),
                                 ("--date", "dates", "treat as a date (used as an age in days)"),
                                 ("--keep", "keep", "use this column even if the leakage guard flags it")):
            sp.add_argument(flag, dest=dest, action="append", default=[], metavar="COL", help=text)
        sp.add_argument("--min-auc", type=float, default=0.75)
        sp.add_argument("--min-precision", type=float, default=0.65)
        sp.add_argument("--min-recall", type=float, default=0.75)
        sp.add_argument("--max-calibration-error", type=float, default=0.10)
        sp.add_argument("--max-auc-drop", type=float, default=0.01,
                        help="largest AUC drop allowed against the active model on the same held-out rows")
        sp.add_argument("--max-lift-drop", type=float, default=0.05,
                        help="largest relative top-decile lift drop allowed against the active model")
        sp.add_argument("--seed", type=int, default=0)
        sp.add_argument("--cv", type=_cv_spec, default=(2, 5), metavar="REPEATSxFOLDS",
                        help="repeated stratified cross-validation on the non-test rows (default 2x5; 0 = off)")
        sp.add_argument("--tune", action="store_true",
                        help="try up to 8 fixed parameter sets on the validation rows; keep the defaults unless "
                             "one beats them")
        sp.add_argument("--tune-budget", type=float, default=120.0, metavar="SECONDS",
                        help="time budget of --tune (default 120)")
        sp.add_argument("--no-leakage-guard", dest="leakage_guard", action="store_false",
                        help="do not exclude columns that look recorded after the outcome (for comparisons)")
        sp.add_argument("--json", action="store_true", help="print the card's metrics as JSON")
        regions.add_geo_args(sp)

    t = sub.add_parser("train", help="train a model bundle on a lead sheet's history")
    t.add_argument("data", help="history: .csv, .xlsx, .parquet, or a Google Sheet tab as sheet://SPREADSHEET_ID/TAB")
    training_args(t)
    t.add_argument("--force", action="store_true", help="promote even if a quality gate fails")

    r = sub.add_parser("retrain", help="retrain from the latest outcomes; promote if the gates pass (cron-safe)")
    r.add_argument("data", help="history: sheet://SPREADSHEET_ID/TAB or a file exported from it")
    training_args(r)
    r.add_argument("--force", action="store_true",
                   help="train even if the data has not changed since the active model or the last run")

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
    m.add_argument("--force", action="store_true", help="promote a version that failed its quality gates")
    m.add_argument("--json", action="store_true", help="list as JSON")
    regions.add_parser(sub)
    return p


def _cv_spec(text: str) -> tuple[int, int]:
    """``2x5`` → (2 repeats, 5 folds); ``0`` or ``off`` → no cross-validation."""
    value = text.strip().lower()
    if value in ("0", "off", "none", "no"):
        return (0, 5)
    repeats, sep, folds = value.replace("×", "x").partition("x")
    try:
        pair = (int(repeats), int(folds) if sep else 5)
    except ValueError:
        pair = (-1, -1)
    if pair[0] < 0 or pair[1] < 2 or pair[0] > 10 or pair[1] > 20:
        raise argparse.ArgumentTypeError(f"'{text}' is not REPEATSxFOLDS (e.g. 2x5, 3x5, or 0 for none)")
    return pair


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


def _train_config(args: argparse.Namespace) -> Any:
    from backend.core.evaluate import Gates
    from backend.core.schema import RoleOverrides
    from backend.core.train import TrainConfig

    repeats, folds = args.cv
    return TrainConfig(
        target=args.target, positive=args.positive, negatives=args.negative, value=args.value,
        overrides=RoleOverrides(drop=args.drop, ids=args.ids, categorical=args.categorical,
                                numeric=args.numeric, dates=args.dates, keep=args.keep),
        gates=Gates(min_auc=args.min_auc, min_precision=args.min_precision, min_recall=args.min_recall,
                    max_calibration_error=args.max_calibration_error, max_auc_drop=args.max_auc_drop,
                    max_lift_drop=args.max_lift_drop),
        seed=args.seed, name=args.name, cv_repeats=repeats, cv_folds=folds, tune=args.tune,
        tune_budget_s=args.tune_budget, leakage=args.leakage_guard, geo=regions.geo_config(args))


def _active_or_none(model_dir: Path) -> Any:
    """The registry's active bundle, or None (nothing promoted yet, or it does not load)."""
    from backend.store import registry

    try:
        return registry.load_active(model_dir)
    except LeadScoreError as exc:
        if registry.active_version(model_dir) is not None:
            print(f"note: the active model could not be loaded for comparison ({exc.detail})")
        return None


def _train_and_register(frame: Any, config: Any, out_dir: Path, *, source: str, command: str, force: bool,
                        as_json: bool) -> int:
    """Train, store the bundle, promote it if it passed (or ``force``), log the run, report."""
    from backend.core.train import train
    from backend.store import experiments, registry

    active = _active_or_none(out_dir)
    bar, update = _progress()
    started = time.perf_counter()
    if bar is not None:
        with bar:
            result = train(frame, config, progress=update, active=active)
    else:
        result = train(frame, config, active=active)
    elapsed = time.perf_counter() - started
    card = result.bundle.card
    bundle_dir = result.bundle.save(out_dir / card["version"])
    promoted = result.passed or force
    if promoted:
        registry.promote(out_dir, card["version"])
    if result.passed:
        outcome, reason = "promoted", "passed every quality gate"
    elif force:
        outcome, reason = "promoted (forced)", "failed gates, promoted with --force: " + " ".join(result.failures)
    else:
        outcome, reason = "not promoted", " ".join(result.failures)
    log_path = experiments.record(out_dir, experiments.entry_for(
        card, command=command, source=source, promoted=promoted, outcome=outcome, reason=reason, elapsed_s=elapsed))
    if as_json:
        print(json.dumps({"version": card["version"], "promoted": promoted, "outcome": outcome, "reason": reason,
                          "metrics": card["metrics"], "gates": card["gates"], "counts": result.counts,
                          "leakage": card["leakage"], "comparison": card["comparison"],
                          "tuning": card["training"].get("tuning"), "bundle": str(bundle_dir)},
                         indent=2, default=str))
    else:
        _print_training(card, result, bundle_dir, promoted, elapsed)
        print(f"Experiment log: {log_path}")
    if not result.passed and not force:
        hint = (" Use --force to promote anyway, or set your own gates with --min-auc, --min-precision, "
                "--min-recall." if command == "train" else "")
        raise QualityGateFailed("Not promoted: " + " ".join(result.failures) + hint)
    return EXIT_OK


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from backend.sources.history import read_history

    frame = read_history(args.data, settings)
    out_dir = Path(args.out or settings.model_dir)
    return _train_and_register(frame, _train_config(args), out_dir, source=str(args.data), command="train",
                               force=args.force, as_json=args.json)


def cmd_retrain(args: argparse.Namespace, settings: Settings) -> int:
    from backend.core.train import config_fingerprint, data_sha256
    from backend.sources.history import read_history
    from backend.store import experiments, registry

    out_dir = Path(args.out or settings.model_dir)
    with registry.file_lock(out_dir / RETRAIN_LOCK, blocking=False) as locked:
        if not locked:
            print(f"Another retrain is running (lock {out_dir / RETRAIN_LOCK}); nothing done.")
            return EXIT_OK
        frame = read_history(args.data, settings)
        config = _train_config(args)
        digest = data_sha256(frame)
        if not args.force:
            active = registry.active_version(out_dir)
            card_path = out_dir / active / "card.json" if active else None
            if card_path is not None and card_path.is_file():
                card = json.loads(card_path.read_text())
                if (card.get("data") or {}).get("sha256") == digest:
                    print(f"Nothing to do: the active model {active} was trained on this data "
                          f"(sha256 {digest[:12]}…).")
                    return EXIT_OK
            last = experiments.last_run_on(out_dir, digest, config_fingerprint(config))
            if last is not None:
                print(f"Nothing to do: this data (sha256 {digest[:12]}…) was already trained as {last['version']} "
                      f"on {last['at']}: {last['outcome']} ({last['reason']}). Use --force to train again.")
                return EXIT_OK
        return _train_and_register(frame, config, out_dir, source=str(args.data), command="retrain",
                                   force=False, as_json=args.json)


def _print_training(card: dict[str, Any], result: Any, bundle_dir: Path, promoted: bool, elapsed: float) -> None:
    c = result.counts
    print(f"Trained {card['version']} in {elapsed:.1f}s on {c['labelled']} labelled rows "
          f"({c['positives']} {card['target']['positive']}, {c['negatives']} {'/'.join(card['target']['negatives'])}); "
          f"{c['open']} open rows not used.")
    for finding in result.leakage:
        print(f"Leakage guard: {finding.message()}")
    if any(f.excluded for f in result.leakage):
        print("  (a flagged column that is known before the outcome can be kept with --keep COL)")
    print("Features: " + ", ".join(f["name"] for f in card["features"]))
    for col in card["excluded"]:
        if col["role"] not in ("target", "value", "leakage"):
            print(f"  excluded {col['name']!r}: {col['reason']}")
    m = card["metrics"]["classifier"]
    print(f"Held-out ({m['n']} rows, base rate {m['base_rate']:.1%}): AUC {m['auc']}, precision {m['precision']}, "
          f"recall {m['recall']}, F1 {m['f1']} at threshold {m['threshold']}; top-decile lift {m['top_decile_lift']}, "
          f"Brier {m['brier']}, calibration error {m['calibration_error']}.")
    cv = card["metrics"].get("cross_validation") or {}
    if cv.get("enabled"):
        s = cv["summary"]

        def pm(key: str) -> str:
            sd = s[key]["sd"]
            return f"{s[key]['mean']:.3f}" + (f" ± {sd:.3f}" if sd is not None else "")

        print(f"Cross-validation ({cv['repeats']}x{cv['folds']} folds on {cv['rows']} non-test rows): AUC {pm('auc')}, "
              f"precision {pm('precision')}, recall {pm('recall')} at the threshold rule.")
    v = card["metrics"]["value"]
    if v.get("mae") is not None:
        print(f"MRR if won ({v['n']} held-out won rows): MAE {v['mae']:,.2f} vs {v['median_baseline_mae']:,.2f} "
              f"for the median baseline.")
    comparison = card.get("comparison") or {}
    if comparison.get("status") == "compared":
        new, old = comparison["candidate"], comparison["active"]
        print(f"Against the active model {comparison['version']} on {comparison['rows']} held-out rows new to both: "
              f"AUC {new['auc']} vs {old['auc']}, "
              f"top-decile lift {new['top_decile_lift']} vs {old['top_decile_lift']}.")
    tuning = (card.get("training") or {}).get("tuning")
    if tuning:
        best = max((t["score"] for t in tuning["trials"]), default=None)
        print(f"Tuning: {len(tuning['trials'])} candidates tried on validation rows"
              f"{' (time budget reached)' if tuning['out_of_time'] else ''}; kept {tuning['chosen']} "
              f"(validation AUC: defaults {tuning['default_score']}, best candidate {best}).")
    for note in result.notes:
        print(f"note: {note}")
    gates = card["gates"]
    print(f"Gates (AUC > {gates['min_auc']}, precision > {gates['min_precision']}, recall > {gates['min_recall']}, "
          f"calibration error ≤ {gates['max_calibration_error']}, no worse than the active model): "
          f"{'passed' if gates['passed'] else 'FAILED'}.")
    for failure in gates["failures"]:
        print(f"  - {failure}")
    print(f"Bundle: {bundle_dir} ({'active' if promoted else 'not promoted'}).")
    if (bundle_dir / "report.html").is_file():
        print(f"Report: {bundle_dir / 'report.html'}")


def cmd_score(args: argparse.Namespace, settings: Settings) -> int:
    import pandas as pd

    from backend.core.outputs import CLOSE_PROBABILITY, LEAD_SCORE, OUTPUT_COLUMNS, PREDICTED_MRR
    from backend.core.scoring import score_frame
    from backend.sources.files import check_writable, iter_table, write_table
    from backend.store import registry
    from backend.store.bundle import ModelBundle

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
        ranked = merged.assign(_ev=ev.to_numpy(), _row=range(offset + 2, offset + 2 + len(merged)),
                               _open=_open_rows(chunk, bundle.card["target"]))
        ranked = ranked[ranked[LEAD_SCORE].notna()]
        ranked = pd.concat([ranked[ranked["_open"]].nlargest(args.top, "_ev"), ranked.nlargest(args.top, "_ev")])
        top = ranked if top is None else pd.concat([top, ranked])
        n_rows += len(chunk)
        offset += len(chunk)
        first = False
    if not stream:
        write_table(pd.concat(parts) if parts else pd.DataFrame(), out)
    elapsed = time.perf_counter() - started
    for message in warnings.values():
        print(f"warning: {message}", file=sys.stderr)
    if top is not None:  # the leads to call are the open ones, when the sheet says which those are
        top = top.drop_duplicates("_row")
        top = (top[top["_open"]] if top["_open"].any() else top).nlargest(args.top, "_ev")
    _print_ranked(top, bundle)
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


def _print_ranked(top: Any, bundle: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from backend.core.outputs import CLOSE_PROBABILITY, LEAD_SCORE, PREDICTED_MRR, SCORE_REASONS, SEGMENT

    if top is None or top.empty:
        print("No rows could be scored.")
        return
    ids = [c["name"] for c in bundle.card.get("excluded", []) if c["role"] == "id"]
    label = next((c for c in ids if c in top.columns), top.columns[0])
    which = "open leads" if top["_open"].all() else "leads"
    table = Table(title=f"Top {len(top)} {which} (by expected value: close probability x predicted MRR)")
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
    from backend.core.schema import resolve_column
    from backend.core.scoring import score_frame
    from backend.core.train import outcome_labels
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


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from backend.web.server import run

    run(host=args.host, port=args.port, settings=settings)
    return EXIT_OK


def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    from backend.errors import BadInput
    from backend.store import registry

    model_dir = args.dir or settings.model_dir
    if args.action == "list":
        versions = registry.list_versions(model_dir)
        if args.json:
            print(json.dumps(versions, indent=2))
        elif not versions:
            print(f"No model versions in {model_dir}.")
        for v in [] if args.json else versions:
            if v["damaged"]:
                print(f"{'*' if v['active'] else ' '} {v['version']}  damaged card")
                continue
            cv = f"  CV AUC {v['cv_auc']}" if v.get("cv_auc") is not None else ""
            print(f"{'*' if v['active'] else ' '} {v['version']}  trained {v['trained_at']}  AUC {v['auc']}{cv}  "
                  f"precision {v['precision']}  recall {v['recall']}  "
                  f"{'promotable' if v['promotable'] else 'failed gates'}")
    elif args.action == "promote":
        if not args.version:
            raise BadInput("Name the version to promote: python -m backend models promote VERSION.")
        registry.promote(model_dir, args.version, require_promotable=not args.force)
        print(f"Active model: {args.version}")
    else:
        print(f"Active model: {registry.rollback(model_dir)}")
    return EXIT_OK


COMMANDS = {"train": cmd_train, "retrain": cmd_retrain, "score": cmd_score, "evaluate": cmd_evaluate,
            "serve": cmd_serve, "models": cmd_models, "regions": regions.run}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; errors become a one-line message and an exit code, never a traceback."""
    args = _parser().parse_args(argv)
    # XGBoost's OpenMP threads spin while they wait; on a shared machine (cron host, CI) that
    # starves every other process. Passive waiting costs nothing on a dedicated one.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    settings = Settings.from_env()
    try:
        return COMMANDS[args.command](args, settings)
    except LeadScoreError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
