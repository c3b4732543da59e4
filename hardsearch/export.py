"""Export trials as architecture YAML files that build the same model again.

``python -m hardsearch.export study=NAME trial=N [out=PATH]`` writes one trial; every search
also writes its Pareto members to ``results/<study>/archs/``. A file has the seed files'
schema plus a ``metadata`` block: the study, the trial, its objectives, its costs at the
space's input size, and the architecture's content hash. ``build_model`` builds it,
``hardsearch.profile`` profiles it, and a search takes it back as a seed (``seeds=[PATH]``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from hardsearch.arch import ArchConfig, arch_from_dict, save_arch
from hardsearch.errors import UserError
from hardsearch.paths import RESULTS_DIR

__all__ = ["trial_arch", "export_trial", "export_front", "load_study", "export"]

COST_KEYS = ("params", "macs", "cio", "peak_activations", "latency")


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


def export_front(front: Sequence[FrozenTrial], folder: Path, *, study: str, objectives: Sequence[str],
                 input_size: Sequence[int]) -> dict[int, str]:
    """Every front member as ``folder/trial<N>_<name>.yaml``; returns trial number -> ``archs/…`` path."""
    out = {}
    for trial in front:
        if not trial.user_attrs.get("arch"):
            continue  # a trial added by hand (Study.add_trial) has no architecture to export
        arch = trial_arch(trial, study=study, objectives=objectives, input_size=input_size)
        path = save_arch(arch, folder / f"trial{trial.number:04d}_{arch.name}.yaml")
        out[trial.number] = f"{folder.name}/{path.name}"  # relative to the study's folder
    return out


def load_study(options: Mapping[str, Any]) -> tuple[optuna.Study, Path]:
    """The study named by ``options`` (``study``, ``dir``, ``storage``), with its folder."""
    from hardsearch.search import create_storage

    name = options.get("study")
    if not isinstance(name, str) or not name:
        raise UserError("study: missing; allowed: the name of a study (study=NAME), e.g. harmonic")
    folder = Path(options["dir"]) if options.get("dir") else RESULTS_DIR / name
    storage_options = dict(options.get("storage") or {"kind": "sqlite", "url": None})
    if storage_options.get("kind") == "sqlite" and not storage_options.get("url") \
            and not (folder / "study.db").is_file():
        raise UserError(f"study {name}: {folder / 'study.db'} not found; allowed: a study that a search "
                        "wrote there, or storage.url=URL / dir=DIR")
    storage = create_storage(storage_options, folder)
    names = optuna.get_all_study_names(storage)
    if name not in names:
        raise UserError(f"study: got {name!r}; allowed: {', '.join(names) or '(none in this storage)'}")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna.load_study(study_name=name, storage=storage), folder


def export(options: Mapping[str, Any]) -> Path:
    """The command: export trial ``trial`` of ``study`` to ``out`` (default the study's archs/)."""
    study, folder = load_study(options)
    number = options.get("trial")
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    if isinstance(number, bool) or not isinstance(number, int) or number not in trials:
        raise UserError(f"trial: got {number!r}; allowed: a trial number of study {study.study_name} "
                        f"(0..{max(trials) if trials else -1})")
    trial = trials[number]
    objectives = study.user_attrs.get("hardsearch.objectives") or study.metric_names or []
    input_size = study.user_attrs.get("hardsearch.input_size", [224, 224])
    out = options.get("out") or folder / "archs" / f"trial{number:04d}.yaml"
    path = export_trial(trial, out, study=study.study_name, objectives=objectives, input_size=input_size)
    state = "" if trial.state == TrialState.COMPLETE else f" (a {trial.state.name.lower()} trial)"
    print(f"wrote {path}{state}")
    return path


def main() -> None:
    from hardsearch.cli import hydra_main

    hydra_main("hardsearch.export", "export", export)


if __name__ == "__main__":
    main()
