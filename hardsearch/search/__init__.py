"""The search: Optuna's multi-objective optimisation over a space.

- ``options``: the search's config checked into plain data
- ``samplers``: the samplers the ``sampler`` group names
- ``objective``: one trial (decode, costs, limits, proxy)
- ``worker``: one worker's ask-and-tell loop, heartbeats and the exact budget
- ``progress``: the progress bar and per-trial lines
- ``bounds``: the study's hypervolume bounds, fixed once from the space and the proxy's calibration
- ``run``: open the study once per process, then run this worker's trials
"""
