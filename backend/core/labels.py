"""Outcome labels: which rows are won, lost or still open."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from backend.core.schema import normalize_label
from backend.errors import BadInput

# The usual opposite of a positive value, so --negative is rarely needed.
NEGATIVE_FOR = {
    "won": ("lost", "closed lost"), "closed won": ("closed lost", "lost"), "win": ("loss", "lost"),
    "yes": ("no",), "y": ("n",), "1": ("0",), "true": ("false",), "t": ("f",),
    "converted": ("not converted", "unconverted"), "success": ("failure", "fail"),
}


def outcome_labels(values: pd.Series, positive: str, negatives: Sequence[str] = ()) -> tuple[np.ndarray, list[str]]:
    """1 / 0 / NaN (open or blank) per row, and the negative values used."""
    text = normalize_label(values)
    pos = normalize_label(pd.Series([positive], dtype=object)).iloc[0]
    present = set(text[text != ""].unique())
    if pos not in present:
        shown = ", ".join(sorted(present)[:10]) or "no values"
        raise BadInput(f"The positive value '{positive}' does not occur in the target column (values: {shown}). "
                       "Pass --positive with one of them.")
    if negatives:
        neg = {normalize_label(pd.Series([n], dtype=object)).iloc[0] for n in negatives}
    elif pos in NEGATIVE_FOR and present & set(NEGATIVE_FOR[pos]):
        neg = present & set(NEGATIVE_FOR[pos])
    elif len(present) == 2:
        neg = present - {pos}
    else:
        others = ", ".join(sorted(present - {pos})[:10])
        raise BadInput(f"Cannot tell which target values mean a lost lead (values besides '{positive}': "
                       f"{others}). Pass --negative VALUE for each; the other rows are treated as open.")
    y = np.full(len(text), np.nan)
    y[text.eq(pos).to_numpy()] = 1.0
    y[text.isin(neg).to_numpy()] = 0.0
    return y, sorted(neg)
