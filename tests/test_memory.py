"""The mmap threshold every tool fixes at start (hardsearch.core.memory)."""

from __future__ import annotations

import ctypes

from hardsearch.core import memory


def test_the_threshold_is_fixed_on_glibc():
    # this project's machines run glibc: mallopt accepts the parameter (it returns 1 on success)
    assert memory.fix_mmap_threshold() is True
    assert memory.fix_mmap_threshold(memory.MMAP_THRESHOLD) is True  # idempotent


def test_without_mallopt_nothing_is_done(monkeypatch):
    def no_libc(name):
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(ctypes, "CDLL", no_libc)
    assert memory.fix_mmap_threshold() is False
