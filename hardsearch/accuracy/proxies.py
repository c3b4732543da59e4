"""Zero-cost accuracy proxies: a score from one batch and an untrained network (REFERENCE.md §4).

Every proxy is ``fn(model, inputs, targets) -> float`` in a registry, and **higher is better** for
all of them. They work on any ``torch.nn.Module`` classifier that maps an input batch to logits
(hardsearch networks, plain CNNs, MLPs); :func:`score_proxy` runs one on a private copy, so the
caller's model is left untouched, with torch's RNG seeded locally. Unless said otherwise the
*scored layers* are the weights (not the biases) of every ``nn.Conv2d`` and ``nn.Linear``, and a
score is a sum over all their elements.

* ``naswot`` — Mellor et al., "Neural Architecture Search without Training", ICML 2021; follows
  BayesWatch/nas-without-training. log|det K| of the kernel of binary activation codes.
* ``synflow`` — Tanaka et al., "Pruning neural networks without any data by iteratively conserving
  synaptic flow", NeurIPS 2020, as used by Abdelfattah et al., "Zero-Cost Proxies for Lightweight
  NAS", ICLR 2021; follows SamsungLabs/zero-cost-nas (``measures/synflow.py``). Returned as a
  natural log.
* ``snip`` — Lee et al., ICLR 2019; ``grad_norm`` and ``jacob_cov`` — Abdelfattah et al. 2021 (the
  latter after Mellor et al.'s first version); all three follow SamsungLabs/zero-cost-nas.
* ``zen`` — Lin et al., "Zen-NAS: A Zero-Shot NAS for High-Performance Image Recognition",
  ICCV 2021; follows idstcv/ZenNAS (``ZeroShotProxy/compute_zen_score.py``, as called by
  ``evolution_search.py``).
* ``zico`` — Li et al., "ZiCo: Zero-shot NAS via Inverse Coefficient of Variation on Gradients",
  ICLR 2023; follows SLDGroup/ZiCo (``ZiCo.py``). Shown on macro CNN spaces (ImageNet MobileNet-
  and ResNet-like spaces, TransNAS-Bench-101-Macro).
* ``meco`` — Jiang et al., "MeCo: Zero-Shot NAS with One Data and Single Forward Pass via Minimum
  Eigenvalue of Correlation", NeurIPS 2023; follows HamsterMimi/MeCo (``meco.py``).
* ``nn_mass`` — Bhardwaj et al., "How does topology influence gradient propagation and model
  performance of deep networks with DenseNet-type skip connections?", CVPR 2021: designed for
  concatenation networks; computed in closed form from the harmonic blocks' plans
  (:func:`hardsearch.arch.harmonic.nn_mass`), with no data and no weights.
* ``params`` and ``macs`` — the baselines every proxy has to beat: parameter count, and the
  multiply-accumulates of Conv2d and Linear layers for one sample (hardsearch's MAC convention).

Deviations from the published code are listed in each proxy's docstring.
"""

from __future__ import annotations

import copy
import math
from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from hardsearch.arch.harmonic import BlockPlan, nn_mass

__all__ = ["ZERO_COST", "TOPOLOGY", "BASELINES", "PROXY_NAMES", "ACTIVATIONS", "ProxyError", "register_proxy",
           "proxy_names", "score_proxy"]

ZERO_COST: tuple[str, ...] = ("naswot", "synflow", "snip", "grad_norm", "jacob_cov", "zen", "zico", "meco")
TOPOLOGY: tuple[str, ...] = ("nn_mass",)  # from the network's structure alone: no data, no weights
BASELINES: tuple[str, ...] = ("params", "macs")
PROXY_NAMES: tuple[str, ...] = ZERO_COST + TOPOLOGY + BASELINES

#: Activation modules that naswot hooks and synflow linearises. A superset of what Mellor et al.'s
#: ``'ReLU' in str(type(module))`` finds; activations called as functions are not seen.
ACTIVATIONS: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.CELU, nn.SELU,
    nn.GELU, nn.SiLU, nn.Mish, nn.Hardswish,
)
_BATCH_NORMS = (nn.modules.batchnorm._BatchNorm,)
_GLOBAL_POOLS = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
_ZEN_MIXUP = 1e-2  # α, Zen-NAS's mixup_gamma
_ZEN_MOMENTUM = 0.1  # PyTorch's default BN momentum, which Zen-NAS's networks keep
_JACOB_EPS = 1e-5

