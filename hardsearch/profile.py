"""``python -m hardsearch.profile arch=NAME|PATH``: an architecture's exact costs, per stage and in total.

The command users type; the tool lives with the architectures in :mod:`hardsearch.arch.profile`.
"""

import sys

from hardsearch.arch.profile import main

if __name__ == "__main__":
    sys.exit(main())
