"""A Hydra search-path plugin: hardsearch's ``search_spaces/`` next to its ``conf/``."""

from __future__ import annotations

from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

from hardsearch.core.paths import CONF_DIR, SEARCH_SPACES_DIR


class SpacesSearchPath(SearchPathPlugin):
    """Appends ``search_spaces/`` when the search path holds hardsearch's ``conf/`` (only then)."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        ours = CONF_DIR.resolve()
        if any(_local(element.path) == ours for element in search_path.get_path()):
            search_path.append(provider="hardsearch", path=f"file://{SEARCH_SPACES_DIR.resolve()}")


def _local(path: str | None) -> Path | None:
    """The folder of a ``file://`` (or bare) search-path entry; None for pkg:// and the like."""
    if not path or ("://" in path and not path.startswith("file://")):
        return None
    return Path(path.removeprefix("file://")).resolve()
