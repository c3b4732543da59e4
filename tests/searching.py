"""Short searches on the real configs, composed with Hydra as the command line would (shared by tests)."""

from __future__ import annotations

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from hardsearch.app import run_search
from hardsearch.core.cli import register_search_path
from hardsearch.core.paths import CONF_DIR


def compose_search(*overrides: str) -> dict:
    register_search_path()
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("search", overrides=list(overrides))
    GlobalHydra.instance().clear()
    return OmegaConf.to_container(cfg, resolve=True)


def small(tmp_path, *overrides: str, space: str = "harmonic", trials: int = 6, logger: str = "none") -> dict:
    """A shrunk real config: a cheap proxy, a few trials, the study under tmp_path."""
    return compose_search(f"+space={space}", "proxy=naswot", f"budget.n_trials={trials}", f"logger={logger}",
                          f"dir={tmp_path / 'study'}", *overrides)


def run(options, lines=None):
    return run_search(options, out=(lines.append if lines is not None else lambda line: None))
