"""Lead segments: the kinds of lead a team captures, found without the outcome, named by their traits.

At training, the labelled and open leads are clustered with k-means on their per-lead
contributions: for each of the user's columns, how much it moves the classifier's log-odds
for this lead (XGBoost ``pred_contribs``, the same attribution the Score Reasons use).  All
columns are then in one unit (log-odds), need no scaling, and a column the model ignores
cannot split the leads; two leads land together when they score for the same reasons.

k is chosen between 3 and 8 by the highest silhouette score on up to 2,000 leads (seeded;
centroids learnt on up to 20,000 leads, then every lead joins its nearest centroid);
k-means runs with a fixed seed, so the same data gives the same segments.  Each segment is
named by its most distinguishing traits in the user's own columns (levels over-represented
in it, numbers well above or below the usual, weighted by the column's importance), and
described by its share of leads, conversion rate on labelled leads against the base rate,
average value of its won leads, and a recommendation derived from those figures.  Saved as
JSON data (centroids and the table): at scoring time a lead joins the nearest centroid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from backend.core.rules import RULE_FEATURE_PREFIX
from backend.core.schema import Column

K_RANGE = (3, 8)
MIN_LEVEL_SHARE = 0.02
SILHOUETTE_SAMPLE = 2000
FIT_SAMPLE = 20_000
FORMAT = 1
FILE = "segments.json"   # the bundle attachment (store/bundle.py seals it like every file)


@dataclass
class Segments:
    """The fitted encoding, centroids and the per-segment table (JSON data only)."""

    encoding: list[dict[str, Any]]     # per model column: how its values describe a segment (naming)
    centroids: list[list[float]]       # k × model columns, in contribution (log-odds) units
    segments: list[dict[str, Any]]     # per centroid (same order): name, figures, recommendation
    method: str
    base_rate: float | None

    # ------------------------------------------------------------------ use

    def coordinates(self, matrix: np.ndarray) -> np.ndarray:
        """Leads (the feature matrix: numbers and category codes, NaN missing) as standardised traits."""
        parts = []
        for enc in self.encoding:
            col = matrix[:, enc["index"]]
            if enc["kind"] == "category":
                codes = np.asarray(enc["codes"], dtype=float)
                parts.append((col[:, None] == codes[None, :]).astype(float) * enc["weight"] / np.sqrt(2))
            else:
                v = np.sign(col) * np.log1p(np.abs(col)) if enc.get("log") else col.astype(float)
                v = np.where(np.isnan(v), enc["fill"], v)
                parts.append((((v - enc["mean"]) / enc["sd"]) * enc["weight"])[:, None])
        return np.hstack(parts) if parts else np.zeros((len(matrix), 0))

    def assign(self, contributions: np.ndarray) -> np.ndarray:
        """The index of each lead's nearest centroid (one vectorised distance computation)."""
        z = np.asarray(contributions, dtype=float)
        c = np.asarray(self.centroids, dtype=float)
        d = (z * z).sum(1)[:, None] - 2 * z @ c.T + (c * c).sum(1)[None, :]
        return np.argmin(d, axis=1)

    def names(self, contributions: np.ndarray) -> np.ndarray:
        """Each lead's segment name, from its classifier contributions (rows × model columns)."""
        table = np.array([s["name"] for s in self.segments], dtype=object)
        return table[self.assign(contributions)] if len(contributions) else np.zeros(0, dtype=object)

    def table(self) -> list[dict[str, Any]]:
        """The segments, highest conversion first (segments without closed leads last)."""
        return sorted(self.segments, key=lambda s: (s["conversion_rate"] is None, -(s["conversion_rate"] or 0)))

    def summary(self) -> dict[str, Any]:
        """What the card, the report and ``GET /v1/model/segments`` show."""
        return {"method": self.method, "base_rate": self.base_rate, "segments": self.table()}

    # ------------------------------------------------------------------ storage

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "method": self.method, "base_rate": self.base_rate, "encoding": self.encoding,
                "centroids": self.centroids, "segments": self.segments}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Segments:
        if data.get("format") != FORMAT:
            raise ValueError(f"unsupported segments format {data.get('format')!r}")
        return cls(encoding=data["encoding"], centroids=data["centroids"], segments=data["segments"],
                   method=data["method"], base_rate=data["base_rate"])


# ---------------------------------------------------------------------- fitting

