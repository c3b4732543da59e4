"""The lazy top-level API resolves every name it promises."""

from __future__ import annotations

import pytest

import hardsearch


@pytest.mark.parametrize("name", [n for n in hardsearch.__all__ if n != "__version__"])
def test_every_export_resolves(name):
    assert getattr(hardsearch, name) is not None


def test_unknown_name():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        hardsearch.nope  # noqa: B018
