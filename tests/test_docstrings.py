"""Every example in every docstring runs and prints what it says (4 significant digits)."""

import doctest
import importlib
import pkgutil

import numpy as np
import pytest

import optfn

MODULES = sorted(m.name for m in pkgutil.walk_packages(optfn.__path__, prefix="optfn.") if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    try:
        module = importlib.import_module(name)
    except ImportError as e:  # an integration whose optional dependency is absent
        pytest.skip(str(e))
    with np.printoptions(precision=4, suppress=True):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
