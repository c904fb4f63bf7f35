"""Learn a starter rulebook from history, and review a rulebook against outcomes.

``suggest``: candidate conditions are read from the columns the model would use (the
leakage guard first drops columns filled in after the outcome):

    categories   is LEVEL, for each level held by ≥ 3 % of closed leads
    yes/no       is Yes
    numbers      at_least the 75th percentile, at_most the 25th percentile
    any column   is_blank, when ≥ 5 % of closed leads leave it blank

Each candidate's marginal effect is its log odds ratio of converting (with vs without the
condition, +0.5 smoothing); the ones that move the odds (|effect| ≥ 0.25) are fitted
together in an L2 logistic regression on their yes/no indicators, so overlapping
conditions share the credit (a condition whose joint coefficient has the opposite sign of
its own effect is left out).  Points are proportional to each condition's coefficient:
the strongest gets ``cap`` points, the rest in proportion, rounded to whole points.
``review``: the rules that fired most on leads the rules scored high that did not convert.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from backend.core.labels import outcome_labels
from backend.core.rules import Condition, Rule, Rulebook
from backend.core.schema import infer_schema, normalize_name, resolve_column
from backend.errors import BadInput

MIN_SHARE = 0.03
MIN_EFFECT = 0.25


def _labelled(frame: pd.DataFrame, target: str, positive: str, negatives: Sequence[str]
              ) -> tuple[pd.DataFrame, np.ndarray, str, list[str]]:
    column = resolve_column(frame, target, "target")
    y_all, negs = outcome_labels(frame[column], positive, negatives)
    keep = ~np.isnan(y_all)
    y = y_all[keep].astype(int)
    if len(y) < 30 or y.min() == y.max():
        raise BadInput(f"'{column}' needs at least 30 closed leads with both outcomes ({positive} and "
                       f"{'/'.join(negs)}) to learn or review rules; found {len(y)}.", column=column)
    return frame[keep].reset_index(drop=True), y, column, negs


def _log_odds_ratio(mask: np.ndarray, y: np.ndarray) -> float:
    a = float((mask & (y == 1)).sum()) + 0.5
    b = float((mask & (y == 0)).sum()) + 0.5
    c = float((~mask & (y == 1)).sum()) + 0.5
    d = float((~mask & (y == 0)).sum()) + 0.5
    return float(np.log(a * d / (b * c)))


def _candidates(history: pd.DataFrame, y: np.ndarray, schema: Any) -> list[tuple[Condition, np.ndarray, str]]:
    """(condition, mask over closed leads, evidence text) for every condition worth a look."""
    probe = Rulebook(rules=[], source="suggest")
    out: list[tuple[Condition, np.ndarray, str]] = []
    for col in schema.features:
        conds: list[Condition] = []
        if col.role == "category":
            conds += [Condition("is", col.name, (col.labels.get(level, level),)) for level in col.levels]
        elif col.role == "boolean":
            conds.append(Condition("is", col.name, (True,)))
        elif col.role == "numeric":
            from backend.core.schema import parse_numbers

            nums, _ = parse_numbers(history[col.name])
            live = nums[~np.isnan(nums)]
            if len(live) >= 20:
                hi, lo = np.percentile(live, [75, 25])
                if hi > lo:
                    conds += [Condition("at_least", col.name, float(_round(hi))),
                              Condition("at_most", col.name, float(_round(lo)))]
        conds.append(Condition("is_blank", col.name))
        for cond in conds:
            mask = _evaluate(probe, cond, history)
            share = mask.mean()
            floor = 0.05 if cond.kind == "is_blank" else MIN_SHARE
            if share < floor or share > 1 - floor:
                continue
            rate = y[mask].mean()
            out.append((cond, mask, f"{int(mask.sum()):,} closed leads ({share:.0%}), {rate:.0%} converted"))
    return out


def _round(value: float) -> float:
    """A threshold a person would write: two significant figures."""
    if value == 0:
        return 0.0
    digits = 1 - int(np.floor(np.log10(abs(value))))
    return float(round(value, digits))


def _evaluate(book: Rulebook, cond: Condition, frame: pd.DataFrame) -> np.ndarray:
    book.rules = [Rule(cond, 1.0, where="suggest")]
    return book.evaluate(frame, now_days=0.0).fired[:, 0]


def suggest_rulebook(frame: pd.DataFrame, target: str, positive: str, negatives: Sequence[str] = (), *,
                     max_rules: int = 12, cap: int = 30, leakage_guard: bool = True,
                     source: str = "history", seed: int = 0) -> tuple[str, dict[str, Any]]:
    """A starter rulebook (YAML text with the evidence as comments) and a summary."""
    from sklearn.linear_model import LogisticRegression

    history, y, column, negs = _labelled(frame, target, positive, negatives)
    schema = infer_schema(history, target=column)
    dropped: list[str] = []
    if leakage_guard:
        from backend.core.features import FeatureBuilder
        from backend.core.leakage import apply_findings, find_leaks

        builder = FeatureBuilder(schema)
        if builder.columns_:
            x, _ = builder.transform(history, now_days=0.0)
            findings = find_leaks(x, builder.columns_, y, seed=seed)
            schema = apply_findings(schema, findings, ())
            dropped = [f.column for f in findings if f.excluded]
    cands = [c for c in _candidates(history, y, schema) if abs(_log_odds_ratio(c[1], y)) >= MIN_EFFECT]
    if not cands:
        raise BadInput(f"No column of {source} separates {positive} from {'/'.join(negs)} leads clearly enough to "
                       "suggest a rule. Write the first rules with your team instead.")
    # The strongest marginal effects first, at most four conditions per column, then a joint fit.
    cands.sort(key=lambda c: -abs(_log_odds_ratio(c[1], y)))
    per_col: dict[str, int] = {}
    picked = []
    for c in cands:
        key = normalize_name(c[0].column or "")
        if per_col.get(key, 0) < 4:
            per_col[key] = per_col.get(key, 0) + 1
            picked.append(c)
    picked = picked[: 3 * max_rules]
    x = np.column_stack([c[1] for c in picked]).astype(float)
    coef = LogisticRegression(C=1.0, max_iter=2000).fit(x, y).coef_[0]
    # A condition whose joint effect points against its own evidence (it converts above the base rate
    # but gets negative points, because another condition explains it) would puzzle a team: left out.
    agree = [np.sign(coef[j]) == np.sign(_log_odds_ratio(picked[j][1], y)) for j in range(len(picked))]
    order = [j for j in np.argsort(-np.abs(coef), kind="stable") if abs(coef[j]) >= 0.1 and agree[j]][:max_rules]
    if not order:
        raise BadInput(f"No condition in {source} moves the odds of {positive} once the others are known; "
                       "write the first rules with your team instead.")
    scale = cap / float(np.max(np.abs(coef[order])))
    lines = [f"# Starter rulebook learnt from {len(y):,} closed leads of {source} "
             f"({int(y.sum()):,} with {column} = {positive}, base rate {y.mean():.1%}).",
             "# Points are proportional to each condition's effect on the odds of converting, fitted together",
             f"# (logistic regression on the conditions); the strongest is worth {cap}. Review with your team.",
             ]
    if dropped:
        lines.append(f"# Left out as likely filled in after the outcome: {', '.join(dropped)}.")
    lines.append("rules:")
    rules = []
    for j in order:
        cond, _, evidence = picked[j]
        points = int(round(coef[j] * scale))
        if points == 0:
            continue
        rule = Rule(cond, float(points))
        rules.append(rule)
        from backend.core.rules import _yaml_flow

        lines.append(f"  - {_yaml_flow(rule.to_dict())}   # {evidence}")
    text = "\n".join(lines) + "\n"
    return text, {"rules": len(rules), "labelled": int(len(y)), "base_rate": float(y.mean()),
                  "left_out": dropped}


def review_rules(book: Rulebook, frame: pd.DataFrame, target: str, positive: str, negatives: Sequence[str] = (),
                 *, high: int = 8, now_days: float | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rules that fired on leads the rules scored ``high`` or more that did not convert, worst first."""
    history, y, _, _ = _labelled(frame, target, positive, negatives)
    pts = book.evaluate(history, now_days=now_days)
    is_high = pts.lead_score >= high
    missed = is_high & (y == 0)
    base = float(y.mean())
    rows = []
    for j, rule in enumerate(book.rules):
        fired = pts.fired[:, j]
        if rule.points <= 0 or not (fired & missed).any():
            continue
        rate = float(y[fired].mean()) if fired.any() else None
        rows.append({"rule": rule.label, "where": rule.where, "points": rule.points,
                     "high_fired": int((fired & is_high).sum()), "high_not_converted": int((fired & missed).sum()),
                     "fired": int(fired.sum()), "fired_rate": rate,
                     "over_weight": (rule.points * (1 - (rate or 0) / base)) if base else 0.0})
    rows.sort(key=lambda r: (-r["high_not_converted"], r["fired_rate"] or 0))
    summary = {"labelled": int(len(y)), "high": int(is_high.sum()), "high_converted": int((is_high & (y == 1)).sum()),
               "high_rate": float(y[is_high].mean()) if is_high.any() else None, "base_rate": base}
    return rows, summary
