"""The Pareto report as text files: ``pareto.csv``, ``pareto.json`` and ``report.md``."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Sequence

from hardsearch.core.files import atomic_path, write_text_atomic
from hardsearch.report.pareto import COSTS, ParetoReport, describe_proxy
from hardsearch.study.fidelity import format_epochs
from hardsearch.study.objectives import ProxyLike, display_value, format_objective, is_accuracy

__all__ = ["to_markdown", "write_report", "pick_sentences", "proxy_sentence", "hypervolume_sentence",
           "per_study", "format_gain", "format_gains", "format_values", "fidelity_sentences"]


def format_gain(objective: str, gain: float, *, proxy: ProxyLike = None) -> str:
    """A found architecture's gain over a seed: the proxy as a difference (in percentage points, ``pp``,
    for an accuracy proxy), a cost as a relative change in per cent."""
    if objective != "proxy":
        return f"{100 * gain:+.1f} %"
    if is_accuracy(proxy):
        return f"{display_value(objective, gain, proxy=proxy):+.2f} pp"
    return f"{gain:+.4f}"


def format_gains(report: ParetoReport, gains: dict[str, float]) -> str:
    """``proxy +1.23 pp, macs -55.6 %, …``: each objective's gain (:func:`format_gain`)."""
    return ", ".join(f"{x} {format_gain(x, g, proxy=report.proxy)}" for x, g in gains.items())


def format_values(report: ParetoReport, objectives: Sequence[str], values: Sequence[float]) -> str:
    """``proxy 73.42 %, macs 4.246 G, …``: objectives and their values in display units."""
    return ", ".join(f"{x} {format_objective(x, v, proxy=report.proxy)}"
                     for x, v in zip(objectives, values, strict=True))


def _cells(report: ParetoReport, values: dict) -> str:
    return format_values(report, report.objectives, [values[x] for x in report.objectives])


def proxy_sentence(report: ParetoReport) -> str:
    """What the proxy objective is, its scale, and where it and the costs were measured."""
    proxy = report.proxy or {}
    what, _ = describe_proxy(proxy)
    text = what[0].upper() + what[1:]
    if proxy.get("name") == "ensemble":
        text += (" (0 = the median of the study's reference sample, 1 = one robust standard deviation "
                 "above it)")
    if proxy.get("resolution"):
        text += f", measured at {proxy['resolution']}x{proxy['resolution']} px"
    if proxy.get("data"):
        text += f" on {proxy['data']}"
    if proxy.get("classes"):
        text += f" ({proxy['classes']} classes)"
    text += "; higher is better"
    if is_accuracy(proxy):
        text += (" (shown in per cent; pareto.csv, pareto.json and the architecture files store it as a "
                 "fraction, 0-1)")
    if report.input_size:
        text += f". Costs are counted at {report.input_size[0]}x{report.input_size[1]}"
    return text + "."


def per_study(report: ParetoReport) -> list[str]:
    """The objectives the hypervolume normalises per study (no fixed bound): not comparable across studies."""
    bounds = report.bounds or {}
    return [o for o in report.objectives if not bounds.get(o, {}).get("fixed")]


def _bound(report: ParetoReport, objective: str) -> str:
    b = (report.bounds or {}).get(objective) or {"best": None, "source": "per study"}
    if b["best"] is None:
        return f"{objective} ({b['source']})"
    return (f"{objective} best {format_objective(objective, b['best'], proxy=report.proxy)} worst "
            f"{format_objective(objective, b['worst'], proxy=report.proxy)} ({b['source']})")


def hypervolume_sentence(report: ParetoReport) -> str:
    """How the hypervolume is normalised (each objective's bounds and where they come from), the
    reference point, and whether it compares with other studies' (for every renderer)."""
    loose = per_study(report)
    fixed = [o for o in report.objectives if o not in loose]
    parts = []
    if fixed:
        parts.append("objectives normalised by bounds fixed by the space and the proxy's calibration, stored "
                     "in the study (0 = best, 1 = worst, maximised ones negated): "
                     + ", ".join(_bound(report, o) for o in fixed))
    if loose:
        parts.append(("objectives" if not fixed else ", ".join(loose)) + " normalised per study, by the best "
                     "and worst value over this study's feasible trials (0 = best, 1 = worst): "
                     + ", ".join(_bound(report, o) for o in loose))
    ref = format_values(report, report.objectives, report.reference_point)
    text = "; ".join(parts) + ("; reference point 1.1 in every normalised dimension (the worst value plus "
                               f"10 % of the range): {ref}")
    if loose:
        return text + (f"; normalised per study and thus not comparable with other studies' hypervolumes: "
                       f"{', '.join(loose)}.")
    return text + ", so studies of the same space and proxy compare."


