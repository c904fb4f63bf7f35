"""The model report: one self-contained HTML page per model version (``report.html``).

Written at training time into the bundle (and sealed by its sha256 in the card), from the
card and the held-out rows: headline figures and gates, leakage findings, the score-band
table (does a 10 convert more than a 9?), ROC, precision-recall, calibration, cumulative
gains and lift, predicted vs actual MRR, and the columns that move scores most.  Charts
are matplotlib PNGs (Agg canvas, no pyplot state) embedded as base64; the page loads
nothing from anywhere else, so it can be mailed, archived or served as is.
"""

from __future__ import annotations

import base64
import html
import io
from typing import TYPE_CHECKING, Any

import numpy as np

from backend.core.evaluate import HeldOut, monotone_steps
from backend.store.bundle import REPORT

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from backend.core.train import TrainResult
    from backend.store.bundle import ModelBundle

__all__ = ["HeldOut", "attach_report", "render_report", "report_html"]

BLUE, ORANGE, GREY, GREEN, RED = "#1a73e8", "#e8710a", "#9aa0a6", "#188038", "#d93025"


# ---------------------------------------------------------------- charts

def _figure(width: float = 6.0, height: float = 4.0, left: float = 0.75) -> Figure:
    """A figure on its own Agg canvas; fixed margins (in inches) so it is drawn once, not laid out twice."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=left / width, right=1 - 0.2 / width, bottom=0.6 / height, top=1 - 0.4 / height,
                        wspace=0.3)
    return fig


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _style(ax: Any) -> None:
    ax.grid(True, color="#e8eaed", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def roc_chart(h: HeldOut) -> str:
    """ROC curve of the close probability."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fig = _figure()
    ax = fig.add_subplot()
    fpr, tpr, _ = roc_curve(h.y, h.probability)
    ax.plot(fpr, tpr, color=BLUE, lw=2, label=f"this model (AUC {round(roc_auc_score(h.y, h.probability), 4):.3f})")
    ax.plot([0, 1], [0, 1], color=GREY, ls="--", lw=1, label="random order (AUC 0.5)")
    ax.set_xlabel("share of lost leads flagged (false positive rate)")
    ax.set_ylabel("won leads flagged (recall)")
    ax.set_title("ROC curve (held-out leads)")
    ax.legend(loc="lower right", frameon=False)
    _style(ax)
    return _png(fig)


def pr_chart(h: HeldOut, threshold: float) -> str:
    """Precision against recall, with the decision threshold marked."""
    from sklearn.metrics import precision_recall_curve

    fig = _figure()
    ax = fig.add_subplot()
    precision, recall, _ = precision_recall_curve(h.y, h.probability)
    ax.plot(recall, precision, color=BLUE, lw=2, label="this model")
    ax.axhline(h.y.mean(), color=GREY, ls="--", lw=1, label=f"base rate {h.y.mean():.0%} (calling everyone)")
    flagged = h.probability >= threshold
    if flagged.any():
        p_at = h.y[flagged].mean()
        r_at = h.y[flagged].sum() / max(h.y.sum(), 1)
        ax.plot([r_at], [p_at], "o", color=ORANGE, ms=8,
                label=f"decision threshold {threshold:.2f}: precision {p_at:.2f}, recall {r_at:.2f}")
    ax.set_xlabel("recall (share of won leads flagged)")
    ax.set_ylabel("precision (flagged leads that win)")
    ax.set_ylim(0, 1.02)
    ax.set_title("Precision and recall (held-out leads)")
    ax.legend(loc="lower left", frameon=False, fontsize=8)
    _style(ax)
    return _png(fig)


def calibration_chart(curve: list[dict[str, float]]) -> str:
    """Mean predicted probability against the observed rate, per bin of leads."""
    fig = _figure()
    ax = fig.add_subplot()
    predicted = [b["mean_predicted"] for b in curve]
    observed = [b["observed"] for b in curve]
    ax.plot([0, 1], [0, 1], color=GREY, ls="--", lw=1, label="perfect calibration")
    ax.plot(predicted, observed, "o-", color=BLUE, lw=2, label="this model (10 equal groups of leads)")
    ax.set_xlabel("predicted close probability (group average)")
    ax.set_ylabel("share that actually converted")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title("Calibration (held-out leads)")
    ax.legend(loc="upper left", frameon=False)
    _style(ax)
    return _png(fig)