ProxyFn = Callable[[nn.Module, Tensor, Tensor], float]
_REGISTRY: dict[str, ProxyFn] = {}


class ProxyError(ValueError):
    """A proxy gave no finite score for this network (the search records a failed trial)."""


def register_proxy(name: str) -> Callable[[ProxyFn], ProxyFn]:
    """Decorator adding ``fn(model, inputs, targets) -> float`` to the registry under ``name``.

    The function gets a private copy of the model (it may change it freely) inside a seeded RNG.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name: got {name!r}; allowed: a non-empty string")
    if name in _REGISTRY:
        raise ValueError(f"name: proxy {name!r} is already registered; allowed: a new name")

    def decorate(fn: ProxyFn) -> ProxyFn:
        _REGISTRY[name] = fn
        return fn

    return decorate


def proxy_names() -> tuple[str, ...]:
    """Every registered proxy, in registration order (:data:`PROXY_NAMES` first)."""
    return tuple(_REGISTRY)


def score_proxy(name: str, model: nn.Module, inputs: Tensor, targets: Tensor, *, seed: int = 0,
                copy_model: bool = True) -> float:
    """Score ``model`` with proxy ``name`` on one batch; higher is better.

    ``inputs`` is a float batch of at least 2 samples, ``targets`` its class indices. The model
    is not changed (the proxy runs on a deep copy) and torch's global RNG state is restored; the
    same seed and batch give the same float. Raises :class:`ProxyError` when the score is not finite.
    ``copy_model=False`` scores the model itself, which is used up (changed, and with the gradient
    proxies its weights freed): for a caller that built the model and discards it afterwards, it
    saves a copy of every weight (the same score).
    """
    fn = _REGISTRY.get(name) if isinstance(name, str) else None
    if fn is None:
        raise ValueError(f"name: unknown proxy {name!r}; allowed: {', '.join(_REGISTRY)}")
    _check_arguments(model, inputs, targets, seed)
    work = _private_copy(model) if copy_model else _ready(model)
    with _seeded(seed, inputs.device):
        value = float(fn(work, inputs.detach().clone(), targets.detach().clone()))
    if not math.isfinite(value):
        raise ProxyError(f"{name}: the score is {value}, not a finite number")
    return value


def _check_arguments(model: object, inputs: object, targets: object, seed: object) -> None:
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: got {type(model).__name__}; allowed: a torch.nn.Module")
    if not isinstance(inputs, Tensor) or not inputs.is_floating_point() or inputs.dim() < 2 \
            or inputs.shape[0] < 2:
        got = tuple(inputs.shape) if isinstance(inputs, Tensor) else type(inputs).__name__
        raise ValueError(f"inputs: got {got}; allowed: a floating-point tensor (batch, ...) "
                         "with a batch of at least 2 samples")
    if not isinstance(targets, Tensor) or targets.is_floating_point() or targets.is_complex() \
            or tuple(targets.shape) != (inputs.shape[0],):
        got = tuple(targets.shape) if isinstance(targets, Tensor) else type(targets).__name__
        raise ValueError(f"targets: got {got}; allowed: an integer tensor of shape "
                         f"({inputs.shape[0]},), one class index per sample")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ValueError(f"seed: got {seed!r}; allowed: an integer in [0, 2**63)")


def _private_copy(model: nn.Module) -> nn.Module:
    """A deep copy with every parameter trainable and no gradients, as the published code's copies."""
    return _ready(copy.deepcopy(model))


def _ready(work: nn.Module) -> nn.Module:
    work.requires_grad_(True)
    work.zero_grad(set_to_none=True)
    return work


@contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed the CPU generator (and ``device``'s, if CUDA) and restore every state afterwards."""
    cuda = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.default_generator.manual_seed(seed)
        for index in cuda:
            torch.cuda.default_generators[index].manual_seed(seed)
        yield


@contextmanager
def _removing(handles: list[RemovableHandle]) -> Iterator[None]:
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _scored_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def _replace_modules(model: nn.Module, types: tuple[type[nn.Module], ...]) -> None:
    """Swap every submodule of one of ``types`` for ``nn.Identity`` (in place)."""
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, types):
                setattr(module, child_name, nn.Identity())


def _cross_entropy_backward(model: nn.Module, inputs: Tensor, targets: Tensor) -> None:
    model.train()
    with torch.enable_grad():
        F.cross_entropy(model(inputs), targets).backward()


# --------------------------------------------------------------------------------------- naswot

@register_proxy("naswot")
def _naswot(model: nn.Module, inputs: Tensor, targets: Tensor) -> float:
    """log|det K|, K = Σ over activation modules of c·cᵀ + (1−c)·(1−c)ᵀ, c = (input > 0) per sample.

    Train mode, one batch, every module in :data:`ACTIVATIONS` hooked before it runs (an in-place
    activation overwrites its input). Deviations from Mellor et al.'s code, none changing the
    value: one forward instead of a forward-backward then a forward (the codes are the same in
    train mode), K counted exactly, and a singular K (log|det K| = −inf) raises ProxyError.
    """
    acts = [m for m in model.modules() if isinstance(m, ACTIVATIONS)]
    if not acts:
        raise ProxyError("naswot: the model has no activation module to hook "
                         f"({', '.join(t.__name__ for t in ACTIVATIONS)})")
    batch = inputs.shape[0]
    kernel = torch.zeros(batch, batch, dtype=torch.float64, device=inputs.device)

    def record(module: nn.Module, args: tuple) -> None:
        codes = args[0].detach().reshape(batch, -1) > 0
        # Sums of ±1 are exact integers in float32 below 2**24 units.
        signs = codes.to(torch.float32 if codes.shape[1] < 2**24 else torch.float64) * 2 - 1
        # c·cᵀ + (1−c)·(1−c)ᵀ = units − Hamming distance = (units + s·sᵀ) / 2 with s = 2c − 1
        kernel.add_((signs @ signs.T).to(torch.float64).add_(codes.shape[1]).div_(2))

    model.train()
    with _removing([m.register_forward_pre_hook(record) for m in acts]), torch.no_grad():
        model(inputs)
    _, logdet = torch.linalg.slogdet(kernel)
    if not math.isfinite(logdet.item()):
        raise ProxyError("naswot: the activation-code kernel K is singular (two samples share every "
                         "code), log|det K| = -inf")
    return logdet.item()


# -------------------------------------------------------------------------------------- synflow

@register_proxy("synflow")
def _synflow(model: nn.Module, inputs: Tensor, targets: Tensor) -> float:
    """log Σ |θ ⊙ ∂R/∂θ|, R = Σ output of the linearised network for one all-ones input (float64).

    Linearised as Abdelfattah et al.'s ``bn=False`` copy: batch norm replaced by ``nn.Identity``
    and every parameter by its absolute value. Deviations: (1) eval mode (their copy is in train
    mode; the same for their dropout-free networks, deterministic for ours); (2) every module in
    :data:`ACTIVATIONS` is replaced by ``nn.Identity`` too. On the all-positive forward of
    synflow ReLU, LeakyReLU, PReLU, RReLU, ELU and CELU are the identity already, so nothing
    changes for them; but ReLU6 clips at 6, which saturates every unit of a HarDNet so that only
    the classifier gets a gradient (1 of 85 scored layers on hardnet85, ≈ 1e3 on every seed),
    and GELU, SiLU, Mish, Hardswish and SELU are not positively homogeneous. Linearised, synflow
    stays the path norm Tanaka et al. define. (3) The score is returned as a natural log; when
    R or the gradients overflow float64 they are recomputed rescaled (:func:`_synflow_log`).
    """
    _linearise(model)
    ones = torch.ones(1, *inputs.shape[1:], dtype=torch.float64, device=inputs.device)
    score = _synflow_log(model, ones, rescale=False)
    if not math.isfinite(score):
        model.zero_grad(set_to_none=True)
        score = _synflow_log(model, ones, rescale=True)
    if not math.isfinite(score):
        raise ProxyError(f"synflow: log score is {score} even rescaled at the model's sequential cut "
                         "points (overflow inside a non-sequential module, or no gradient reaches "
                         "a Conv2d/Linear weight)")
    return score


