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


def test_muon_dimension_numbers_match_the_float64_reference_and_optax():
    # a conv kernel as one (h*w*in, out) matrix, 4 stacked matrices orthogonalised each on
    # its own, a transposed matrix (its fans swapped), and a bias that takes AdamW
    rng = np.random.default_rng(1)
    shapes = {"conv": (3, 3, 2, 4), "stack": (4, 3, 5), "wt": (6, 2), "b": (5,)}
    dims = {"conv": optfn.MuonDimensionNumbers((0, 1, 2), 3), "stack": optfn.MuonDimensionNumbers(1, -1),
            "wt": optfn.MuonDimensionNumbers(1, 0), "b": None}
    theirs_dims = {k: None if d is None else optax.contrib.MuonDimensionNumbers(*d) for k, d in dims.items()}
    ours = optfn.muon(0.02, weight_decay=0.1, muon_weight_dimension_numbers=dims)
    theirs = optax.contrib.muon(0.02, weight_decay=0.1, muon_weight_dimension_numbers=theirs_dims)
    params = {k: rng.normal(size=s) for k, s in shapes.items()}
    # the reference: one float64 Muon per matrix; wt as its transpose (2, 6), whose update
    # is the transpose of wt's: fan_in 2, fan_out 6
    refs = {"conv": reference.muon(0.02, 0.95, weight_decay=0.1),
            "stack": [reference.muon(0.02, 0.95, weight_decay=0.1) for _ in range(4)],
            "wt": reference.muon(0.02, 0.95, weight_decay=0.1)}
    p32 = jax.tree.map(lambda p: jnp.asarray(p, jnp.float32), params)
    s_ours, s_theirs = ours.init(p32), theirs.init(p32)
    step_ours, step_theirs = jax.jit(ours.update), jax.jit(theirs.update)
    for k in range(4):
        grads = {n: rng.normal(size=s) for n, s in shapes.items()}
        g32 = jax.tree.map(lambda g: jnp.asarray(g, jnp.float32), grads)
        p32 = jax.tree.map(lambda p: jnp.asarray(p, jnp.float32), params)
        u, s_ours = step_ours(g32, s_ours, p32)
        with jax.numpy_dtype_promotion("standard"):
            v, s_theirs = step_theirs(g32, s_theirs, p32)
        want = {"conv": refs["conv"](grads["conv"].reshape(18, 4), params["conv"].reshape(18, 4)).reshape(3, 3, 2, 4),
                "stack": np.stack([r(grads["stack"][i], params["stack"][i]) for i, r in enumerate(refs["stack"])]),
                "wt": refs["wt"](grads["wt"].T, params["wt"].T).T}
        for n in shapes:
            np.testing.assert_allclose(u[n], v[n], rtol=1e-4, atol=1e-6, err_msg=f"step {k}, {n} vs optax")
            if n in want:
                np.testing.assert_allclose(u[n], want[n], rtol=1e-4, atol=1e-6, err_msg=f"step {k}, {n}")
        params = {n: params[n] + (want[n] if n in want else np.asarray(u[n], np.float64)) for n in shapes}
    mu = s_ours.inner_states["muon"].inner_state[0].mu
    assert jax.tree.leaves(mu["b"]) == [] and all(mu[n].shape == shapes[n] for n in want)  # b took AdamW


def test_muon_dimension_numbers_as_a_function_and_bad_ones_are_named():
    params = {"conv": jnp.ones((3, 3, 2, 4)), "w": jnp.ones((2, 3)), "b": jnp.ones(3)}

    def spec(tree):  # kernels and matrices take Muon, the rest AdamW
        return jax.tree.map(lambda p: optfn.MuonDimensionNumbers((0, 1, 2), 3) if p.ndim == 4 else
                            optfn.MuonDimensionNumbers() if p.ndim == 2 else None, tree)

    opt = optfn.muon(0.1, muon_weight_dimension_numbers=spec)
    u = jax.eval_shape(opt.update, params, opt.init(params), params)[0]
    assert jax.tree.map(lambda x: x.shape, u) == jax.tree.map(jnp.shape, params)
    labels = jax.tree.map(lambda s: jax.tree.leaves(s) != [], opt.init(params).inner_states["muon"].inner_state[0].mu,
                          is_leaf=lambda x: not isinstance(x, dict))
    assert labels == {"conv": True, "w": True, "b": False}
    with pytest.raises(ValueError, match=r"scale_by_muon: a leaf of shape \(3, 3, 2, 4\) needs MuonDimensionNumbers"):
        optfn.scale_by_muon(weight_dimension_numbers={"conv": None}).init({"conv": params["conv"]})
    with pytest.raises(ValueError, match=r"scale_by_muon: output_axis=4 must be axes of the leaf of shape \(3, 3, 2, 4\)"):
        optfn.scale_by_muon(weight_dimension_numbers=optfn.MuonDimensionNumbers(0, 4)).init(params["conv"])
    with pytest.raises(ValueError, match=r"names an axis twice"):
        optfn.scale_by_muon(weight_dimension_numbers=optfn.MuonDimensionNumbers(0, (1, 0))).init(params["conv"])
    with pytest.raises(TypeError, match=r"muon: weight dimension numbers must be MuonDimensionNumbers or None at each "
                                        r"leaf, got 3"):
        optfn.muon(0.1, muon_weight_dimension_numbers={"conv": 3, "w": None, "b": None}).init(params)
    with pytest.raises(ValueError, match=r"muon: weight dimension numbers must be a MuonDimensionNumbers or a tree"):
        optfn.muon(0.1, muon_weight_dimension_numbers={"conv": (0, 1), "w": None, "b": None}).init(params)
    assert optfn.contrib.MuonDimensionNumbers is optfn.MuonDimensionNumbers
