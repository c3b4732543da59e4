"""``python -m hardsearch.profile arch=hardnet68 input_size=1024``: the cost table of one network.

``arch`` is a seed name or a path to an architecture YAML file; ``input_size`` an integer or
``[height,width]``; ``out=FILE.csv|FILE.json`` also writes the table; ``layers=true`` prints
every convolution too.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

from hardsearch.arch.config import with_classes
from hardsearch.arch.costs import CostReport, count_costs, normalize_input_size
from hardsearch.arch.latency_model import LatencyProfile, load_profile
from hardsearch.arch.seeds import resolve_arch
from hardsearch.core.cli import hydra_main
from hardsearch.core.errors import UserError

__all__ = ["format_table", "to_csv", "write_report", "profile"]

_CSV_FIELDS = ("level", "name", "stage", "kind", "in_shape", "out_shape", "params", "macs", "cio",
               "moc", "peak_activations", "concat", "convs", "weights")


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(v) for v in shape)


def _moc(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def format_table(report: CostReport, *, layers: bool = False) -> str:
    """The report as an aligned text table: per-stage rows (or every layer) and the totals."""
    h, w = report.input_size
    head = (f"{report.arch} @ {h}x{w}: {report.params:,} params, {report.macs / 1e9:.3f} GMACs, "
            f"{report.cio / 1e6:.3f} M CIO, MoC {report.moc:.1f}, "
            f"peak {report.peak_activations / 1e6:.3f} M activations, {report.concat / 1e6:.3f} M concat, "
            f"{report.convs:,} convs, {report.weights / 1e6:.3f} M weights")
    if layers:
        cols = ("layer", "kind", "in (CxHxW)", "out (CxHxW)", "params", "MACs", "CIO", "MoC", "weights")
        body = [(r.name, r.kind, _shape(r.in_shape), _shape(r.out_shape), f"{r.params:,}",
                 f"{r.macs:,}", f"{r.cio:,}", _moc(r.moc), f"{r.weights:,}") for r in report.layers]
    else:
        cols = ("stage", "out (CxHxW)", "params", "MACs", "CIO", "MoC", "concat", "convs", "weights",
                "peak act.")
        body = [(s.name, _shape(s.out_shape), f"{s.params:,}", f"{s.macs:,}", f"{s.cio:,}",
                 _moc(s.moc), f"{s.concat:,}", f"{s.convs:,}", f"{s.weights:,}",
                 f"{s.peak_activations:,}") for s in report.stages]
    total = ["total", "", f"{report.params:,}", f"{report.macs:,}", f"{report.cio:,}",
             _moc(report.moc), f"{report.concat:,}", f"{report.convs:,}", f"{report.weights:,}",
             f"{report.peak_activations:,}"]
    if layers:
        total = ["total", "", "", "", *total[2:6], total[8]]
    rows = [cols, *body, tuple(total)]
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(cols))]
    lines = []
    for n, r in enumerate(rows):
        cells = [str(v).ljust(widths[i]) if i == 0 or (layers and i in (1, 2, 3)) or
                 (not layers and i == 1) else str(v).rjust(widths[i]) for i, v in enumerate(r)]
        lines.append("  ".join(cells).rstrip())
        if n == 0 or n == len(rows) - 2:
            lines.append("-" * len(lines[0]))
    return head + "\n" + "\n".join(lines)


def _csv_rows(report: CostReport) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for r in report.layers:
        rows.append({"level": "layer", "name": r.name, "stage": r.stage, "kind": r.kind,
                     "in_shape": _shape(r.in_shape), "out_shape": _shape(r.out_shape),
                     "params": r.params, "macs": r.macs, "cio": r.cio, "moc": r.moc,
                     "peak_activations": "", "concat": "", "convs": "", "weights": r.weights})
    for s in report.stages:
        rows.append({"level": "stage", "name": s.name, "stage": s.name, "kind": "",
                     "in_shape": "", "out_shape": _shape(s.out_shape), "params": s.params,
                     "macs": s.macs, "cio": s.cio, "moc": s.moc,
                     "peak_activations": s.peak_activations, "concat": s.concat, "convs": s.convs,
                     "weights": s.weights})
    rows.append({"level": "total", "name": report.arch, "stage": "", "kind": "",
                 "in_shape": f"3x{report.input_size[0]}x{report.input_size[1]}", "out_shape": "",
                 "params": report.params, "macs": report.macs, "cio": report.cio,
                 "moc": report.moc, "peak_activations": report.peak_activations,
                 "concat": report.concat, "convs": report.convs, "weights": report.weights})
    return rows


def to_csv(report: CostReport) -> str:
    """Every layer, every stage and the totals, one row each (``level`` tells which)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=_CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(_csv_rows(report))
    return buf.getvalue()