def _linearise(model: nn.Module) -> None:
    model.eval()
    model.double()
    _replace_modules(model, _BATCH_NORMS + ACTIVATIONS)
    with torch.no_grad():
        for p in model.parameters():
            p.abs_()


def _synflow_log(model: nn.Module, ones: Tensor, *, rescale: bool) -> float:
    """Natural log of Σ |θ ⊙ ∂R/∂θ| of a linearised model, optionally computed rescaled.

    Rescaled: the output of every *cut point* (each child of a plain ``nn.Sequential``, from the
    root down; every path of the forward goes through it) is divided by the power of two nearest
    above its peak, and each bias by the product of the divisors applied so far. A linearised
    network (no biases, or biases scaled so) is positively homogeneous in the tensor at a cut
    point, so every later tensor, R and every ∂R/∂θ are the unscaled ones divided by the running
    product D of divisors, while θ itself is unchanged: log score = log(rescaled score) + log D.
    Powers of two keep the floating-point arithmetic exact, so the result equals the direct one
    wherever that does not overflow; a custom container's internals are not rescaled.
    """
    state = {"exponent": 0}  # log2 of the running product of divisors
    handles: list[RemovableHandle] = []
    if rescale:
        handles += [m.register_forward_hook(_cut_hook(state)) for m in _sequential_cuts(model)]
        for m in model.modules():
            if isinstance(getattr(m, "bias", None), nn.Parameter):
                handles.append(m.register_forward_pre_hook(_bias_hook(state, m.bias.detach().clone())))
    # Each layer's Σ|θ ⊙ ∂R/∂θ| is taken as soon as its gradient is ready and the gradient freed,
    # so float64 gradients of the whole network never sit beside its float64 weights.
    layers = _scored_layers(model)
    sums: dict[int, float] = {}
    users: dict[int, list[int]] = {}  # a weight shared by layers counts once per layer, as before
    for i, layer in enumerate(layers):
        users.setdefault(id(layer.weight), []).append(i)

    def take(weight: Tensor) -> None:
        grad = weight.grad  # overwritten in place: no temporaries the size of the layer
        part = float(grad.mul_(weight.detach()).abs_().sum())
        for i in users[id(weight)]:
            sums[i] = part
        weight.grad = None

    handles += [layers[i[0]].weight.register_post_accumulate_grad_hook(take) for i in users.values()]
    with _removing(handles), torch.enable_grad():
        total = model(ones).sum()
        if not torch.isfinite(total):
            return float(total.detach())  # inf (overflow) or nan
        total.backward()
    score = sum(sums[i] for i in range(len(layers)) if i in sums)  # in module order, as before
    if not 0 < score < math.inf:
        return math.inf if score else -math.inf
    return math.log(score) + state["exponent"] * math.log(2)


def _sequential_cuts(model: nn.Module) -> list[nn.Module]:
    cuts: list[nn.Module] = []
    todo = [model]
    while todo:
        module = todo.pop()
        if isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward:
            children = list(module.children())
            cuts += children
            todo += children
    return cuts


def _cut_hook(state: dict[str, int]) -> Callable:
    def hook(module: nn.Module, args: tuple, output: object) -> object:
        if not isinstance(output, Tensor):
            return None
        peak = float(output.detach().abs().amax())
        if not 0 < peak < math.inf:
            return None
        exponent = math.frexp(peak)[1]  # peak < 2**exponent
        state["exponent"] += exponent
        return output * math.ldexp(1.0, -exponent)

    return hook


def _bias_hook(state: dict[str, int], bias: Tensor) -> Callable:
    def hook(module: nn.Module, args: tuple) -> None:
        module.bias.data = bias * math.ldexp(1.0, -state["exponent"])

    return hook


# ----------------------------------------------------------------------------- snip, grad_norm

