"""PNG plots of a Pareto report (matplotlib): the front in every pair of objectives, and hypervolume.

A renderer of :class:`hardsearch.report.pareto.ParetoReport`: it draws, it computes nothing.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path
from typing import Sequence

from hardsearch.core.files import atomic_path
from hardsearch.report.pareto import ParetoReport, describe_proxy
from hardsearch.study.objectives import display_value

__all__ = ["write_plots", "AXIS_LABELS", "axis_title", "axis_values"]

#: Each objective's axis title, in the unit of :func:`axis_values` (the proxy's comes from the report).
AXIS_LABELS = {"proxy": "proxy accuracy (higher is better)", "macs": "MACs (G)", "cio": "CIO (M elements)",
               "params": "parameters (M)", "peak_activations": "peak activations (M elements)",
               "latency": "latency (ms)", "latency_model": "predicted latency (ms, device profile)"}


def axis_title(report: ParetoReport, objective: str, newline: str = "\n") -> str:
    """An axis's title; the proxy's says what it is, its scale (% for an accuracy), where it was measured."""
    if objective != "proxy":
        return AXIS_LABELS[objective]
    what, where = describe_proxy(report.proxy)
    return f"{what}{newline}({where})"


#: Where each seed's label goes, in points from its star (alternating, so nearby seeds do not collide).
SEED_LABEL_OFFSETS = ((10, 9), (10, -15))


def axis_values(report: ParetoReport, points: Sequence[dict], objective: str) -> list[float]:
    """The points' objective in its axis's unit: G MACs, M CIO, ms, and an accuracy proxy in per cent."""
    return [display_value(objective, p["objectives"][objective], proxy=report.proxy) for p in points]


def write_plots(report: ParetoReport, folder: Path) -> list[Path]:
    """``pareto.png`` (one panel per pair of objectives) and ``hypervolume.png`` in ``folder``."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    pairs = list(combinations(report.objectives, 2))
    columns = min(3, len(pairs))
    rows = -(-len(pairs) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 4.4 * rows), squeeze=False)
    for ax, (x, y) in zip(axes.flat, pairs, strict=False):
        others = [p for p in report.points if not p["on_front"]]
        front = sorted((p for p in report.points if p["on_front"]), key=lambda p: p["objectives"][x])
        ax.scatter(axis_values(report, others, x), axis_values(report, others, y), s=14, color="0.6",
                   alpha=0.35, label="dominated")
        ax.scatter(axis_values(report, front, x), axis_values(report, front, y), s=26, color="tab:blue",
                   label="Pareto front (all objectives)")
        budget = (report.fidelity or {}).get("budget")
        partial = [p for p in report.points if p.get("epochs") is not None and p["epochs"] != budget]
        if partial:  # a multi-fidelity schedule stopped these at a rung: accuracy at fewer epochs
            ax.scatter(axis_values(report, partial, x), axis_values(report, partial, y), s=48,
                       facecolors="none", edgecolors="tab:orange", linewidths=1.1, zorder=3,
                       label=f"stopped below {budget} epochs (accuracy at the rung reached)")
        knee = [p for p in report.points if report.knee and p["trial"] == report.knee["trial"]]
        ax.scatter(axis_values(report, knee, x), axis_values(report, knee, y), s=150, facecolors="none",
                   edgecolors="black", linewidths=1.4, zorder=4, label="knee (balanced choice)")
        seeds = [p for p in report.points if p["seed"]]
        stars = zip(axis_values(report, seeds, x), axis_values(report, seeds, y), strict=True)
        for i, (p, star) in enumerate(zip(seeds, stars, strict=True)):
            ax.scatter([star[0]], [star[1]], s=140, marker="*", color="tab:red", zorder=3)
            ax.annotate(p["seed"], star, textcoords="offset points",
                        xytext=SEED_LABEL_OFFSETS[i % len(SEED_LABEL_OFFSETS)], fontsize=8, color="tab:red",
                        zorder=5, bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none",
                                            alpha=0.85))
        ax.set_xlabel(axis_title(report, x))
        ax.set_ylabel(axis_title(report, y))
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(pairs):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=8, loc="best")
    fig.suptitle(f"study {report.study}: {report.n_feasible} feasible trials, {len(report.front)} on the "
                 "front (red stars: seeds)")
    fig.tight_layout()
    written = [folder / "pareto.png"]
    with atomic_path(written[0]) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    if report.hypervolume_history:
        numbers, volumes = zip(*report.hypervolume_history, strict=True)
        ax.step(numbers, volumes, where="post", color="tab:blue", label="front so far")
    ax.axhline(report.hypervolume_seeds, color="tab:red", linestyle="--", label="seeds alone")
    ax.set_xlabel("trial")
    ax.set_ylabel("hypervolume (normalised objectives)")
    ax.set_title(f"study {report.study}: hypervolume over trials")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    written.append(folder / "hypervolume.png")
    with atomic_path(written[1]) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return written
