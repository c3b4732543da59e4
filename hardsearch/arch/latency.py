"""Measured latency: the median wall time of forward passes on this machine."""

from __future__ import annotations

import os
import statistics
import time

import torch

from hardsearch.arch.config import ArchConfig
from hardsearch.arch.model import build_model

__all__ = ["measure_latency"]


@torch.no_grad()
def measure_latency(arch: ArchConfig, input_size: tuple[int, int], *, batch: int = 1, repeats: int = 10,
                    warmup: int = 3, threads: int = 0) -> float:
    """Median seconds of ``repeats`` inference forwards (eval mode) after ``warmup`` untimed ones."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads or os.cpu_count() or 1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = build_model(arch).eval()
            x = torch.randn(batch, 3, *input_size)
        for _ in range(warmup):
            model(x)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
        return statistics.median(times)
    finally:
        torch.set_num_threads(previous)
