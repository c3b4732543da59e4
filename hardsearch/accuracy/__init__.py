"""How good a network is, without training it to the end.

- ``data``: image sources (the packaged CIFAR-10 sample, the CIFAR-10 archive, image folders, noise)
- ``proxies``: the zero-cost proxies and the params/MACs baselines
- ``calibration``: the ensemble's robust scaling, stored in the study
- ``training``: short training and its early stop
- ``objective``: the accuracy objective a search maximises (``proxy=…``)
- ``stats``: rank correlations
- ``calibrate``: the ``python -m hardsearch.calibrate`` tool
"""