def _per_layer_of_gradients(model: nn.Module, inputs: Tensor, targets: Tensor,
                            take: Callable[[Tensor, Tensor], float]) -> float:
    """Σ over scored layers of ``take(weight, ∂L/∂W)``, L the cross-entropy of the batch, train mode.

    Each layer's term is taken as soon as its gradient has landed (a post-accumulate hook, after
    every use of the weight in the backward); then the gradient and the weight itself are freed,
    so the weight gradients of the whole network never sit in memory at once and the weights
    shrink as the backward runs. The model is used up (proxies score a copy or a disposable
    build, see :func:`score_proxy`); ``take`` may overwrite the gradient. Summed in module order,
    a weight shared by layers once per layer, layers without a gradient left out: the floats of
    summing after the backward.
    """
    layers = _scored_layers(model)
    terms: dict[int, float] = {}
    users: dict[int, list[int]] = {}
    for i, layer in enumerate(layers):
        users.setdefault(id(layer.weight), []).append(i)

    def hook(weight: Tensor) -> None:
        part = take(weight.detach(), weight.grad)
        for i in users[id(weight)]:
            terms[i] = part
        weight.grad = None
        weight.data = torch.empty(0, dtype=weight.dtype)  # the backward is done with it

    handles = [layers[i[0]].weight.register_post_accumulate_grad_hook(hook) for i in users.values()]
    with _removing(handles):
        _cross_entropy_backward(model, inputs, targets)
    return sum(terms[i] for i in range(len(layers)) if i in terms)


@register_proxy("snip")
def _snip(model: nn.Module, inputs: Tensor, targets: Tensor) -> float:
    """Σ |θ ⊙ ∂L/∂θ|, L the cross-entropy of the batch, train mode (Abdelfattah et al.'s code
    gets θ ⊙ ∂L/∂θ as the gradient of a weight mask of ones; the value is the same)."""
    return _per_layer_of_gradients(model, inputs, targets,
                                   lambda weight, grad: float(grad.mul_(weight).abs_().sum()))


@register_proxy("grad_norm")
def _grad_norm(model: nn.Module, inputs: Tensor, targets: Tensor) -> float:
    """Σ over scored layers of ‖∂L/∂W‖ (Frobenius), L the cross-entropy of the batch, train mode."""
    return _per_layer_of_gradients(model, inputs, targets,
                                   lambda weight, grad: float(torch.linalg.vector_norm(grad)))


# ------------------------------------------------------------------------------------ jacob_cov

@register_proxy("jacob_cov")
def _jacob_cov(model: nn.Module, inputs: Tensor, targets: Tensor) -> float:
    """−Σ [log(λ + 1e−5) + 1/(λ + 1e−5)], λ the eigenvalues of corrcoef(J), J = ∂(Σ output)/∂x.

    One row of J per sample (the batch's input gradient, flattened), train mode as the published
    code. Deviation: ``eigvalsh`` for the symmetric correlation matrix instead of ``eig``.
    """
    model.train()
    model.requires_grad_(False)  # only the input gradient is needed: no weight gradients to hold
    x = inputs.requires_grad_(True)
    with torch.enable_grad():
        output = model(x)
        output.backward(torch.ones_like(output))
    jacobian = x.grad.detach().reshape(x.shape[0], -1).to(torch.float64).cpu().numpy()
    if not np.isfinite(jacobian).all():
        raise ProxyError("jacob_cov: the input gradient J is not finite")
    with np.errstate(all="ignore"):
        corr = np.corrcoef(jacobian)
    if not np.isfinite(corr).all():
        raise ProxyError("jacob_cov: corrcoef(J) is undefined (a sample's input gradient is constant)")
    eigenvalues = np.linalg.eigvalsh(corr) + _JACOB_EPS
    with np.errstate(all="ignore"):
        return float(-np.sum(np.log(eigenvalues) + 1.0 / eigenvalues))


# ------------------------------------------------------------------------------------------ zen

