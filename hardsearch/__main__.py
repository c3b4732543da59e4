"""``python -m hardsearch +space=harmonic``: run (or resume) a search (see hardsearch.search)."""

from hardsearch.search import main

if __name__ == "__main__":
    main()
