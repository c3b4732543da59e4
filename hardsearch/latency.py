"""``python -m hardsearch.latency +space=harmonic n=40 input_size=1024``: a latency model of this device.

The command users type; the tool lives with the other readers of measurements in
:mod:`hardsearch.report.latency`.
"""

from hardsearch.report.latency import main

if __name__ == "__main__":
    main()
