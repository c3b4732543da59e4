"""The network as data, and its exact costs.

- ``harmonic``: the harmonic dense block's rules (links, widths), pure functions shared by the
  builder and the cost model
- ``config``: the architecture config, its validation and YAML
- ``model``: the PyTorch builder
- ``costs``: params, MACs, CIO and peak activations in closed form; ``tracing``: the same counted
  on a traced model (the check)
- ``seeds``: the published HarDNets; ``checkpoint``: their weights mapped in order
- ``space``: search spaces as YAML, their members encoded and decoded exactly
- ``latency``: wall-clock latency of a built model
- ``profile``: the ``python -m hardsearch.profile`` tool

The config names are re-exported here (``from hardsearch.arch import ArchConfig``).
"""

from hardsearch.arch.config import (
    ArchConfig,
    StageConfig,
    arch_from_dict,
    arch_to_dict,
    dump_arch,
    load_arch,
    save_arch,
    summarize_arch,
    with_classes,
)

__all__ = ["ArchConfig", "StageConfig", "arch_from_dict", "arch_to_dict", "dump_arch", "load_arch",
           "save_arch", "summarize_arch", "with_classes"]
