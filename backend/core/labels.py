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


# Values that mean a lead is still being worked: never a lost outcome by inference.
OPEN_WORDS = frozenset({"open", "in progress", "pending", "new", "active", "working", "contacted", "qualified",
                        "nurture", "nurturing", "ongoing", "negotiation", "proposal", "follow up", "follow-up"})


def _seen(values: pd.Series, text: pd.Series, limit: int = 8) -> str:
    """The values of a column, most common first, as the team spells them: ``Won (120), Lost (95)``."""
    spelled = values[text != ""].map(lambda v: " ".join(str(v).split()))
    counts = pd.DataFrame({"key": text[text != ""].to_numpy(), "text": spelled.to_numpy()})
    order = counts.groupby("key", sort=False).agg(n=("text", "size"), text=("text", lambda s: s.mode().iloc[0]))
    order = order.sort_values("n", ascending=False, kind="stable")
    shown = ", ".join(f"'{t}' ({n})" for t, n in zip(order["text"][:limit], order["n"][:limit]))
    return shown + (f" and {len(order) - limit} more" if len(order) > limit else "")


def outcome_labels(values: pd.Series, positive: str, negatives: Sequence[str] = ()) -> tuple[np.ndarray, list[str]]:
    """1 / 0 / NaN (open or blank) per row, and the negative values used.

    Errors name the column's values, most common first, and what to pass instead.
    """
    column = str(values.name) if values.name is not None else "the target column"
    text = normalize_label(values)
    pos = normalize_label(pd.Series([positive], dtype=object)).iloc[0]
    present = set(text[text != ""].unique())
    if not present:
        raise BadInput(f"The target column '{column}' is empty: it must say which leads were won and which lost. "
                       "Fill it in for closed leads, or pass --target with the column that does.", column=column)
    seen = _seen(values, text)
    if pos not in present:
        hint = (f"Only one outcome is in '{column}' ({seen}): a model needs both won and lost leads. Add the "
                "closed leads of the other outcome to the history, or pass --target with another column."
                if len(present) == 1 else "Pass --positive with the value that means won, as it is written there.")
        raise BadInput(f"The positive value '{positive}' is not in the target column '{column}'. "
                       f"Values seen, most common first: {seen}. {hint}", column=column)
    if not negatives and present - {pos} <= OPEN_WORDS:
        raise BadInput(f"Only one outcome is in '{column}': no lead is marked lost, every closed lead is "
                       f"'{positive}'. Values seen, most common first: {seen}. A model needs both won and lost "
                       "leads: add lost leads to the history, or pass --negative VALUE with the value your sheet "
                       "uses for them.", column=column)
    if negatives:
        neg = {normalize_label(pd.Series([n], dtype=object)).iloc[0] for n in negatives}
        if not neg & present:
            given = ", ".join(f"'{n}'" for n in negatives)
            raise BadInput(f"Only one outcome is in '{column}': {given} does not occur, so there are no lost "
                           f"leads and a model needs both won and lost leads. Values seen, most common first: "
                           f"{seen}. Pass --negative with the value that means lost.", column=column)
    elif pos in NEGATIVE_FOR and present & set(NEGATIVE_FOR[pos]):
        neg = present & set(NEGATIVE_FOR[pos])
    elif len(present) == 2:
        neg = present - {pos}
    else:
        raise BadInput(f"Cannot tell which values in '{column}' mean a lost lead. Values seen, most common first: "
                       f"{seen}. Pass --negative VALUE for each value that means lost; rows with any other value "
                       "are treated as open leads.", column=column)
    return _labels(text, pos, neg), sorted(neg)


def label_rows(values: pd.Series, positive: str, negatives: Sequence[str]) -> np.ndarray:
    """1 / 0 / NaN per row for outcomes already decided (the negatives as :func:`outcome_labels` returned them).

    No inference and no errors: a chunk of a history may hold only open leads.
    """
    pos = normalize_label(pd.Series([positive], dtype=object)).iloc[0]
    neg = set(normalize_label(pd.Series(list(negatives), dtype=object))) if len(negatives) else set()
    return _labels(normalize_label(values), pos, neg)


def _labels(text: pd.Series, pos: str, neg: set[str]) -> np.ndarray:
    y = np.full(len(text), np.nan)
    y[text.eq(pos).to_numpy()] = 1.0
    y[text.isin(neg).to_numpy()] = 0.0
    return y
