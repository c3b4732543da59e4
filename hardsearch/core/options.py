"""Checks of the composed config's values, shared by every tool: one-line errors naming the key."""

from __future__ import annotations

from typing import Any, Mapping

from hardsearch.core.errors import UserError

__all__ = ["fail", "check_int", "section"]


def fail(key: str, value: Any, allowed: str, source: str = "conf/search.yaml") -> UserError:
    return UserError(f"{source}: {key}: got {value!r}; allowed: {allowed}")


def check_int(value: Any, key: str, *, minimum: int, nullable: bool = False,
              source: str = "conf/search.yaml") -> int | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise fail(key, value, ("null or " if nullable else "") + f"an integer >= {minimum}", source)
    return value


def section(options: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = options.get(key)
    if not isinstance(value, Mapping):
        raise fail(key, value, "a mapping")
    return dict(value)
