"""Muon on real matrices: against the float64 reference and optax.contrib.muon."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optfn
import reference

optax = pytest.importorskip("optax")


def test_muon_on_matrices_matches_the_float64_reference_and_optax():
    rng = np.random.default_rng(0)
    shapes = {"w": (4, 3), "v": (3, 5)}  # tall and wide: both orientations of Newton-Schulz
    params = {k: rng.normal(size=s) for k, s in shapes.items()}
    refs = {k: reference.muon(0.02, 0.95, weight_decay=0.1) for k in shapes}
    ours, theirs = optfn.muon(0.02, weight_decay=0.1), optax.contrib.muon(0.02, weight_decay=0.1)
    p32 = jax.tree.map(lambda p: jnp.asarray(p, jnp.float32), params)
    s_ours, s_theirs = ours.init(p32), theirs.init(p32)
    for k in range(8):
        grads = {n: rng.normal(size=s) for n, s in shapes.items()}
        g32 = jax.tree.map(lambda g: jnp.asarray(g, jnp.float32), grads)
        p32 = jax.tree.map(lambda p: jnp.asarray(p, jnp.float32), params)
        u, s_ours = jax.jit(ours.update)(g32, s_ours, p32)
        with jax.numpy_dtype_promotion("standard"):
            v, s_theirs = theirs.update(g32, s_theirs, p32)
        for n in shapes:  # five float32 Newton-Schulz iterations (quintic in X): 1e-4
            want = refs[n](grads[n], params[n])
            np.testing.assert_allclose(u[n], want, rtol=1e-4, atol=1e-6, err_msg=f"step {k}, {n}")
            np.testing.assert_allclose(u[n], v[n], rtol=1e-4, atol=1e-6, err_msg=f"step {k}, {n} vs optax")
            params[n] = params[n] + want