@register_proxy("zen")
def _zen(model: nn.Module, inputs: Tensor, targets: Tensor) -> float:
    """log Δ + Σ over batch norms of log √mean(running_var), Δ = E_b Σ |f(x) − f(x + α·ε)|.

    Data-free, as Zen-NAS's code: Conv2d and Linear weights N(0, 1) with zero biases, batch and
    group norms affine 1/0, train mode, no autograd; x and ε standard Gaussian of the batch's
    shape (drawn after the weights), α = 0.01, one repeat (the search calls it with
    ``repeat=1``). f is the pre-global-pooling feature map: the last 4-D output of a leaf module
    other than adaptive pooling, or the model output when there is none (an MLP). running_var is
    what Zen-NAS reads after its two forwards: fresh statistics (1) updated with momentum 0.1 by
    each forward, i.e. 0.81 + 0.09·v₁ + 0.1·v₂ with v the unbiased batch variance per channel
    of the norm's input (emulated from hooks, whatever the model's own momentum; the paper's
    formula uses the batch variance itself). Deviations: every ``_BatchNorm`` counts, not only
    ``BatchNorm2d``; the model's own BN eps (Zen-NAS's networks use 1e-3); residual links are not
    removed (Zen-NAS scores with ``no_reslink=True``; HarDNets have none).
    """
    _gaussian_init(model)
    model.train()
    x = torch.randn(inputs.shape, dtype=inputs.dtype, device=inputs.device)
    noise = torch.randn(inputs.shape, dtype=inputs.dtype, device=inputs.device)
    running_vars: dict[nn.Module, Tensor] = {}
    feature: list[Tensor] = []
    with _zen_hooks(model, running_vars, feature), torch.no_grad():
        clean = _feature_map(model, x, feature)
        mixed = _feature_map(model, x + _ZEN_MIXUP * noise, feature)
    delta = float((clean - mixed).abs().reshape(x.shape[0], -1).sum(1).mean())
    if not 0 < delta < math.inf:
        raise ProxyError(f"zen: the feature-map difference Δ is {delta}, its log is not finite")
    return math.log(delta) + sum(0.5 * math.log(float(v.mean())) for v in running_vars.values())


def _gaussian_init(model: nn.Module) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (*_BATCH_NORMS, nn.GroupNorm)) and m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


@contextmanager
def _zen_hooks(model: nn.Module, running_vars: dict[nn.Module, Tensor],
               feature: list[Tensor]) -> Iterator[None]:
    def update_running_var(module: nn.Module, args: tuple) -> None:
        h = args[0].detach().to(torch.float64)
        dims = [d for d in range(h.dim()) if d != 1]
        var = h.var(dim=dims, correction=1)
        old = running_vars.get(module, torch.ones_like(var))
        running_vars[module] = (1 - _ZEN_MOMENTUM) * old + _ZEN_MOMENTUM * var

    def keep_feature(module: nn.Module, args: tuple, output: object) -> None:
        if isinstance(output, Tensor) and output.dim() == 4:
            feature[:] = [output]

    handles = [m.register_forward_pre_hook(update_running_var) for m in model.modules()
               if isinstance(m, _BATCH_NORMS)]
    handles += [m.register_forward_hook(keep_feature) for m in model.modules()
                if next(m.children(), None) is None and not isinstance(m, _GLOBAL_POOLS)]
    with _removing(handles):
        yield


def _feature_map(model: nn.Module, x: Tensor, feature: list[Tensor]) -> Tensor:
    feature.clear()
    output = model(x)
    return feature[0] if feature else output


# ----------------------------------------------------------------------------------------- zico