def _check_out(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix not in (".csv", ".json"):
        raise UserError(f"out: {str(path)!r} has suffix {path.suffix!r}; allowed: .csv, .json")
    return path


def write_report(report: CostReport, path: str | Path) -> Path:
    """Write ``report`` as CSV or JSON, chosen by the file's suffix."""
    path = _check_out(path)
    text = to_csv(report) if path.suffix == ".csv" else json.dumps(report.to_dict(), indent=2) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _check_options(*, arch: Any, num_classes: Any, layers: Any, out: Any) -> None:
    if not isinstance(arch, str) or not arch:
        raise UserError(f"arch: got {arch!r}; allowed: a seed name or a path to an architecture YAML")
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int)
                                    or num_classes < 1):
        raise UserError(f"num_classes: got {num_classes!r}; allowed: null or an integer >= 1")
    if not isinstance(layers, bool):
        raise UserError(f"layers: got {layers!r}; allowed: true or false")
    if out is not None and not isinstance(out, str):
        raise UserError(f"out: got {out!r}; allowed: null or a path ending in .csv or .json")


#: Sanity bounds: the largest published HarDNet has 85 layers in its blocks and 9 GMACs at 224².
MAX_LAYERS = 2000
MAX_MACS = 1e13


def check_bounds(config: Any, source: str) -> None:
    """Refuse an architecture whose blocks hold more than :data:`MAX_LAYERS` layers in all."""
    depths = [stage.depth for stage in config.stages]
    if sum(depths) > MAX_LAYERS:
        deepest = max(range(len(depths)), key=depths.__getitem__)
        raise UserError(f"{source}: stages[{deepest}].depth: got {depths[deepest]} ({sum(depths)} layers in "
                        f"all); allowed: at most {MAX_LAYERS} layers in all (HarDNet-85 has 85)")


def profile(*, arch: str, input_size: Any = 224, num_classes: int | None = None,
            layers: bool = False, out: str | None = None, latency: Any = None) -> CostReport:
    """Count the costs of ``arch``, print the table, optionally write it; returns the report.

    ``latency={"profile": PATH}`` also prints the latency a device profile predicts for ``arch`` (at
    the profile's input size and batch, which it names).
    """
    _check_options(arch=arch, num_classes=num_classes, layers=layers, out=out)
    device = _latency_profile(latency)
    if out:
        _check_out(out)
    config = resolve_arch(arch)
    if num_classes is not None:
        config = with_classes(config, num_classes)
    check_bounds(config, arch)
    report = count_costs(config, normalize_input_size(input_size))
    print(format_table(report, layers=layers))
    if report.macs > MAX_MACS:
        print(f"hardsearch.profile: warning: {report.macs:.3g} MACs per image, beyond any network one could "
              f"run (over {MAX_MACS:.0e}); check the architecture and input_size", file=sys.stderr)
    if device is not None:
        print(latency_line(device, config))
    if out:
        print(f"wrote {write_report(report, out)}")
    return report


def _latency_profile(latency: Any) -> LatencyProfile | None:
    if latency is None:
        return None
    if not isinstance(latency, dict) or set(latency) - {"profile"}:
        raise UserError(f"latency: got {latency!r}; allowed: latency.profile=PATH (a device profile written "
                        "by python -m hardsearch.latency)")
    path = latency.get("profile")
    if path is None:
        return None
    if not isinstance(path, str) or not path:
        raise UserError(f"latency.profile: got {path!r}; allowed: null or a path to a device profile")
    return load_profile(path)


def latency_line(device: LatencyProfile, config: Any) -> str:
    """``predicted latency: 45.120 ms on DEVICE, BACKEND, THREADS, SIZE, BATCH (held-out MAPE …)``."""
    predicted = device.predict_us(config)
    quality = device.quality
    held = (f" (held-out MAPE {quality['mape']:.1f} %, Spearman {quality['spearman']:.3f} over "
            f"{quality['n']} members)" if {"mape", "spearman", "n"} <= quality.keys() else "")
    return f"predicted latency: {predicted / 1e3:.3f} ms on {device.describe()}{held}"


def main() -> None:
    hydra_main("hardsearch.profile", "profile", lambda options: profile(**options))


if __name__ == "__main__":
    sys.exit(main())
