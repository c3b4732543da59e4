"""Database passwords kept out of every line hardsearch or Hydra prints and every file they write.

A password may come in a database URL on the command line, ``scheme://user:PASSWORD@host/db`` or
``…/db?password=PASSWORD`` (``&password=``, as libpq reads it). Before Hydra reads the command
line, :func:`hide_passwords` puts a placeholder (``***``) where each password was, so whatever Hydra
echoes (``--cfg``, ``--help``, parse errors, "Error executing job with overrides") or writes
(``multirun.yaml``, a job's ``.hydra/*.yaml``) and W&B's copy of ``sys.argv`` hold the placeholder.
The passwords themselves reach the task through this process's environment (:data:`ENV`, which the
processes of a ``--multirun`` launcher inherit): :func:`restore_passwords` puts them back into the
composed options. :func:`redact` hides passwords in any text that is printed or logged.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Callable, Iterator

from hardsearch.core.errors import UserError, first_line

__all__ = ["ENV", "PLACEHOLDER", "redact", "hide_passwords", "restore_passwords"]

ENV = "HARDSEARCH_SECRETS"  # JSON {placeholder: password}, set by hide_passwords

PLACEHOLDER = "***"

# Where a password is: user:PASSWORD@ (as SQLAlchemy reads it, up to the first '@') or
# password=PASSWORD (as libpq reads a query, up to '&' or '#'). Three readings of the same:
# in a message, a password ends at a space (and, after password=, at a quote) ...
_TEXT = re.compile(r"(?P<head>://[^:/?#@\s]*:)(?P<secret>[^@\s]*)(?=@)"
                   r"|(?P<key>password=)(?P<value>[^&#\s'\"]*)", re.IGNORECASE)
# ... in a value that is a URL (a config value), only at the end of the line ...
_VALUE = re.compile(r"(?P<head>://[^:/?#@\s]*:)(?P<secret>[^@\n]*)(?=@)"
                    r"|(?P<key>password=)(?P<value>[^&#\n]*)", re.IGNORECASE)
# ... and in an override as typed (Hydra's syntax), at a quote; a backslash escapes a character.
_ARG = re.compile(r"(?P<head>://[^:/?#@\s'\"]*:)(?P<secret>(?:\\.|[^@\n'\"\\])*)(?=@)"
                  r"|(?P<key>password\\?=)(?P<value>(?:\\.|[^&#\n'\"\\])*)", re.IGNORECASE)

_ALLOWED = ("allowed: a URL whose password has no quote, space or '@' (percent-encode them, e.g. %40), "
            "or, better, no password in the URL and the password in PGPASSWORD or ~/.pgpass")


def _spans(pattern: re.Pattern[str], text: str) -> Iterator[tuple[int, int]]:
    """Where each non-empty password is in ``text``, in order."""
    for match in pattern.finditer(text):
        start, end = match.span("secret") if match.group("secret") is not None else match.span("value")
        if end > start:
            yield start, end


def _replace(pattern: re.Pattern[str], text: str, new: Callable[[str], str]) -> str:
    pieces, last = [], 0
    for start, end in _spans(pattern, text):
        pieces += [text[last:start], new(text[start:end])]
        last = end
    return "".join(pieces) + text[last:]


def _secrets() -> dict[str, str]:
    """The passwords hidden from Hydra in this process or the one that started it."""
    try:
        found = json.loads(os.environ.get(ENV) or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def redact(text: str) -> str:
    """``text`` with every password in a URL (``user:***@``, ``password=***``) and every password
    taken from the command line (four characters or more) replaced by ``***``."""
    text = _replace(_TEXT, text, lambda secret: PLACEHOLDER)
    for secret in _secrets().values():
        if isinstance(secret, str) and len(secret) >= 4:
            text = text.replace(secret, PLACEHOLDER)
    return text


def hide_passwords(args: list[str]) -> list[str]:
    """``args`` (Hydra overrides) with a placeholder for each password; the passwords go to :data:`ENV`.

    Each distinct password gets its own placeholder (``***``, ``***2``, …). An override that holds
    a password and that Hydra cannot parse, or whose password cannot be swapped exactly (a quote
    in it, say), is a :class:`UserError` whose message shows no password.
    """
    secrets: dict[str, str] = {}
    hidden = []
    for arg in args:
        if arg.startswith("-") or not (any(_spans(_VALUE, arg)) or any(_spans(_ARG, arg))):
            hidden.append(arg)
            continue
        before = _parsed_strings(arg)
        found = [value[a:b] for value in before for a, b in _spans(_VALUE, value)]
        raw = list(_spans(_ARG, arg))
        cannot = UserError(f"command line: {_scrub(arg, found)!r}: cannot keep its password out of Hydra's "
                           f"output and files; {_ALLOWED}")
        if len(raw) != len(found):
            raise cannot
        pieces, last = [], 0
        for (start, end), secret in zip(raw, found, strict=True):
            placeholder = next((p for p, s in secrets.items() if s == secret), None)
            if placeholder is None:
                placeholder = PLACEHOLDER if not secrets else f"{PLACEHOLDER}{len(secrets) + 1}"
                secrets[placeholder] = secret
            pieces += [arg[last:start], placeholder]
            last = end
        swapped = "".join(pieces) + arg[last:]
        after = _parsed_strings(swapped)
        # Hydra must read the placeholders exactly where the passwords were, and nothing else changed
        if len(after) != len(before) or any(
                restore_passwords(h, secrets) != b or any(h[x:y] not in secrets for x, y in _spans(_VALUE, h))
                for b, h in zip(before, after, strict=True)):
            raise cannot
        hidden.append(swapped)
    if secrets:
        os.environ[ENV] = json.dumps(secrets)
    else:
        os.environ.pop(ENV, None)
    return hidden


def restore_passwords(value: Any, secrets: dict[str, str] | None = None) -> Any:
    """``value`` (a string, or lists and dicts of them) with each placeholder's password back."""
    secrets = _secrets() if secrets is None else secrets
    if not secrets:
        return value
    if isinstance(value, str):
        return _replace(_VALUE, value, lambda placeholder: secrets.get(placeholder, placeholder))
    if isinstance(value, dict):
        return {k: restore_passwords(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [restore_passwords(v, secrets) for v in value]
    return value


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, PLACEHOLDER)
    return redact(_replace(_ARG, text, lambda secret: PLACEHOLDER))


def _parsed_strings(arg: str) -> list[str]:
    """Every string in the value of the override ``arg`` as Hydra parses it (sweeps, lists, dicts)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        override = OverridesParser.create().parse_overrides([arg])[0]
    except HydraException as exc:
        found = [arg[a:b] for a, b in _spans(_ARG, arg)]
        raise UserError(f"command line: {_scrub(arg, found)!r}: {_scrub(first_line(exc), found)}; allowed: "
                        "key=value, a value with '=' or a quote in quotes, e.g. "
                        "'storage.url=\"postgresql://user@host/db?password=…\"' "
                        "(see https://hydra.cc/docs/advanced/override_grammar/basic/)") from None
    return list(_strings(override.value()))


def _strings(value: Any) -> Iterator[str]:
    from hydra.core.override_parser.types import ChoiceSweep, Glob, QuotedString

    if isinstance(value, str):
        yield value
    elif isinstance(value, QuotedString):
        yield value.text
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, ChoiceSweep):
        yield from _strings(value.list)
    elif isinstance(value, Glob):
        yield from _strings([*value.include, *value.exclude])
