"""``rules suggest | review``, ``segments``, and ``score --rules``: points rules and lead segments."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backend.cli.common import EXIT_OK, target_args
from backend.config import Settings


def add_parsers(sub: Any) -> None:
    """The ``rules`` and ``segments`` sub-commands."""
    r = sub.add_parser("rules", help="points rules: learn a starter rulebook, or review one against outcomes")
    actions = r.add_subparsers(dest="action", required=True)
    s = actions.add_parser("suggest", help="write a starter rulebook learnt from history")
    s.add_argument("data")
    target_args(s)
    s.add_argument("-o", "--out", help="write the rulebook here (default: print it)")
    s.add_argument("--max-rules", type=int, default=12, help="at most this many rules (default 12)")
    s.add_argument("--cap", type=int, default=30, help="points of the strongest rule (default 30)")
    s.add_argument("--no-leakage-guard", dest="leakage_guard", action="store_false",
                   help="also learn from columns that look filled in after the outcome")
    s.set_defaults(func=cmd_suggest)

    v = actions.add_parser("review", help="list rules whose leads scored high but did not convert")
    v.add_argument("data")
    v.add_argument("--rules", required=True, help="the rulebook (YAML, or a CSV of the Scoring Rules tab)")
    target_args(v)
    v.add_argument("--high", type=int, default=8, help="a Lead Score at or above this is 'high' (default 8)")
    v.set_defaults(func=cmd_review)

    g = sub.add_parser("segments", help="the segment table of a model (kinds of lead, conversion, advice)")
    g.add_argument("--model", help="a bundle directory or a models directory (default: the active model)")
    g.add_argument("--json", action="store_true")
    g.set_defaults(func=cmd_segments)


# ---------------------------------------------------------------------- score --rules

def score_with_rules(args: argparse.Namespace, settings: Settings) -> int:
    """``score DATA --rules FILE [--model DIR]``: rule points alone, or beside a model's scores."""
    import pandas as pd

    from backend.core.outputs import (
        LEAD_SCORE,
        MODEL_VERSION,
        OPTIONAL_OUTPUT_COLUMNS,
        OUTPUT_COLUMNS,
        RULE_POINTS,
        SCORE_REASONS,
        SCORED_AT,
    )
    from backend.core.rules import load_rulebook
    from backend.core.scoring import score_frame
    from backend.sources.files import check_writable, read_table, write_table

    book = load_rulebook(args.rules)
    src = Path(args.data)
    out = check_writable(args.out or f"{src.stem}.scored.csv")
    frame = read_table(src)
    book.check_columns(list(frame.columns))   # before any model work: a bad rule fails fast
    scored_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    points = book.evaluate(frame)
    ours = set(OUTPUT_COLUMNS) | set(OPTIONAL_OUTPUT_COLUMNS)
    user = frame[[c for c in frame.columns if c not in ours]]
    if args.model:
        from backend.store import registry
        from backend.store.bundle import ModelBundle

        bundle = ModelBundle.load(registry.resolve(args.model, settings.model_dir))
        result = score_frame(bundle, frame)
        outputs = result.output_frame(scored_at=scored_at, index=frame.index)
        outputs.insert(1, RULE_POINTS, points.points)
        for w in result.warnings:
            print(f"warning: {w['message']}", file=sys.stderr)
        basis = f"{bundle.name} {bundle.version} with the rules' points beside it"
    else:
        outputs = pd.DataFrame({LEAD_SCORE: points.lead_score, RULE_POINTS: points.points,
                                SCORE_REASONS: ["; ".join(r) for r in points.reasons], SCORED_AT: scored_at,
                                MODEL_VERSION: f"rules: {Path(args.rules).name}"}, index=frame.index)
        basis = f"the rules in {Path(args.rules).name} (no model)"
    merged = pd.concat([user, outputs], axis=1)
    write_table(merged, out)
    _print_rule_ranking(merged, points, args.top, book.max_points)
    print(f"Scored {len(frame)} rows with {basis} → {out}")
    return EXIT_OK


