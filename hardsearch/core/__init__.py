"""Plumbing every layer may use, with no knowledge of networks: one-line user errors (``errors``),
where configs and results live (``paths``), atomic file writes (``files``), config value checks
(``options``), and the Hydra command-line runner shared by every tool (``cli``, ``_search_path``)."""