@register_proxy("zico")
def _zico(model: nn.Module, inputs: Tensor, targets: Tensor) -> float:
    """Σ over scored layers of log Σ_θ mean|g_θ| / std(g_θ), over the θ whose gradient varies.

    g_θ is ∂L/∂θ of the cross-entropy L of each half of the batch (train mode), so the mean and the
    (population) standard deviation are over two gradients, as the published code's two batches.
    Layers whose every gradient is the same (or zero) add nothing. Deviation: the two halves of
    the one proxy batch instead of two batches, so ZiCo needs no more data than the other proxies.
    """
    half = inputs.shape[0] // 2
    layers = _scored_layers(model)
    first: dict[nn.Module, Tensor] = {}
    total = 0.0
    for part in (slice(0, half), slice(half, None)):
        model.zero_grad(set_to_none=True)  # the next backward writes new tensors: ``first`` keeps its own
        _cross_entropy_backward(model, inputs[part], targets[part])
        for layer in layers:
            grad = layer.weight.grad
            if grad is None:
                continue
            if layer not in first:
                first[layer] = grad.detach()
                continue
            # two gradients a, b: mean|g| = (|a| + |b|) / 2 and std(g) = |a - b| / 2
            a, b = first.pop(layer), grad.detach()
            if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
                raise ProxyError("zico: a layer's gradient is not finite")
            spread = (a - b).abs()
            ratio = float(torch.where(spread > 0, (a.abs() + b.abs()) / spread, 0.0).sum(dtype=torch.float64))
            if ratio > 0:
                total += math.log(ratio)
    return total


# ----------------------------------------------------------------------------------------- meco

@register_proxy("meco")
def _meco(model: nn.Module, inputs: Tensor, targets: Tensor) -> float:
    """Σ over layers of λ_min(P), P the Pearson correlation of the channels of the layer's output
    for the batch's first sample (channels × positions; undefined entries set to 0).

    Layers are the leaf modules whose output is a (batch, channels, H, W) map, in train mode, one
    forward; a network without such maps (an MLP) scores 0, as in the published code. Deviations:
    leaf modules only (the published code hooks every module, so a container counts again what its
    last child returns) and ``eigvalsh`` for the symmetric P.
    """
    total = torch.zeros((), dtype=torch.float64)

    def record(module: nn.Module, args: tuple, output: Tensor) -> None:
        nonlocal total
        if not isinstance(output, Tensor) or output.dim() != 4:
            return
        fea = output[0].detach().reshape(output.shape[1], -1).to(torch.float64)
        if not torch.isfinite(fea).all():
            raise ProxyError(f"meco: the output of a {type(module).__name__} is not finite")
        if fea.shape[0] < 2 or fea.shape[1] < 2:
            return  # one channel (P = 1), or one position (P undefined, all 0): λ_min adds 0
        corr = torch.nan_to_num(torch.corrcoef(fea), nan=0.0, posinf=0.0, neginf=0.0)
        total += torch.linalg.eigvalsh(corr)[0]

    leaves = [m for m in model.modules() if not list(m.children())]
    model.train()
    with _removing([m.register_forward_hook(record) for m in leaves]), torch.no_grad():
        output = model(inputs)
    if not torch.isfinite(output).all():
        raise ProxyError("meco: the network's output is not finite")
    return float(total)


# -------------------------------------------------------------------------------------- nn_mass

@register_proxy("nn_mass")
def _nn_mass(model: nn.Module, inputs: Tensor, targets: Tensor) -> float:
    """NN-Mass of the model's harmonic blocks (:func:`hardsearch.arch.harmonic.nn_mass`); 0 for a
    model without concatenation blocks (no long-range links)."""
    plans = [m.plan for m in model.modules() if isinstance(getattr(m, "plan", None), BlockPlan)]
    return nn_mass(plans)


# ------------------------------------------------------------------------------------ baselines

@register_proxy("params")
def _params(model: nn.Module, inputs: Tensor, targets: Tensor) -> float:
    """Number of parameters (all of ``model.parameters()``)."""
    return float(sum(p.numel() for p in model.parameters()))


@register_proxy("macs")
def _macs(model: nn.Module, inputs: Tensor, targets: Tensor) -> float:
    """Multiply-accumulates of Conv2d and Linear layers for one sample (eval-mode forward, hooks).

    Conv2d: output elements × in_channels/groups × kh × kw; Linear: output elements × in_features.
    For a hardsearch network it equals ``count_costs(arch, (H, W)).macs``.
    """
    total = 0

    def count(module: nn.Module, args: tuple, output: Tensor) -> None:
        nonlocal total
        total += output.numel() * module.weight[0].numel()  # weight[0]: one output unit's fan-in

    model.eval()
    with _removing([m.register_forward_hook(count) for m in _scored_layers(model)]), torch.no_grad():
        model(inputs[:1])
    return float(total)