def gains_chart(h: HeldOut) -> str:
    """Cumulative share of conversions reached when calling leads in score order, and lift per decile."""
    fig = _figure(10.0, 4.0)
    fig.subplots_adjust(wspace=0.25)
    left, right = fig.subplots(1, 2)
    n = len(h.y)
    share = np.arange(1, n + 1) / n
    total = max(h.y.sum(), 1)
    for key, label, color in ((h.probability, "by Close Probability", BLUE),
                              (h.expected_value, "by Lead Score (expected value)", ORANGE)):
        order = np.argsort(-key, kind="stable")
        left.plot(np.r_[0, share], np.r_[0, np.cumsum(h.y[order]) / total], color=color, lw=2, label=label)
    left.plot([0, 1], [0, 1], color=GREY, ls="--", lw=1, label="random order")
    left.set_xlabel("share of leads called (best first)")
    left.set_ylabel("share of all conversions reached")
    left.set_title("Cumulative gains")
    left.legend(loc="lower right", frameon=False, fontsize=8)
    _style(left)
    order = np.argsort(-h.probability, kind="stable")
    deciles = np.array_split(order, 10)
    base = h.y.mean() or 1.0
    lift = [h.y[d].mean() / base if len(d) else 0.0 for d in deciles]
    right.bar(np.arange(1, 11), lift, color=BLUE)
    right.axhline(1.0, color=GREY, ls="--", lw=1)
    right.set_xticks(np.arange(1, 11))
    right.set_xlabel("decile of leads by close probability (1 = top 10 %)")
    right.set_ylabel("conversion rate ÷ base rate")
    right.set_title("Lift per decile")
    _style(right)
    return _png(fig)


