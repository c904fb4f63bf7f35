"""Repeated leads: find copies of one lead, and split rows so a copy never sits on both sides.

A history often lists one lead several times — a row per product, per form fill, per owner —
and the copies differ only in an id and a field or two.  If one copy is trained on and
another is held out, the held-out figures measure memory, not skill.  So rows are grouped:

    exact copies      every cell the same apart from ids (and the outcome)
    near-copies       the same value in every high-cardinality field (amounts, counts, dates,
                      text) while a few low-cardinality fields (a product, a stage) differ
    the user's groups rows sharing a value of ``--group COL`` (a company, an email domain)

Agreement is only taken as a copy when it is too unlikely to happen by chance: with the
frequency of each high-cardinality value among the sheet's distinct rows, the expected
number of other rows matching a row's values by chance must stay below
``max_chance`` (a sheet where half the leads spent 0 minutes on the website, or where many
leads share the same few yes/no answers, does not make them one lead).

Every split (fit / validation / test, cross-validation folds, tuning) then keeps each group
on one side: the split is drawn over groups, stratified by whether the group converted.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.model_selection import StratifiedKFold, train_test_split

from backend.core.schema import Column, normalize_text

HIGH_CARDINALITY = 20        # distinct values that make a field "high-cardinality" …
HIGH_CARDINALITY_SHARE = 0.02  # … and at least this share of the rows
MAX_CHANCE = 0.05            # expected chance matches of a key over all pairs of rows
MAX_COPIES = 50              # a "copy" set larger than this is a common profile, not one lead
_SKIP_ROLES = frozenset({"id", "target", "output", "value", "leakage", "dropped", "constant", "empty"})


@dataclass
class Groups:
    """One group id per row, and what found them (recorded in the card)."""

    ids: np.ndarray                 # int group id per row, 0 … n_groups-1
    exact: int = 0                  # rows in exact-copy sets (beyond the first of each)
    near: int = 0                   # rows joined by near-copy agreement (beyond the first)
    by_column: str | None = None    # the user's --group column
    key_columns: Sequence[str] = ()  # the high-cardinality fields near-copies agree on

    @property
    def count(self) -> int:
        """Number of groups."""
        return int(self.ids.max()) + 1 if len(self.ids) else 0

    @property
    def repeated_rows(self) -> int:
        """Rows that share their group with at least one other row."""
        sizes = np.bincount(self.ids)
        return int(sizes[sizes > 1].sum())

    def to_dict(self) -> dict[str, Any]:
        """For the card."""
        sizes = np.bincount(self.ids) if len(self.ids) else np.zeros(0, dtype=int)
        return {"groups": self.count, "rows": int(len(self.ids)), "repeated_rows": self.repeated_rows,
                "largest_group": int(sizes.max(initial=0)), "exact_copies": self.exact, "near_copies": self.near,
                "group_column": self.by_column, "near_copy_fields": list(self.key_columns)}

    def sentence(self) -> str:
        """One line for the terminal and the card's notes."""
        if self.repeated_rows == 0:
            return (f"No repeated leads found: each of the {len(self.ids)} labelled rows is its own group"
                    + (f" (and every '{self.by_column}' value appears once)." if self.by_column else "."))
        parts = []
        if self.exact:
            parts.append(f"{self.exact} exact copies")
        if self.near:
            parts.append(f"{self.near} near-copies")
        if self.by_column:
            parts.append(f"rows sharing a '{self.by_column}'")
        return (f"{len(self.ids)} labelled rows form {self.count} groups ({', '.join(parts)}; "
                f"{self.repeated_rows} rows share a group): each group is kept on one side of every split.")


def _codes(values: pd.Series) -> np.ndarray:
    """Each cell's normalized text as an integer code (blank is a value of its own)."""
    codes, _ = pd.factorize(normalize_text(values).to_numpy(dtype=object))
    return codes.astype(np.int64)


def _components(n: int, keys: list[np.ndarray]) -> np.ndarray:
    """Connected components of rows linked by sharing any of the given keys (-1 = no link)."""
    rows, cols = [np.arange(n)], [np.arange(n)]
    for key in keys:
        live = np.flatnonzero(key >= 0)
        if not len(live):
            continue
        first = pd.Series(live).groupby(key[live]).transform("min").to_numpy()
        rows.append(live)
        cols.append(first)
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(len(r), dtype=np.int8), (r, c)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    # Number groups in order of first appearance, so ids do not depend on scipy's internals.
    _, first_seen = np.unique(labels, return_index=True)
    order = np.argsort(first_seen, kind="stable")
    remap = np.empty(len(order), dtype=np.int64)
    remap[order] = np.arange(len(order))
    return remap[labels]


def _copy_key(codes: np.ndarray, chance_codes: np.ndarray, max_chance: float) -> np.ndarray:
    """A key per row shared only by copies (-1 where the agreement could be chance).

    ``codes`` (rows × fields) must agree; ``chance_codes`` are the high-cardinality fields whose
    values make agreement unlikely.  Only those count as evidence: rows that agree on a handful of
    yes/no and category fields are leads with the same profile, not copies of one lead.
    """
    n = len(codes)
    if n < 2 or codes.shape[1] == 0 or chance_codes.shape[1] == 0:
        return np.full(n, -1, dtype=np.int64)
    _, key = np.unique(codes, axis=0, return_inverse=True)
    key = key.reshape(-1)
    distinct_rows = np.unique(key, return_index=True)[1]
    log_p = np.zeros(n)
    for j in range(chance_codes.shape[1]):
        # frequency of each value among the sheet's distinct rows (copies do not inflate their own values)
        column = chance_codes[:, j]
        counts = np.bincount(column[distinct_rows], minlength=int(column.max()) + 1)
        log_p += np.log(np.maximum(counts[column], 1) / len(distinct_rows))
    size = np.bincount(key)[key]
    # expected number of other rows that would share this row's values by chance
    unlikely = np.log(n - 1) + log_p < np.log(max_chance)
    return np.where((size > 1) & (size <= MAX_COPIES) & unlikely, key, -1)


