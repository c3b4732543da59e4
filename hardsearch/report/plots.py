"""PNG plots of a Pareto report (matplotlib): the front in every pair of objectives, and hypervolume.

A renderer of :class:`hardsearch.report.pareto.ParetoReport`: it draws, it computes nothing.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

from hardsearch.core.files import atomic_path
from hardsearch.report.pareto import ParetoReport

__all__ = ["write_plots", "AXIS_LABELS"]

AXIS_LABELS = {"proxy": ("proxy accuracy (higher is better)", 1.0), "macs": ("MACs (G)", 1e9),
               "cio": ("CIO (M elements)", 1e6), "params": ("parameters (M)", 1e6),
               "peak_activations": ("peak activations (M elements)", 1e6), "latency": ("latency (ms)", 1e-3)}


def _value(point: dict, objective: str) -> float:
    return point["objectives"][objective] / AXIS_LABELS[objective][1]


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
        front = sorted((p for p in report.points if p["on_front"]), key=lambda p: _value(p, x))
        ax.scatter([_value(p, x) for p in others], [_value(p, y) for p in others], s=14, color="0.6",
                   alpha=0.35, label="dominated")
        ax.scatter([_value(p, x) for p in front], [_value(p, y) for p in front], s=26, color="tab:blue",
                   label="Pareto front (all objectives)")
        for p in report.points:
            if p["seed"]:
                ax.scatter([_value(p, x)], [_value(p, y)], s=140, marker="*", color="tab:red", zorder=3)
                ax.annotate(p["seed"], (_value(p, x), _value(p, y)), textcoords="offset points",
                            xytext=(6, 4), fontsize=8, color="tab:red")
        ax.set_xlabel(AXIS_LABELS[x][0])
        ax.set_ylabel(AXIS_LABELS[y][0])
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
