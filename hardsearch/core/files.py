"""Atomic file writes: readers (and other workers writing the same report) never see half a file.

Each writer writes to a temporary sibling named after its process and thread, then renames it
over the target, which POSIX makes atomic: with several workers finishing at once, the last
rename wins and every version on disk is whole.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

__all__ = ["atomic_path", "write_text_atomic", "append_line", "read_json_lines"]


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path to write ``path``'s content to; renamed over ``path`` when the block ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def append_line(path: Path, line: str) -> None:
    """Append ``line`` and a newline to ``path`` and flush it to disk.

    When the file does not end with a newline (a write cut short by a crash), a newline is added
    first, so the new line stays whole and readable instead of being glued to the torn one.
    """
    path = Path(path)
    with path.open("a+b") as f:
        if f.tell() > 0:
            f.seek(-1, os.SEEK_END)
            torn = f.read(1) != b"\n"
        else:
            torn = False
        f.write((b"\n" if torn else b"") + line.encode("utf-8") + b"\n")
        f.flush()
        os.fsync(f.fileno())


def read_json_lines(path: Path, log: Callable[[str], None], prog: str) -> Iterator[dict[str, Any]]:
    """The JSON objects of a rows file, one per line, in order; blank lines skipped, and a line that
    does not parse (a write cut short by a crash) skipped with a note to ``log`` (never removed)."""
    import json

    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            log(f"{prog}: {path}:{number}: skipping an unreadable line (an interrupted write)")
            continue
        if isinstance(row, dict):
            yield row
