"""The prospect-region report: ``regions.html`` plus the CSV tables.

The map is drawn with matplotlib (Agg canvas, no pyplot state) in an Albers equal-area
projection of the United States, with state outlines from the US Census Bureau's
cartographic boundary shapefile that the ``plotly-geo`` package ships (read with
``pyshp``): no map tiles, nothing fetched, the page is one self-contained file.
"""

from __future__ import annotations

import base64
import html
import io
import math
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from backend.core.geo import EARTH_RADIUS_MI
from backend.core.regions import RegionReport

if TYPE_CHECKING:
    from matplotlib.axes import Axes

BLUE, ORANGE, RED, GREY, DARK = "#1a73e8", "#e8710a", "#d93025", "#9aa0a6", "#202124"
TARGETS_SHOWN = 50
_STATES_SHP = "cb_2016_us_state_500k.shp"
_LAT1, _LAT2, _LAT0, _LON0 = 29.5, 45.5, 37.5, -96.0   # Albers USA (USGS) parameters


# ---------------------------------------------------------------- projection and outlines

def albers(lat: Any, lon: Any) -> tuple[np.ndarray, np.ndarray]:
    """Albers equal-area conic projection of the United States (unit sphere, radians out)."""
    p1, p2, p0 = map(math.radians, (_LAT1, _LAT2, _LAT0))
    n = (math.sin(p1) + math.sin(p2)) / 2
    c = math.cos(p1) ** 2 + 2 * n * math.sin(p1)
    rho0 = math.sqrt(c - 2 * n * math.sin(p0)) / n
    lat_r, lon_r = np.radians(np.asarray(lat, dtype=float)), np.radians(np.asarray(lon, dtype=float))
    rho = np.sqrt(c - 2 * n * np.sin(lat_r)) / n
    theta = n * (lon_r - math.radians(_LON0))
    return rho * np.sin(theta), rho0 - rho * np.cos(theta)


@lru_cache(maxsize=1)
def state_outlines() -> list[np.ndarray] | None:
    """Projected state boundary rings (every part of every state), or None without the shapefile."""
    try:
        import _plotly_geo
        import shapefile
    except ImportError:
        return None
    path = Path(_plotly_geo.__file__).resolve().parent / "package_data" / _STATES_SHP
    if not path.is_file():
        return None
    rings: list[np.ndarray] = []
    with shapefile.Reader(str(path)) as reader:
        for shape in reader.iterShapes():
            points = np.asarray(shape.points, dtype=float)
            bounds = [*shape.parts, len(points)]
            for a, b in zip(bounds[:-1], bounds[1:]):
                ring = points[a:b]
                if len(ring) > 40:  # 1:500k detail is finer than a page shows
                    ring = np.vstack([ring[::4], ring[-1:]])
                x, y = albers(ring[:, 1], ring[:, 0])
                rings.append(np.column_stack([x, y]))
    return rings


def _circle(lat: float, lon: float, miles: float, steps: int = 90) -> tuple[np.ndarray, np.ndarray]:
    """Points ``miles`` away from (lat, lon) in every direction (great circle)."""
    d = miles / EARTH_RADIUS_MI
    p, lam = math.radians(lat), math.radians(lon)
    bearing = np.linspace(0, 2 * np.pi, steps)
    p2 = np.arcsin(math.sin(p) * math.cos(d) + math.cos(p) * math.sin(d) * np.cos(bearing))
    lam2 = lam + np.arctan2(np.sin(bearing) * math.sin(d) * math.cos(p), math.cos(d) - math.sin(p) * np.sin(p2))
    return np.degrees(p2), np.degrees(lam2)


# ---------------------------------------------------------------- map

