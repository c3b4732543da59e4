"""The model as ONNX: one writer shared by ``hardsearch.export format=onnx`` and ``hardsearch.latency
backend=onnxruntime``, so the graph a user deploys is the graph whose latency was measured."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import torch

from hardsearch.core.errors import UserError

__all__ = ["require_onnxruntime", "write_onnx"]


def require_onnxruntime(key: str) -> object:
    """The ``onnxruntime`` module, or a one-line :class:`UserError` naming ``key`` and the install."""
    try:
        import onnxruntime
    except ImportError:
        raise UserError(f"{key}: onnxruntime is not installed; allowed: pip install 'hardsearch[onnx]' "
                        "(onnx, onnxscript, onnxruntime)") from None
    return onnxruntime


def write_onnx(model: torch.nn.Module, example: torch.Tensor, path: str | Path) -> Path:
    """Export ``model`` (eval mode) traced on ``example`` to ``path``: input ``input`` with a dynamic
    batch, output ``logits``. torch.onnx's progress lines and deprecation warnings are silenced."""
    quiet = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._dynamo")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(model, (example,), dynamo=True, verbose=False,
                                        input_names=["input"], output_names=["logits"],
                                        dynamic_shapes=({0: torch.export.Dim("batch")},))
            program.save(str(path))
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)
    return Path(path)
