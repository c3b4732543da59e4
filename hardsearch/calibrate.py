"""``python -m hardsearch.calibrate +space=NAME``: which proxy tracks trained accuracy on a space.

The command users type; the tool lives with the proxies in :mod:`hardsearch.accuracy.calibrate`.
"""

from hardsearch.accuracy.calibrate import main

if __name__ == "__main__":
    main()
