"""The fast paths read and explain leads exactly as the cell-by-cell paths do.

Scoring takes different roads by size — a request's 200 rows are read cell by cell through a
per-column memo; a file's 100k-row chunk is hashed once per distinct cell, its common number
forms read in one vectorized pass, its reasons described once per distinct value — and by how
the cells are held (Python objects from a request, Arrow text from a file).  Every road must
give the same numbers, scores and reasons.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.core import cells as cells_mod
from backend.core.cells import Memo, read_numbers
from backend.core.scoring import rows_to_frame, score_frame
from backend.sample.generate import generate
from backend.store.bundle import ModelBundle

NUMBERISH = st.text(st.sampled_from(list("0123456789.,$ -+eE_kK%()")), min_size=1, max_size=14)


@settings(max_examples=400, deadline=None)
@given(st.lists(NUMBERISH, min_size=1, max_size=40))
def test_common_number_forms_read_as_the_cell_reader_reads_them(texts: list[str]) -> None:
    fast, read = cells_mod._common_numbers(np.array(texts, dtype=object))
    for text, value, was_read in zip(texts, fast, read):
        if not was_read:
            continue
        number, unreadable, ranged = cells_mod._number(text)
        assert not ranged
        if unreadable:  # out of float32's range: the column reader marks it unreadable
            assert not abs(value) <= cells_mod.FLOAT32_MAX, text
        else:
            assert value == number, text


def test_a_big_column_reads_like_the_same_cells_one_by_one() -> None:
    rng = np.random.default_rng(4)
    forms = [lambda v: f"${v:,.0f}", lambda v: f"{v:.2f}", lambda v: f"{v / 1000:.1f}k", lambda v: f"{v:,}",
             lambda v: "", lambda v: "N/A", lambda v: f"{int(v)}-{int(v) + 50}", lambda v: "call me", lambda v: "1e39"]
    values = rng.integers(0, 2_000_000, 12_000)
    column = pd.Series([forms[i % len(forms)](int(v)) for i, v in enumerate(values)], dtype=object)
    big = read_numbers(column)  # > DIRECT_ROWS cells, > FAST_FROM distinct: hashed, vectorized
    small = [read_numbers(column.iloc[i:i + 1000].reset_index(drop=True)) for i in range(0, len(column), 1000)]
    for k in range(3):
        assert np.array_equal(big[k], np.concatenate([part[k] for part in small]), equal_nan=True)
    assert big[1].sum() > 0 and big[2].sum() > 0  # unreadable and ranged cells are in the test


def test_the_memo_is_bounded_and_changes_nothing() -> None:
    memo = Memo(limit=50)
    column = pd.Series([f"${i}" for i in range(300)], dtype=object)
    first = read_numbers(column.iloc[:200], memo)
    assert len(memo) <= 50
    again = read_numbers(column.iloc[:200], memo)
    plain = read_numbers(column.iloc[:200])
    for k in range(3):
        assert np.array_equal(first[k], plain[k], equal_nan=True)
        assert np.array_equal(again[k], plain[k], equal_nan=True)


def _as_arrow_text(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(pd.StringDtype("pyarrow"))


def test_one_big_call_small_calls_and_arrow_text_all_score_alike(tiny_bundle: ModelBundle) -> None:
    frame = generate(rows=9_000, seed=21).astype(str).astype(object)
    whole = score_frame(tiny_bundle, frame)
    parts = [score_frame(tiny_bundle, frame.iloc[i:i + 200].reset_index(drop=True))
             for i in range(0, len(frame), 200)]
    arrow = score_frame(tiny_bundle, _as_arrow_text(frame))
    for other in (arrow,):
        assert np.array_equal(whole.close_probability, other.close_probability)
        assert whole.reasons == other.reasons
    assert np.array_equal(whole.close_probability, np.concatenate([p.close_probability for p in parts]))
    assert np.array_equal(whole.lead_score, np.concatenate([p.lead_score for p in parts]))
    assert np.array_equal(whole.predicted_mrr, np.concatenate([p.predicted_mrr for p in parts]))
    assert list(whole.segment) == [s for p in parts for s in p.segment]
    assert whole.reasons == [r for p in parts for r in p.reasons]
    assert sum(len(r) for r in whole.reasons) > 2 * len(frame)  # most leads have their three reasons


def test_reasons_and_scores_do_not_depend_on_what_was_scored_before(tiny_bundle: ModelBundle) -> None:
    frame = generate(rows=300, seed=5).astype(str).astype(object)
    fresh = ModelBundle.load(tiny_bundle.path)
    first = score_frame(fresh, frame)
    score_frame(fresh, generate(rows=500, seed=6).astype(str).astype(object))  # fills the memos
    again = score_frame(fresh, frame)
    assert np.array_equal(first.close_probability, again.close_probability)
    assert first.reasons == again.reasons
    assert first.warnings == again.warnings


def test_a_cell_holding_a_list_stays_one_cell() -> None:
    frame = rows_to_frame(["A", "B"], [[1, [2, 3]], [4, 5]])
    assert frame.shape == (2, 2)
    assert frame.iloc[0, 1] == [2, 3]
