"""Measured latency: wall time of inference forwards of one network on this machine.

Three backends run the same model: ``torch`` (eager PyTorch on the CPU), ``onnxruntime`` (the graph
``hardsearch.export format=onnx`` writes, on ONNX Runtime's CPU provider) and ``cuda`` (eager
PyTorch on the first GPU, timed with CUDA events). Every measurement is taken after ``warmup``
untimed forwards, with the thread count fixed (and, on Linux, the process pinned to that many
cores), and keeps every repeat's time so a reader sees the spread as well as the median.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

import torch

from hardsearch.arch.config import ArchConfig
from hardsearch.arch.model import build_model
from hardsearch.arch.onnx import require_onnxruntime, write_onnx
from hardsearch.core.errors import UserError

__all__ = ["BACKENDS", "Timing", "measure_latency", "time_forward", "pinned_threads", "thread_count",
           "device_name", "last_level_cache_bytes"]

BACKENDS = ("torch", "onnxruntime", "cuda")


class Timing(NamedTuple):
    """Every timed forward of one network, in seconds."""

    times: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def spread(self) -> float:
        """The interquartile range divided by the median (0 for fewer than 4 repeats)."""
        if len(self.times) < 4:
            return 0.0
        q1, _, q3 = statistics.quantiles(self.times, n=4)
        return (q3 - q1) / self.median


def thread_count(threads: int) -> int:
    """``threads``, or for 0 the number of cores this process may run on."""
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return threads or available


@contextmanager
def pinned_threads(threads: int) -> Iterator[int]:
    """Fix torch's intra-op threads to ``threads`` (0 = every core this process may use) and pin the
    process to that many cores where the OS allows; both are restored afterwards. Yields the count."""
    count = thread_count(threads)
    previous = torch.get_num_threads()
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_setaffinity") else None
    torch.set_num_threads(count)
    if affinity is not None and count < len(affinity):
        os.sched_setaffinity(0, sorted(affinity)[:count])
    try:
        yield count
    finally:
        torch.set_num_threads(previous)
        if affinity is not None:
            os.sched_setaffinity(0, affinity)


def device_name(backend: str) -> str:
    """The processor (or GPU) a backend runs on, as the OS names it."""
    if backend == "cuda":
        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine() or "unknown CPU"


def last_level_cache_bytes(backend: str) -> int | None:
    """The largest cache of the device a backend runs on (the CPU's last level from sysfs, a GPU's L2),
    or None when the OS does not say."""
    if backend == "cuda":
        if not torch.cuda.is_available():
            return None
        size = getattr(torch.cuda.get_device_properties(0), "L2_cache_size", 0)
        return int(size) or None
    best = None
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            kind = (index / "type").read_text().strip()
            level = int((index / "level").read_text())
            text = (index / "size").read_text().strip().upper()
        except (OSError, ValueError):
            continue
        if kind == "Instruction":
            continue
        scale = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(text[-1:], 1)
        try:
            size = int(text.rstrip("KMG")) * scale
        except ValueError:
            continue
        if best is None or level > best[0]:
            best = (level, size)
    return best[1] if best else None


def _run(step: Callable[[], object], *, warmup: int, repeats: int, sync: Callable[[], None]) -> Timing:
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return Timing(tuple(times))


@torch.no_grad()
def time_forward(arch: ArchConfig, input_size: tuple[int, int], *, batch: int = 1, repeats: int = 10,
                 warmup: int = 3, threads: int = 0, backend: str = "torch") -> Timing:
    """Time ``repeats`` inference forwards of ``arch`` (eval mode, seeded weights) after ``warmup``
    untimed ones on ``backend`` with ``threads`` CPU threads (0 = every core)."""
    if backend not in BACKENDS:
        raise UserError(f"backend: got {backend!r}; allowed: {', '.join(BACKENDS)}")
    if backend == "cuda" and not torch.cuda.is_available():
        raise UserError("backend: got 'cuda', but torch sees no CUDA device here; allowed: torch, "
                        "onnxruntime")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_model(arch).eval()
        x = torch.randn(batch, 3, *input_size)
    with pinned_threads(threads) as count:
        if backend == "torch":
            return _run(lambda: model(x), warmup=warmup, repeats=repeats, sync=lambda: None)
        if backend == "cuda":
            model, x = model.cuda(), x.cuda()
            return _run(lambda: model(x), warmup=warmup, repeats=repeats, sync=torch.cuda.synchronize)
        ort = require_onnxruntime("backend=onnxruntime")
        with tempfile.TemporaryDirectory(prefix="hardsearch-latency-") as tmp:
            path = write_onnx(model, x[:1], Path(tmp) / "model.onnx")
            options = ort.SessionOptions()
            options.intra_op_num_threads = count
            options.inter_op_num_threads = 1
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        feed = {"input": x.numpy()}
        return _run(lambda: session.run(None, feed), warmup=warmup, repeats=repeats, sync=lambda: None)


def measure_latency(arch: ArchConfig, input_size: tuple[int, int], *, batch: int = 1, repeats: int = 10,
                    warmup: int = 3, threads: int = 0) -> float:
    """Median seconds of eager-torch CPU forwards (the search's measured ``latency`` objective)."""
    return time_forward(arch, input_size, batch=batch, repeats=repeats, warmup=warmup, threads=threads).median
