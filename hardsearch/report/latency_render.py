"""Renderers of a :class:`hardsearch.report.latency.LatencyStudy`: console table, Markdown, JSON, PNG, HTML.

They draw and format; they compute nothing. The plots: measured latency against the fit's held-out
prediction (the line y = x is a perfect model), and measured latency against MACs and against CIO,
seeds as labelled red stars, as in the Pareto report.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

from hardsearch.arch.latency_model import BASELINES, save_profile
from hardsearch.core.files import atomic_path, write_text_atomic

#: :class:`hardsearch.report.latency.LatencyStudy`; not imported, since that module imports this one.
LatencyStudy = Any

__all__ = ["format_table", "to_markdown", "to_json", "write_outputs", "claim_sentence"]

_FAINT, _FRONT, _SEED = "rgba(31,119,180,0.7)", "#1f77b4", "#d62728"

#: What each model row means, for the table.
_LABELS = {"macs": "MACs alone", "cio": "CIO alone", "concat": "concat elements alone",
           "convs": "convolutions (launches) alone", "weights": "weight elements alone",
           "params": "parameters alone", "macs+convs": "MACs + convs", "macs+cio": "MACs + CIO",
           "macs+cio+convs": "MACs + CIO + convs", "macs+cio+concat+convs": "MACs + CIO + concat + convs",
           "macs+cio+concat+convs+weights_beyond_cache": "MACs + CIO + concat + convs + weights beyond cache",
           "fit": "fit: all six terms (+ CIO beyond cache)"}


def _f(x: float, digits: int = 3) -> str:
    return "nan" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:+.{digits}f}"


def _where(study: LatencyStudy) -> str:
    s = study.settings
    h, w = s["input_size"]
    cache = study.profile.cache_elements * 4 / 2**20
    return (f"{s['backend']} on {s['device']}, {s['threads']} thread{'s' * (s['threads'] != 1)}, {h}x{w}, "
            f"batch {s['batch']}, {len(study.rows)} members of {s['space']}, last-level cache {cache:g} MiB")


def claim_sentence(study: LatencyStudy) -> str:
    """The answer to the paper's claim on this device, in one sentence, from the measured figures."""
    q = study.quality
    with_cio, without = q["macs+cio+convs"].mape, q["macs+convs"].mape
    adds = with_cio < without
    return (f"Partial Spearman of CIO with latency given MACs and convs: {_f(study.partial_cio)}. Held out, "
            f"MACs + convs has MAPE {without:.1f} % and adding CIO gives {with_cio:.1f} %: CIO "
            + ("adds to MACs here" if adds else "does not add to MACs here")
            + f"; the full fit has {q['fit'].mape:.1f} % against {q['macs'].mape:.1f} % for MACs alone. The "
            f"measurement ranks itself at Spearman {_f(study.split_half)} (odd against even repeats).")


def _table_rows(study: LatencyStudy) -> list[tuple[str, ...]]:
    rows = []
    for name in BASELINES:
        q = study.quality[name]
        rows.append((_LABELS[name], _f(q.spearman), _f(q.kendall), f"{q.mape:.1f}", f"{q.max_ape:.1f}"))
    return rows


_HEAD = ("model (held out, leave-one-out)", "Spearman", "Kendall", "MAPE %", "worst %")


