"""Reading single cells the way sales teams type them: amounts, ranges, yes/no, dates.

Every reader works per *distinct* cell (sheets repeat values) and returns masks next to
the values, so a caller can count what was read, what was blank and what could not be
read — nothing is dropped silently.

Numbers
    ``$12,000``, ``12k``, ``1.2M``, ``45%`` (0.45), ``(300)`` (-300), ``1,234.5``; a
    currency sign or code before or after the amount (``1200 USD``, ``EUR 900``,
    ``1.2k €``); a unit word after it (``40 employees``, ``$500/mo``).
Ranges (flagged, so they can be counted and reported)
    ``10-50``, ``10 to 50``, ``1k-5k``, ``$10k–$50k`` read as the **midpoint** (30, 3000,
    30000); ``<10`` / ``under 10`` is the range 0-10 and reads as 5; an open-ended range
    reads as its stated bound: ``50+`` / ``>50`` / ``over 50`` → 50.
Out of range
    A number beyond what the model's 32-bit features hold (about 3.4e38, e.g. ``1e39``) or
    not finite is an unreadable cell, like text.
Dates
    ISO (``2025-03-14``), numeric day/month/year with ``/``, ``.`` or ``-``, month names in
    any order (``14 Mar 2025``, ``March 14, 2025``), spreadsheet serial numbers (days since
    1899-12-30, e.g. ``45730``) and date objects.  Whether ``04.06.2026`` is 4 June or
    6 April is decided once per column: by the cells that can only be read one way
    (``28.07.2026`` is day-first), else by the separator (``.`` day-first, ``/`` month-first),
    unless the user says ``--dayfirst``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from dateutil import parser as dateparser

from backend.core.outputs import SHEETS_EPOCH

# Cell texts that mean "no value" (compared after trimming and case-folding).
PLACEHOLDERS = frozenset({
    "", "select", "unknown", "n/a", "na", "-", "--", "—", "nan", "null", "#n/a", "?",
    "not provided", "not available", "tbd", "(blank)", "none provided",
})
TRUE_WORDS = frozenset({"yes", "y", "true", "t", "1", "1.0", "checked", "✓", "✔"})
FALSE_WORDS = frozenset({"no", "n", "false", "f", "0", "0.0", "unchecked"})

FLOAT32_MAX = float(np.finfo(np.float32).max)  # the model reads features as float32

_CUR = r"(?:us\$|c\$|a\$|[$€£¥₹]|usd|eur|gbp|cad|aud|jpy|chf|inr|nzd|sek|nok|dkk)"
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d*)?|\d+(?:\.\d*)?|\.\d+"
_SUFFIX = {"k": 1e3, "m": 1e6, "mm": 1e6, "b": 1e9, "bn": 1e9, "%": 0.01}
_AMOUNT = re.compile(
    rf"^(?:(?P<c1>{_CUR})\s*)?(?P<sign>[-+−])?\s*(?:(?P<c2>{_CUR})\s*)?(?P<num>{_NUM})\s*"
    rf"(?P<suf>k|mm|m|bn|b|%)?(?:\s*(?P<c3>{_CUR}))?$")
_UNIT_TAIL = re.compile(r"(?:\s*(?:/|\bper\b)\s*[a-z]+\.?|\s*[a-z]{2,}\.?(?:\s+[a-z]{2,}\.?)?)$")
_RANGE = re.compile(r"^(?P<a>[^-–—]+?)\s*(?:-|–|—|\bto\b)\s*(?P<b>[^-–—]+)$")
_AT_LEAST = re.compile(r"^(?:>=?|≥|over|more than|above|at least)\s*(?P<a>.+)$"
                       r"|^(?P<b>.+?)\s*(?:\+|or more|and up|and above)$")
_AT_MOST = re.compile(r"^(?:<=?|≤|under|less than|below|up to|max)\s*(?P<a>.+)$")


def clean_cell(value: object) -> str:
    """One cell as comparable text: trimmed, inner spaces folded, case-folded."""
    return " ".join(str(value).split()).casefold()


def is_blank(value: object) -> bool:
    """True for an empty cell (None, NaN, NA, NaT)."""
    return value is None or (isinstance(value, float) and value != value) or value is pd.NA or value is pd.NaT


DIRECT_ROWS = 4096  # up to this many cells, look each up (a memo hit is cheaper than hashing for distincts)


class Memo(dict):
    """What one column's cells read as, kept between calls (a server sees the same cells again and again).

    Bounded: emptied when it reaches ``limit`` entries.  Blank (NaN) cells are never kept.
    """

    def __init__(self, limit: int = 20_000) -> None:
        super().__init__()
        self.limit = limit


_MISS = object()


def _each(items: Any, fn: Callable[[Any], Any], memo: Memo | None) -> list[Any]:
    """``fn`` of each item, through ``memo`` when given (and the items would not flood it)."""
    if memo is None or len(items) > memo.limit:
        return [fn(v) for v in items]
    get = memo.get
    out = [get(v, _MISS) for v in items]
    for i, got in enumerate(out):
        if got is _MISS:
            v = items[i]
            out[i] = got = fn(v)
            if v == v:  # NaN keys never match again: not worth keeping
                if len(memo) >= memo.limit:
                    memo.clear()
                memo[v] = got
    return out


def distinct_cells(values: pd.Series | np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """``(codes, cells)``: each distinct cell once (codes -1 = blank), or every cell as is for a short column.

    ``codes`` is None when the column is short enough to read cell by cell.  Text columns
    held by Arrow are hashed by Arrow, without a Python object per cell.
    """
    if isinstance(values, pd.Series):
        if len(values) <= DIRECT_ROWS or values.dtype == object:
            arr = values.to_numpy(dtype=object)
        else:
            codes, uniques = pd.factorize(values, use_na_sentinel=True)
            return codes, np.asarray(uniques, dtype=object)
    else:
        arr = np.asarray(values, dtype=object)
    if len(arr) <= DIRECT_ROWS:
        return None, arr
    codes, uniques = pd.factorize(arr, use_na_sentinel=True)
    return codes, np.asarray(uniques, dtype=object)


def spread(codes: np.ndarray | None, table: np.ndarray, blank: Any) -> np.ndarray:
    """Per-distinct results back onto every cell (``blank`` where the code is -1)."""
    if codes is None:
        return table
    full = np.empty(len(table) + 1, dtype=table.dtype)
    full[:-1] = table
    full[-1] = blank
    return full[codes]


def per_distinct(values: pd.Series | np.ndarray, fn: Callable[[Any], Any], blank: Any,
                 memo: Memo | None = None) -> np.ndarray:
    """Apply ``fn`` once per distinct cell and spread the results over the column.

    Sheets repeat values (sources, yes/no, amounts), so this keeps parsing cost to the
    number of distinct cells; ``pd.factorize`` hashes mixed str / int / float cells.  With a
    ``memo``, cells read by an earlier call are not read again.
    """
    codes, cells = distinct_cells(values)
    table = np.empty(len(cells), dtype=object)
    table[:] = _each(cells, fn, memo)
    return spread(codes, table, blank)


# ---------------------------------------------------------------- numbers

_BLANK3 = (np.nan, False, False)
_BAD3 = (np.nan, True, False)


def _in_range(number: float) -> bool:
    return number - number == 0 and abs(number) <= FLOAT32_MAX  # finite and a float32 can hold it


def _amount(text: str, signed: bool = True) -> tuple[float, str] | None:
    """(value, suffix) of one amount such as ``$1.2k`` or ``-40``; None if it is not one."""
    m = _AMOUNT.match(text)
    if m is None or (m["sign"] and not signed):
        return None
    if sum(1 for g in ("c1", "c2", "c3") if m[g]) > 1:
        return None
    suffix = (m["suf"] or "").lower()
    number = float(m["num"].replace(",", "")) * _SUFFIX.get(suffix, 1.0)
    return (-number if m["sign"] in ("-", "−") else number), suffix


def _number_text(text: str) -> tuple[float, bool, bool]:
    """(number, unreadable, was a range) for one cleaned, non-placeholder text."""
    negative = False
    if text.startswith("(") and text.endswith(")"):
        text, negative = text[1:-1].strip(), True
    body = text
    for attempt in (body, _UNIT_TAIL.sub("", body).strip()):
        if not attempt:
            continue
        single = _amount(attempt)
        if single is not None:
            number = -single[0] if negative else single[0]
            return (number, False, False) if _in_range(number) else _BAD3
        if negative:
            continue
        ranged = _range(attempt)
        if ranged is not None:
            return (ranged, False, True) if _in_range(ranged) else _BAD3
    return _BAD3


def _range(text: str) -> float | None:
    """The number a range cell stands for: the midpoint of ``10-50`` (and of ``<10``: 5), the bound of ``50+``."""
    m = _RANGE.match(text)
    if m:
        a, b = _amount(m["a"].strip(), signed=False), _amount(m["b"].strip(), signed=False)
        if a is None or b is None:
            return None
        low, high = a[0], b[0]
        if not a[1] and b[1] and low * _SUFFIX[b[1]] <= high:  # 1-5k is 1k-5k; 500-5k stays 500
            low *= _SUFFIX[b[1]]
        return (low + high) / 2 if low <= high else None
    m = _AT_LEAST.match(text)
    if m:  # open-ended: the stated bound
        bound = _amount((m["a"] or m["b"] or "").strip(), signed=False)
        return None if bound is None else bound[0]
    m = _AT_MOST.match(text)
    if m:  # 0 up to the bound: its midpoint
        bound = _amount(m["a"].strip(), signed=False)
        return None if bound is None else bound[0] / 2
    return None


def _number(value: object) -> tuple[float, bool, bool]:
    """(number, unreadable, was a range) for one cell."""
    if isinstance(value, str):  # str and numpy.str_
        try:  # the common case, a plain number as text (float() ignores surrounding spaces)
            number = float(value)
            if number == number:
                return (number, False, False) if _in_range(number) else _BAD3
        except ValueError:
            pass
        text = clean_cell(value)
        if text in PLACEHOLDERS:
            return _BLANK3
        return _number_text(text)
    if isinstance(value, (bool, np.bool_, int, float, np.integer, np.floating)):
        number = float(value)
        if number != number:
            return _BLANK3
        return (number, False, False) if _in_range(number) else _BAD3
    return _BLANK3 if is_blank(value) else _BAD3


FAST_FROM = 2048  # distinct cells from which the common number forms are read in one vectorized pass
# The forms most number cells take, read exactly as the cell-by-cell reader reads them:
# a plain number (what float() takes), and an amount with a $ and/or thousands separators.
_PLAIN = r"^\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*$"
_GROUPED = r"^\s*(?:\$\s*(?:\d{1,3}(?:,\d{3})+|\d+)|\d{1,3}(?:,\d{3})+)(?:\.\d*)?\s*$"


def _common_numbers(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(numbers, read)``: the cells in the common forms, read in one pass (Arrow regex and cast)."""
    n = len(cells)
    nums = np.full(n, np.nan)
    read = np.zeros(n, dtype=bool)
    text = np.flatnonzero(np.fromiter((type(c) is str for c in cells), dtype=bool, count=n))
    if len(text) == 0:
        return nums, read
    texts = pa.array(cells[text], type=pa.string())
    common = pc.or_(pc.match_substring_regex(texts, _PLAIN), pc.match_substring_regex(texts, _GROUPED))
    picked = common.to_numpy(zero_copy_only=False)
    if picked.any():  # Arrow's cast is correctly rounded, like float()
        digits = pc.replace_substring_regex(pc.filter(texts, common), r"[\s$,]", "")
        at = text[picked]
        nums[at] = pc.cast(digits, pa.float64()).to_numpy(zero_copy_only=False)
        read[at] = True
    return nums, read


