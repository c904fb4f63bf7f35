"""A small, bounded and reproducible hyperparameter search (``train --tune``).

At most eight candidates from a fixed list, tried in an order fixed by the seed, within a
time budget.  Each is scored on the validation rows only (never the held-out test rows),
and the defaults are kept unless a candidate beats them there by more than ``min_gain``:
a search this small should not trade a known-good setting for noise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

# Overrides of the default booster parameters; each is a plausible alternative shape of model.
CANDIDATES: tuple[dict[str, Any], ...] = (
    {"max_depth": 3, "min_child_weight": 1.0},
    {"max_depth": 6, "min_child_weight": 4.0},
    {"max_depth": 5, "lambda": 5.0},
    {"max_depth": 2, "eta": 0.1},
    {"subsample": 1.0, "colsample_bytree": 0.6},
    {"min_child_weight": 8.0, "lambda": 10.0},
    {"eta": 0.1, "colsample_bytree": 1.0},
    {"max_depth": 8, "min_child_weight": 10.0, "subsample": 0.7},
)


@dataclass
class Trial:
    """One candidate tried: its overrides, validation score and time taken."""

    overrides: dict[str, Any]
    score: float
    seconds: float


@dataclass
class TuneResult:
    """What the search tried and what it chose (recorded in the card)."""

    params: dict[str, Any]
    chosen: str                      # "defaults" or "candidate N"
    metric: str
    default_score: float
    trials: list[Trial] = field(default_factory=list)
    budget_s: float = 0.0
    out_of_time: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        d = asdict(self)
        d["trials"] = [{**asdict(t), "score": round(t.score, 4), "seconds": round(t.seconds, 2)} for t in self.trials]
        d["default_score"] = round(self.default_score, 4)
        return d


def candidate_order(seed: int, count: int, candidates: Sequence[Mapping[str, Any]] = CANDIDATES
                    ) -> list[dict[str, Any]]:
    """The first ``count`` candidates in the seed's fixed order."""
    order = np.random.default_rng(seed).permutation(len(candidates))
    return [dict(candidates[i]) for i in order[: max(0, count)]]


def search(evaluate: Callable[[dict[str, Any]], float], base_params: Mapping[str, Any], *, seed: int = 0,
           max_candidates: int = 8, budget_s: float = 60.0, min_gain: float = 0.002, metric: str = "validation AUC",
           candidates: Sequence[Mapping[str, Any]] = CANDIDATES,
           clock: Callable[[], float] = time.monotonic) -> TuneResult:
    """Score the defaults, then candidates while the budget lasts; keep the defaults unless beaten."""
    started = clock()
    base = dict(base_params)
    default_score = evaluate(base)
    trials: list[Trial] = []
    out_of_time = False
    for overrides in candidate_order(seed, max_candidates, candidates):
        if clock() - started >= budget_s:
            out_of_time = True
            break
        t0 = clock()
        score = evaluate({**base, **overrides})
        trials.append(Trial(overrides, float(score), clock() - t0))
    best = max(range(len(trials)), key=lambda i: (trials[i].score, -i), default=None)
    if best is not None and trials[best].score > default_score + min_gain:
        return TuneResult({**base, **trials[best].overrides}, f"candidate {best + 1}", metric, default_score,
                          trials, budget_s, out_of_time)
    return TuneResult(base, "defaults", metric, default_score, trials, budget_s, out_of_time)