def map_png(report: RegionReport, *, width: float = 10.0, height: float = 6.2) -> tuple[str, bool]:
    """The map as base64 PNG, and whether state outlines were drawn."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    ax: Axes = fig.add_axes((0.01, 0.01, 0.98, 0.98))
    pts = report.points
    site_lat = np.array([s.lat for s in report.sites])
    site_lon = np.array([s.lon for s in report.sites])
    x, y = albers(pts["lat"].to_numpy(), pts["lon"].to_numpy())
    sx, sy = albers(site_lat, site_lon)
    all_x, all_y = np.concatenate([x, sx]), np.concatenate([y, sy])
    pad = max(0.02, 0.08 * max(np.ptp(all_x), np.ptp(all_y)))
    x0, x1, y0, y1 = all_x.min() - pad, all_x.max() + pad, all_y.min() - pad, all_y.max() + pad
    # keep the page's aspect ratio so the projection is not stretched
    want = (width * 0.98) / (height * 0.98)
    if (x1 - x0) / (y1 - y0) < want:
        grow = (want * (y1 - y0) - (x1 - x0)) / 2
        x0, x1 = x0 - grow, x1 + grow
    else:
        grow = ((x1 - x0) / want - (y1 - y0)) / 2
        y0, y1 = y0 - grow, y1 + grow
    outlines = state_outlines()
    if outlines is not None:
        ax.add_collection(LineCollection(outlines, colors="#bdc1c6", linewidths=0.6, zorder=1))
    customer = pts["customer"].to_numpy(dtype=bool)
    ax.scatter(x[~customer], y[~customer], s=10, c=ORANGE, alpha=0.55, linewidths=0, zorder=2,
               label=f"prospects ({int((~customer).sum())})")
    ax.scatter(x[customer], y[customer], s=10, c=BLUE, alpha=0.7, linewidths=0, zorder=3,
               label=f"customers ({int(customer.sum())})")
    sites = report.regions[report.regions["kind"] == "site"].set_index("name")
    for site, px, py in zip(report.sites, sx, sy):
        top = sites.loc[site.name, "underserved_rank"] == 1
        colour = RED if top else DARK
        cx, cy = albers(*_circle(site.lat, site.lon, report.radius))
        ax.plot(cx, cy, color=colour, lw=1.0 if top else 0.7, ls="-" if top else "--", alpha=0.8, zorder=4)
        ax.scatter([px], [py], marker="*", s=220 if top else 140, c=colour, edgecolors="white", linewidths=0.8,
                   zorder=5)
        label = site.name + (" (most under-served)" if top else "")
        ax.annotate(label, (px, py), xytext=(7, 6), textcoords="offset points", fontsize=10,
                    fontweight="bold" if top else "normal", color=colour, zorder=6,
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.75})
    ax.plot([], [], color=DARK, lw=0.7, ls="--", label=f"{report.radius:,.0f} mi around each site")
    ax.scatter([], [], marker="*", s=140, c=DARK, label="sites")
    ax.legend(loc="lower left", fontsize=9, frameon=True, framealpha=0.9)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_axis_off()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii"), outlines is not None


# ---------------------------------------------------------------- page

_CSS = """
body{font:15px/1.5 -apple-system,'Segoe UI',Roboto,Arial,sans-serif;color:#202124;margin:0;background:#f8f9fa}
main{max-width:1080px;margin:0 auto;padding:24px 32px 48px;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #e8eaed;padding-bottom:4px}
.meta,.small{color:#5f6368;font-size:13px}
.headline{padding:12px 16px;border-radius:6px;margin:16px 0;background:#fef7e0;border-left:4px solid #e8710a}
.headline p{margin:4px 0;font-size:16px}
table{border-collapse:collapse;margin:8px 0;font-size:14px}
th,td{padding:4px 9px;border-bottom:1px solid #e8eaed;text-align:right;vertical-align:top}
th{background:#f1f3f4;font-weight:600}td.l,th.l{text-align:left}
tr.top td{background:#fce8e6;font-weight:600}
.explain{color:#3c4043;max-width:860px}
img{max-width:100%;display:block;margin:8px 0;border:1px solid #e8eaed}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _cell(value: Any, money: bool = False) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return f"${value:,.0f}" if money else f"{value:,.3g}" if abs(value) < 10 else f"{value:,.1f}"
    return _e(value)


def html_table(frame: pd.DataFrame, *, left: tuple[str, ...] = (), money: tuple[str, ...] = (),
               highlight: pd.Series | None = None, headers: dict[str, str] | None = None) -> str:
    """A small HTML table (text escaped; money columns as $; highlighted rows in red)."""
    headers = headers or {}
    head = "".join(f"<th class='{'l' if c in left else ''}'>{_e(headers.get(c, c))}</th>" for c in frame.columns)
    body = []
    marks = highlight.to_numpy() if highlight is not None else np.zeros(len(frame), dtype=bool)
    for mark, (_, row) in zip(marks, frame.iterrows()):
        cells = "".join(f"<td class='{'l' if c in left else ''}'>{_cell(row[c], c in money)}</td>"
                        for c in frame.columns)
        body.append(f"<tr class='{'top' if mark else ''}'>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


_REGION_HEADERS = {"name": "Name", "customers": "Customers", "prospects": "Prospects",
                   "customers_per_prospect": "Customers per prospect", "avg_value": "Avg customer value",
                   "total_value": "Total customer value", "underserved_rank": "Under-served rank"}


def render_regions(report: RegionReport, *, source: str = "") -> str:
    """The report as one self-contained HTML page."""
    png, outlined = map_png(report)
    loc = report.located
    value_col, industry_col = report.columns.get("value"), report.columns.get("industry")
    regions = report.regions
    sites = regions[regions["kind"] != "region"].drop(columns=["kind"])
    clusters = regions[regions["kind"] == "region"].drop(columns=["kind"])
    money = ("avg_value", "total_value")
    parts = [
        "<h1>Where to sell</h1>",
        f"<p class='meta'>{_e(source)}{' · ' if source else ''}{loc['rows']:,} rows, {loc['located']:,} placed by "
        f"ZIP code; {int(report.points['customer'].sum()):,} customers and "
        f"{int((~report.points['customer']).sum()):,} prospects on the map.</p>",
        "<div class='headline'>" + "".join(f"<p>{_e(s)}</p>" for s in report.summary) + "</div>",
        f"<img alt='Map of customers, prospects and sites' src='data:image/png;base64,{png}'>",
        "<p class='explain'>Blue dots are customers, orange dots prospects (every row without the positive outcome: "
        f"lost or still open), stars the sites with a {report.radius:,.0f}-mile circle around each. The red star is "
        "the site with the most prospects per customer near it.</p>",
        "<h2>Sites</h2>",
        html_table(sites, left=("name",), money=money, highlight=sites["underserved_rank"].eq(1).fillna(False),
                   headers=_REGION_HEADERS),
        f"<p class='explain'>A row counts for a site when that site is its nearest and it is within "
        f"{report.radius:,.0f} miles (great-circle distance between ZIP-code centres). <b>Under-served rank</b> "
        "orders sites by prospects per customer, prospects ÷ (customers + 1); 1 is where the most prospects have "
        "the fewest customers around them."
        + (f" Values are the customers' <i>{_e(value_col)}</i>." if value_col else "") + "</p>",
    ]
    if len(clusters):
        fit = report.regions_fit
        scores = ", ".join(f"k={k}: {v:.2f}" for k, v in sorted(fit.silhouette.items())) if fit else ""
        parts += [
            "<h2>Sales regions learnt from the customers</h2>",
            html_table(clusters, left=("name",), money=money, highlight=clusters["underserved_rank"].eq(1),
                       headers=_REGION_HEADERS),
            f"<p class='explain'>The customers' locations were grouped into {len(clusters)} regions by k-means; the "
            f"number of regions is the one from 2 to 8 with the best silhouette ({_e(scores)}). Every row belongs to "
            "the region whose centre is nearest; a region is named after its customers' most common city.</p>",
        ]
    if report.industries is not None:
        avg = report.average_value
        parts += [
            "<h2>Industries</h2>",
            html_table(report.industries, left=("industry",), money=("avg_value",),
                       highlight=report.industries["above_average"],
                       headers={"industry": _e(industry_col or "Industry"), "customers": "Customers",
                                "prospects": "Prospects", "avg_value": "Avg customer value", "z_score": "z-score",
                                "above_average": "Above average"}),
            "<p class='explain'>"
            + (f"All customers' average value is <b>${avg:,.0f}</b>. " if avg is not None else "")
            + "The z-score is how far an industry's average sits from it, in standard deviations of the customers' "
            "values. Highlighted industries pay above average: targets are drawn from them.</p>",
        ]
    targets = report.targets
    shown = targets.head(TARGETS_SHOWN)
    more = (f" The first {TARGETS_SHOWN} are shown; <code>targets.csv</code> holds all {len(targets)}."
            if len(targets) > TARGETS_SHOWN else "")
    parts += [
        f"<h2>Targets: {len(targets)} prospects to call first</h2>",
        f"<p class='explain'>Prospects near the most under-served site(s), in industries paying above average, "
        f"ranked by {_e(report.ranked_by)}. <b>Row</b> is the row in the sheet.{more}</p>",
        html_table(shown, left=tuple(c for c in shown.columns if shown[c].dtype == object),
                   money=("Industry Avg Value", "Expected Value")) if len(shown) else "<p>No prospects matched.</p>",
    ]
    notes = list(report.notes)
    if not outlined:
        notes.append("State outlines were not drawn: install the plotly-geo and pyshp packages.")
    notes.append("ZIP-code locations: the zipcodes package (MIT licence), coordinates from GeoNames (CC BY 4.0). "
                 "State outlines: US Census Bureau cartographic boundaries, 2016, as shipped by plotly-geo.")
    parts += ["<h2>Notes</h2>", "<ul>" + "".join(f"<li class='small'>{_e(n)}</li>" for n in notes) + "</ul>"]
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>Where to sell</title><style>{_CSS}</style></head>"
            f"<body><main>\n{''.join(parts)}\n</main></body></html>\n")


def write_report(report: RegionReport, out_dir: Path, *, source: str = "") -> dict[str, Path]:
    """Write regions.csv, industries.csv (with an industry column), targets.csv and regions.html."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"regions": out_dir / "regions.csv", "targets": out_dir / "targets.csv",
             "html": out_dir / "regions.html"}
    report.regions.to_csv(paths["regions"], index=False)
    if report.industries is not None:
        paths["industries"] = out_dir / "industries.csv"
        report.industries.to_csv(paths["industries"], index=False)
    report.targets.to_csv(paths["targets"], index=False)
    paths["html"].write_text(render_regions(report, source=source), encoding="utf-8")
    return paths
