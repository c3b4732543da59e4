"""The Pareto report as one self-contained interactive HTML page (plotly): ``report.html``.

A renderer of :class:`hardsearch.report.pareto.ParetoReport`, like :mod:`hardsearch.report.plots`:
the front in every pair of objectives (dominated trials faint, seeds as labelled red stars) and
the hypervolume over trials, with plotly.js embedded in the page, so it opens offline, from a
file, anywhere. Hovering a point shows the trial, its objectives, its costs and its
architecture summary. Above the plots: what the proxy is and which member to pick; below them,
every found architecture that dominates each seed, with its gains.
"""

from __future__ import annotations

import html
from itertools import combinations
from pathlib import Path
from typing import Any

from hardsearch.core.files import write_text_atomic
from hardsearch.report.pareto import ParetoReport
from hardsearch.report.plots import AXIS_LABELS, axis_title, axis_values
from hardsearch.report.text import (
    fidelity_sentences,
    format_gains,
    format_values,
    hypervolume_sentence,
    pick_sentences,
    proxy_sentence,
)
from hardsearch.study.fidelity import format_epochs
from hardsearch.study.objectives import ProxyLike, format_objective, is_accuracy

__all__ = ["write_html", "to_html", "hover_text", "PAGE_STYLE"]

_FAINT, _FRONT, _SEED = "rgba(120,120,120,0.35)", "#1f77b4", "#d62728"
_PARTIAL = "#ff7f0e"  # members a multi-fidelity schedule stopped below the full budget


def hover_text(point: dict[str, Any], objectives: list[str], *, proxy: ProxyLike = None,
               budget: int | None = None) -> str:
    """What hovering a point shows: trial, seed, objectives (an accuracy ``proxy`` in per cent), other
    costs, architecture summary."""
    seed = f" (seed {html.escape(point['seed'])})" if point["seed"] else ""
    lines = [f"<b>trial {point['trial']}</b>{seed}" + (" - on the front" if point["on_front"] else "")]
    lines += [f"{o}: {format_objective(o, v, proxy=proxy)}" for o, v in point["objectives"].items()]
    if point.get("epochs") is not None:  # a multi-fidelity schedule: the budget this accuracy is at
        lines.append(f"epochs: {format_epochs(point['epochs'], budget)}")
    lines += [f"{k}: {format_objective(k, v)}" for k, v in point.get("costs", {}).items()
              if k not in objectives and k in AXIS_LABELS]
    lines.append("arch: " + html.escape(point.get("summary", "-")))
    return "<br>".join(lines)