def read_numbers(values: pd.Series, memo: Memo | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(numbers, unreadable, ranged)`` for a column: NaN where blank or unreadable."""
    n = len(values)
    if isinstance(values, pd.Series) and (pd.api.types.is_bool_dtype(values.dtype)
                                          or pd.api.types.is_numeric_dtype(values.dtype)):
        nums = values.to_numpy(dtype=float, na_value=np.nan, copy=True)
        with np.errstate(invalid="ignore"):
            bad = ~np.isnan(nums) & ~(np.abs(nums) <= FLOAT32_MAX)
        nums[bad] = np.nan
        return nums, bad, np.zeros(n, dtype=bool)
    if n == 0:
        return np.zeros(0), np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)
    codes, cells = distinct_cells(values)
    nums = np.full(len(cells), np.nan)
    bad = np.zeros(len(cells), dtype=bool)
    ranged = np.zeros(len(cells), dtype=bool)
    rest = np.arange(len(cells))
    if codes is not None and len(cells) >= FAST_FROM:
        fast, read = _common_numbers(cells)
        with np.errstate(invalid="ignore"):
            out_of_range = read & ~(np.abs(fast) <= FLOAT32_MAX)
        nums[read & ~out_of_range] = fast[read & ~out_of_range]
        bad[out_of_range] = True
        rest = np.flatnonzero(~read)
    if len(rest):
        triples = np.array(_each(cells[rest], _number, memo), dtype=float).reshape(-1, 3)
        nums[rest] = triples[:, 0]
        bad[rest] = triples[:, 1] > 0
        ranged[rest] = triples[:, 2] > 0
    return spread(codes, nums, np.nan), spread(codes, bad, False), spread(codes, ranged, False)


# ---------------------------------------------------------------- yes / no

def _boolean(value: object) -> float | None:
    if is_blank(value):
        return np.nan
    text = clean_cell(value)
    if text in TRUE_WORDS:
        return 1.0
    if text in FALSE_WORDS:
        return 0.0
    return np.nan if text in PLACEHOLDERS else None  # None marks "not a yes/no"


def read_booleans(values: pd.Series, memo: Memo | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(1.0 / 0.0 / NaN, unreadable)`` for yes/no cells in any case (``Yes``, ``TRUE``, ``y``, ``1``)."""
    codes, cells = distinct_cells(values)
    raw = _each(cells, _boolean, memo)
    unparsed = np.fromiter((v is None for v in raw), dtype=bool, count=len(raw))
    out = np.fromiter((np.nan if v is None else v for v in raw), dtype=float, count=len(raw))
    return spread(codes, out, np.nan), spread(codes, unparsed, False)


# ---------------------------------------------------------------- dates

EPOCH = datetime(1970, 1, 1)
# Days from the spreadsheet epoch (day 0, 1899-12-30) to 1970-01-01: 25,569.
SERIAL_EPOCH_DAYS = float((datetime(1970, 1, 1, tzinfo=UTC) - SHEETS_EPOCH).days)
SERIAL_RANGE = (10_000.0, 100_000.0)  # 1927 … 2173: a number outside it is not a date
_NUMERIC_DATE = re.compile(r"^(\d{1,2})([/.\-])(\d{1,2})\2(\d{2}|\d{4})(?:[ t,]+\d{1,2}:\d{2}.*)?$")
_YMD = re.compile(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})$")
_ISO = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}(?:[ t]\d{1,2}:\d{2}.*)?$")
_MONTH = re.compile(r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\b")
_DEFAULTS = (datetime(2000, 1, 1), datetime(2001, 2, 2))
_NAMED_FORMATS = ("%d %b %Y", "%d %B %Y", "%B %d, %Y", "%b %d, %Y", "%b %d %Y", "%B %d %Y", "%d-%b-%Y", "%d-%b-%y")
_BLANK2 = (np.nan, False)
_BAD2 = (np.nan, True)


def _to_days(stamp: datetime) -> float:
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    return (stamp - EPOCH).total_seconds() / 86400.0


def _year(text: str) -> int:
    year = int(text)
    return year if len(text) == 4 else year + (2000 if year < 70 else 1900)


def _serial(number: float) -> tuple[float, bool]:
    if SERIAL_RANGE[0] <= number <= SERIAL_RANGE[1]:
        return number - SERIAL_EPOCH_DAYS, False
    return _BAD2


def _day(value: object, dayfirst: bool) -> tuple[float, bool]:
    """(days since 1970-01-01 UTC, unreadable) for one date cell."""
    if is_blank(value):
        return _BLANK2
    if isinstance(value, datetime):
        return _to_days(value), False
    if isinstance(value, date):
        return _to_days(datetime(value.year, value.month, value.day)), False
    if isinstance(value, (bool, np.bool_)):
        return _BAD2
    if isinstance(value, (int, float, np.integer, np.floating)):
        return _BLANK2 if value != value else _serial(float(value))
    text = clean_cell(value)
    if text in PLACEHOLDERS:
        return _BLANK2
    try:
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            return _serial(float(text))
        if _ISO.match(text):
            try:
                return _to_days(datetime.fromisoformat(text.upper().replace("Z", "+00:00"))), False
            except ValueError:  # forms fromisoformat does not take, e.g. 2025-3-4
                return _to_days(pd.Timestamp(text.upper()).to_pydatetime()), False
        m = _NUMERIC_DATE.match(text)
        if m:
            first, second, year = int(m[1]), int(m[3]), _year(m[4])
            day_first = first > 12 or (dayfirst and second <= 12)
            day, month = (first, second) if day_first else (second, first)
            return _to_days(datetime(year, month, day)), False
        m = _YMD.match(text)
        if m:
            return _to_days(datetime(int(m[1]), int(m[2]), int(m[3]))), False
        if _MONTH.search(text) and re.search(r"\d", text):
            for fmt in _NAMED_FORMATS:  # the usual forms, fast; anything else goes to dateutil
                try:
                    return _to_days(datetime.strptime(text, fmt)), False
                except ValueError:
                    continue
            a, b = (dateparser.parse(text, dayfirst=dayfirst, default=d) for d in _DEFAULTS)
            if a.year != b.year:  # no year in the cell: not a date we can place
                return _BAD2
            return _to_days(a), False
    except (ValueError, OverflowError, TypeError):
        return _BAD2
    return _BAD2


def read_dates(values: pd.Series, dayfirst: bool = False, memo: Memo | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """``(days since 1970-01-01 UTC, unreadable)`` for a column of dates (NaN where blank or unreadable).

    A ``memo`` belongs to one column, so to one ``dayfirst``.
    """
    if len(values) == 0:
        return np.zeros(0), np.zeros(0, dtype=bool)
    codes, cells = distinct_cells(values)
    pairs = np.array(_each(cells, (lambda v: _day(v, True)) if dayfirst else (lambda v: _day(v, False)), memo),
                     dtype=float).reshape(-1, 2)
    days, bad = pairs[:, 0].copy(), pairs[:, 1] > 0
    return spread(codes, days, np.nan), spread(codes, bad, False)


def decide_dayfirst(values: pd.Series) -> tuple[bool | None, str]:
    """Whether a column's numeric dates are day-first, and the evidence (None: no such dates).

    Cells that can be read only one way decide (``28.07.2026`` is day-first, ``07/28/2026``
    month-first; the majority wins); without any, ``.`` means day-first and ``/`` month-first.
    """
    texts = pd.unique(values.dropna().astype(str).map(clean_cell))
    day_first, month_first, dots, slashes = [], [], 0, 0
    for text in texts:
        m = _NUMERIC_DATE.match(text)
        if not m:
            continue
        first, second = int(m[1]), int(m[3])
        if first > 12 and second <= 12:
            day_first.append(text)
        elif second > 12 and first <= 12:
            month_first.append(text)
        dots += m[2] == "."
        slashes += m[2] != "."
    if not (day_first or month_first or dots or slashes):
        return None, ""
    if len(day_first) != len(month_first):
        winner = len(day_first) > len(month_first)
        cells = day_first if winner else month_first
        return winner, (f"{'day' if winner else 'month'}-first, as cells such as {cells[0]} can only be read "
                        "that way")
    if dots > slashes:
        return True, "day-first (dates written with dots)"
    return False, "month-first (no cell tells; dates written with slashes read as US dates)"


def looks_like_dates(values: pd.Series) -> float:
    """A cheap share of distinct cells shaped like dates (to skip full parsing of plain text)."""
    uniq = pd.unique(values.dropna().astype(object))
    if len(uniq) == 0:
        return 0.0
    sample = uniq[:500]
    hits = 0
    for v in sample:
        if isinstance(v, (datetime, date)):
            hits += 1
            continue
        text = clean_cell(v)
        if _ISO.match(text) or _NUMERIC_DATE.match(text) or _YMD.match(text) or (
                _MONTH.search(text) and re.search(r"\d", text)) or re.fullmatch(r"\d{5}(?:\.\d+)?", text):
            hits += 1
    return hits / len(sample)