def mrr_chart(h: HeldOut) -> str | None:
    """Predicted against actual MRR on won held-out leads (log scales)."""
    if h.mrr_predicted is None or h.value_actual is None:
        return None
    won = (h.y == 1) & ~np.isnan(h.value_actual) & (h.value_actual > 0)
    if won.sum() < 2:
        return None
    actual, predicted = h.value_actual[won], np.maximum(h.mrr_predicted[won], 1e-9)
    fig = _figure()
    ax = fig.add_subplot()
    ax.scatter(actual, predicted, s=14, alpha=0.5, color=BLUE, edgecolors="none", label="won lead")
    lo, hi = min(actual.min(), predicted.min()), max(actual.max(), predicted.max())
    ax.plot([lo, hi], [lo, hi], color=GREY, ls="--", lw=1, label="prediction = actual")
    ax.axhline(np.median(actual), color=ORANGE, lw=1, label="median (the simple baseline)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("actual value")
    ax.set_ylabel("Predicted MRR")
    ax.set_title(f"Predicted vs actual value ({int(won.sum())} won held-out leads)")
    ax.legend(loc="upper left", frameon=False, fontsize=8)
    _style(ax)
    return _png(fig)


def features_chart(top: dict[str, list[dict[str, Any]]], limit: int = 12) -> str | None:
    """Mean |contribution| per column, for the close probability and (if any) the MRR model."""
    panels = [(k, v[:limit]) for k, v in (("close_probability", top.get("close_probability")),
                                          ("mrr", top.get("mrr"))) if v]
    if not panels:
        return None
    rows = max(len(v) for _, v in panels)
    label = max(len(_short(i["column"])) for _, v in panels for i in v)
    left = 0.3 + 0.075 * label
    width = left + 3.6 * len(panels) + (left + 0.3) * (len(panels) - 1)
    fig = _figure(width, 0.3 * rows + 1.2, left=left)
    fig.subplots_adjust(wspace=(left + 0.3) / 3.6)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    titles = {"close_probability": "Close Probability (log-odds)", "mrr": "Predicted MRR (log value)"}
    for ax, (key, items) in zip(axes, panels):
        names = [_short(i["column"]) for i in items][::-1]
        values = [i["mean_abs_contribution"] for i in items][::-1]
        ax.barh(names, values, color=BLUE if key == "close_probability" else ORANGE)
        ax.tick_params(axis="y", labelsize=9)
        ax.set_title(titles[key], fontsize=10)
        ax.set_xlabel("average impact per lead")
        _style(ax)
    return _png(fig)


def _short(name: str, width: int = 32) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


# ---------------------------------------------------------------- page

_CSS = """
body{font:15px/1.5 -apple-system,'Segoe UI',Roboto,Arial,sans-serif;color:#202124;margin:0;background:#f8f9fa}
main{max-width:1080px;margin:0 auto;padding:24px 32px 48px;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 8px;border-bottom:1px solid #e8eaed;padding-bottom:4px}
.meta{color:#5f6368;font-size:13px}
.verdict{padding:12px 16px;border-radius:6px;margin:16px 0}
.pass{background:#e6f4ea;border-left:4px solid #188038}.fail{background:#fce8e6;border-left:4px solid #d93025}
table{border-collapse:collapse;margin:8px 0;font-size:14px}
th,td{padding:5px 10px;border-bottom:1px solid #e8eaed;text-align:right;vertical-align:top}
th{background:#f1f3f4;font-weight:600}td.l,th.l{text-align:left}
.bar{display:inline-block;height:10px;background:#1a73e8;border-radius:2px;vertical-align:middle}
.explain{color:#3c4043;max-width:860px}
img{max-width:100%;display:block;margin:8px 0}
.warn{color:#b06000}.small{font-size:13px;color:#5f6368}
table.dq{font-size:13px}table.dq td{max-width:280px}
code{font-size:12px;background:#f1f3f4;padding:0 3px;border-radius:3px}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any, spec: str = ".3f") -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and np.isnan(value):
        return "–"
    return format(value, spec) if isinstance(value, (int, float)) else _e(value)


def _pct(value: Any) -> str:
    return "–" if value is None else f"{value:.1%}"


def _section(title: str, body: str) -> str:
    return f"<section><h2>{_e(title)}</h2>{body}</section>"


def _chart(png: str | None, alt: str, explain: str) -> str:
    if png is None:
        return ""
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{png}"><p class="explain">{explain}</p>'


def score_band_table(card: dict[str, Any]) -> str:
    """The held-out conversion per lead score, 10 down to 1 (HTML)."""
    bands = card["metrics"].get("score_bands") or []
    has_value = any("mean_value_won" in b for b in bands)
    top_rate = max((b["conversion_rate"] or 0 for b in bands), default=0) or 1
    head = ("<tr><th>Lead Score</th><th>Leads</th><th>Converted</th><th class='l'>Conversion rate</th>"
            "<th>Avg. Close Probability</th>" + ("<th>Avg. value of won leads</th>" if has_value else "") + "</tr>")
    rows = []
    for b in bands:
        rate = b["conversion_rate"]
        bar = f"<span class='bar' style='width:{int(120 * (rate or 0) / top_rate)}px'></span> " if rate else ""
        value = (f"<td>{_fmt(b.get('mean_value_won'), ',.0f')}</td>" if has_value else "")
        rows.append(f"<tr><td>{b['score']}</td><td>{b['n']}</td><td>{b['converted']}</td>"
                    f"<td class='l'>{bar}{_pct(rate)}</td><td>{_pct(b['mean_probability'])}</td>{value}</tr>")
    up, steps = monotone_steps(bands)
    summary = (f"<p class='explain'>On leads the model never saw, conversion rises (or holds) from one score to the "
               f"next higher score in <b>{up} of {steps}</b> steps.</p>" if steps else "")
    return f"<table id='score-bands'>{head}{''.join(rows)}</table>{summary}"


def _headline(card: dict[str, Any]) -> str:
    m = card["metrics"]["classifier"]
    cv = card["metrics"].get("cross_validation") or {}
    gates = card["gates"]

    def cv_cell(key: str) -> str:
        s = (cv.get("summary") or {}).get(key) or {}
        if s.get("mean") is None:
            return "<td>–</td>"
        sd = f" ± {s['sd']:.3f}" if s.get("sd") is not None else ""
        return f"<td>{s['mean']:.3f}{sd}</td>"

    ci = m.get("intervals") or {}
    verdicts = {v["figure"]: v["verdict"] for v in gates.get("verdicts") or []}

    def held(key: str) -> str:
        interval = ci.get(key)
        text = _fmt(m[key]) + (f" <span class='small'>({interval[0]:.3f}–{interval[1]:.3f})</span>"
                               if interval else "")
        verdict = verdicts.get(key)
        return text + (f" <span class='small'>{_e(verdict)}</span>" if verdict else "")

    rows = [
        ("AUC (ranking quality, 0.5 = random, 1 = perfect)", held("auc"), cv_cell("auc"), f"> {gates['min_auc']}"),
        ("Precision at the decision threshold", held("precision"), cv_cell("precision"),
         f"> {gates['min_precision']}"),
        ("Recall at the decision threshold", held("recall"), cv_cell("recall"), f"> {gates['min_recall']}"),
        ("Calibration error", held("calibration_error"), cv_cell("calibration_error"),
         f"≤ {gates['max_calibration_error']}"),
        ("Top-decile lift", _fmt(m["top_decile_lift"], ".2f"), cv_cell("top_decile_lift"), ""),
        ("Base rate (share of leads that convert)", _pct(m["base_rate"]), "<td>–</td>", ""),
        ("Best precision any threshold reaches at the recall gate", _fmt(m.get("best_precision_at_min_recall")),
         "<td>–</td>", ""),
    ]
    cv_head = (f"Cross-validation ({cv['repeats']}×{cv['folds']} folds, mean ± sd)" if cv.get("enabled")
               else "Cross-validation (not run)")
    body = "".join(f"<tr><td class='l'>{_e(a)}</td><td>{b}</td>{c}<td>{_e(d)}</td></tr>" for a, b, c, d in rows)
    table = (f"<table><tr><th class='l'>Figure</th><th>Held-out ({m['n']} leads; 95 % interval)</th>"
             f"<th>{_e(cv_head)}</th><th>Gate</th></tr>{body}</table>")
    v = card["metrics"].get("value") or {}
    value = ""
    if v.get("mae") is not None:
        value = (f"<p class='explain'>Predicted MRR on {v['n']} won held-out leads: average error "
                 f"<b>{v['mae']:,.0f}</b>, against {v['median_baseline_mae']:,.0f} for always guessing the median "
                 f"({v['median_baseline']:,.0f}).</p>")
    return table + value + (f"<p class='small'>Decision threshold {card['thresholds']['decision']:.3f}: leads at or "
                            "above it count as <i>likely to close</i>. It was chosen on validation leads (never the "
                            "held-out ones) as the best precision that keeps recall above the gate.</p>")


def _verdict(card: dict[str, Any]) -> str:
    gates = card["gates"]
    if gates["passed"]:
        return ("<div class='verdict pass'><b>Passed every quality gate.</b> This model can be promoted to score "
                "the team's leads.</div>")
    items = "".join(f"<li>{_e(f)}</li>" for f in gates["failures"])
    return (f"<div class='verdict fail'><b>Failed its quality gates; it is stored but not promoted.</b>"
            f"<ul>{items}</ul></div>")


def _leakage(card: dict[str, Any]) -> str:
    findings = card.get("leakage") or []
    if not findings:
        return ("<p class='explain'>No column gave the outcome away: none predicts it almost perfectly on its own, "
                "and no date or value appears only once a lead has closed.</p>")
    rows = "".join(
        "<tr>" + "".join(f"<td class='l'>{_e(v)}</td>" for v in (
            f["column"], f["kind"], f["why"], f["figure"], "excluded" if f["excluded"] else "kept (--keep)")) + "</tr>"
        for f in findings)
    return ("<p class='explain'>These columns look as if they were filled in after the outcome was known. A model "
            "that reads them looks excellent on history but cannot score a new lead, which does not have them yet. "
            "They were left out; if one is in fact known before the outcome, retrain with "
            "<code>--keep COLUMN</code>.</p>"
            f"<table><tr><th class='l'>Column</th><th class='l'>Rule</th><th class='l'>Why</th>"
            f"<th class='l'>Evidence</th><th class='l'>Action</th></tr>{rows}</table>")


def _data_quality(card: dict[str, Any]) -> str:
    """What training read in each column: role, why, cells read / blank / unreadable, the option that changes it."""
    dq = card.get("data_quality")
    if not dq:
        return ""

    def code(text: str | None) -> str:
        return f"<code>{_e(text)}</code>" if text else "–"

    rows = []
    for c in dq["columns"]:
        facts = []
        if c.get("ranges"):
            facts.append(f"{c['ranges']} ranges read as their midpoint")
        if c.get("pooled_rows"):
            facts.append(f"{c['pooled_rows']} rows with a rare value (pooled)")
        if c.get("won_rows_with_text"):
            facts.append(f"{c['won_rows_with_text']} won rows with text left out of the MRR model")
        why = _e(c["why"]) + "".join(f"<br><span class='small'>{_e(f)}</span>" for f in facts)
        examples = ", ".join(f"<code>{_e(e)}</code>" for e in c["examples"]) or "–"
        unread = f"<b class='warn'>{c['unreadable']}</b>" if c["unreadable"] else "0"
        option = (f"{code(c.get('flag'))}<br><span class='small'>{_e(c.get('flag_effect', ''))}</span>"
                  if c.get("flag") else "–")
        rows.append(f"<tr><td class='l'>{_e(c['name'])}</td><td class='l'>{_e(c['role'])}</td>"
                    f"<td class='l'>{why}</td><td>{c['read']}</td><td>{c['blank']}</td><td>{unread}</td>"
                    f"<td class='l'>{examples}</td><td class='l'>{option}</td></tr>")
    used = ("<table class='dq'><tr><th class='l'>Column</th><th class='l'>Read as</th><th class='l'>Why</th>"
            "<th>Read</th><th>Blank</th><th>Unreadable</th><th class='l'>Examples not read</th>"
            f"<th class='l'>To change it</th></tr>{''.join(rows)}</table>")
    out_rows = "".join(
        f"<tr><td class='l'>{_e(c['name'])}</td><td class='l'>{_e(c['role'])}</td><td class='l'>{_e(c['why'])}</td>"
        f"<td class='l'>{code(c.get('flag'))}{' ' + _e(c['flag_effect']) if c.get('flag') else ''}</td></tr>"
        for c in dq["excluded"])
    left_out = ("<p class='explain'>Columns the model does not read:</p><table class='dq'><tr><th class='l'>Column"
                "</th><th class='l'>Left out as</th><th class='l'>Why</th><th class='l'>To use it</th></tr>"
                f"{out_rows}</table>") if out_rows else ""
    return (f"<p class='explain'>What training read in each column of the {dq['rows']:,} rows. Blank cells and "
            "placeholders such as <i>N/A</i> count as blank; a filled cell that could not be read is treated as "
            "blank too and counted here, so it can be fixed in the sheet. Numbers and dates keep their role when "
            f"{dq['min_parsed_share']:.0%} of the filled cells read; a category value needs "
            f"{dq['category_min_rows']} rows to count on its own (rarer ones are pooled). The options are the "
            f"<code>train</code> command's.</p>{used}{left_out}")


def _warnings(card: dict[str, Any]) -> str:
    items = card.get("warnings") or []
    if not items:
        return "<p class='explain'>No single value converts at about 0 % or 100 %.</p>"
    rows = "".join("<tr>" + "".join(f"<td class='l'>{_e(v)}</td>" for v in (f["column"], f["why"], f["figure"]))
                   + "</tr>" for f in items)
    return ("<p class='explain'>These columns have a value that (almost) always or never converts. That is "
            "often exactly what scoring should learn (a junk lead source), so they are kept. If such a value is "
            "only filled in once the outcome is known, retrain with <code>--drop COLUMN</code>.</p>"
            f"<table><tr><th class='l'>Column</th><th class='l'>What</th><th class='l'>Figure</th></tr>{rows}</table>")


def _split(card: dict[str, Any]) -> str:
    data = card["data"]
    groups = data.get("groups") or {}
    split = data.get("split") or {}
    dates = card.get("dates") or []
    parts = []
    if groups:
        parts.append(
            f"<p class='explain'>Held-out leads: {_e(split.get('method', 'random, stratified'))}. "
            f"{groups['groups']} groups of repeated leads among {data['labelled']} closed leads "
            f"({groups['repeated_rows']} rows share a group); every group sits on one side of every split, so no "
            "figure here comes from a copy of a lead the model learnt from. The final model was refit on all "
            f"{split.get('refit_on', '–')} non-held-out leads.</p>")
    if dates:
        parts.append("<p class='explain'>Dates are read so that a lead's score does not change with the calendar: "
                     + "; ".join(f"<b>{_e(d['column'])}</b>: {_e(d.get('how', ''))}" for d in dates) + ".</p>")
    return "".join(parts)


def _comparison(card: dict[str, Any]) -> str:
    c = card.get("comparison") or {}
    status = c.get("status")
    if status == "compared":
        note = f"<p class='small'>{_e(c['note'])}</p>" if c.get("note") else ""
        return (f"<table><tr><th class='l'>Model</th><th>AUC</th><th>Top-decile lift</th></tr>"
                f"<tr><td class='l'>this model</td><td>{c['candidate']['auc']:.3f}</td>"
                f"<td>{c['candidate']['top_decile_lift']:.2f}</td></tr>"
                f"<tr><td class='l'>active model {_e(c['version'])}</td><td>{c['active']['auc']:.3f}</td>"
                f"<td>{c['active']['top_decile_lift']:.2f}</td></tr></table>"
                f"<p class='explain'>Both models scored the same {c['rows']} held-out leads, none of which either "
                f"model learnt from ({c.get('rows_seen_by_active', 0)} held-out leads the active model had trained on "
                f"were left out).</p>{note}")
    if status == "skipped":
        return f"<p class='explain'>Not compared with the active model {_e(c['version'])}: {_e(c['reason'])}.</p>"
    return "<p class='explain'>There was no active model to compare with.</p>"


def _rules_section(card: dict[str, Any]) -> str:
    """Rules alone against the model on the same held-out leads (when trained with a rulebook)."""
    c = card.get("rules") or {}
    r, m = c["rules"], c["model"]
    head = "<tr><th class='l'>Figure</th><th>Rules alone (Rule Points)</th><th>Model</th></tr>"
    rows = [("AUC (ranking quality)", _fmt(r["auc"]), _fmt(m["auc"])),
            ("Top-decile lift", _fmt(r["top_decile_lift"], ".2f"), _fmt(m["top_decile_lift"], ".2f")),
            ("Score steps where a higher score converts at least as well",
             f"{r['monotone_steps'][0]} of {r['monotone_steps'][1]}", f"{m['monotone_steps'][0]} of "
             f"{m['monotone_steps'][1]}")]
    figures = "".join(f"<tr><td class='l'>{_e(a)}</td><td>{b}</td><td>{d}</td></tr>" for a, b, d in rows)
    bands = "".join(
        f"<tr><td>{rb['score']}</td><td>{rb['n']}</td><td>{_pct(rb['conversion_rate'])}</td>"
        f"<td>{mb['n']}</td><td>{_pct(mb['conversion_rate'])}</td></tr>"
        for rb, mb in zip(r["score_bands"], m["score_bands"]))
    return (f"<p class='explain'>The team's points rules and the model scored the same {c['rows']} held-out leads. "
            f"The rules' Lead Score cuts their 0–{c['max_points']:g} point range in tenths; the model's uses the "
            f"deciles of past leads.</p><table id='rules-vs-model'>{head}{figures}</table>"
            f"<div class='verdict pass'>{_e(c['verdict'])}</div>"
            "<table id='rules-bands'><tr><th>Lead Score</th><th>Leads (rules)</th><th>Conversion (rules)</th>"
            f"<th>Leads (model)</th><th>Conversion (model)</th></tr>{bands}</table>")


def segments_table(summary: dict[str, Any]) -> str:
    """The segment table (HTML), highest conversion first."""
    rows = "".join(
        f"<tr><td class='l'>{_e(s['name'])}</td><td>{s['share']:.0%}</td><td>{_pct(s['conversion_rate'])}</td>"
        f"<td>{'–' if s['lift'] is None else format(s['lift'], '.1f') + '×'}</td>"
        f"<td>{_fmt(s.get('mean_mrr_won'), ',.0f')}</td><td class='l'>{_e(s['recommendation'])}</td></tr>"
        for s in summary["segments"])
    base = summary.get("base_rate")
    return ("<p class='explain'>The kinds of lead this sheet holds, found without looking at the outcome: leads "
            "are grouped by what drives their scores, and each group is named by what sets it apart. Conversion is "
            f"measured on its closed leads (base rate {_pct(base)}).</p>"
            "<table id='segments'><tr><th class='l'>Segment</th><th>Share of leads</th><th>Conversion</th>"
            "<th>vs base</th><th>Avg. MRR if won</th><th class='l'>Recommendation</th></tr>"
            f"{rows}</table><p class='small'>{_e(summary.get('method', ''))}</p>")


def render_report(card: dict[str, Any], heldout: HeldOut) -> str:
    """The model report as one self-contained HTML page."""
    m = card["metrics"]
    counts = card["data"]
    target = card["target"]
    threshold = float(card["thresholds"]["decision"])
    score_basis = card["thresholds"].get("score_basis", "probability")
    parts = [
        f"<h1>Model report: {_e(card['name'])} {_e(card['version'])}</h1>",
        f"<p class='meta'>Trained {_e(card['trained_at'])} on {counts['labelled']} closed leads: "
        f"{counts['positives']} with {_e(target['column'])} = {_e(target['positive'])}, {counts['negatives']} with "
        f"{_e(' / '.join(target['negatives']))}; {counts['open']} open leads were not used. Held out for these "
        f"figures: {counts['split']['test']} leads the model never learnt from.</p>",
        _verdict(card),
        _section("Headline figures", _headline(card)),
        (f"<section id='data-quality'><h2>Data quality: what was read in each column</h2>{_data_quality(card)}"
         "</section>" if card.get("data_quality") else ""),
        _section("Score bands: does a 10 convert more than a 9?",
                 "<p class='explain'>Each held-out lead got a Lead Score from 1 to 10 (its expected value, "
                 f"{_e(score_basis)}, against the deciles of past leads). A good model shows conversion falling from "
                 "10 down to 1.</p>" + score_band_table(card)),
        _section("Columns left out as likely leakage", _leakage(card)),
        *([_section("Rules or model? The team's points rules against the model", _rules_section(card))]
          if card.get("rules") else []),
        *([_section("Segments: the kinds of lead you capture", segments_table(card["segments"]))]
          if card.get("segments") else []),
        _section("Warnings: values that (almost) always or never convert", _warnings(card)),
        _section("Repeated leads, the split and dates", _split(card)),
        _section("Compared with the active model", _comparison(card)),
        _section("How well the model ranks leads", _chart(
            roc_chart(heldout), "ROC curve",
            "The further the blue curve bows towards the top-left corner, the better the model puts leads that "
            "convert above leads that don't. The dashed line is a random order. AUC sums it up: the chance that "
            "a random converting lead is ranked above a random non-converting one.")),
        _section("Precision and recall", _chart(
            pr_chart(heldout, threshold), "Precision-recall curve",
            "Moving along the curve trades reach for accuracy: flag more leads and you catch more of the ones that "
            "convert (recall) but a smaller share of those flagged convert (precision). The orange dot is where the "
            "model's decision threshold sits; the dashed line is what calling every lead would give.")),
        _section("Can you trust the percentages?", _chart(
            calibration_chart(m["calibration_curve"]), "Calibration curve",
            "Leads are grouped by their Close Probability. When the dots sit on the diagonal, a lead shown at 30 % "
            "converts about 30 % of the time, so the percentages can be used for forecasts, not only for ranking.")),
        _section("Cumulative gains and lift", _chart(
            gains_chart(heldout), "Cumulative gains and lift",
            "Left: call leads in the model's order and read how many of all conversions you reach after calling a "
            "given share of leads; the dashed line is calling in random order. Right: how many times more often "
            "each tenth of leads converts than the average lead; the first bars should be well above 1.")),
    ]
    mrr = mrr_chart(heldout)
    if mrr is not None:
        v = m.get("value") or {}
        parts.append(_section("Predicted MRR against what was won", _chart(
            mrr, "Predicted vs actual MRR",
            "Each dot is a won held-out lead: its actual value across, the Predicted MRR up. Dots near the dashed "
            "line were predicted well. The model is useful when its average error "
            f"({_fmt(v.get('mae'), ',.0f')}) is below that of always guessing the median "
            f"({_fmt(v.get('median_baseline_mae'), ',.0f')}).")))
    feats = features_chart(m.get("top_features") or {})
    if feats is not None:
        parts.append(_section("What moves the scores", _chart(
            feats, "Top features",
            "How much each of your columns moves a lead's prediction on average, in either direction (mean absolute "
            "contribution from the model's trees on held-out leads). Long bars are the columns that matter most; "
            "each lead's Score Reasons name its own top three.")))
    notes = card.get("notes") or []
    if notes:
        parts.append(_section("Notes", "<ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>"))
    body = "\n".join(parts)
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>Model report {_e(card['version'])}</title><style>{_CSS}</style></head>"
            f"<body><main>\n{body}\n</main></body></html>\n")


def attach_report(result: TrainResult) -> bytes:
    """Render the report of a training run and attach it to its bundle (sealed when the bundle is saved)."""
    if result.heldout is None:
        raise ValueError("this training result has no held-out rows to report on")
    page = render_report(result.bundle.card, result.heldout).encode("utf-8")
    result.bundle.attachments[REPORT] = page
    return page


def report_html(bundle: ModelBundle) -> str:
    """The HTML report of a loaded bundle (checked against the card's sha256)."""
    return bundle.read_attachment(REPORT).decode("utf-8")
