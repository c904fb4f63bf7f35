"""Points rules agreed between sales and marketing: a rulebook, checked, applied to a whole sheet.

A rulebook is YAML (``--rules FILE``) or a ``Scoring Rules`` tab (one row per rule: Group,
Column, Condition, Value, Points, Note).  The YAML form::

    groups:                      # optional; caps per group, and decay for engagement
      fit: {max: 60}
      engagement: {max: 40, half_life_days: 30, date_column: Last Activity}
    rules:
      - {column: Business Type, is: [Agency, E-commerce], points: 20, group: fit}
      - {column: Demo Booked, is: true, points: 30, group: engagement}
      - {all: [{column: Emails Opened, at_least: 3}, {column: Lead Source, is_not: Cold Outbound}],
         points: 10, group: engagement}

Conditions: ``is`` / ``is_not`` (a value or a list, matched the way the product reads cells:
case and spaces do not matter, ``Yes`` = ``TRUE`` = ``1``, ``$12,000`` = ``12k``),
``at_least``, ``at_most``, ``between`` (inclusive), ``contains``, ``is_blank``, ``is_present``
(``Select``, ``N/A`` and the like count as blank), combined with ``all`` / ``any``.
``is_not`` is the exact opposite of ``is``, so a blank cell "is not" any value.

Points: each rule that fires adds its points to its group (rules without a group each
count on their own).  A group with ``max`` is capped at it; a group with ``half_life_days``
loses half its points every that many days since its ``date_column`` (measured when the
leads are scored: engagement goes stale; a lead without a date keeps its points).

    Rule Points = sum over groups of  min(group points, max) × 0.5 ** (age / half_life)
    Lead Score  = 1 + floor(10 × Rule Points / max points), within 1..10

where ``max points`` is the most a lead can get (each group's cap, or the sum of its
positive points).  So the 0–max range is cut in tenths: under 10 % of the maximum is a 1,
90 % or more is a 10; negative totals are a 1.

Everything is evaluated column by column over the whole frame (no loop over leads).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import yaml

from backend.core.outputs import LeadResult
from backend.core.schema import (
    FALSE_WORDS,
    TRUE_WORDS,
    clean_cell,
    missing_mask,
    normalize_name,
    normalize_text,
    parse_booleans,
    parse_dates,
    parse_numbers,
)
from backend.errors import BadInput

RULES_TAB = "Scoring Rules"
TAB_COLUMNS = ("Group", "Column", "Condition", "Value", "Points", "Note")
VALUE_CONDITIONS = ("is", "is_not", "at_least", "at_most", "between", "contains")
FLAG_CONDITIONS = ("is_blank", "is_present")
COMBINATORS = ("all", "any")
CONDITIONS = (*VALUE_CONDITIONS, *FLAG_CONDITIONS, *COMBINATORS)
RULE_KEYS = frozenset({"column", "points", "group", "note", *CONDITIONS})
GROUP_KEYS = frozenset({"max", "half_life_days", "date_column"})
_CONDITION_WORDS = {"is": "is", "is_not": "is not", "at_least": "≥", "at_most": "≤", "between": "between",
                    "contains": "contains", "is_blank": "is blank", "is_present": "is filled in"}


@dataclass(frozen=True)
class Condition:
    """One test on one column (``column`` set) or a combination of tests (``all`` / ``any``)."""

    kind: str
    column: str | None = None
    value: Any = None
    parts: tuple[Condition, ...] = ()

    def columns(self) -> list[str]:
        """Every column this condition reads."""
        if self.kind in COMBINATORS:
            return [c for p in self.parts for c in p.columns()]
        return [str(self.column)]

    def describe(self) -> str:
        """The condition in words: ``Business Type is Agency or E-commerce``."""
        if self.kind in COMBINATORS:
            joiner = " and " if self.kind == "all" else " or "
            return joiner.join(p.describe() if p.kind not in COMBINATORS else f"({p.describe()})"
                               for p in self.parts)
        word = _CONDITION_WORDS[self.kind]
        if self.kind in FLAG_CONDITIONS:
            return f"{self.column} {word}"
        if self.kind == "between":
            return f"{self.column} between {_show(self.value[0])} and {_show(self.value[1])}"
        if isinstance(self.value, tuple):
            return f"{self.column} {word} {' or '.join(_show(v) for v in self.value)}"
        return f"{self.column} {word} {_show(self.value)}"

    def to_dict(self) -> dict[str, Any]:
        """The condition as YAML/JSON data (the rulebook form)."""
        if self.kind in COMBINATORS:
            return {self.kind: [p.to_dict() for p in self.parts]}
        value: Any = True if self.kind in FLAG_CONDITIONS else self.value
        if self.kind in ("at_least", "at_most"):
            value = _number_out(value)
        elif self.kind == "between":
            value = [_number_out(v) for v in value]
        if isinstance(value, tuple):
            value = list(value) if len(value) != 1 or self.kind == "between" else value[0]
        return {"column": self.column, self.kind: value}


@dataclass(frozen=True)
class Rule:
    """A condition and the points a lead gets when it holds."""

    condition: Condition
    points: float
    group: str | None = None
    note: str = ""
    where: str = ""          # "line 7 of rules.yaml", "row 4 of the Scoring Rules tab"

    @property
    def label(self) -> str:
        """How the rule is named in reasons: its note, or the condition in words."""
        return self.note or self.condition.describe()

    def to_dict(self) -> dict[str, Any]:
        out = {**self.condition.to_dict(), "points": _number_out(self.points)}
        if self.group:
            out["group"] = self.group
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class Group:
    """A group of rules: a cap on its points and, for engagement, a decay with age."""

    name: str
    max: float | None = None
    half_life_days: float | None = None
    date_column: str | None = None
    where: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.max is not None:
            out["max"] = _number_out(self.max)
        if self.half_life_days is not None:
            out["half_life_days"] = _number_out(self.half_life_days)
        if self.date_column:
            out["date_column"] = self.date_column
        return out


@dataclass
class RulePoints:
    """What a rulebook gave every lead (rows in the frame's order)."""

    points: np.ndarray                 # Rule Points (after caps and decay)
    lead_score: np.ndarray             # 1..10 from the points
    fired: np.ndarray                  # rows × rules: True where a rule fired
    group_points: dict[str, np.ndarray]  # per group (ungrouped rules under their own key)
    reasons: list[list[str]]
    max_points: float


@dataclass
class Rulebook:
    """Rules and groups, validated; ``source`` names where they came from (for messages)."""

    rules: list[Rule]
    groups: dict[str, Group] = field(default_factory=dict)
    source: str = "the rulebook"

    # ------------------------------------------------------------------ shape

    def group_keys(self) -> list[str]:
        """One key per scoring group, in rule order: named groups, and ``rule N`` for ungrouped rules."""
        keys: list[str] = []
        for i, rule in enumerate(self.rules):
            key = rule.group or f"rule {i + 1}"
            if key not in keys:
                keys.append(key)
        return keys

    def _key(self, i: int) -> str:
        return self.rules[i].group or f"rule {i + 1}"

    @property
    def max_points(self) -> float:
        """The most points a lead can get: per group, its positive points (capped by ``max``).

        Rules that test one column with ``is`` on values no other such rule names cannot fire
        together (a cell holds one value), so only the best of them counts towards the maximum.
        """
        total = 0.0
        grouped: dict[str, list[Rule]] = {}
        for rule in self.rules:
            grouped.setdefault(rule.group or "", []).append(rule)
        for name, members in grouped.items():
            best = _best_total(members)
            cap = self.groups[name].max if name in self.groups else None
            total += best if cap is None else min(cap, best)
        return total

    def columns(self) -> list[str]:
        """Every column the rulebook reads (rules and decay dates), each once."""
        out: list[str] = []
        for name in [c for r in self.rules for c in r.condition.columns()] + [
                g.date_column for g in self.groups.values() if g.date_column]:
            if normalize_name(name) not in {normalize_name(o) for o in out}:
                out.append(name)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The rulebook as YAML/JSON data (round-trips through :func:`parse_rulebook`)."""
        out: dict[str, Any] = {}
        if self.groups:
            out["groups"] = {name: g.to_dict() for name, g in self.groups.items()}
        out["rules"] = [r.to_dict() for r in self.rules]
        return out

    def to_yaml(self) -> str:
        """The rulebook as YAML text, one rule per line."""
        lines = []
        if self.groups:
            lines.append("groups:")
            for name, g in self.groups.items():
                lines.append("  " + _yaml_flow({name: g.to_dict()})[1:-1])
        lines.append("rules:")
        for r in self.rules:
            lines.append(f"  - {_yaml_flow(r.to_dict())}")
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------------------ checks

    def check_columns(self, header: Sequence[object]) -> None:
        """Refuse a rule or group that names a column the sheet does not have (naming the rule)."""
        keys = {normalize_name(h) for h in header}
        shown = ", ".join(str(h) for h in list(header)[:12])
        for rule in self.rules:
            for name in rule.condition.columns():
                if normalize_name(name) not in keys:
                    raise BadInput(f"The rule at {rule.where} ({rule.label}) names the column '{name}', which is "
                                   f"not in the sheet. Columns found: {shown}. Spell the column as in row 1.",
                                   column=name)
        for g in self.groups.values():
            if g.date_column and normalize_name(g.date_column) not in keys:
                raise BadInput(f"The group '{g.name}' at {g.where} decays with the column '{g.date_column}', which "
                               f"is not in the sheet. Columns found: {shown}. Spell the column as in row 1.",
                               column=g.date_column)

    # ------------------------------------------------------------------ scoring

    def evaluate(self, frame: pd.DataFrame, *, now_days: float | None = None) -> RulePoints:
        """Every rule over the whole frame at once: points, lead score, and the rules each lead fired.

        ``now_days`` (days since 1970-01-01 UTC) is when engagement age is measured; default: now.
        """
        self.check_columns(list(frame.columns))
        n = len(frame)
        columns = {normalize_name(c): c for c in reversed(list(frame.columns))}
        cache: dict[tuple[str, str], Any] = {}
        fired = np.zeros((n, len(self.rules)), dtype=bool)
        for j, rule in enumerate(self.rules):
            fired[:, j] = _mask(rule.condition, frame, columns, cache)
        if now_days is None:
            from backend.core.features import today_days

            now_days = today_days()
        group_points: dict[str, np.ndarray] = {}
        decay: dict[str, np.ndarray] = {}
        capped: dict[str, np.ndarray] = {}
        for key in self.group_keys():
            members = [j for j in range(len(self.rules)) if self._key(j) == key]
            pts = np.array([self.rules[j].points for j in members], dtype=float)
            raw = fired[:, members].astype(float) @ pts if members else np.zeros(n)
            group = self.groups.get(key)
            if group is not None and group.max is not None:
                capped[key] = raw > group.max
                raw = np.minimum(raw, group.max)
            if group is not None and group.half_life_days:
                factor = np.ones(n)
                if group.date_column:
                    days, _ = parse_dates(frame[columns[normalize_name(group.date_column)]])
                    age = np.clip(now_days - days, 0.0, None)
                    factor = np.where(np.isnan(age), 1.0, 0.5 ** (age / group.half_life_days))
                raw = raw * factor
                decay[key] = factor
            group_points[key] = raw
        total = np.sum(list(group_points.values()), axis=0) if group_points else np.zeros(n)
        total = np.round(total, 2)
        best = self.max_points
        return RulePoints(points=total, lead_score=points_to_score(total, best), fired=fired,
                          group_points=group_points, reasons=self._reasons(fired, capped, decay), max_points=best)

    def _reasons(self, fired: np.ndarray, capped: dict[str, np.ndarray], decay: dict[str, np.ndarray]
                 ) -> list[list[str]]:
        """Each lead's fired rules with their points (largest first), plus any cap or decay applied.

        Built once per distinct pattern of fired rules, caps and decay, then spread over the leads.
        """
        n = fired.shape[0]
        if n == 0:
            return []
        order = sorted(range(len(self.rules)), key=lambda j: -abs(self.rules[j].points))
        extra = [capped[k].astype(float) for k in capped] + [np.round(decay[k], 2) for k in decay]
        key_matrix = np.column_stack([fired.astype(float), *extra]) if extra else fired.astype(float)
        uniq, inverse = np.unique(key_matrix, axis=0, return_inverse=True)
        texts: list[list[str]] = []
        r = len(self.rules)
        for pattern in uniq:
            row = [f"{self.rules[j].label} {_signed(self.rules[j].points)}" for j in order if pattern[j] > 0.5]
            for name, hit in zip(capped, pattern[r:r + len(capped)]):
                if hit > 0.5:
                    row.append(f"{name} capped at {self.groups[name].max:g}")
            for name, f in zip(decay, pattern[r + len(capped):]):
                if f < 0.995 and any(pattern[j] > 0.5 for j in range(len(self.rules)) if self._key(j) == name):
                    row.append(f"{name} points ×{f:.2f} (activity ageing)")
            texts.append(row)
        return [texts[i] for i in np.asarray(inverse).reshape(-1)]


def _best_total(rules: Sequence[Rule]) -> float:
    """The largest sum of positive points these rules can give one lead (see ``max_points``)."""
    total = 0.0
    by_column: dict[str, list[Rule]] = {}
    for rule in rules:
        c = rule.condition
        if c.kind == "is" and rule.points > 0:
            by_column.setdefault(normalize_name(str(c.column)), []).append(rule)
        else:
            total += max(rule.points, 0.0)
    for same in by_column.values():
        values = [{clean_cell(v) for v in r.condition.value} for r in same]
        disjoint = sum(len(v) for v in values) == len(set().union(*values))
        total += max(r.points for r in same) if disjoint else sum(r.points for r in same)
    return total


def points_to_score(points: np.ndarray, max_points: float) -> np.ndarray:
    """1–10 from rule points: the 0–max range in tenths (negative → 1, the maximum → 10)."""
    if max_points <= 0:
        return np.ones(len(points), dtype=int)
    share = np.clip(np.asarray(points, dtype=float) / max_points, 0.0, 1.0)
    return np.clip(1 + np.floor(10 * share + 1e-9), 1, 10).astype(int)


# ---------------------------------------------------------------------- evaluation

def _mask(cond: Condition, frame: pd.DataFrame, columns: dict[str, Any], cache: dict[tuple[str, str], Any]
          ) -> np.ndarray:
    if cond.kind == "all":
        out = np.ones(len(frame), dtype=bool)
        for p in cond.parts:
            out &= _mask(p, frame, columns, cache)
        return out
    if cond.kind == "any":
        out = np.zeros(len(frame), dtype=bool)
        for p in cond.parts:
            out |= _mask(p, frame, columns, cache)
        return out
    name = columns[normalize_name(str(cond.column))]

    def read(kind: str) -> Any:  # each column is parsed once per kind, whatever the number of rules
        if (name, kind) not in cache:
            values = frame[name]
            cache[(name, kind)] = {"text": lambda: normalize_text(values).to_numpy(dtype=object),
                                   "number": lambda: parse_numbers(values)[0],
                                   "boolean": lambda: parse_booleans(values)[0],
                                   "missing": lambda: missing_mask(values)}[kind]()
        return cache[(name, kind)]

    if cond.kind == "is_blank":
        return read("missing").copy()
    if cond.kind == "is_present":
        return ~read("missing")
    if cond.kind in ("is", "is_not"):
        hit = _equals(cond.value, read)
        return hit if cond.kind == "is" else ~hit
    if cond.kind == "contains":
        text = pd.Series(read("text"))
        out = np.zeros(len(frame), dtype=bool)
        for v in cond.value:
            out |= text.str.contains(clean_cell(v), regex=False).to_numpy(dtype=bool)
        return out
    nums = read("number")
    with np.errstate(invalid="ignore"):
        if cond.kind == "at_least":
            return nums >= cond.value
        if cond.kind == "at_most":
            return nums <= cond.value
        lo, hi = cond.value
        return (nums >= lo) & (nums <= hi)


def _equals(values: tuple[Any, ...], read: Any) -> np.ndarray:
    """Cells equal to any of ``values``: as text, as yes/no, or as a number, as the product reads them."""
    texts = {clean_cell(v) for v in values if not isinstance(v, bool)}
    out = np.isin(read("text"), list(texts)) if texts else np.zeros(len(read("text")), dtype=bool)
    flags = {_as_flag(v) for v in values} - {None}
    if flags:
        bools = read("boolean")
        for flag in flags:
            out |= bools == flag
    numbers = [n for n in (_as_number(v) for v in values) if n is not None]
    if numbers:
        out |= np.isin(read("number"), numbers)
    return out


def _as_flag(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    text = clean_cell(value)
    if text in TRUE_WORDS:
        return 1.0
    if text in FALSE_WORDS:
        return 0.0
    return None


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    nums, bad = parse_numbers(pd.Series([value], dtype=object))
    return None if bad[0] or np.isnan(nums[0]) else float(nums[0])


# ---------------------------------------------------------------------- parsing

def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, float) and value.is_integer():
        return f"{value:,.0f}" if abs(value) >= 10000 else f"{value:.0f}"
    return str(value)


def _signed(points: float) -> str:
    text = f"{points:+.1f}".replace(".0", "")
    return text.replace("-", "−")


def _number_out(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _yaml_flow(data: Any) -> str:
    return yaml.safe_dump(data, default_flow_style=True, sort_keys=False, allow_unicode=True, width=10_000).strip()


def _condition_key(key: object) -> str:
    """``Is Not``, ``is-not``, ``at least`` → ``is_not``, ``at_least``."""
    return re.sub(r"[\s\-]+", "_", str(key).strip().casefold())


def _number_in(value: Any, where: str, what: str) -> float:
    if isinstance(value, bool) or value is None or (isinstance(value, str) and not value.strip()):
        raise BadInput(f"The rule at {where}: {what} needs a number, not '{'' if value is None else value}'.")
    nums, bad = parse_numbers(pd.Series([value], dtype=object))
    if bad[0] or math.isnan(nums[0]):
        raise BadInput(f"The rule at {where}: {what} '{value}' is not a number. Write it as 10000, $10,000 "
                       "or 10k.")
    return float(nums[0])


def _values(value: Any) -> tuple[Any, ...]:
    items = value if isinstance(value, (list, tuple)) else [value]
    return tuple(items)


def _condition(data: Mapping[str, Any], where: str) -> Condition:
    """A condition from its mapping form (``column`` + one condition key, or ``all`` / ``any``)."""
    keys = {_condition_key(k): k for k in data}
    unknown = [keys[k] for k in keys if k not in RULE_KEYS]
    if unknown:
        raise BadInput(f"The rule at {where} has an unknown condition or field '{unknown[0]}'. Conditions: "
                       f"{', '.join(CONDITIONS)}; fields: column, points, group, note.")
    found = [k for k in keys if k in CONDITIONS]
    if len(found) != 1:
        what = "no condition" if not found else f"several conditions ({', '.join(found)})"
        raise BadInput(f"The rule at {where} has {what}: give exactly one of {', '.join(CONDITIONS)} "
                       "(combine several with all: [...] or any: [...]).")
    kind = found[0]
    value = data[keys[kind]]
    if kind in COMBINATORS:
        if "column" in keys:
            raise BadInput(f"The rule at {where}: '{kind}' takes a list of conditions, each with its own column; "
                           "remove 'column' next to it.")
        if not isinstance(value, list) or not value or not all(isinstance(p, Mapping) for p in value):
            raise BadInput(f"The rule at {where}: '{kind}' needs a list of conditions such as "
                           "[{column: Emails Opened, at_least: 3}, {column: Lead Source, is_not: Cold Outbound}].")
        return Condition(kind, parts=tuple(_condition(p, where) for p in value))
    column = data.get(keys.get("column", "column"))
    if column is None or not str(column).strip():
        raise BadInput(f"The rule at {where} has no column: name the sheet column it tests (column: ...).")
    column = str(column).strip()
    if kind in FLAG_CONDITIONS:
        if value not in (True, None) and _as_flag(value) != 1.0:
            raise BadInput(f"The rule at {where}: write '{kind}: true' (it takes no value).")
        return Condition(kind, column)
    if kind in ("at_least", "at_most"):
        return Condition(kind, column, _number_in(value, where, kind))
    if kind == "between":
        pair = _values(value)
        if len(pair) != 2:
            raise BadInput(f"The rule at {where}: 'between' needs two numbers, e.g. between: [1000, 5000].")
        lo, hi = (_number_in(v, where, "between") for v in pair)
        return Condition(kind, column, (min(lo, hi), max(lo, hi)))
    items = _values(value)
    if not items or any(v is None or isinstance(v, (list, dict)) or (isinstance(v, str) and not v.strip())
                        for v in items):
        raise BadInput(f"The rule at {where}: '{kind}' needs a value or a list of values, e.g. "
                       f"{kind}: [Agency, E-commerce].")
    return Condition(kind, column, items)


def _rule(data: Any, where: str) -> Rule:
    if not isinstance(data, Mapping):
        raise BadInput(f"The rule at {where} must be a mapping such as "
                       "{column: Demo Booked, is: true, points: 30}.")
    keys = {_condition_key(k): k for k in data}
    if "points" not in keys:
        raise BadInput(f"The rule at {where} has no points: add points: N (negative to take points off).")
    points = _number_in(data[keys["points"]], where, "points")
    cond_data = {k: v for k, v in data.items() if _condition_key(k) not in ("points", "group", "note")}
    condition = _condition(cond_data, where)
    group = data.get(keys.get("group", "group"))
    note = data.get(keys.get("note", "note"))
    return Rule(condition, points, str(group).strip() if group not in (None, "") else None,
                str(note).strip() if note not in (None, "") else "", where)


def _group(name: str, data: Any, where: str) -> Group:
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise BadInput(f"The group '{name}' at {where} must be a mapping such as {{max: 40, half_life_days: 30, "
                       "date_column: Last Activity}.")
    keys = {_condition_key(k): k for k in data}
    unknown = [keys[k] for k in keys if k not in GROUP_KEYS]
    if unknown:
        raise BadInput(f"The group '{name}' at {where} has an unknown setting '{unknown[0]}'. Settings: max, "
                       "half_life_days, date_column.")
    cap = _number_in(data[keys["max"]], where, f"group '{name}' max") if "max" in keys else None
    half = (_number_in(data[keys["half_life_days"]], where, f"group '{name}' half_life_days")
            if "half_life_days" in keys else None)
    if half is not None and half <= 0:
        raise BadInput(f"The group '{name}' at {where}: half_life_days must be more than 0.")
    date_col = data.get(keys.get("date_column", "date_column"))
    if half is not None and not date_col:
        raise BadInput(f"The group '{name}' at {where} decays (half_life_days) but names no date_column: add "
                       "the column holding each lead's last activity date.")
    return Group(name, cap, half, str(date_col).strip() if date_col else None, where)


def _check_groups(book: Rulebook) -> Rulebook:
    if not book.rules:
        raise BadInput(f"{book.source} has no rules: add at least one under 'rules:'.")
    return book


def parse_rulebook(text: str, source: str = "the rulebook") -> Rulebook:
    """A YAML rulebook, checked; errors name the rule by its line in ``source``."""
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise BadInput(f"{source} is not valid YAML{where}: {getattr(exc, 'problem', None) or exc}. "
                       "Check the indentation and the brackets on that line.") from exc
    return rulebook_from_data(data, source, _child_lines(node))


def rulebook_from_data(data: Any, source: str = "the rulebook",
                       lines: Mapping[tuple[str, int | str], int] | None = None) -> Rulebook:
    """A rulebook from its data form (parsed YAML or JSON: ``{"groups": {...}, "rules": [...]}``), checked."""
    if not isinstance(data, Mapping) or "rules" not in data:
        raise BadInput(f"{source} must be YAML with a 'rules:' list (and optionally 'groups:'), e.g.\n"
                       "rules:\n  - {column: Demo Booked, is: true, points: 30}")
    unknown = sorted(set(map(str, data)) - {"rules", "groups"})
    if unknown:
        raise BadInput(f"{source} has an unknown section '{unknown[0]}': only 'groups' and 'rules'.")
    lines = lines or {}

    def at(key: str, index: int | str) -> str:
        line = lines.get((key, index))
        if line:
            return f"line {line} of {source}"
        return f"{key}[{index}] of {source}" if isinstance(index, int) else f"{source}"

    rules_data = data["rules"]
    if not isinstance(rules_data, list):
        raise BadInput(f"'rules' in {source} must be a list: one '- {{column: ..., is: ..., points: N}}' per line.")
    rules = [_rule(item, at("rules", i)) for i, item in enumerate(rules_data)]
    groups_data = data.get("groups") or {}
    if not isinstance(groups_data, Mapping):
        raise BadInput(f"'groups' in {source} must map each group name to its settings, e.g. fit: {{max: 60}}.")
    groups = {str(name): _group(str(name), g, at("groups", str(name))) for name, g in groups_data.items()}
    return _check_groups(Rulebook(rules, groups, source))


def _child_lines(node: Any) -> dict[tuple[str, int | str], int]:
    """(section, index or group name) → 1-based line, from the composed YAML nodes."""
    out: dict[tuple[str, int | str], int] = {}
    if not isinstance(node, yaml.MappingNode):
        return out
    for key, value in node.value:
        section = str(key.value)
        if isinstance(value, yaml.SequenceNode):
            for i, item in enumerate(value.value):
                out[(section, i)] = item.start_mark.line + 1
        elif isinstance(value, yaml.MappingNode):
            for k, _ in value.value:
                out[(section, str(k.value))] = k.start_mark.line + 1
    return out


def load_rulebook(path: str) -> Rulebook:
    """A rulebook from a YAML file, or from a CSV / XLSX export of a ``Scoring Rules`` tab."""
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise BadInput(f"The rulebook file {path} does not exist. Pass a .yaml file (or a CSV of the "
                       f"{RULES_TAB} tab) with --rules.")
    if p.suffix.lower() in (".csv", ".xlsx", ".xls"):
        table = (pd.read_csv(p, dtype=object, keep_default_na=False) if p.suffix.lower() == ".csv"
                 else pd.read_excel(p, dtype=object))
        return rulebook_from_rows([list(table.columns), *table.astype(object).where(table.notna(), "").values.tolist()],
                                  source=f"{RULES_TAB} ({p.name})")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"The rulebook {path} is not UTF-8 text. Save it as UTF-8 YAML.") from exc
    return parse_rulebook(text, source=p.name)


def rulebook_from_rows(rows: Sequence[Sequence[Any]], source: str = f"the {RULES_TAB} tab") -> Rulebook:
    """A rulebook from a ``Scoring Rules`` tab: a header row (Group, Column, Condition, Value, Points,
    Note, in any order) and one rule per row; errors name the tab row.

    Condition words may have spaces (``at least``, ``is not``).  ``is`` / ``is_not`` / ``contains``
    take several values separated by commas or semicolons; ``between`` takes two (``1000 - 5000``).
    A row whose Condition is ``max``, ``half life days`` or ``date column`` (and whose Column is
    empty) sets that for its Group.  A row with no Points adds its condition to the rule above
    (both must hold).
    """
    if not rows:
        raise BadInput(f"{source} is empty: its first row must be the headers {', '.join(TAB_COLUMNS)}.")
    header = [normalize_name(h) for h in rows[0]]
    pos = {name: header.index(normalize_name(name)) for name in TAB_COLUMNS if normalize_name(name) in header}
    missing = [n for n in ("Column", "Condition", "Points") if n not in pos]
    if missing:
        raise BadInput(f"{source} has no {', '.join(missing)} column in its header row: the headers are "
                       f"{', '.join(TAB_COLUMNS)}.")

    def cell(row: Sequence[Any], name: str) -> Any:
        i = pos.get(name)
        if i is None or i >= len(row):
            return ""
        v = row[i]
        return "" if v is None else v

    rules: list[Rule] = []
    settings: dict[str, dict[str, Any]] = {}
    setting_where: dict[str, str] = {}
    for number, row in enumerate(rows[1:], start=2):
        if all(str(v).strip() == "" for v in row if v is not None):
            continue
        where = f"row {number} of {source}"
        group = str(cell(row, "Group")).strip()
        column = str(cell(row, "Column")).strip()
        kind = _condition_key(cell(row, "Condition"))
        value = cell(row, "Value")
        if kind in ("max", "cap", "half_life_days", "half_life", "date_column"):
            if not group:
                raise BadInput(f"The setting at {where} ({kind}) needs a Group name.")
            key = {"cap": "max", "half_life": "half_life_days"}.get(kind, kind)
            settings.setdefault(group, {})[key] = column if key == "date_column" and column else value
            setting_where.setdefault(group, where)
            continue
        if kind not in CONDITIONS or kind in COMBINATORS:
            raise BadInput(f"The rule at {where} has an unknown condition '{cell(row, 'Condition')}'. Use one of: "
                           f"{', '.join(c.replace('_', ' ') for c in (*VALUE_CONDITIONS, *FLAG_CONDITIONS))}.")
        cond = {"column": column, kind: _tab_value(kind, value)}
        points = cell(row, "Points")
        if str(points).strip() == "":
            if not rules:
                raise BadInput(f"The rule at {where} has no Points: give the points it is worth.")
            prev = rules[-1]
            extra = _condition(cond, where)
            parts = prev.condition.parts if prev.condition.kind == "all" else (prev.condition,)
            rules[-1] = Rule(Condition("all", parts=(*parts, extra)), prev.points, prev.group, prev.note, prev.where)
            continue
        note = str(cell(row, "Note")).strip()
        rules.append(_rule({**cond, "points": points, "group": group or None, "note": note}, where))
    groups = {name: _group(name, data, setting_where[name]) for name, data in settings.items()}
    return _check_groups(Rulebook(rules, groups, source))


def _tab_value(kind: str, value: Any) -> Any:
    if kind in FLAG_CONDITIONS:
        return True
    if not isinstance(value, str):
        return value
    text = value.strip()
    if kind == "between":
        parts = re.split(r"\s*(?:;|\bto\b|\band\b|\s-\s|–|—)\s*", text)
        dash = re.fullmatch(r"(-?[^-]+?)\s*-\s*(-?[^-]+)", text)  # 1000-5000
        if len(parts) == 1 and dash:
            parts = [dash[1], dash[2]]
        if len(parts) == 1 and re.fullmatch(r"[^,]+,[^,]+", text) and not re.search(r"\d,\d{3}", text):
            parts = text.split(",")
        return [p.strip() for p in parts if p.strip()]
    if kind in ("is", "is_not", "contains"):
        parts = [p.strip() for p in re.split(r"[;,]", text) if p.strip()]
        return parts if len(parts) > 1 else text
    return text


# ---------------------------------------------------------------------- results

def rules_only_results(points: RulePoints) -> list[LeadResult]:
    """One result per lead when there is no model: the rules' score, points and reasons."""
    return [LeadResult(int(s), None, None, tuple(r), rule_points=float(p))
            for s, p, r in zip(points.lead_score.tolist(), points.points.tolist(), points.reasons)]


def with_rule_results(results: list[LeadResult], points: RulePoints) -> list[LeadResult]:
    """A model's results with the rules' figures beside them (points, the rules' own score, reasons)."""
    return [replace(res, rule_points=float(p), rule_score=int(s), rule_reasons=tuple(r))
            for res, s, p, r in zip(results, points.lead_score.tolist(), points.points.tolist(), points.reasons)]


# ---------------------------------------------------------------------- with a model

RULE_FEATURE_PREFIX = "Rule Points: "


def add_rule_features(frame: pd.DataFrame, book: Rulebook, now_days: float | None) -> pd.DataFrame:
    """``frame`` plus one column per rule group (its points), for a model to learn from."""
    points = book.evaluate(frame, now_days=now_days)
    extra = pd.DataFrame({f"{RULE_FEATURE_PREFIX}{k}": v for k, v in points.group_points.items()}, index=frame.index)
    return pd.concat([frame.drop(columns=[c for c in extra.columns if c in frame.columns]), extra], axis=1)


def rules_vs_model(book: Rulebook, frame: pd.DataFrame, y: np.ndarray, probability: np.ndarray,
                   model_scores: np.ndarray, now_days: float | None) -> dict[str, Any]:
    """Rules alone against the model on the same held-out leads: AUC, top-decile lift, score bands, a verdict."""
    from sklearn.metrics import roc_auc_score

    from backend.core.evaluate import monotone_steps, score_bands, top_decile_lift

    pts = book.evaluate(frame, now_days=now_days)
    y = np.asarray(y, dtype=int)
    both = len(np.unique(y)) > 1

    def figures(score: np.ndarray, bands_from: np.ndarray) -> dict[str, Any]:
        bands = score_bands(y, bands_from, score)
        up, steps = monotone_steps(bands)
        return {"auc": round(float(roc_auc_score(y, score)), 4) if both else None,
                "top_decile_lift": round(top_decile_lift(y, score), 3),
                "score_bands": [{k: b[k] for k in ("score", "n", "converted", "conversion_rate")} for b in bands],
                "monotone_steps": [up, steps]}

    # Ties in points are broken by nothing: a tiny jitter would flatter the rules' AUC, so none is added.
    rules_fig = figures(pts.points.astype(float), pts.lead_score)
    model_fig = figures(np.asarray(probability, dtype=float), np.asarray(model_scores))
    verdict = _verdict(rules_fig, model_fig)
    return {"rulebook": book.to_dict(), "max_points": book.max_points, "rows": int(len(y)),
            "rules": rules_fig, "model": model_fig, "verdict": verdict}


def _verdict(rules_fig: dict[str, Any], model_fig: dict[str, Any]) -> str:
    ra, ma = rules_fig["auc"], model_fig["auc"]
    if ra is None or ma is None:
        return "Not enough held-out outcomes of both kinds to compare the rules with the model."
    gap = ma - ra
    if gap > 0.03:
        return (f"Use the model: it ranks held-out leads better (AUC {ma:.3f} vs {ra:.3f} for the rules). Keep the "
                "rules as a shared language: their points are also model features.")
    if gap < -0.01:
        return (f"Use the rules: they rank held-out leads better than the model (AUC {ra:.3f} vs {ma:.3f}); the "
                "history may be too small or too noisy for a model yet.")
    return (f"The rules rank held-out leads about as well as the model (AUC {ra:.3f} vs {ma:.3f}): the rules are "
            "simpler to explain, the model gives probabilities and MRR.")


def bundle_rulebook(card: Mapping[str, Any]) -> Rulebook | None:
    """The rulebook a model was trained with (its group points are features), if any."""
    saved = (card.get("rules") or {}).get("rulebook")
    return rulebook_from_data(saved, "the model's rulebook") if saved else None


def rulebook_from_request(value: Any) -> Rulebook:
    """The rulebook sent with a scoring request: YAML text, the tab's rows (header first), or its data form."""
    if isinstance(value, str):
        return parse_rulebook(value, "the rulebook sent")
    if isinstance(value, list):
        if not all(isinstance(r, list) for r in value):
            raise BadInput(f"'rules' as a list must be the {RULES_TAB} tab's rows (each a list of cells), "
                           "its header row first.")
        return rulebook_from_rows(value)
    if isinstance(value, Mapping):
        return rulebook_from_data(value, "the rulebook sent")
    raise BadInput(f"'rules' must be YAML text, the {RULES_TAB} tab's rows, or an object with 'rules'.")