def find_groups(frame: pd.DataFrame, columns: Sequence[Column], *, group_column: str | None = None,
                max_chance: float = MAX_CHANCE) -> Groups:
    """Group the rows of ``frame`` (labelled rows) into repeated leads; ``columns`` is the inferred schema."""
    n = len(frame)
    usable = [c for c in columns if c.role not in _SKIP_ROLES and c.name in frame.columns
              and (group_column is None or c.name != group_column)]
    codes = np.column_stack([_codes(frame[c.name]) for c in usable]) if usable else np.zeros((n, 0), np.int64)
    distinct = np.array([len(np.unique(codes[:, j])) for j in range(codes.shape[1])], dtype=int)
    high = distinct >= max(HIGH_CARDINALITY, HIGH_CARDINALITY_SHARE * n)
    # Only high-cardinality fields are evidence: agreeing on many small category fields is a common
    # profile (their values are far from independent), not a copy.
    exact_key = _copy_key(codes, codes[:, high], max_chance)
    near_key = _copy_key(codes[:, high], codes[:, high], max_chance)
    keys = [exact_key, near_key]
    if group_column is not None:
        text = normalize_text(frame[group_column])
        user = _codes(frame[group_column])
        keys.append(np.where(text.eq("").to_numpy(), -1, user))
    ids = _components(n, keys)

    def beyond_first(key: np.ndarray) -> int:
        live = key[key >= 0]
        return int(len(live) - len(np.unique(live)))

    exact = beyond_first(exact_key)
    near = max(0, beyond_first(near_key) - exact)
    return Groups(ids=ids, exact=exact, near=near, by_column=group_column,
                  key_columns=[c.name for c, h in zip(usable, high) if h])


# ---------------------------------------------------------------- splits that keep groups together

def _group_labels(y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per group: 1 when any of its rows converted (the stratum of the group)."""
    out = np.zeros(int(groups.max()) + 1, dtype=int)
    np.maximum.at(out, groups, y.astype(int))
    return out


def _compact(groups: np.ndarray) -> np.ndarray:
    return np.unique(groups, return_inverse=True)[1].reshape(-1)


def split_rows(rows: np.ndarray, y: np.ndarray, groups: np.ndarray | None, size: float, seed: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """Split ``rows`` (indices) into (rest, held) with about ``size`` of them held; groups stay whole.

    ``y`` and ``groups`` are indexed by row.  Stratified by outcome (by group outcome when
    rows repeat); without repeated rows it is exactly scikit-learn's stratified split.
    """
    rows = np.asarray(rows)
    y_r = y[rows].astype(int)
    if groups is None or len(np.unique(groups[rows])) == len(rows):
        strat = y_r if np.bincount(y_r, minlength=2).min() >= 2 else None
        a, b = train_test_split(np.arange(len(rows)), test_size=size, random_state=seed, stratify=strat)
        return np.sort(rows[a]), np.sort(rows[b])
    g = _compact(groups[rows])
    labels = _group_labels(y_r, g)
    strat = labels if np.bincount(labels, minlength=2).min() >= 2 else None
    _, gb = train_test_split(np.arange(len(labels)), test_size=size, random_state=seed, stratify=strat)
    held = np.isin(g, gb)
    return np.sort(rows[~held]), np.sort(rows[held])


def fold_rows(rows: np.ndarray, y: np.ndarray, groups: np.ndarray | None, folds: int, repeats: int, seed: int
              ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Repeated stratified k-fold over ``rows``, whole groups per fold: (train rows, held rows)."""
    rows = np.asarray(rows)
    y_r = y[rows].astype(int)
    g = _compact(groups[rows]) if groups is not None else np.arange(len(rows))
    labels = _group_labels(y_r, g)
    for r in range(repeats):
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed + r)
        for _, held_groups in splitter.split(np.zeros(len(labels)), labels):
            held = np.isin(g, held_groups)
            yield rows[~held], rows[held]


def newest_rows(rows: np.ndarray, when: np.ndarray, groups: np.ndarray | None, size: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """(older, newest): about ``size`` of the rows with the latest ``when`` held out, groups whole.

    A group's time is its newest row; rows without a date stay on the older side.
    """
    rows = np.asarray(rows)
    g = _compact(groups[rows]) if groups is not None else np.arange(len(rows))
    t = np.where(np.isnan(when[rows]), -np.inf, when[rows])
    group_time = np.full(int(g.max()) + 1, -np.inf)
    np.maximum.at(group_time, g, t)
    order = np.argsort(group_time[g], kind="stable")
    cut = group_time[g][order[int(np.floor((1 - size) * len(rows)))]] if len(rows) else 0.0
    held = group_time[g] >= cut
    return np.sort(rows[~held]), np.sort(rows[held])