def _encoding(matrix: np.ndarray, columns: list[Column], importance: np.ndarray) -> list[dict[str, Any]]:
    total = float(np.sum(importance))
    out = []
    for j, col in enumerate(columns):
        weight = float(np.sqrt(importance[j] / total)) if total > 0 else 1.0 / np.sqrt(len(columns))
        if weight < 1e-3 or col.name.startswith(RULE_FEATURE_PREFIX):  # named by the user's own columns
            continue
        values = matrix[:, j]
        if col.role == "category":
            codes, counts = np.unique(values[~np.isnan(values)], return_counts=True)
            keep = codes[counts >= MIN_LEVEL_SHARE * len(values)]
            levels = [*col.levels, "(other)"]
            if len(keep):
                out.append({"index": j, "column": col.name, "kind": "category", "weight": weight,
                            "codes": [int(c) for c in keep],
                            "levels": [col.labels.get(levels[int(c)], levels[int(c)]) for c in keep]})
            continue
        live = values[~np.isnan(values)]
        if len(live) == 0:
            continue
        log = bool(col.role in ("numeric", "date") and live.min() >= 0 and
                   np.mean(live) > 2 * np.median(live) + 1e-9)
        v = np.log1p(live) if log else live
        sd = float(np.std(v))
        if sd <= 0:
            continue
        out.append({"index": j, "column": col.name, "kind": col.role, "weight": weight, "log": log,
                    "fill": float(np.median(v)) if col.role != "boolean" else float(np.mean(v)),
                    "mean": float(np.mean(v)), "sd": sd})
    return out


def _choose_k(z: np.ndarray, seed: int) -> tuple[int, Any, dict[int, float]]:
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(seed)
    # Centroids are learnt on at most FIT_SAMPLE leads (every lead is then assigned to the nearest),
    # the silhouette is read on SILHOUETTE_SAMPLE of them: seconds even for 100k-lead sheets.
    fit_rows = np.sort(rng.choice(len(z), size=min(len(z), FIT_SAMPLE), replace=False))
    sample = rng.choice(len(fit_rows), size=min(len(fit_rows), SILHOUETTE_SAMPLE), replace=False)
    scores: dict[int, float] = {}
    fits: dict[int, Any] = {}
    for k in range(K_RANGE[0], min(K_RANGE[1], len(fit_rows) - 1) + 1):
        km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(z[fit_rows])
        fits[k] = km
        labels = km.labels_[sample]
        scores[k] = float(silhouette_score(z[fit_rows][sample], labels)) if len(np.unique(labels)) > 1 else -1.0
    best = max(scores, key=lambda k: (round(scores[k], 4), -k))
    return best, fits[best], scores


def fit_segments(matrix: np.ndarray, contributions: np.ndarray, columns: list[Column], y: np.ndarray,
                 value: np.ndarray | None = None, *, seed: int = 0) -> Segments | None:
    """Cluster leads (labelled and open: ``y`` is 1 / 0 / NaN) and describe each segment.

    ``matrix`` is the feature matrix (numbers, category codes; NaN missing), ``contributions``
    the classifier's per-lead contributions (rows × model columns), ``value`` the deal value
    (read on won leads).  None when there are too few leads or nothing to cluster on.
    """
    z = np.asarray(contributions, dtype=float)
    if len(matrix) < 30 or z.shape[1] == 0 or not np.any(z.std(axis=0) > 0):
        return None
    encoding = _encoding(matrix, columns, np.abs(z).mean(axis=0))
    seg = Segments(encoding=encoding, centroids=[], segments=[], method="", base_rate=None)
    k, km, scores = _choose_k(z, seed)
    seg.centroids = km.cluster_centers_.tolist()
    seg.method = (f"k-means on per-lead contributions, k = {k} chosen in {K_RANGE[0]}–{K_RANGE[1]} "
                  "by the highest silhouette "
                  f"({scores[k]:.2f}); {len(matrix)} leads, seed {seed}")
    labels = seg.assign(z)  # every lead, as scoring will assign it
    labelled = ~np.isnan(y)
    seg.base_rate = round(float(np.mean(y[labelled])), 4) if labelled.any() else None
    seg.segments = _describe(seg, matrix, z, labels, columns, y, value)
    return seg


def _describe(seg: Segments, matrix: np.ndarray, z: np.ndarray, labels: np.ndarray, columns: list[Column],
              y: np.ndarray, value: np.ndarray | None) -> list[dict[str, Any]]:
    k = len(seg.centroids)
    labelled = ~np.isnan(y)
    base = seg.base_rate
    won = labelled & (y == 1)
    won_values = value[won & ~np.isnan(value)] if value is not None else np.zeros(0)
    median_mrr = float(np.median(won_values)) if len(won_values) else None
    out = []
    used: set[str] = set()
    for c in range(k):
        member = labels == c
        n_lab = int((member & labelled).sum())
        rate = float(np.mean(y[member & labelled])) if n_lab else None
        mrr = median = None
        if value is not None:
            vals = value[member & won]
            vals = vals[~np.isnan(vals)]
            mrr = round(float(np.mean(vals)), 2) if len(vals) else None
            median = float(np.median(vals)) if len(vals) else None
        lift = round(rate / base, 2) if rate is not None and base else None
        name = _name(seg, matrix, member, used)
        out.append({"id": c, "name": name, "leads": int(member.sum()), "share": round(float(member.mean()), 4),
                    "labelled": n_lab, "converted": int((member & won).sum()),
                    "conversion_rate": None if rate is None else round(rate, 4), "lift": lift,
                    "mean_mrr_won": mrr, "traits": _traits(seg, matrix, member)[:3],
                    "recommendation": recommendation(lift, median, median_mrr)})
    return out


