"""User-facing errors: one line that names the file, the key and what is allowed."""

from __future__ import annotations

__all__ = ["UserError", "ArchError", "first_line"]


class UserError(Exception):
    """A mistake in the user's input. Command-line tools print it as one line and exit 2."""


class ArchError(UserError, ValueError):
    """An architecture file or mapping that does not describe a valid harmonic network."""

    def __init__(self, source: str, key: str, message: str) -> None:
        self.source = source
        self.key = key
        super().__init__(f"{source}: {key}: {message}" if key else f"{source}: {message}")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (libraries often raise multi-line ones)."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
