"""``python -m hardsearch +space=harmonic``: run (or resume) a search, then report it (see hardsearch.app)."""

from hardsearch.app import main

if __name__ == "__main__":
    main()
