"""Ctrl-C and SIGTERM for long runs: both interrupt the same way, and short critical steps finish first.

Schedulers (SLURM, Kubernetes) stop a job with SIGTERM; a person with Ctrl-C (SIGINT). Inside
:func:`interruptible` both raise :class:`KeyboardInterrupt`, so one code path keeps what finished,
queues the interrupted trial again and writes the summary; :func:`exit_code` is then the usual
128 + signal number (130 for Ctrl-C, 143 for SIGTERM). Inside :func:`deferred` both signals wait
until the block ends (telling the storage a trial's fate, writing the report files), so a second
Ctrl-C can never leave those half done.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Iterator

__all__ = ["interruptible", "deferred", "exit_code"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_received: list[int] = []  # the signals that interrupted the current run, in order


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _raise_interrupt(signum: int, frame: Any) -> None:
    _received.append(signum)
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """SIGINT and SIGTERM raise KeyboardInterrupt while the block runs (main thread only)."""
    if not _in_main_thread():
        yield
        return
    _received.clear()
    previous = {s: signal.signal(s, _raise_interrupt) for s in SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """SIGINT and SIGTERM are held back while the block runs and acted on when it ends.

    The handlers only record the signal meanwhile (a signal mask would not do: Python runs its
    handlers in the main thread whichever thread the kernel delivers to).
    """
    if not _in_main_thread():
        yield
        return
    pending: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: pending.append(signum)) for s in SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if pending:
            handler = previous[pending[0]]
            if callable(handler):
                handler(pending[0], None)  # ours, or Python's default for Ctrl-C: KeyboardInterrupt
            elif handler == signal.SIG_DFL:
                signal.raise_signal(pending[0])


def exit_code() -> int:
    """128 + the first signal that interrupted the run (130 when it was Ctrl-C or none is known)."""
    return 128 + (_received[0] if _received else signal.SIGINT)
