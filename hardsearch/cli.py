"""Shared command-line behaviour: user errors become one line on stderr and exit status 2."""

from __future__ import annotations

import sys
from typing import Callable, TypeVar

from hardsearch.errors import UserError

T = TypeVar("T")

__all__ = ["run_user_errors"]


def run_user_errors(prog: str, fn: Callable[[], T]) -> T:
    """Run ``fn``; a :class:`UserError` prints ``prog: error: …`` and exits 2 (no traceback)."""
    try:
        return fn()
    except UserError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