def pick_sentences(report: ParetoReport) -> list[str]:
    """"Which one to pick" as plain sentences, one per recommendation (for every renderer)."""
    if report.knee is None:
        return ["No feasible architecture yet: nothing to pick."]
    rows = {row["trial"]: row for row in report.front}
    k = report.knee
    seed = f" (seed {k['seed']})" if k["seed"] else ""
    sentences = [
        f"Balanced choice: trial {k['trial']}{seed}, {_cells(report, rows[k['trial']]['objectives'])}. It is "
        "the knee of the front: the member closest to the ideal point (the best value seen of every "
        "objective at once), with each objective scaled to [0, 1] between its best and worst value over "
        f"the feasible trials (distance {k['distance']:.3f}; 0 would be best at everything)."]
    picks = {p["seed_trial"]: p for p in report.seed_picks}
    for s in report.seeds:
        pick = picks.get(s.trial)
        if pick is None:
            sentences.append(f"Instead of {s.seed}: no found architecture dominates it"
                             + (" (it is on the front)." if s.on_front else "."))
            continue
        gains = next(d["gains"] for d in s.dominated_by if d["trial"] == pick["trial"])
        margin = (f"better on every objective by at least {100 * pick['margin']:.1f} % of that objective's "
                  "range over the feasible trials" if pick["margin"] > 0 else
                  "no worse on any objective (it ties the seed on at least one)")
        sentences.append(
            f"Instead of {s.seed}: trial {pick['trial']}, of the {len(s.dominated_by)} found architecture(s) "
            f"that dominate it the one with the widest margin: {margin} ("
            + format_gains(report, gains) + ").")
    return sentences


def fidelity_sentences(report: ParetoReport) -> list[str]:
    """Under a multi-fidelity schedule: what the accuracies on the front are (and a blank line)."""
    fidelity = report.fidelity
    if not fidelity:
        return []
    rungs = " -> ".join(str(r) for r in fidelity.get("rungs") or [])
    partial = sum(1 for row in report.front if row.get("epochs") not in (None, fidelity["budget"]))
    if fidelity.get("full_budget_only"):
        what = (f"Only members trained to the full budget ({fidelity['budget']} epochs) are shown "
                "(full_budget=true).")
    else:
        what = (f"Each member's accuracy is the one at the highest budget it reached (column epochs; "
                f"{partial} of {len(report.front)} stopped below the full {fidelity['budget']} epochs); "
                "python -m hardsearch.report study=NAME full_budget=true keeps only members trained in full.")
    return [f"Trained with {fidelity.get('kind')} (rungs {rungs} epochs). {what}", ""]


def to_markdown(report: ParetoReport) -> str:
    """``report.md``: the proxy, which one to pick, the front, the seeds against it, the hypervolumes."""
    o = report.objectives
    lines = [f"# Pareto report: study `{report.study}`", "",
             f"{report.n_trials} trials, {report.n_feasible} feasible and complete; "
             f"{len(report.front)} on the Pareto front. Objectives: " + ", ".join(f"{x} ({d[:3]})" for x, d in
                                                       zip(o, report.directions, strict=True)) + ".", "",
             proxy_sentence(report), "",
             "## Which one to pick", "", *(f"- {line}" for line in pick_sentences(report)),
             "- Otherwise choose along the front below by the objective that matters most on your hardware; "
             "every member is a trade-off no other found architecture beats everywhere.", "",
             "## Front", "", *fidelity_sentences(report),
             "| trial | seed | " + " | ".join(o) + (" | epochs" if report.fidelity else "")
             + " | architecture file |",
             "|---:|---|" + "---:|" * len(o) + ("---:|" if report.fidelity else "") + "---|"]
    for row in report.front:
        cells = " | ".join(format_objective(x, row["objectives"][x], proxy=report.proxy) for x in o)
        if report.fidelity:
            cells += " | " + format_epochs(row.get("epochs"), report.fidelity["budget"])
        lines.append(f"| {row['trial']} | {row['seed'] or ''} | {cells} | {row['arch_file'] or ''} |")
    lines += ["", "## Seeds", ""]
    for s in report.seeds:
        head = f"**{s.seed}** (trial {s.trial}: {format_values(report, o, s.values)})"
        if not s.dominated_by:
            lines.append(f"- {head}: not dominated by any found architecture"
                         + (" (on the front)." if s.on_front else "."))
            continue
        lines.append(f"- {head}: dominated by {len(s.dominated_by)} found architecture(s):")
        for d in s.dominated_by:
            lines.append(f"  - trial {d['trial']}: {format_gains(report, d['gains'])}")
    lines += ["", "## Hypervolume", "",
              f"- front: **{report.hypervolume_front:.4f}**; seeds alone: **{report.hypervolume_seeds:.4f}**",
              f"- computed on {hypervolume_sentence(report)}", ""]
    return "\n".join(lines)


def write_report(report: ParetoReport, folder: Path) -> list[Path]:
    """``pareto.csv``, ``pareto.json`` and ``report.md`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = [write_text_atomic(folder / "pareto.json",
                                 json.dumps(report._asdict(), indent=2, default=list) + "\n"),
               write_text_atomic(folder / "report.md", to_markdown(report))]
    path = folder / "pareto.csv"
    with atomic_path(path) as tmp, tmp.open("w", newline="") as f:
        writer = csv.writer(f)
        param_keys = sorted({k for row in report.front for k in row["parameters"]})
        epochs = ["epochs"] if report.fidelity else []  # the budget each member reached
        writer.writerow(["trial", "seed", *report.objectives, *epochs, *(f"cost_{k}" for k in COSTS),
                         "digest", "arch_file", *param_keys])
        for row in report.front:
            values = (row["objectives"][x] for x in report.objectives)
            writer.writerow([row["trial"], row["seed"] or "", *values,
                             *([row.get("epochs")] if epochs else []),
                             *(row["costs"].get(k, "") for k in COSTS), row["digest"],
                             row["arch_file"] or "",
                             *(row["parameters"].get(k, "") for k in param_keys)])
    written.append(path)
    return written
