"""Points rules against the model on X Education, and what ``rules suggest`` learns there.

    python bench/x_education_rules.py [--data ../shared/data] [--out /tmp/leadscore-rules]

1. Trains the product's model on X Education (Converted = 1; leakage guard on, no CV; the
   columns sales fills in after contact dropped, as the data README lists them: Lead Profile,
   Last (Notable) Activity, Asymmetrique *) with the hand-written rulebook
   bench/x_education_rules.yaml (``train --rules``: each group's points are features) and
   without it, and prints, on the same held-out test leads: AUC, top-decile lift and
   score-band conversion for the rules alone, the model with the rules' points as features,
   and the model without them; plus, for reference, the model with those columns left in.
2. Learns a starter rulebook (``rules suggest``) from the non-test leads only (same columns
   dropped), and scores it on the same held-out leads, so its figures are held-out too.
3. Prints the segment table of the model trained with rules.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from backend.core.evaluate import monotone_steps, score_bands, top_decile_lift
from backend.core.labels import outcome_labels
from backend.core.rules import load_rulebook, parse_rulebook
from backend.core.schema import RoleOverrides
from backend.core.suggest import suggest_rulebook
from backend.core.train import TrainConfig, _split, train
from backend.sources.files import read_table

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data"
SALES_COLUMNS = ["Lead Profile", "Last Activity", "Last Notable Activity", "Asymmetrique Activity Index",
                 "Asymmetrique Profile Index", "Asymmetrique Activity Score", "Asymmetrique Profile Score"]


def figures(y: np.ndarray, score: np.ndarray, bands: np.ndarray) -> dict[str, object]:
    b = score_bands(y, bands, score)
    up, steps = monotone_steps(b)
    return {"auc": round(float(roc_auc_score(y, score)), 4), "top_decile_lift": round(top_decile_lift(y, score), 3),
            "monotone": f"{up}/{steps}", "bands": {r["score"]: (r["n"], r["conversion_rate"]) for r in b}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--out", type=Path, default=Path("/tmp/leadscore-rules"))
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    frame = read_table(args.data / "x_education" / "Leads.csv")
    book = load_rulebook(str(ROOT / "bench" / "x_education_rules.yaml"))
    config = TrainConfig(target="Converted", positive="1", cv_repeats=0, seed=0,
                         overrides=RoleOverrides(drop=SALES_COLUMNS))

    started = time.perf_counter()
    with_rules = train(frame, replace(config, rules=book))
    t_rules = time.perf_counter() - started
    started = time.perf_counter()
    plain = train(frame, config)
    t_plain = time.perf_counter() - started
    leaky = train(frame, replace(config, overrides=RoleOverrides(), segments=False))
    card, plain_card = with_rules.bundle.card, plain.bundle.card
    cmp = card["rules"]
    assert card["data"]["split"] == plain_card["data"]["split"]  # the same held-out leads for every column below

    # The held-out leads again (same rule as train(): stratified, seed 0, 20 %), for the suggested rulebook.
    y_all, _ = outcome_labels(frame["Converted"], "1", ())
    labelled = ~np.isnan(y_all)
    history = frame[labelled].reset_index(drop=True)
    y = y_all[labelled].astype(int)
    rest, test = _split(len(y), y, config.test_size, config.seed)
    assert len(test) == cmp["rows"]
    text, summary = suggest_rulebook(history.iloc[rest].drop(columns=SALES_COLUMNS).reset_index(drop=True),
                                     "Converted", "1", source="X Education (non-test leads)")
    (args.out / "x_education_suggested.yaml").write_text(text)
    suggested = parse_rulebook(text, "suggested")
    pts = suggested.evaluate(history.iloc[test].reset_index(drop=True), now_days=0.0)
    sug = figures(y[test], pts.points, pts.lead_score)
    hand = book.evaluate(history.iloc[test].reset_index(drop=True), now_days=0.0)
    hand_fig = figures(y[test], hand.points, hand.lead_score)
    assert hand_fig["auc"] == cmp["rules"]["auc"]  # the same figure the card reports

    m = plain_card["metrics"]["classifier"]
    print(f"X Education: {len(y):,} leads, base rate {y.mean():.1%}; held-out test leads: {len(test):,} "
          f"(stratified 20 %, seed 0). Leakage guard on; excluded by it: "
          f"{', '.join(f['column'] for f in card['leakage'] if f['excluded'])}; dropped as filled in by sales "
          f"after contact: {', '.join(SALES_COLUMNS)}.")
    print(f"train with rules {t_rules:.0f}s, without {t_plain:.0f}s\n")
    print("| scorer (same held-out leads) | AUC | top-decile lift | score steps monotone |")
    print("|---|---|---|---|")
    print(f"| hand-written rules alone (bench/x_education_rules.yaml) | {hand_fig['auc']:.3f} | "
          f"{hand_fig['top_decile_lift']:.2f} | {hand_fig['monotone']} |")
    print(f"| `rules suggest` (learnt on non-test leads) alone | {sug['auc']:.3f} | {sug['top_decile_lift']:.2f} | "
          f"{sug['monotone']} |")
    print(f"| model, rules' group points as features | {cmp['model']['auc']:.3f} | "
          f"{cmp['model']['top_decile_lift']:.2f} | {cmp['model']['monotone_steps'][0]}/"
          f"{cmp['model']['monotone_steps'][1]} |")
    print(f"| model without rules | {m['auc']:.3f} | {m['top_decile_lift']:.2f} | – |")
    lk = leaky.bundle.card["metrics"]["classifier"]
    print(f"| (reference) model without rules, sales-entered columns left in | {lk['auc']:.3f} | "
          f"{lk['top_decile_lift']:.2f} | – |")
    print(f"\nVerdict in the report: {cmp['verdict']}\n")
    print("Score-band conversion on held-out leads (score: leads, conversion):")
    for name, fig in (("hand rules", hand_fig), ("suggested", sug)):
        print(f"  {name:>10}: " + "; ".join(f"{s}: {n} {'' if r is None else f'{r:.0%}'}"
                                             for s, (n, r) in fig["bands"].items()))
    model_bands = {b["score"]: (b["n"], b["conversion_rate"]) for b in cmp["model"]["score_bands"]}
    print(f"  {'model':>10}: " + "; ".join(f"{s}: {n} {'' if r is None else f'{r:.0%}'}"
                                          for s, (n, r) in model_bands.items()))
    print(f"\n`rules suggest` on the non-test leads ({summary['rules']} rules; left out as leakage: "
          f"{', '.join(summary['left_out']) or 'none'}):\n")
    print(text)
    print("Segments of the model trained with rules:")
    print(json.dumps([{k: s[k] for k in ("name", "share", "conversion_rate", "lift", "recommendation")}
                      for s in card["segments"]["segments"]], indent=1, ensure_ascii=False))
    print(card["segments"]["method"])


if __name__ == "__main__":
    main()
