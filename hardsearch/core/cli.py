"""Shared command-line behaviour of hardsearch's Hydra tools.

User errors — a bad override on the command line, a bad value, a bad architecture file —
become one line on stderr (``prog: error: …``) and exit status 2, never a traceback.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any, Callable, TypeVar

import yaml

from hardsearch.core._search_path import SpacesSearchPath
from hardsearch.core.errors import UserError, first_line
from hardsearch.core.paths import CONF_DIR, SEARCH_SPACES_DIR
from hardsearch.core.secrets import hide_passwords, redact, restore_passwords

T = TypeVar("T")

__all__ = ["run_user_errors", "check_overrides", "hydra_main", "register_search_path", "report_crash"]


def register_search_path() -> None:
    """Put ``search_spaces/`` on Hydra's search path whenever hardsearch's ``conf/`` is composed.

    So ``search_spaces/space/*.yaml`` is the config group ``space`` for the command line,
    ``--help``, ``--cfg`` and the compose API alike. Registered with Hydra's plugin registry
    (idempotent), which leaves other Hydra applications in the process alone.
    """
    from hydra.core.plugins import Plugins

    Plugins.instance().register(SpacesSearchPath)


def run_user_errors(prog: str, fn: Callable[[], T]) -> T:
    """Run ``fn``; a :class:`UserError` prints ``prog: error: …`` and exits 2 (no traceback)."""
    try:
        return fn()
    except UserError as exc:
        print(f"{prog}: error: {redact(str(exc))}", file=sys.stderr)
        raise SystemExit(2) from None
    except yaml.YAMLError as exc:
        print(f"{prog}: error: {redact(yaml_error_line(exc))}", file=sys.stderr)
        raise SystemExit(2) from None


def check_overrides(config_name: str, overrides: list[str]) -> None:
    """Compose ``config_name`` with ``overrides`` as Hydra would; raise a one-line UserError.

    Unknown keys are named with the keys that are allowed; other composition errors keep the
    first line of Hydra's message.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    source = f"{CONF_DIR / config_name}.yaml"
    parser = OverridesParser.create()
    parsed = []
    for text in overrides:
        try:
            parsed.extend(parser.parse_overrides([text]))
        except HydraException as exc:
            raise UserError(f"command line: {text!r}: {first_line(exc)}; allowed: key=value "
                            "(see https://hydra.cc/docs/advanced/override_grammar/basic/)") from None
    register_search_path()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            repository = GlobalHydra.instance().config_loader().repository
            groups = []
            for override in parsed:
                key = override.key_or_group
                options = _group_options(key, CONF_DIR, SEARCH_SPACES_DIR)
                if not options:
                    continue
                value = override.value()
                if isinstance(value, str) and not override.is_delete() and value not in options:
                    raise UserError(f"command line: {override.input_line!r}: unknown {key} {value!r}; "
                                    f"allowed: {', '.join(options)}")
                groups.append(override.input_line)
            chosen = compose(config_name, overrides=groups)  # with the chosen option of each group
            allowed = [k for k in chosen if k != "hydra"]
            for override in parsed:
                key = override.key_or_group
                top = key.split(".")[0].split("/")[0]
                if override.input_line in groups or top == "hydra" or repository.group_exists(key):
                    continue
                if top not in allowed:
                    raise UserError(f"command line: {override.input_line!r}: unknown key {key!r} in "
                                    f"{source}; allowed keys: {', '.join(allowed)}")
                _check_nested_key(override, chosen)
            compose(config_name, overrides=overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        raise UserError(f"command line: {' '.join(overrides)}: {first_line(exc)}") from None
    except yaml.YAMLError as exc:  # a malformed config or search space file
        raise UserError(yaml_error_line(exc)) from None
    finally:
        GlobalHydra.instance().clear()


def yaml_error_line(exc: yaml.YAMLError) -> str:
    """``file: malformed YAML at line L, column C: problem; allowed: …`` for a YAML parse error."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    source = getattr(mark, "name", None) or "a config file"
    problem = getattr(exc, "problem", None) or exc.__class__.__name__
    return f"{source}: malformed YAML{where}: {problem}; allowed: well-formed YAML (fix or remove the file)"


def _check_nested_key(override: Any, config: Any) -> None:
    """``a.b=…`` where ``a`` is a mapping without ``b`` (and no ``+``) names the keys ``a`` has."""
    from omegaconf import DictConfig

    key = override.key_or_group
    if "." not in key or override.is_add() or override.is_force_add() or key.startswith("hydra."):
        return
    *parents, last = key.split(".")
    node = config
    for part in parents:
        if not isinstance(node, DictConfig) or part not in node:
            return  # list indices and the like: Hydra's own message covers them
        node = node[part]
    if isinstance(node, DictConfig) and last not in node:
        parent = ".".join(parents)
        raise UserError(f"command line: {override.input_line!r}: unknown key {key!r}; allowed keys under "
                        f"{parent}: {', '.join(str(k) for k in node)}")


def _group_options(group: str, *roots) -> list[str]:
    """The options of a config group (``conf/<group>/`` or ``search_spaces/<group>/``), if it is one."""
    found = set()
    for root in roots:
        folder = root / group
        if folder.is_dir():
            found.update(p.stem for p in folder.glob("*.yaml"))
    return sorted(found)


def hydra_main(prog: str, config_name: str, task: Callable[[dict[str, Any]], Any], *,
               fix_memory: bool = True) -> None:
    """Run ``task`` on the composed config (as a plain dict) under ``@hydra.main``.

    The command line is checked first (see :func:`check_overrides`) unless it holds Hydra
    flags such as ``--help`` or ``--cfg``, which Hydra answers itself. A database password in
    it is swapped for a placeholder before Hydra reads it (:mod:`hardsearch.core.secrets`): Hydra
    echoes and writes the placeholder; ``task`` gets the password. A crash (an exception that is
    not a user error) prints its traceback and one line, passwords redacted, and exits 1.
    ``fix_memory=False`` leaves glibc's malloc as it comes (``hardsearch.latency`` times forwards
    with the allocator a deployed model runs with: a fixed mmap threshold maps and unmaps every
    large activation on every forward).
    """
    import hydra
    from omegaconf import DictConfig, OmegaConf

    from hardsearch.core.memory import fix_mmap_threshold

    if fix_memory:  # every tool builds and drops models: keep freed weights out of the RSS
        fix_mmap_threshold()
    register_search_path()
    args = run_user_errors(prog, lambda: hide_passwords(sys.argv[1:]))
    sys.argv[1:] = args  # what Hydra parses, echoes and saves, and W&B records
    if not any(a.startswith("-") for a in args):
        run_user_errors(prog, lambda: check_overrides(config_name, args))

    @hydra.main(config_path=str(CONF_DIR), config_name=config_name, version_base="1.3")
    def main(cfg: DictConfig) -> None:
        try:
            options = restore_passwords(OmegaConf.to_container(cfg, resolve=True))
            run_user_errors(prog, lambda: task(options))
        except Exception as exc:  # noqa: BLE001 - reported here, not by Hydra, which would echo the URL
            report_crash(prog, exc)

    main()


def report_crash(prog: str, exc: BaseException) -> None:
    """The traceback of an unexpected exception and a last line ``prog: error: crashed with …``,
    every password redacted (Hydra's own report quotes the command line); exits 1."""
    sys.stdout.flush()
    sys.stderr.write(redact("".join(traceback.format_exception(exc))))
    print(f"{prog}: error: crashed with {type(exc).__name__}: {redact(first_line(exc))}; the traceback "
          "above shows where", file=sys.stderr)
    raise SystemExit(1)
