"""What users look at and take away.

- ``pareto``: the front, the seeds against it and the hypervolume, as plain data
- renderers of it: ``text`` (CSV, JSON, Markdown), ``plots`` (PNG), ``html`` (the interactive
  page), ``dashboard`` (W&B), ``console`` (the front as a table)
- ``export``: architecture YAML, TorchScript and ONNX
- ``writer``: everything a study's report writes into its folder
- ``__main__``: the ``python -m hardsearch.report`` tool
"""