def _pareto_figure(report: ParetoReport) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    pairs = list(combinations(report.objectives, 2))
    columns = min(3, len(pairs))
    rows = -(-len(pairs) // columns)
    fig = make_subplots(rows=rows, cols=columns, horizontal_spacing=0.08, vertical_spacing=0.12)
    budget = (report.fidelity or {}).get("budget")
    # a multi-fidelity schedule stopped these at a rung: a ring around the marker (accuracy at fewer epochs)
    partial = [p for p in report.points if p.get("epochs") is not None and p["epochs"] != budget]
    groups = [("dominated", [p for p in report.points if not p["on_front"] and not p["seed"]],
               dict(size=6, color=_FAINT)),
              ("Pareto front", [p for p in report.points if p["on_front"] and not p["seed"]],
               dict(size=8, color=_FRONT)),
              *([("stopped below the full budget", partial, dict(size=13, color="rgba(0,0,0,0)",
                                                                 line=dict(width=1.5, color=_PARTIAL)))]
                if partial else []),
              ("seeds", [p for p in report.points if p["seed"]],
               dict(size=16, color=_SEED, symbol="star", line=dict(width=1, color="white")))]
    hovers = {p["trial"]: hover_text(p, report.objectives, proxy=report.proxy, budget=budget)
              for p in report.points}
    for i, (x, y) in enumerate(pairs):
        row, col = i // columns + 1, i % columns + 1
        for name, points, marker in groups:
            fig.add_trace(go.Scatter(
                x=axis_values(report, points, x), y=axis_values(report, points, y),
                mode="markers+text" if name == "seeds" else "markers",
                text=[p["seed"] for p in points] if name == "seeds" else None, textposition="top center",
                textfont=dict(color=_SEED, size=11), marker=marker, name=name, legendgroup=name,
                showlegend=i == 0, hovertext=[hovers[p["trial"]] for p in points],
                hoverinfo="text", cliponaxis=False), row=row, col=col)
        fig.update_xaxes(title_text=axis_title(report, x, "<br>"), row=row, col=col)
        fig.update_yaxes(title_text=axis_title(report, y, "<br>"), row=row, col=col)
    fig.update_layout(height=430 * rows, template="plotly_white", hovermode="closest",
                      title=f"the front in every pair of objectives ({report.n_feasible} feasible trials, "
                            f"{len(report.front)} on the front)",
                      legend=dict(orientation="h", x=1, xanchor="right", y=1.02, yanchor="bottom"))
    return fig


def _hypervolume_figure(report: ParetoReport) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    numbers = [n for n, _ in report.hypervolume_history]
    fig.add_trace(go.Scatter(x=numbers, y=[v for _, v in report.hypervolume_history], mode="lines+markers",
                             line=dict(shape="hv", color=_FRONT), marker=dict(size=4), name="front so far",
                             hovertemplate="after trial %{x}: %{y:.4f}<extra></extra>"))
    if numbers:
        fig.add_trace(go.Scatter(x=[min(numbers), max(numbers)], y=[report.hypervolume_seeds] * 2,
                                 mode="lines", line=dict(dash="dash", color=_SEED), name="seeds alone",
                                 hovertemplate="seeds alone: %{y:.4f}<extra></extra>"))
    fig.update_layout(height=380, template="plotly_white", title="hypervolume over trials",
                      xaxis_title="trial", yaxis_title="hypervolume (normalised objectives)")
    return fig


def _front_table(report: ParetoReport) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in
                   ["trial", "seed", *report.objectives, *(["epochs"] if report.fidelity else []),
                    "architecture", "file"])
    rows = []
    for row in report.front:
        cells = [str(row["trial"]), row["seed"] or ""]
        cells += [format_objective(o, row["objectives"][o], proxy=report.proxy) for o in report.objectives]
        if report.fidelity:
            cells.append(format_epochs(row.get("epochs"), report.fidelity["budget"]))
        cells += [row.get("summary", ""), row["arch_file"] or ""]
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _seed_list(report: ParetoReport) -> str:
    """Each seed, and every found architecture that dominates it with its gain on each objective."""
    picks = {p["seed_trial"]: p["trial"] for p in report.seed_picks}
    how = ("proxy: difference" + (" in percentage points" if is_accuracy(report.proxy) else "")
           + "; costs: relative change")
    items = []
    for s in report.seeds:
        head = (f"<b>{html.escape(s.seed)}</b> (trial {s.trial}: "
                f"{html.escape(format_values(report, report.objectives, s.values))})")
        if not s.dominated_by:
            text = "not dominated by any found architecture" + (" (on the front)" if s.on_front else "")
            items.append(f"<li>{head}: {html.escape(text)}</li>")
            continue
        rows = []
        for d in s.dominated_by:
            gains = format_gains(report, d["gains"])
            mark = " <b>(widest margin)</b>" if picks.get(s.trial) == d["trial"] else ""
            rows.append(f"<li>trial {d['trial']}: {html.escape(gains)}{mark}</li>")
        items.append(f"<li>{head}: dominated by {len(s.dominated_by)} found architecture(s) ({how}):"
                     f"<ul class=\"gains\">{''.join(rows)}</ul></li>")
    return "<ul>" + "".join(items) + "</ul>"


def _picks(report: ParetoReport) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in pick_sentences(report)) + "</ul>"


_STYLE = """body{font-family:system-ui,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:right;white-space:nowrap}
td:nth-child(2),td:nth-last-child(-n+2){text-align:left;font-family:monospace}th{background:#f4f4f4}"""

#: The page style, shared by every hardsearch HTML page (the Pareto report, the latency model).
PAGE_STYLE = _STYLE


def to_html(report: ParetoReport) -> str:
    """The whole page, plotly.js included (no network needed to view it)."""
    import plotly.io as pio

    config = {"displaylogo": False, "responsive": True}
    pareto = pio.to_html(_pareto_figure(report), include_plotlyjs=True, full_html=False, div_id="pareto",
                         config=config)
    volume = pio.to_html(_hypervolume_figure(report), include_plotlyjs=False, full_html=False,
                         div_id="hypervolume", config=config)
    study = html.escape(report.study)
    fidelity = "".join(f"<p>{html.escape(line)}</p>" for line in fidelity_sentences(report) if line)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>hardsearch: Pareto report of {study}</title>
<style>{_STYLE}</style></head><body>
<h1>Pareto report: study <code>{study}</code></h1>
<p>{report.n_trials} trials, {report.n_feasible} feasible and complete; {len(report.front)} on the Pareto
front. Hypervolume of the front <b>{report.hypervolume_front:.4f}</b>, of the seeds alone
<b>{report.hypervolume_seeds:.4f}</b>, computed on {html.escape(hypervolume_sentence(report))}
Hover a point for its architecture.</p>
<p>{html.escape(proxy_sentence(report))}</p>
{fidelity}
<h2>Which one to pick</h2>{_picks(report)}
{pareto}
{volume}
<h2>Seeds</h2>{_seed_list(report)}
<h2>Front</h2>{_front_table(report)}
</body></html>
"""


def write_html(report: ParetoReport, folder: Path) -> Path:
    """``report.html`` in ``folder`` (written atomically)."""
    return write_text_atomic(folder / "report.html", to_html(report))
