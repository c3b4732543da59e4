"""Export trials as architecture YAML files that build the same model again.

``python -m hardsearch.export study=NAME trial=N [out=PATH]`` writes one trial; every search
also writes its Pareto members to ``results/<study>/archs/``. A file has the seed files'
schema plus a ``metadata`` block: the study, the trial, its objectives, its costs at the
space's input size, and the architecture's content hash. ``build_model`` builds it,
``hardsearch.profile`` profiles it, and a search takes it back as a seed (``seeds=[PATH]``).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import yaml
from optuna.trial import FrozenTrial, TrialState

from hardsearch.arch.checkpoint import load_in_order
from hardsearch.arch.config import ArchConfig, arch_from_dict, save_arch
from hardsearch.arch.model import build_model
from hardsearch.arch.onnx import require_onnxruntime, write_onnx
from hardsearch.core.cli import hydra_main
from hardsearch.core.errors import UserError
from hardsearch.core.files import atomic_path
from hardsearch.study.storage import load_study, read_trials

__all__ = ["trial_arch", "export_trial", "export_front", "export", "export_model", "FORMATS"]

#: What ``format=`` may be: the architecture YAML, or the model itself for deployment.
FORMATS = {"yaml": ".yaml", "torchscript": ".pt", "onnx": ".onnx"}

COST_KEYS = ("params", "macs", "cio", "peak_activations", "latency", "latency_model")


def trial_arch(trial: FrozenTrial, *, study: str, objectives: Sequence[str],
               input_size: Sequence[int]) -> ArchConfig:
    """The trial's architecture with its metadata block."""
    data = trial.user_attrs.get("arch")
    if not data:
        raise UserError(f"study {study}: trial {trial.number}: no architecture recorded (state "
                        f"{trial.state.name.lower()}); allowed: a trial that got past decoding")
    arch = arch_from_dict(data, source=f"study {study} trial {trial.number}")
    metadata: dict[str, Any] = {
        "study": study, "trial": trial.number, "state": trial.state.name.lower(),
        "input_size": list(input_size),
        "costs": {k: trial.user_attrs[k] for k in COST_KEYS if k in trial.user_attrs},
        "digest": trial.user_attrs.get("digest"),
    }
    if trial.values is not None:
        metadata["objectives"] = dict(zip(objectives, trial.values, strict=True))
    if trial.user_attrs.get("seed"):
        metadata["seed"] = trial.user_attrs["seed"]
    return replace(arch, metadata=metadata)


def export_trial(trial: FrozenTrial, path: str | Path, *, study: str, objectives: Sequence[str],
                 input_size: Sequence[int]) -> Path:
    """Write the trial's architecture YAML to ``path`` (atomically)."""
    return save_arch(trial_arch(trial, study=study, objectives=objectives, input_size=input_size), path)


#: The names :func:`export_front` gives its files (``python -m hardsearch.export`` writes ``trial<N>.yaml``).
FRONT_FILE = re.compile(r"trial(\d{4,})_.+\.yaml")


def export_front(front: Sequence[FrozenTrial], folder: Path, *, study: str, objectives: Sequence[str],
                 input_size: Sequence[int]) -> dict[int, str]:
    """Every front member as ``folder/trial<N>_<name>.yaml``; returns trial number -> ``archs/…`` path.

    Files an earlier export of the front wrote for trials no longer on it (after a resume) are
    removed: only names of that pattern whose ``metadata`` names this study and that trial, so
    other files in ``folder`` (yours, and ``python -m hardsearch.export``'s) stay.
    """
    out = {}
    for trial in front:
        if not trial.user_attrs.get("arch"):
            continue  # a trial added by hand (Study.add_trial) has no architecture to export
        arch = trial_arch(trial, study=study, objectives=objectives, input_size=input_size)
        path = save_arch(arch, folder / f"trial{trial.number:04d}_{arch.name}.yaml")
        out[trial.number] = f"{folder.name}/{path.name}"  # relative to the study's folder
    written = {Path(name).name for name in out.values()}
    for path in sorted(folder.glob("trial*_*.yaml")) if folder.is_dir() else []:
        match = FRONT_FILE.fullmatch(path.name)
        if match and path.name not in written and _exported_by_us(path, study, int(match.group(1))):
            path.unlink(missing_ok=True)
    return out