def _print_rule_ranking(merged: Any, points: Any, top: int, max_points: float) -> None:
    from rich.console import Console
    from rich.table import Table

    from backend.core.outputs import LEAD_SCORE, RULE_POINTS

    order = (-points.points).argsort(kind="stable")[:top]
    table = Table(title=f"Top {len(order)} leads by rule points (of {max_points:g} possible)")
    label = merged.columns[0]
    for name in ("Row", str(label), RULE_POINTS, LEAD_SCORE, "Rules that fired"):
        table.add_column(name, overflow="fold")
    for i in order:
        table.add_row(str(i + 2), str(merged.iloc[i][label]), f"{points.points[i]:g}",
                      str(merged.iloc[i][LEAD_SCORE]), "; ".join(points.reasons[i][:3]))
    Console(width=max(150, Console().width)).print(table)


# ---------------------------------------------------------------------- rules suggest / review

def cmd_suggest(args: argparse.Namespace, settings: Settings) -> int:
    from backend.core.suggest import suggest_rulebook
    from backend.sources.files import read_table

    frame = read_table(args.data)
    text, summary = suggest_rulebook(frame, args.target, args.positive, args.negative, max_rules=args.max_rules,
                                     cap=args.cap, leakage_guard=args.leakage_guard, source=Path(args.data).name)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"Wrote {summary['rules']} rules to {args.out} (learnt from {summary['labelled']} closed leads, "
              f"base rate {summary['base_rate']:.1%}). Review them with your team before use.")
    else:
        print(text, end="")
    return EXIT_OK


def cmd_review(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console
    from rich.table import Table

    from backend.core.rules import load_rulebook
    from backend.core.suggest import review_rules
    from backend.sources.files import read_table

    book = load_rulebook(args.rules)
    frame = read_table(args.data)
    rows, summary = review_rules(book, frame, args.target, args.positive, args.negative, high=args.high)
    print(f"{summary['high']} of {summary['labelled']} closed leads scored {args.high} or more on the rules; "
          f"{summary['high_converted']} of them converted ({_pct(summary['high_rate'])}), against "
          f"{_pct(summary['base_rate'])} for all closed leads.")
    if not rows:
        print("No rule fired on a high-scoring lead that did not convert.")
        return EXIT_OK
    table = Table(title="Rules behind high scores that did not convert (most over-weighted first)")
    for name in ("Rule", "Where", "Points", "High scorers it fired on", "Did not convert", "Conversion when it fires",
                 "Base rate"):
        table.add_column(name, overflow="fold")
    for r in rows:
        table.add_row(r["rule"], r["where"], f"{r['points']:g}", str(r["high_fired"]), str(r["high_not_converted"]),
                      _pct(r["fired_rate"]), _pct(summary["base_rate"]))
    Console(width=max(150, Console().width)).print(table)
    return EXIT_OK


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


# ---------------------------------------------------------------------- segments

def cmd_segments(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from rich.console import Console
    from rich.table import Table

    from backend.store import registry
    from backend.store.bundle import ModelBundle

    bundle = ModelBundle.load(registry.resolve(args.model, settings.model_dir))
    segments = bundle.segments
    if segments is None:
        print(f"Model {bundle.version} has no segments (trained before segments existed): its Segment column is "
              "the 2×2 of close probability and deal size. Retrain to get segments.")
        return EXIT_OK
    table_rows = segments.table()
    if args.json:
        print(json.dumps({"model": bundle.version, **segments.summary()}, indent=2))
        return EXIT_OK
    table = Table(title=f"Segments of {bundle.name} {bundle.version} ({segments.method})")
    for name in ("Segment", "Share of leads", "Conversion", "vs base", "Avg. MRR if won", "Recommendation"):
        table.add_column(name, overflow="fold")
    for s in table_rows:
        mrr = s.get("mean_mrr_won")
        table.add_row(s["name"], f"{s['share']:.0%}", _pct(s["conversion_rate"]),
                      "–" if s["lift"] is None else f"{s['lift']:.1f}×",
                      "–" if mrr is None else f"${mrr:,.0f}", s["recommendation"])
    Console(width=max(150, Console().width)).print(table)
    return EXIT_OK
