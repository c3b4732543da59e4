"""The study: where trials are stored and what they add up to.

- ``storage``: open or create a storage (SQLite, journal, database URL), passwords redacted,
  load a study by name
- ``locks``: the per-study lock that lives in the storage
- ``front``: feasibility and the Pareto front
- ``objectives``: objectives, their directions and display units
- ``bounds``: the fixed hypervolume bounds (each objective's best and worst value) stored in a study
"""
