"""Load weights saved by another implementation (e.g. the published HarDNet checkpoints).

hardsearch's networks hold their tensors in the published execution order, so a state dict
maps onto them position by position even though the key names differ. Every pair is checked
for shape before anything is loaded.
"""

from __future__ import annotations

import pickle
from collections import OrderedDict
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from hardsearch.core.errors import UserError, first_line

__all__ = ["CheckpointError", "map_state_dict", "load_in_order"]

_COUNTER = "num_batches_tracked"  # absent from checkpoints saved before PyTorch 0.4.1


class CheckpointError(UserError):
    """A state dict that does not map onto the model tensor by tensor."""


def map_state_dict(source: Mapping[str, torch.Tensor], model: nn.Module) -> OrderedDict:
    """Rename ``source``'s tensors, in order, to ``model``'s state-dict keys.

    Batch-norm ``num_batches_tracked`` counters are matched only if both sides have them
    all; otherwise the model keeps its own. Raises :class:`CheckpointError` on a count or
    shape mismatch, naming both tensors.
    """
    target = model.state_dict()
    src = list(source.items())
    dst = list(target.items())
    if sum(k.endswith(_COUNTER) for k, _ in src) != sum(k.endswith(_COUNTER) for k, _ in dst):
        src = [(k, v) for k, v in src if not k.endswith(_COUNTER)]
        dst = [(k, v) for k, v in dst if not k.endswith(_COUNTER)]
    if len(src) != len(dst):
        raise CheckpointError(
            f"checkpoint: {len(src)} tensors, but the model has {len(dst)}; allowed: a state dict "
            "of the same architecture")
    mapped = OrderedDict(target)
    for i, ((skey, sval), (tkey, tval)) in enumerate(zip(src, dst, strict=True)):
        if tuple(sval.shape) != tuple(tval.shape):
            raise CheckpointError(
                f"checkpoint: tensor #{i} {skey!r} has shape {tuple(sval.shape)}, but the model's "
                f"{tkey!r} has {tuple(tval.shape)}; allowed: a state dict of the same architecture")
        mapped[tkey] = sval
    return mapped


def load_in_order(model: nn.Module, checkpoint: str | Path | Mapping[str, torch.Tensor]) -> nn.Module:
    """Load a checkpoint file (or a state dict) into ``model`` by tensor order; returns ``model``."""
    if isinstance(checkpoint, (str, Path)):
        try:
            state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
            raise CheckpointError(f"{checkpoint}: cannot be loaded as a PyTorch checkpoint "
                                  f"({first_line(exc)}); allowed: a file saved by torch.save") from None
        if isinstance(state, Mapping) and "state_dict" in state:
            state = state["state_dict"]
    else:
        state = checkpoint
    model.load_state_dict(map_state_dict(state, model))
    return model
