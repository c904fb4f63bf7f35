"""``train`` and ``retrain``: fit, gate, store and (if it passed) promote a model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from backend.cli import regions
from backend.cli.common import EXIT_OK, progress_bar, target_args
from backend.config import Settings
from backend.core.evaluate import Gates
from backend.errors import BadInput, QualityGateFailed

RETRAIN_LOCK = ".retrain.lock"


def add_parsers(sub: Any) -> None:
    """The ``train`` and ``retrain`` sub-commands."""
    t = sub.add_parser("train", help="train a model bundle on a lead sheet's history")
    t.add_argument("data", help="history: .csv, .xlsx, .parquet, or a Google Sheet tab as sheet://SPREADSHEET_ID/TAB")
    training_args(t)
    t.set_defaults(func=cmd_train)
    t.add_argument("--force", action="store_true", help="promote even if a quality gate fails")
    engine_args(t)

    r = sub.add_parser("retrain", help="retrain from the latest outcomes; promote if the gates pass (cron-safe)")
    r.add_argument("data", help="history: sheet://SPREADSHEET_ID/TAB or a file exported from it")
    training_args(r)
    r.set_defaults(func=cmd_retrain)
    r.add_argument("--force", action="store_true",
                   help="train even if the data has not changed since the active model or the last run")



def engine_args(sp: argparse.ArgumentParser) -> None:
    """Where ``train`` runs: in this process, or on a Dask cluster (the optional Dask extra)."""
    sp.add_argument("--engine", choices=("local", "dask"), default="local",
                    help="local: in this process (default); dask: xgboost.dask on a Dask cluster, for histories "
                         "that do not fit in memory (CSV / Parquet files or a glob)")
    sp.add_argument("--scheduler", metavar="ADDRESS",
                    help="with --engine dask: the scheduler to use (tcp://host:8786); default: a local cluster")
    sp.add_argument("--workers", type=_positive, metavar="N", help="with --engine dask: workers of the local cluster")
    sp.add_argument("--sample-rows", type=_positive, default=200_000, metavar="N",
                    help="with --engine dask: rows the schema is fitted on (a uniform random sample; default 200000)")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of 1 or more")
    return value


def training_args(sp: argparse.ArgumentParser) -> None:
    """Everything that shapes a training run (shared by train and retrain)."""
    target_args(sp)
    sp.add_argument("--value", help="the MRR / deal value column of won rows (trains the MRR model)")
    sp.add_argument("--out", type=Path, help="models directory (default: LEADSCORE_MODEL_DIR or ./models)")
    sp.add_argument("--name", default="lead-score", help="model name shown in the card")
    for flag, dest, text in (("--drop", "drop", "never use this column"),
                             ("--id", "ids", "treat as an identifier (never a feature)"),
                             ("--categorical", "categorical", "treat as a category"),
                             ("--numeric", "numeric", "treat as a number"),
                             ("--date", "dates", "treat as a date (read in a way that does not age)"),
                             ("--keep", "keep", "use this column even if the leakage guard flags it")):
        sp.add_argument(flag, dest=dest, action="append", default=[], metavar="COL", help=text)
    sp.add_argument("--dayfirst", action="store_true", default=None,
                    help="read numeric dates as day/month/year (04.06.2026 = 4 June) in every date column "
                         "(default: decided per column from the cells that can only be read one way)")
    gates = Gates()  # the product's defaults live in one place
    sp.add_argument("--min-auc", type=float, default=gates.min_auc)
    sp.add_argument("--min-precision", type=float, default=gates.min_precision)
    sp.add_argument("--min-recall", type=float, default=gates.min_recall)
    sp.add_argument("--max-calibration-error", type=float, default=gates.max_calibration_error)
    sp.add_argument("--max-auc-drop", type=float, default=gates.max_auc_drop,
                    help="largest AUC drop allowed against the active model on the same held-out rows")
    sp.add_argument("--max-lift-drop", type=float, default=gates.max_lift_drop,
                    help="largest relative top-decile lift drop allowed against the active model")
    sp.add_argument("--group", metavar="COL",
                    help="rows sharing a value of this column (a company, an email domain) are one lead: they stay "
                         "on one side of every split")
    sp.add_argument("--out-of-time", dest="out_of_time", action="store_true",
                    help="hold out the newest leads (by the creation date) instead of a random sample")
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
    sp.add_argument("--rules", metavar="FILE", help="a points rulebook: each group's points become model features, "
                                                    "and the report compares the rules alone with the model")


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


def _train_config(args: argparse.Namespace) -> Any:
    from backend.core.rules import load_rulebook
    from backend.core.schema import RoleOverrides
    from backend.core.train import TrainConfig

    repeats, folds = args.cv
    return TrainConfig(
        target=args.target, positive=args.positive, negatives=args.negative, value=args.value,
        overrides=RoleOverrides(drop=args.drop, ids=args.ids, categorical=args.categorical,
                                numeric=args.numeric, dates=args.dates, keep=args.keep,
                                dayfirst=args.dayfirst),
        gates=Gates(min_auc=args.min_auc, min_precision=args.min_precision, min_recall=args.min_recall,
                    max_calibration_error=args.max_calibration_error, max_auc_drop=args.max_auc_drop,
                    max_lift_drop=args.max_lift_drop),
        seed=args.seed, name=args.name, cv_repeats=repeats, cv_folds=folds, tune=args.tune,
        tune_budget_s=args.tune_budget, leakage=args.leakage_guard, group=args.group, out_of_time=args.out_of_time,
        geo=regions.geo_config(args), rules=load_rulebook(args.rules) if getattr(args, "rules", None) else None)


def _train_and_register(frame: Any, config: Any, out_dir: Path, settings: Settings, *, source: str, command: str,
                        force: bool, as_json: bool, trainer: Any = None) -> int:
    """Train, store the bundle, promote it if it passed (or ``force``), log the run, report."""
    from backend.store.training_run import run_training

    bar, update = progress_bar()
    notes: list[str] = []

    def run() -> Any:
        return run_training(frame, config, out_dir, source=source, command=command, force=force, progress=update,
                            mlflow_uri=settings.mlflow_uri, mlflow_experiment=settings.mlflow_experiment, notes=notes,
                            trainer=trainer)

    if bar is not None:
        with bar:
            done = run()
    else:
        done = run()
    for note in notes:
        print(f"note: {note}")
    result, card, bundle_dir, log_path = done.result, done.card, done.bundle_dir, done.log_path
    promoted, outcome, reason, elapsed = done.promoted, done.outcome, done.reason, done.elapsed_s
    if as_json:
        print(json.dumps({"version": card["version"], "promoted": promoted, "outcome": outcome, "reason": reason,
                          "metrics": card["metrics"], "gates": card["gates"], "counts": result.counts,
                          "leakage": card["leakage"], "warnings": card.get("warnings", []),
                          "groups": card["data"].get("groups"), "split": card["data"]["split"],
                          "dates": card.get("dates", []), "comparison": card["comparison"],
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
    from backend.cli.common import status
    from backend.sources.history import read_history

    if args.engine == "dask":
        return _train_on_dask(args, settings)
    if args.scheduler or args.workers:
        raise BadInput("--scheduler and --workers set where a Dask run trains: add --engine dask.")
    with status(f"Reading {args.data}"):
        frame = read_history(args.data, settings)
    out_dir = Path(args.out or settings.model_dir)
    return _train_and_register(frame, _train_config(args), out_dir, settings, source=str(args.data), command="train",
                               force=args.force, as_json=args.json)


def _train_on_dask(args: argparse.Namespace, settings: Settings) -> int:
    """``train --engine dask``: the same run, with ``xgboost.dask`` on the cluster (backend/scale/dask_train.py)."""
    from functools import partial

    from backend.scale.cluster import dask_client, require_dask

    require_dask()
    from backend.scale.dask_train import train_dask

    config = _train_config(args)
    out_dir = Path(args.out or settings.model_dir)
    with dask_client(args.scheduler, workers=args.workers) as client:
        trainer = partial(train_dask, str(args.data), client=client, sample_rows=args.sample_rows)
        return _train_and_register(None, config, out_dir, settings, source=str(args.data), command="train",
                                   force=args.force, as_json=args.json, trainer=trainer)


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
        return _train_and_register(frame, config, out_dir, settings, source=str(args.data), command="retrain",
                                   force=False, as_json=args.json)


def _print_training(card: dict[str, Any], result: Any, bundle_dir: Path, promoted: bool, elapsed: float) -> None:
    c = result.counts
    print(f"Trained {card['version']} in {elapsed:.1f}s on {c['labelled']} labelled rows "
          f"({c['positives']} {card['target']['positive']}, {c['negatives']} {'/'.join(card['target']['negatives'])}); "
          f"{c['open']} open rows not used.")
    for finding in result.leakage:
        print(f"Leakage guard: {finding.message()}")
    if any(f.excluded and not f.warning for f in result.leakage):
        print("  (a flagged column that is known before the outcome can be kept with --keep COL)")
    print("Features: " + ", ".join(f["name"] for f in card["features"]))
    for col in card["excluded"]:
        if col["role"] not in ("target", "value", "leakage"):
            print(f"  excluded {col['name']!r}: {col['reason']}")
    for d in card.get("dates") or []:
        print(f"Date {d['column']!r}: {d.get('how', '')}.")
    if result.groups is not None:
        print(f"Repeated leads: {result.groups.sentence()}")
    split = card["data"]["split"]
    engine = card.get("engine")
    if engine:  # --engine dask: what ran where (backend/scale/dask_train.py)
        print(f"Engine: {engine['name']} ({engine['workers']} workers, {engine['partitions']} partitions, "
              f"{engine['rows']} rows); schema fitted on a sample of {engine['sample_rows']} rows.")
        print(f"Held-out rows: {split.get('method')}; the classifier learnt from {split.get('refit_on')} fit rows.")
    else:
        print(f"Held-out rows: {split.get('method')}; final boosters refit on {split.get('refit_on')} non-test rows.")
    if card.get("data_quality"):  # what was read in each column (backend/core/quality.py)
        from backend.core.quality import format_quality
        print("\n".join(format_quality(card["data_quality"])))
    m = card["metrics"]["classifier"]
    ci = m.get("intervals") or {}

    def fig(key: str) -> str:
        interval = ci.get(key)
        return f"{m[key]}" + (f" [{interval[0]:.3f}–{interval[1]:.3f}]" if interval else "")

    print(f"Held-out ({m['n']} rows, base rate {m['base_rate']:.1%}; 95 % intervals): AUC {fig('auc')}, "
          f"precision {fig('precision')}, recall {fig('recall')}, F1 {m['f1']} at threshold {m['threshold']}; "
          f"top-decile lift {m['top_decile_lift']}, Brier {m['brier']}, calibration error {fig('calibration_error')}.")
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
    rules = card.get("rules")
    if rules:
        r, mo = rules["rules"], rules["model"]
        print(f"Rules alone vs the model on the same {rules['rows']} held-out leads: AUC {r['auc']} vs {mo['auc']}, "
              f"top-decile lift {r['top_decile_lift']} vs {mo['top_decile_lift']}. {rules['verdict']}")
    segments = card.get("segments")
    if segments:
        print(f"Segments: {len(segments['segments'])} kinds of lead ({segments['method']}); "
              "see `python -m backend segments`.")
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


