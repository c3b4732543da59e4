"""``python -m hardsearch.export study=NAME trial=N [format=yaml|torchscript|onnx]``: take a trial away.

The command users type; the tool lives with the report in :mod:`hardsearch.report.export`.
"""

from hardsearch.report.export import main

if __name__ == "__main__":
    main()
