"""Scoring a table a chunk at a time: what ``score`` writes for each chunk of a file.

The one function every batch path calls — the single-process file scorer for each chunk it
streams, and the distributed engine for each partition — so both write the same cells.
"""

from __future__ import annotations

import pandas as pd

from backend.core.outputs import CLOSE_PROBABILITY, LEAD_SCORE, OUTPUT_COLUMNS, PREDICTED_MRR
from backend.core.scoring import ScoreResult, score_frame
from backend.store.bundle import ModelBundle

# The output columns' types in a written table (the user's columns stay text).
OUTPUT_DTYPES: dict[str, str] = {name: "object" for name in OUTPUT_COLUMNS} | {
    LEAD_SCORE: "Int64", CLOSE_PROBABILITY: "float64", PREDICTED_MRR: "float64"}


def user_columns(columns: pd.Index | list[str]) -> list[str]:
    """The input's own columns, without output columns left from an earlier run."""
    return [c for c in columns if c not in OUTPUT_COLUMNS]


def user_positions(columns: pd.Index | list[str]) -> list[int]:
    """Where the input's own columns are (output columns left from an earlier run are not)."""
    return [j for j, c in enumerate(columns) if c not in OUTPUT_COLUMNS]


def chunk_outputs(bundle: ModelBundle, chunk: pd.DataFrame, *, scored_at: str, reasons: bool = True
                  ) -> tuple[pd.DataFrame, ScoreResult]:
    """The output columns for ``chunk``'s rows (same index), and the scoring result.

    Probabilities are rounded to 4 places and money to cents (the precision a sheet shows);
    without ``reasons`` the ``Score Reasons`` column is blank and every other cell is the same.
    """
    result = score_frame(bundle, chunk, with_reasons=reasons)
    outputs = result.output_frame(scored_at=scored_at, index=chunk.index)
    outputs[CLOSE_PROBABILITY] = outputs[CLOSE_PROBABILITY].astype("float64").round(4)
    outputs[PREDICTED_MRR] = outputs[PREDICTED_MRR].astype("float64").round(2)
    return outputs, result


def score_chunk(bundle: ModelBundle, chunk: pd.DataFrame, *, scored_at: str, reasons: bool = True
                ) -> tuple[pd.DataFrame, ScoreResult]:
    """``chunk``'s own columns followed by the output columns, and the scoring result.

    The cells are those of :func:`chunk_outputs`.
    """
    outputs, result = chunk_outputs(bundle, chunk, scored_at=scored_at, reasons=reasons)
    merged = pd.concat([chunk.iloc[:, user_positions(chunk.columns)], outputs], axis=1)
    return merged, result


def output_meta(columns: pd.Index | list[str]) -> pd.DataFrame:
    """An empty frame with the columns and types :func:`score_chunk` returns for an input with ``columns``."""
    meta = {c: pd.Series(dtype="object") for c in user_columns(columns)}
    meta.update({name: pd.Series(dtype=OUTPUT_DTYPES[name]) for name in OUTPUT_COLUMNS})
    return pd.DataFrame(meta)
