"""Keep a long CPU run's resident memory close to what it uses at a time.

A search builds, scores and drops a model per trial, the largest with hundreds of MB of weights.
glibc's malloc raises its mmap threshold each time such a block is freed (up to 32 MB), so later
blocks of that size come from the heap, where freed memory fragments and stays resident: the
peak RSS of a run ratchets up with every large model. A fixed threshold keeps every block of at
least 128 KiB in its own mapping, returned to the system when it is freed.
"""

from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["MMAP_THRESHOLD", "fix_mmap_threshold"]

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)
MMAP_THRESHOLD = 128 * 1024  # glibc's default before it adapts; setting it turns the adapting off


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes; False where there is no glibc ``mallopt``."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl without mallopt): nothing to fix
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, int(threshold)) == 1
