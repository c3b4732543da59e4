"""``python -m hardsearch.predictor rows=[DIR,...]``: fit the accuracy predictor on trained networks.

The command users type; the tool lives with the proxies in :mod:`hardsearch.accuracy.fit_predictor`.
"""

from hardsearch.accuracy.fit_predictor import main

if __name__ == "__main__":
    main()
