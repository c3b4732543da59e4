"""The package's layering is enforced by import-linter (the contracts in pyproject.toml).

The real tree keeps both contracts; a copy of it with one upward import, or with one import
cycle, breaks them: the checks bite.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hardsearch.core.paths import ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the package under ``root`` (which comes first on the import path)."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)


def copy_tree(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "hardsearch", tmp_path / "hardsearch",
                    ignore=shutil.ignore_patterns("__pycache__", "*.npz"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def add_import(module: Path, line: str) -> None:
    text = module.read_text()
    anchor = "from __future__ import annotations\n"
    assert anchor in text
    module.write_text(text.replace(anchor, anchor + "\n" + line + "\n", 1))


def test_the_tree_keeps_its_contracts():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize("module,line,contract,named", [
    # the cost model (arch) reaching up into the report
    ("arch/costs.py", "from hardsearch.report.pareto import ParetoReport  # noqa: F401",
     "hardsearch's layers", "hardsearch.arch.costs -> hardsearch.report.pareto"),
    # the study layer reaching up into the search
    ("study/front.py", "import hardsearch.search.worker  # noqa: F401",
     "hardsearch's layers", "hardsearch.study.front -> hardsearch.search.worker"),
    # an import hidden inside a function counts too
    ("accuracy/stats.py", "def _sneaky():\n    from hardsearch.app import run_search  # noqa: F401",
     "hardsearch's layers", "hardsearch.accuracy.stats -> hardsearch.app"),
])
def test_an_upward_import_breaks_the_layers(tmp_path, module, line, contract, named):
    root = copy_tree(tmp_path)
    add_import(root / "hardsearch" / module, line)
    result = lint_imports(root)
    assert result.returncode != 0
    assert f"{contract}" in result.stdout and "BROKEN" in result.stdout, result.stdout
    assert named in result.stdout, result.stdout


def test_a_cycle_between_modules_breaks_the_acyclic_contract(tmp_path):
    root = copy_tree(tmp_path)
    # hardsearch.arch.space imports hardsearch.arch.config; the reverse closes a loop
    add_import(root / "hardsearch" / "arch" / "config.py", "import hardsearch.arch.space  # noqa: F401")
    result = lint_imports(root)
    assert result.returncode != 0
    assert "no import cycles between the modules of any package BROKEN" in result.stdout, result.stdout
    assert "No cycles are allowed in hardsearch.arch." in result.stdout
    assert ".config -> .space" in result.stdout


def test_a_module_outside_every_layer_is_refused(tmp_path):
    root = copy_tree(tmp_path)
    (root / "hardsearch" / "helpers.py").write_text('"""A module that belongs to no layer."""\n')
    result = lint_imports(root)
    assert result.returncode != 0
    assert "hardsearch.helpers" in result.stdout + result.stderr