def _traits(seg: Segments, matrix: np.ndarray, member: np.ndarray) -> list[dict[str, Any]]:
    """What sets a segment apart, strongest first: over-represented levels, high / low numbers."""
    traits = []
    for enc in seg.encoding:
        col = matrix[:, enc["index"]]
        if enc["kind"] == "category":
            for code, level in zip(enc["codes"], enc["levels"]):
                inside = float(np.mean(col[member] == code))
                overall = float(np.mean(col == code))
                if inside >= 0.4 and inside > overall + 0.15:
                    traits.append({"text": str(level), "strength": enc["weight"] * (inside - overall) * 2})
        elif enc["kind"] == "boolean":
            live = ~np.isnan(col)
            inside = float(np.mean(col[member & live])) if (member & live).any() else np.nan
            overall = float(np.mean(col[live])) if live.any() else np.nan
            if inside == inside and abs(inside - overall) > 0.2:
                text = enc["column"] if inside > overall else f"no {enc['column']}"
                traits.append({"text": text, "strength": enc["weight"] * abs(inside - overall) * 2})
        else:
            v = np.sign(col) * np.log1p(np.abs(col)) if enc.get("log") else col
            live = ~np.isnan(v)
            if not (member & live).any():
                continue
            shift = (float(np.median(v[member & live])) - enc["mean"]) / enc["sd"]
            if abs(shift) > 0.5:
                word = ("recent" if shift < 0 else "old") if enc["kind"] == "date" else (
                    "high" if shift > 0 else "low")
                traits.append({"text": f"{word} {enc['column']}", "strength": enc["weight"] * abs(shift)})
    traits.sort(key=lambda t: -t["strength"])
    return [{"text": t["text"], "strength": round(float(t["strength"]), 3)} for t in traits]


def _name(seg: Segments, matrix: np.ndarray, member: np.ndarray, used: set[str]) -> str:
    traits = [t["text"] for t in _traits(seg, matrix, member)]
    # The three strongest traits; when another segment has that name already, swap in the
    # next traits that set this one apart, and only then number it.
    candidates = [traits[:3], *([*traits[:2], t] for t in traits[3:6]), *([traits[0], t] for t in traits[2:6])]
    names = [", ".join(c) for c in candidates if c] or ["Mixed leads"]
    names = [n[:1].upper() + n[1:] for n in names]
    name = next((n for n in names if n not in used), names[0])
    base, n = name, 2
    while name in used:
        name, n = f"{base} ({n})", n + 1
    used.add(name)
    return name


def recommendation(lift: float | None, mrr: float | None, median_mrr: float | None) -> str:
    """What to do with a segment, from its conversion against the base rate and its value if won.

    ``mrr`` is the segment's median value of won leads, ``median_mrr`` that of all won leads.
    """
    if lift is None:
        return "No closed leads yet: follow up as usual and let outcomes accumulate."
    big = mrr is not None and median_mrr is not None and mrr >= median_mrr
    value_text = " with above-median MRR" if big else (" with below-median MRR" if mrr is not None and
                                                        median_mrr is not None else "")
    if lift >= 1.5:
        action = "route to senior reps first" if big else "call first: quick wins"
    elif lift <= 0.5:
        action = "nurture by email; do not spend call time yet"
    elif big:
        action = "worth a call: fewer close, but the deals are bigger"
    else:
        action = "standard follow-up"
    return f"Converts at {lift:.1f}× the base rate{value_text}: {action}."


def attach(bundle: Any, builder: Any, classifier: Any, frame: Any, y_all: np.ndarray, labelled: np.ndarray,
           values: np.ndarray | None, now_days: float, seed: int) -> Segments | None:
    """Fit the segments of a training sheet's leads and attach them to its bundle and card.

    ``y_all`` is 1 / 0 / NaN per row of ``frame``; ``values`` the deal value of its labelled rows.
    """
    import json

    value_all = None
    if values is not None:
        value_all = np.full(len(frame), np.nan)
        value_all[labelled] = values
    matrix, _ = builder.transform_matrix(frame, now_days=now_days)
    segs = fit_segments(matrix, contributions(classifier, builder, matrix), builder.columns_, y_all, value_all,
                        seed=seed)
    if segs is not None:
        bundle.segments = segs
        bundle.attachments[FILE] = json.dumps(segs.to_json()).encode("utf-8")
        bundle.card["segments"] = segs.summary()
    return segs


def contributions(classifier: Any, builder: Any, matrix: np.ndarray) -> np.ndarray:
    """Per-lead classifier contributions (log-odds, rows × model columns), as scoring computes them."""
    from backend.core.scoring import feature_matrix

    return classifier.predict(feature_matrix(matrix, builder), pred_contribs=True, approx_contribs=True)[:, :-1]