def format_table(study: LatencyStudy) -> str:
    rows = [_HEAD, *_table_rows(study)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_HEAD))]
    lines = ["  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r))
             for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    model = study.profile.model
    coefficients = ", ".join(f"{t} {c:.4g}" for t, c in zip(model.terms, model.coefficients, strict=True))
    return (f"{_where(study)}\n" + "\n".join(lines) + f"\n\nfit (µs): intercept {model.intercept:.4g}, "
            f"{coefficients}\n{claim_sentence(study)}")


def to_markdown(study: LatencyStudy) -> str:
    model = study.profile.model
    lines = [f"# Latency model: {_where(study)}", "",
             "Every model is fitted with non-negative coefficients on relative error and scored on members "
             "it did not see (leave-one-out).", "",
             "| " + " | ".join(_HEAD) + " |", "|" + "---|" * len(_HEAD)]
    lines += ["| " + " | ".join(r) + " |" for r in _table_rows(study)]
    lines += ["", claim_sentence(study), "",
              f"Fit on all {len(study.rows)} members (µs): intercept {model.intercept:.4g}"
              + "".join(f", {t} {c:.4g}" for t, c in zip(model.terms, model.coefficients, strict=True)), "",
              "| member | GMACs | M CIO | M concat | convs | M weights beyond cache | M CIO beyond cache | "
              "measured ms | IQR | held-out ms |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(study.rows, key=lambda r: r["latency_us"]):
        name = f"**{r['name']}**" if r["seed"] else r["name"]
        lines.append(f"| {name} | {r['macs'] / 1e9:.3f} | {r['cio'] / 1e6:.2f} | {r['concat'] / 1e6:.2f} | "
                     f"{r['convs']} | {r['weights_beyond_cache'] / 1e6:.2f} | "
                     f"{r['cio_beyond_cache'] / 1e6:.2f} | {r['latency_us'] / 1e3:.2f} | {r['spread']:.1%} | "
                     f"{r['held_out_us'] / 1e3:.2f} |")
    return "\n".join(lines) + "\n"


def to_json(study: LatencyStudy) -> dict[str, Any]:
    return {"settings": study.settings,
            "quality": {name: q.as_dict() for name, q in study.quality.items()},
            "partial_cio_given_macs_convs": study.partial_cio,
            "split_half_spearman": study.split_half,
            "profile": study.profile.to_dict(),
            "rows": [{k: v for k, v in r.items() if k not in ("settings", "arch")} for r in study.rows]}


def _panels(study: LatencyStudy) -> list[tuple[str, str, list[float], list[float]]]:
    """(x title, y title, x, y) of the three panels, latency in ms."""
    y = [r["latency_us"] / 1e3 for r in study.rows]
    held = [r["held_out_us"] / 1e3 for r in study.rows]
    return [("fit's held-out prediction (ms)", "measured latency (ms)", held, y),
            ("MACs (G)", "measured latency (ms)", [r["macs"] / 1e9 for r in study.rows], y),
            ("CIO (M elements)", "measured latency (ms)", [r["cio"] / 1e6 for r in study.rows], y)]


def _titles(study: LatencyStudy) -> list[str]:
    q = study.quality
    return [f"fit, held out: ρ {q['fit'].spearman:.3f}, MAPE {q['fit'].mape:.1f} %",
            f"MACs: ρ {q['macs'].spearman:.3f}, MAPE {q['macs'].mape:.1f} %",
            f"CIO: ρ {q['cio'].spearman:.3f}, MAPE {q['cio'].mape:.1f} %"]


def write_png(study: LatencyStudy, folder: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seeds = [i for i, r in enumerate(study.rows) if r["seed"]]
    fig, axes = plt.subplots(1, 3, figsize=(15.6, 4.8))
    for n, (ax, (xt, yt, x, y), title) in enumerate(zip(axes, _panels(study), _titles(study), strict=True)):
        ax.scatter(x, y, s=22, color="tab:blue", alpha=0.75, label="members")
        ax.scatter([x[i] for i in seeds], [y[i] for i in seeds], marker="*", s=180, color="tab:red",
                   edgecolors="white", label="seeds", zorder=3)
        for i in seeds:
            ax.annotate(study.rows[i]["name"], (x[i], y[i]), xytext=(6, 6), textcoords="offset points",
                        color="tab:red", fontsize=8)
        if n == 0:
            low, high = min(min(x), min(y)), max(max(x), max(y))
            ax.plot([low, high], [low, high], color="0.4", linestyle="--", linewidth=1, label="y = x")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xt)
        ax.set_ylabel(yt)
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(_where(study), fontsize=10)
    fig.tight_layout()
    path = folder / "latency.png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def to_html(study: LatencyStudy) -> str:
    import plotly.graph_objects as go
    import plotly.io as pio
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=3, subplot_titles=_titles(study), horizontal_spacing=0.07)
    hover = [f"<b>{html.escape(r['name'])}</b>{' (seed)' if r['seed'] else ''}<br>"
             f"measured {r['latency_us'] / 1e3:.2f} ms (IQR {r['spread']:.1%})<br>held-out fit "
             f"{r['held_out_us'] / 1e3:.2f} ms<br>{r['macs'] / 1e9:.3f} GMACs, {r['cio'] / 1e6:.2f} M CIO, "
             f"{r['concat'] / 1e6:.2f} M concat, {r['convs']} convs, {r['weights_beyond_cache'] / 1e6:.2f} M "
             f"weights and {r['cio_beyond_cache'] / 1e6:.2f} M CIO beyond cache" for r in study.rows]
    for col, (xt, yt, x, y) in enumerate(_panels(study), start=1):
        for name, keep, marker in (("members", False, dict(size=8, color=_FAINT)),
                                   ("seeds", True, dict(size=16, color=_SEED, symbol="star",
                                                        line=dict(width=1, color="white")))):
            idx = [i for i, r in enumerate(study.rows) if bool(r["seed"]) == keep]
            fig.add_trace(go.Scatter(x=[x[i] for i in idx], y=[y[i] for i in idx],
                                     mode="markers+text" if keep else "markers",
                                     text=[study.rows[i]["name"] for i in idx] if keep else None,
                                     textposition="top center", textfont=dict(color=_SEED, size=11),
                                     marker=marker, name=name, legendgroup=name, showlegend=col == 1,
                                     hovertext=[hover[i] for i in idx], hoverinfo="text"), row=1, col=col)
        if col == 1:
            low, high = min(min(x), min(y)), max(max(x), max(y))
            fig.add_trace(go.Scatter(x=[low, high], y=[low, high], mode="lines", name="y = x",
                                     line=dict(dash="dash", color="#777")), row=1, col=1)
        fig.update_xaxes(title_text=xt, type="log", row=1, col=col)
        fig.update_yaxes(title_text=yt, type="log", row=1, col=col)
    fig.update_layout(height=470, template="plotly_white", hovermode="closest",
                      legend=dict(orientation="h", x=1, xanchor="right", y=1.12, yanchor="bottom"))
    plot = pio.to_html(fig, include_plotlyjs=True, full_html=False, div_id="latency",
                       config={"displaylogo": False, "responsive": True})
    head = "".join(f"<th>{html.escape(h)}</th>" for h in _HEAD)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                   for r in _table_rows(study))
    from hardsearch.report.html import PAGE_STYLE

    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>hardsearch: latency model</title>
<style>{PAGE_STYLE}</style></head><body>
<h1>Latency model: {html.escape(_where(study))}</h1>
<p>{html.escape(claim_sentence(study))}</p>
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
{plot}
</body></html>
"""


def write_outputs(study: LatencyStudy, folder: Path) -> list[Path]:
    """``profile.yaml``, ``latency.json``, ``latency.md``, ``latency.png``, ``latency.html`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    return [save_profile(study.profile, folder / "profile.yaml"),
            write_text_atomic(folder / "latency.json", json.dumps(to_json(study), indent=2) + "\n"),
            write_text_atomic(folder / "latency.md", to_markdown(study)),
            write_png(study, folder),
            write_text_atomic(folder / "latency.html", to_html(study))]
