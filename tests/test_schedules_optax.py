"""Schedules that optax also has give optax's numbers."""

import jax
import numpy as np
import pytest

import optfn

optax = pytest.importorskip("optax")

STEPS = [0, 1, 5, 10, 25, 49, 50, 51, 100, 1000]
PAIRS = [
    (optfn.linear(1.0, 0.1, 50, 5), lambda: optax.linear_schedule(1.0, 0.1, 50, 5)),
    (optfn.polynomial(1.0, 0.01, 2.0, 50), lambda: optax.polynomial_schedule(1.0, 0.01, 2.0, 50)),
    (optfn.exponential_decay(0.2, 10, 0.9, 3, True, 0.05), lambda: optax.exponential_decay(0.2, 10, 0.9, 3, True, 0.05)),
    (optfn.piecewise_constant(0.1, {10: 0.5, 50: 0.1}), lambda: optax.piecewise_constant_schedule(0.1, {10: 0.5, 50: 0.1})),
    (optfn.cosine_decay(1.0, 50, 0.1, 2.0), lambda: optax.cosine_decay_schedule(1.0, 50, 0.1, 2.0)),
    (optfn.warmup_cosine_decay(0.0, 1e-3, 10, 100, 1e-5), lambda: optax.warmup_cosine_decay_schedule(0.0, 1e-3, 10, 100, 1e-5)),
]


@pytest.mark.parametrize("index", range(len(PAIRS)))
def test_schedule_matches_optax(index):
    ours, theirs = PAIRS[index]
    with jax.numpy_dtype_promotion("standard"):
        theirs = theirs()
        want = [float(theirs(t)) for t in STEPS]
    np.testing.assert_allclose([float(ours(t)) for t in STEPS], want, rtol=2e-6, atol=1e-9)
