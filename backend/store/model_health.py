"""A model's health in words: what it was trained on, how it did on held-out leads, its gates.

Read from the card alone (and whether the version is the active one), so the same summary
serves ``GET /v1/models/<name>``, a training job's result and ``/healthz``.
"""

from __future__ import annotations

from typing import Any


def _of_ten(fraction: float | None) -> int | None:
    return None if fraction is None else int(round(10 * float(fraction)))


def in_words(metrics: dict[str, Any]) -> list[str]:
    """The held-out figures as sentences a sales manager reads (empty when there are none)."""
    out: list[str] = []
    n = metrics.get("n")
    if not n:
        return out
    out.append(f"Checked on {n:,} past leads it never learned from "
               f"({float(metrics.get('base_rate') or 0):.0%} of them closed).")
    precision, recall, auc = metrics.get("precision"), metrics.get("recall"), metrics.get("auc")
    if precision is not None:
        out.append(f"Of 10 leads it calls likely, {_of_ten(precision)} closed (precision {float(precision):.2f}).")
    if recall is not None:
        out.append(f"Of 10 leads that closed, it called {_of_ten(recall)} likely (recall {float(recall):.2f}).")
    if auc is not None:
        out.append(f"Shown one lead that closed and one that did not, it ranks the one that closed higher "
                   f"{int(round(100 * float(auc)))} times in 100 (AUC {float(auc):.2f}).")
    return out


def forced(card: dict[str, Any], *, active: bool) -> bool:
    """True when the version is served although it failed its quality gates (promoted with force)."""
    gates = card.get("gates") or {}
    return bool(active and gates and gates.get("passed") is False)


def summary(card: dict[str, Any], *, name: str | None, active: bool, report_url: str | None) -> dict[str, Any]:
    """Version, when trained, on how many leads, held-out figures (and in words), gates, report link."""
    metrics = (card.get("metrics") or {}).get("classifier") or {}
    gates = card.get("gates") or {}
    data = card.get("data") or {}
    is_forced = forced(card, active=active)
    return {
        "name": name or card.get("name"),
        "version": card.get("version"),
        "active": active,
        "status": "degraded" if is_forced else "ok",
        "trained_at": card.get("trained_at"),
        "target": card.get("target"),
        "leads": {k: data.get(k) for k in ("rows", "labelled", "positives", "negatives", "open") if k in data},
        "heldout": {k: metrics.get(k) for k in ("n", "base_rate", "auc", "precision", "recall", "threshold")},
        "in_words": in_words(metrics),
        "gates": {"passed": bool(gates.get("passed")), "forced": is_forced,
                  "failures": list(gates.get("failures") or []),
                  "min_auc": gates.get("min_auc"), "min_precision": gates.get("min_precision"),
                  "min_recall": gates.get("min_recall")},
        "report_url": report_url,
    }
