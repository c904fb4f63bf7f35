"""Train on the public lead datasets and report what the product finds (bench/RESULTS.md).

    python bench/real_data.py [--data ../shared/data] [--work /tmp/leadscore-bench] [--markdown OUT.md]
                              [--code DIR] [--cv 2x5] [--only LABEL]

``--code DIR`` runs the ``backend`` package found in DIR (e.g. an export of an older commit,
``git archive COMMIT | tar -x -C DIR``) instead of this checkout: the same runs, before and after.

Each run is the product's own command line (``python -m backend train ... --json``), so the
figures are exactly what a user would see: the leakage guard's findings, held-out metrics,
repeated cross-validation (mean ± sd), the gates, and the MRR / value error against the
median baseline.  A dataset whose folder is missing is skipped.  Runs:

    x_education   Converted = 1; nothing dropped by hand (the guard must find the leaks);
                  the same without the guard (what the leaks do); the same with the README's
                  remaining sales-entered columns dropped (to compare with its reference AUC);
                  and with --tune
    bank-full     y = yes; with and without the guard (the leak is ``duration``)
    maven_crm     the joined pipeline (bench/maven_join.py), Won vs Lost, value close_value;
                  again without engage_date (it must not be what the model leans on); then the
                  open deals (Engaging / Prospecting) are scored with the trained bundle
    sample        the bundled sample sheet (backend/sample/leads.csv), value MRR
    repeated      a generated history where 20 % of won leads appear 6 times (ids and the product
                  differ; backend/sample/histories.py): the held-out AUC is compared with the AUC
                  on new leads from the same process (a group-disjoint set built separately)
Every dataset is also trained with --tune.  For X Education, the trained bundle also scores the
file with Tags and Lead Quality blank (as on a new lead): the AUC must not move.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data"
X_EDUCATION_SALES_COLUMNS = ["Lead Profile", "Last Activity", "Last Notable Activity", "Asymmetrique Activity Index",
                             "Asymmetrique Profile Index", "Asymmetrique Activity Score",
                             "Asymmetrique Profile Score"]


@dataclass
class Run:
    """One training run: a label, the dataset folder it needs, and the CLI arguments."""

    label: str
    folder: str
    args: list[str]
    note: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    code: int | None = None
    seconds: float = 0.0
    stderr: str = ""


CODE = [ROOT]  # the source tree whose backend is measured (--code)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(CODE[0]), "OMP_WAIT_POLICY": "PASSIVE"}


_PATHS: dict[str, str] = {}  # absolute path prefix → how RESULTS.md shows it


def _shown(args: list[str]) -> str:
    text = shlex.join(["python", "-m", "backend", *args])
    for prefix, shown in sorted(_PATHS.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(prefix, shown)
    return text.replace(str(ROOT) + "/", "")


def runs(data: Path, work: Path, cv: str) -> list[Run]:
    """The benchmark runs (paths resolved)."""
    x_ed = str(data / "x_education" / "Leads.csv")
    bank = str(data / "uci_bank_marketing" / "bank-full.csv")
    maven = str(work / "maven_crm_joined.csv")
    sample = str(ROOT / "backend" / "sample" / "leads.csv")
    repeated = str(work / "repeated.csv")
    common = ["--cv", cv, "--json"]
    drops = [a for c in X_EDUCATION_SALES_COLUMNS for a in ("--drop", c)]
    return [
        Run("x_education", "x_education", ["train", x_ed, "--target", "Converted", "--positive", "1", *common],
            "nothing dropped by hand"),
        Run("x_education, no guard", "x_education",
            ["train", x_ed, "--target", "Converted", "--positive", "1", "--no-leakage-guard", *common],
            "what the leaks do"),
        Run("x_education, sales columns dropped", "x_education",
            ["train", x_ed, "--target", "Converted", "--positive", "1", *drops, *common],
            "guard + the README's other sales-entered columns dropped by hand"),
        Run("x_education, --tune", "x_education",
            ["train", x_ed, "--target", "Converted", "--positive", "1", "--tune", *common], "bounded search"),
        Run("bank-full", "uci_bank_marketing", ["train", bank, "--target", "y", "--positive", "yes", *common]),
        Run("bank-full, --tune", "uci_bank_marketing",
            ["train", bank, "--target", "y", "--positive", "yes", "--tune", *common], "bounded search"),
        Run("bank-full, no guard", "uci_bank_marketing",
            ["train", bank, "--target", "y", "--positive", "yes", "--no-leakage-guard", *common], "what the leak does"),
        Run("maven_crm", "maven_crm", ["train", maven, "--target", "deal_stage", "--positive", "Won", "--negative",
                                       "Lost", "--value", "close_value", *common]),
        Run("maven_crm, --tune", "maven_crm", ["train", maven, "--target", "deal_stage", "--positive", "Won",
                                               "--negative", "Lost", "--value", "close_value", "--tune", *common],
            "bounded search"),
        Run("sample", "", ["train", sample, "--target", "Status", "--positive", "Won", "--value", "MRR", *common]),
        Run("sample, --tune", "", ["train", sample, "--target", "Status", "--positive", "Won", "--value", "MRR",
                                   "--tune", *common], "bounded search"),
        Run("repeated", "", ["train", repeated, "--target", "Status", "--positive", "Won", *common],
            "20 % of won leads appear 6 times"),
        Run("maven_crm, engage_date dropped", "maven_crm",
            ["train", maven, "--target", "deal_stage", "--positive", "Won", "--negative", "Lost", "--value",
             "close_value", "--drop", "engage_date", *common], "does the model lean on engage_date?"),
    ]


def execute(run: Run, work: Path) -> None:
    """Run one training in its own models directory; keep its JSON summary."""
    out = work / run.label.replace(",", "").replace(" ", "_").replace("-", "_")
    args = [*run.args, "--out", str(out)]
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "backend", *args], cwd=CODE[0], env=_env(), capture_output=True,
                          text=True, timeout=3600)
    run.seconds = time.perf_counter() - started
    run.code = proc.returncode
    run.stderr = proc.stderr.strip()
    if proc.stdout.strip():
        start = proc.stdout.index("{")
        run.result = json.loads(proc.stdout[start:])


def _score_auc(bundle: str, data: Path, target: str, positive: str, work: Path, name: str) -> float | None:
    """AUC of a trained bundle's Close Probability on a labelled file (scored by the product's CLI)."""
    from sklearn.metrics import roc_auc_score

    out = work / f"{name}_scored.csv"
    proc = subprocess.run([sys.executable, "-m", "backend", "score", str(data), "--model", bundle, "-o", str(out)],
                          cwd=CODE[0], env=_env(), capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        return None
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    sep = ";" if data.name.startswith("bank") else ","
    labels = pd.read_csv(data, dtype=str, keep_default_na=False, sep=sep)[target].str.strip().str.lower()
    keep = labels.ne("") & frame["Close Probability"].ne("")
    return round(float(roc_auc_score(labels[keep].eq(positive.lower()), frame.loc[keep, "Close Probability"]
                                     .astype(float))), 4)


def new_leads_check(data: Path, work: Path, run: Run) -> dict[str, Any] | None:
    """X Education scored as is and with Tags / Lead Quality blank (as on a new lead): AUC of both."""
    bundle = run.result.get("bundle")
    if not bundle:
        return None
    path = data / "x_education" / "Leads.csv"
    blank = pd.read_csv(path, dtype=str, keep_default_na=False)
    blank[["Tags", "Lead Quality"]] = ""
    blank_path = work / "x_education_new_leads.csv"
    blank.to_csv(blank_path, index=False)
    return {"as_is": _score_auc(bundle, path, "Converted", "1", work, "xed_as_is"),
            "blank": _score_auc(bundle, blank_path, "Converted", "1", work, "xed_blank")}


def repeated_check(work: Path, run: Run) -> dict[str, Any] | None:
    """The repeated-leads history: held-out AUC against the AUC on fresh leads from the same process."""
    bundle = run.result.get("bundle")
    if not bundle:
        return None
    fresh = _score_auc(bundle, work / "repeated_fresh.csv", "Status", "Won", work, "repeated_fresh")
    return {"held_out": run.result["metrics"]["classifier"]["auc"], "fresh": fresh}


def score_open_deals(work: Path, maven_run: Run) -> dict[str, Any] | None:
    """Score the Maven open deals with the trained bundle; lead-score counts per stage."""
    bundle = maven_run.result.get("bundle")
    if not bundle:
        return None
    scored = work / "maven_scored.csv"
    args = ["score", str(work / "maven_crm_joined.csv"), "--model", bundle, "-o", str(scored), "--top", "5"]
    proc = subprocess.run([sys.executable, "-m", "backend", *args], cwd=CODE[0], env=_env(), capture_output=True,
                          text=True, timeout=600)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip()}
    frame = pd.read_csv(scored, dtype=str, keep_default_na=False)
    open_rows = frame[frame["deal_stage"].isin(["Engaging", "Prospecting"])]
    counts = (open_rows.groupby("deal_stage")["Lead Score"].value_counts().unstack(fill_value=0)
              .reindex(columns=[str(i) for i in range(1, 11)], fill_value=0))
    return {"command": _shown(args), "open": len(open_rows),
            "blank_account": int((open_rows["account"] == "").sum()),
            "by_stage": {stage: row.to_dict() for stage, row in counts.iterrows()}}


def _pm(summary: dict[str, Any], key: str) -> str:
    s = (summary or {}).get(key) or {}
    if s.get("mean") is None:
        return "–"
    return f"{s['mean']:.3f} ± {s['sd']:.3f}" if s.get("sd") is not None else f"{s['mean']:.3f}"


def markdown(all_runs: list[Run], scored: dict[str, Any] | None, checks: dict[str, Any] | None = None) -> str:
    """The results as markdown: one table, then per run the command, guard findings and gates."""
    lines = ["| run | guard excluded | held-out AUC | precision | recall | CV AUC | CV precision | CV recall | "
             "value MAE (median baseline) | gates | time |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in all_runs:
        if not r.result:
            lines.append(f"| {r.label} | skipped or failed | | | | | | | | | |")
            continue
        m = r.result["metrics"]["classifier"]
        cv = (r.result["metrics"].get("cross_validation") or {}).get("summary") or {}
        v = r.result["metrics"].get("value") or {}
        value = f"{v['mae']:,.0f} ({v['median_baseline_mae']:,.0f})" if v.get("mae") is not None else "–"
        leaks = ", ".join(f"`{f['column']}`" for f in r.result["leakage"] if f["excluded"]) or "none"
        gates = "passed" if r.result["gates"]["passed"] else "failed"
        lines.append(f"| {r.label} | {leaks} | {m['auc']:.3f} | {m['precision']:.3f} | {m['recall']:.3f} | "
                     f"{_pm(cv, 'auc')} | {_pm(cv, 'precision')} | {_pm(cv, 'recall')} | {value} | {gates} | "
                     f"{r.seconds:.0f} s |")
    lines.append("")
    for name, check in (checks or {}).items():
        lines.append(f"- {name}: {check}")
    lines.append("")
    for r in all_runs:
        lines.append(f"### {r.label}" + (f" ({r.note})" if r.note else ""))
        lines.append("")
        lines.append(f"    {_shown([*r.args, '--out', 'DIR'])}")
        lines.append("")
        if not r.result:
            lines.append(f"Not run: {r.stderr or 'dataset missing'}")
            lines.append("")
            continue
        for f in r.result["leakage"]:
            lines.append(f"- guard: `{f['column']}` — {f['kind']}: {f['figure']}"
                         f"{'' if f['excluded'] else ' (kept)'}")
        for f in r.result.get("warnings") or []:
            lines.append(f"- warning (kept): `{f['column']}` — {f['figure']}")
        if r.result.get("groups"):
            g = r.result["groups"]
            lines.append(f"- groups: {g['groups']} for {g['rows']} rows ({g['repeated_rows']} rows share a group); "
                         f"split: {r.result['split'].get('method')}; refit on {r.result['split'].get('refit_on')} rows")
        ci = r.result["metrics"]["classifier"].get("intervals") or {}
        if ci:
            lines.append("- 95 % intervals: " + ", ".join(f"{k} {v[0]:.3f}–{v[1]:.3f}" for k, v in ci.items()))
        m = r.result["metrics"]["classifier"]
        lines.append(f"- held-out ({m['n']} rows, base rate {m['base_rate']:.1%}): AUC {m['auc']}, precision "
                     f"{m['precision']}, recall {m['recall']} at threshold {m['threshold']}; top-decile lift "
                     f"{m['top_decile_lift']}; calibration error {m['calibration_error']}; best precision at recall "
                     f"≥ 0.75: {m.get('best_precision_at_min_recall')}")
        tuning = r.result.get("tuning")
        if tuning:
            best = max(tuning["trials"], key=lambda t: t["score"], default=None)
            lines.append(f"- tuning: {len(tuning['trials'])} candidates on validation rows; defaults scored "
                         f"{tuning['default_score']}, best candidate {best and best['score']} "
                         f"({best and best['overrides']}); kept {tuning['chosen']}")
        for failure in r.result["gates"]["failures"]:
            lines.append(f"- gate failed: {failure}")
        lines.append(f"- exit code {r.code}; {r.seconds:.0f} s")
        lines.append("")
    if scored:
        lines.append("### maven_crm: open deals scored, not trained on")
        lines.append("")
        lines.append(f"    {scored.get('command', '')}")
        lines.append("")
        if "error" in scored:
            lines.append(f"Failed: {scored['error']}")
        else:
            lines.append(f"{scored['open']} open deals scored ({scored['blank_account']} have no account, so no "
                         "sector / revenue / employees). Lead Score counts, 1 → 10:")
            lines.append("")
            for stage, counts in scored["by_stage"].items():
                lines.append(f"- {stage}: " + " ".join(str(counts[str(i)]) for i in range(1, 11)))
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run every benchmark whose data is present; print (and optionally write) the markdown."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "leadscore-bench")
    p.add_argument("--cv", default="2x5")
    p.add_argument("--only", action="append", default=[], help="run only labels starting with this (repeatable)")
    p.add_argument("--markdown", type=Path, help="also write the markdown here")
    p.add_argument("--code", type=Path, default=ROOT, help="the source tree whose backend is run (default: this one)")
    args = p.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    CODE[0] = args.code.resolve()
    sys.path.insert(0, str(ROOT))
    from backend.sample.histories import repeated_history  # generated with this checkout, for both trees

    repeated_history(6000, seed=4).to_csv(args.work / "repeated.csv", index=False)
    repeated_history(6000, seed=4, fresh=True).to_csv(args.work / "repeated_fresh.csv", index=False)
    _PATHS.update({str(args.data.resolve()): "../shared/data", str(args.work): "$WORK"})
    if (args.data / "maven_crm" / "sales_pipeline.csv").is_file():
        subprocess.run([sys.executable, str(ROOT / "bench" / "maven_join.py"), "--data", str(args.data / "maven_crm"),
                        "--out", str(args.work / "maven_crm_joined.csv")], check=True, env=_env())
    selected = [r for r in runs(args.data, args.work, args.cv)
                if not args.only or any(r.label.startswith(o) for o in args.only)]
    done: list[Run] = []
    for run in selected:
        if run.folder and not (args.data / run.folder).is_dir():
            print(f"skip {run.label}: {args.data / run.folder} is missing", file=sys.stderr)
            continue
        print(f"run  {run.label} …", file=sys.stderr, flush=True)
        execute(run, args.work)
        done.append(run)
    maven = next((r for r in done if r.label == "maven_crm"), None)
    scored = score_open_deals(args.work, maven) if maven is not None else None
    checks: dict[str, Any] = {}
    x_ed = next((r for r in done if r.label == "x_education"), None)
    if x_ed is not None:
        checks["x_education AUC on the whole file as is vs with Tags and Lead Quality blank"] = new_leads_check(
            args.data, args.work, x_ed)
    rep = next((r for r in done if r.label == "repeated"), None)
    if rep is not None:
        checks["repeated leads: held-out AUC vs AUC on fresh leads"] = repeated_check(args.work, rep)
    text = markdown(done, scored, checks)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    (args.work / "results.json").write_text(json.dumps(
        {"runs": [{"label": r.label, "command": _shown(r.args), "code": r.code, "seconds": r.seconds,
                   "result": r.result} for r in done], "checks": checks}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