def _exported_by_us(path: Path, study: str, number: int) -> bool:
    """Whether ``path`` is the exported architecture of trial ``number`` of ``study``, by its metadata."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    metadata = data.get("metadata") if isinstance(data, dict) else None
    return isinstance(metadata, dict) and metadata.get("study") == study and metadata.get("trial") == number


def export_model(arch: ArchConfig, path: str | Path, *, fmt: str, input_size: Sequence[int],
                 weights: str | Path | None = None, seed: int = 0) -> tuple[Path, float]:
    """Write the model as TorchScript or ONNX and check it against PyTorch's output.

    The weights are ``weights`` (a checkpoint mapped in order, see hardsearch.arch.checkpoint) or a
    seeded initialisation. Returns the path and the largest absolute difference between the
    exported model's logits and PyTorch's on a random batch of two at ``input_size``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(arch).eval()
        if weights is not None:
            load_in_order(model, weights)
        example = torch.randn(1, 3, *input_size)
        check = torch.randn(2, 3, *input_size)
    with torch.no_grad():
        expected = model(check).numpy()
    with atomic_path(path) as tmp:
        if fmt == "torchscript":
            with torch.no_grad():
                torch.jit.trace(model, example).save(str(tmp))
            with torch.no_grad():
                got = torch.jit.load(str(tmp))(check).numpy()
        elif fmt == "onnx":
            onnxruntime = require_onnxruntime("format=onnx")
            write_onnx(model, example, tmp)
            session = onnxruntime.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
            got = session.run(None, {"input": check.numpy()})[0]
        else:
            raise UserError(f"format: got {fmt!r}; allowed: {', '.join(FORMATS)}")
    return path, float(np.abs(got - expected).max())


def export(options: Mapping[str, Any]) -> Path:
    """The command: export trial ``trial`` of ``study`` to ``out`` (default the study's archs/)."""
    study, folder = load_study(options)
    number = options.get("trial")
    trials = {t.number: t for t in read_trials(study)}  # read whole, or one line naming the fault
    if isinstance(number, bool) or not isinstance(number, int) or number not in trials:
        raise UserError(f"trial: got {number!r}; allowed: a trial number of study {study.study_name} "
                        f"(0..{max(trials) if trials else -1})")
    trial = trials[number]
    objectives = study.user_attrs.get("hardsearch.objectives") or study.metric_names or []
    input_size = study.user_attrs.get("hardsearch.input_size", [224, 224])
    fmt = options.get("format") or "yaml"
    if fmt not in FORMATS:
        raise UserError(f"format: got {fmt!r}; allowed: {', '.join(FORMATS)}")
    out = options.get("out") or folder / "archs" / f"trial{number:04d}{FORMATS[fmt]}"
    state = "" if trial.state == TrialState.COMPLETE else f" (a {trial.state.name.lower()} trial)"
    if fmt == "yaml":
        path = export_trial(trial, out, study=study.study_name, objectives=objectives, input_size=input_size)
        print(f"wrote {path}{state}")
        return path
    arch = trial_arch(trial, study=study.study_name, objectives=objectives, input_size=input_size)
    path, error = export_model(arch, out, fmt=fmt, input_size=input_size, weights=options.get("weights"))
    print(f"wrote {path}{state}: {fmt} of {arch.name} at {input_size[0]}x{input_size[1]}; checked against "
          f"PyTorch on a batch of 2: max |difference| {error:.2e}")
    if error > 1e-3:
        raise UserError(f"format={fmt}: the exported model's output differs from PyTorch's by {error:.2e}; "
                        "allowed: at most 1e-3")
    return path


def main() -> None:
    hydra_main("hardsearch.export", "export", export)


if __name__ == "__main__":
    main()
