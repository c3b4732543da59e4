"""What a new user reads first: each tool's own --help, and ./dev.sh's usage."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hardsearch.core.paths import CONF_DIR, ROOT, SEARCH_SPACES_DIR

TOOLS = {
    "hardsearch": ["+space", "sampler", "proxy", "data", "storage", "budget", "constraints", "objectives",
                   "logger", "study", "seeds", "hardsearch.report", "hardsearch.export", "latency.profile"],
    "hardsearch.report": ["study", "dir", "storage", "report.md", "report.html", "archs/"],
    "hardsearch.export": ["study", "trial", "format", "weights", "out", "dir", "torchscript", "onnx"],
    "hardsearch.profile": ["arch", "input_size", "layers", "out", "latency.profile"],
    "hardsearch.latency": ["+space", "n", "input_size", "batch", "backend", "threads", "warmup", "repeats",
                           "out", "latency.profile=PATH", "objectives=[proxy,latency_model]"],
    "hardsearch.calibrate": ["+space", "data", "root", "train.*", "out"],
    "hardsearch.predictor": ["rows", "model", "proxies", "data", "out", "proxy=predictor"],
}


def _help(tool: str) -> str:
    result = subprocess.run([sys.executable, "-m", tool, "--help"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return result.stdout


def _groups(text: str) -> dict[str, list[str]]:
    """The ``group: a, b`` lines of the help's Groups section."""
    if "== Groups" not in text:
        return {}
    section = text.split("== Groups", 1)[1].split("\n", 1)[1].split("\n\n")[0].split("==")[0]
    return {line.split(":")[0]: line.split(": ", 1)[1].split(", ") for line in section.splitlines() if line}


def _options(group: str) -> list[str]:
    root = SEARCH_SPACES_DIR if group == "space" else CONF_DIR
    return sorted(p.stem for p in (root / group).glob("*.yaml"))


@pytest.mark.parametrize("tool", list(TOOLS))
def test_each_tool_has_its_own_help(tool):
    text = _help(tool)
    assert text.startswith(f"{tool}: ") and f"Usage: python -m {tool} " in text
    usage = text.split("== ")[0]
    for key in TOOLS[tool]:
        assert key in usage, key
    assert "Powered by Hydra" not in text and "== Config (defaults) ==" in text
    groups = _groups(text)
    assert "archs" not in groups  # search_spaces/archs/ holds seeds (arch=NAME), not a group to choose
    for group, options in groups.items():  # written out in conf/*.yaml: must match the folders
        assert options == _options(group), group


def test_search_help_lists_every_group_but_archs():
    groups = _groups(_help("hardsearch"))
    expected = {p.name for p in CONF_DIR.iterdir() if p.is_dir() and any(p.glob("*.yaml"))} | {"space"}
    assert set(groups) == expected and "archs:" not in _help("hardsearch")


def test_dev_sh_unknown_command_prints_only_the_usage():
    result = subprocess.run(["bash", str(ROOT / "dev.sh"), "tset"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    usage = [line[2:] for line in (ROOT / "dev.sh").read_text().splitlines()[1:6]]
    assert result.stdout.splitlines() == usage and usage[1].startswith("  ./dev.sh run")
    assert "set -euo" not in result.stdout
    assert result.stderr == "dev.sh: error: unknown command 'tset'; allowed: run, test, bench, setup, help\n"
