"""Traced (measured) counts of a built model, the ground truth the analytic cost model is held to.

These run the model, so they are slow; :mod:`hardsearch.arch.costs` is what the search uses. They
work on any ``torch.nn.Module`` that takes one image batch.
"""

from __future__ import annotations

import warnings
import weakref
from collections import Counter
from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["count_params", "trace_macs", "trace_cio", "trace_concat", "trace_convs", "trace_weights",
           "measure_peak_activations"]


def _image(input_size: tuple[int, int], channels: int = 3) -> torch.Tensor:
    return torch.randn(1, channels, *input_size)


@contextmanager
def _inference(model: nn.Module) -> Iterator[None]:
    """Eval mode without autograd; the model's own mode is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def trace_macs(model: nn.Module, input_size: tuple[int, int]) -> dict[str, int]:
    """fvcore's JIT-traced flop counts by operator (one fused multiply-add = 1), batch 1.

    Returns ``{"conv": …, "linear": …, "total": …}`` where ``total`` is fvcore's total
    (batch norm and pooling included) and ``"macs"`` is conv + linear, the hardsearch convention.
    """
    with warnings.catch_warnings():  # fvcore touches torch.jit.script, deprecated in torch 2.13
        warnings.simplefilter("ignore", DeprecationWarning)
        from fvcore.nn import FlopCountAnalysis

    with _inference(model), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        analysis = FlopCountAnalysis(model, _image(input_size))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        by_op = Counter(analysis.by_operator())
        total = analysis.total()
    return {"conv": by_op["conv"], "linear": by_op["linear"],
            "macs": by_op["conv"] + by_op["linear"], "total": total}


def _hooked_forward(model: nn.Module, kinds: tuple[type[nn.Module], ...], hook: Callable[..., None],
                    input_size: tuple[int, int]) -> None:
    """One inference forward with ``hook`` on every module of one of ``kinds``."""
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, kinds)]
    try:
        with _inference(model):
            model(_image(input_size))
    finally:
        for h in handles:
            h.remove()


def trace_cio(model: nn.Module, input_size: tuple[int, int]) -> int:
    """Σ over every ``nn.Conv2d`` call of input plus output elements, from forward hooks."""
    total = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        total += inputs[0].numel() + output.numel()

    _hooked_forward(model, (nn.Conv2d,), hook, input_size)
    return total


def trace_convs(model: nn.Module, input_size: tuple[int, int]) -> int:
    """Number of ``nn.Conv2d`` calls in one forward (depthwise and pointwise each count)."""
    calls = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal calls
        calls += 1

    _hooked_forward(model, (nn.Conv2d,), hook, input_size)
    return calls


def trace_weights(model: nn.Module, input_size: tuple[int, int]) -> int:
    """Weight elements read: Σ over every ``nn.Conv2d`` and ``nn.Linear`` call of its own
    parameters' elements (kernel and any bias; batch norm is not counted)."""
    total = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        total += sum(p.numel() for p in module.parameters(recurse=False))

    _hooked_forward(model, (nn.Conv2d, nn.Linear), hook, input_size)
    return total


class _Concatenations(TorchDispatchMode):
    """Sums, over every ``aten.cat`` dispatched, its inputs' elements plus its output's."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func.overloadpacket is torch.ops.aten.cat:  # cat.default, and .out or .names if ever used
            tensors = args[0] if args else kwargs["tensors"]
            self.total += sum(t.numel() for t in tensors) + out.numel()
        return out


def trace_concat(model: nn.Module, input_size: tuple[int, int]) -> int:
    """Elements read and written by every concatenation of one inference forward at batch 1:
    for each ``torch.cat``, its inputs' elements plus its output's, caught at dispatch."""
    image = _image(input_size)
    mode = _Concatenations()
    with _inference(model), mode:
        model(image)
    return mode.total


class _LiveActivations(TorchDispatchMode):
    """Tracks every floating tensor that an operator returns and the peak of live elements.

    A storage is counted once however many views of it are alive; storages of parameters
    and buffers are not activations and are skipped. The peak is read right after each
    operator returns, when its inputs and its output are both still held.
    """

    def __init__(self, exclude: set[int]) -> None:
        super().__init__()
        self.exclude = exclude
        self.live: dict[int, tuple[weakref.ref, int, int]] = {}  # id -> (ref, storage, numel)
        self.peak = 0

    def track(self, t: torch.Tensor) -> None:
        if not t.is_floating_point():
            return
        ptr = t.untyped_storage().data_ptr()
        if ptr in self.exclude:
            return
        self.live[id(t)] = (weakref.ref(t), ptr, t.untyped_storage().nbytes() // t.element_size())

    def snapshot(self) -> None:
        storages: dict[int, int] = {}
        dead = []
        for key, (ref, ptr, numel) in self.live.items():
            if ref() is None:
                dead.append(key)
            else:
                storages[ptr] = numel
        for key in dead:
            del self.live[key]
        self.peak = max(self.peak, sum(storages.values()))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.track(t)
        self.snapshot()
        return out


def measure_peak_activations(model: nn.Module, input_size: tuple[int, int]) -> int:
    """Most activation elements alive at once in an inference forward at batch 1.

    Batch norms are replaced by identities (folded into their convolutions, as inference
    engines do) on a copy of the model, so every operator allocates exactly its output.
    """
    import copy

    folded = copy.deepcopy(model).eval()
    for module in list(folded.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(module, child_name, nn.Identity())
    exclude = {t.untyped_storage().data_ptr() for t in (*folded.parameters(), *folded.buffers())}
    image = _image(input_size)
    mode = _LiveActivations(exclude)
    with torch.inference_mode(), mode:
        mode.track(image)
        folded(image)
    return mode.peak
