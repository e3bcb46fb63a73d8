"""The multi-tensor path: ``optfn.flatten`` gives the per-leaf numbers on one vector per dtype."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optfn

PARAMS = {"w": jnp.ones((3, 4)), "b": jnp.zeros(4), "scale": jnp.full((5,), 0.5, jnp.bfloat16),
          "blocks": [jnp.full((2, 2), 0.1), jnp.full((6,), -0.2, jnp.bfloat16)]}


def _grads(seed, params=PARAMS):
    keys = jax.random.split(jax.random.key(seed), len(jax.tree.leaves(params)))
    leaves, tree = jax.tree.flatten(params)
    return tree.unflatten([jax.random.normal(k, x.shape).astype(x.dtype) for k, x in zip(keys, leaves)])


def _train(opt, steps=12, start=PARAMS):
    params, state = start, opt.init(start)
    update = jax.jit(opt.update)
    for seed in range(steps):
        updates, state = update(_grads(seed, start), state, params)
        params = optfn.apply_updates(params, updates)
    return params, state


@pytest.mark.parametrize("make", [
    lambda: optfn.adam(0.01), pytest.param(lambda: optfn.adamw(0.01, weight_decay=0.1), marks=pytest.mark.slow),
    lambda: optfn.sgd(0.05, momentum=0.9), pytest.param(lambda: optfn.rmsprop(0.01), marks=pytest.mark.slow),
    lambda: optfn.lion(0.001), pytest.param(lambda: optfn.adagrad(0.1), marks=pytest.mark.slow),
    lambda: optfn.chain(optfn.clip_by_global_norm(1.0), optfn.adam(0.01)),
    lambda: optfn.inject_hyperparams(optfn.adam)(learning_rate=0.01, b1=0.8),
], ids=["adam", "adamw", "momentum", "rmsprop", "lion", "adagrad", "clip+adam", "inject"])
# (adamw, rmsprop and adagrad are marked slow below: adam, momentum, lion, a chain and an
# injected optimizer cover the flattening's cases)
def test_flat_numbers_equal_the_per_leaf_numbers(make):
    per_leaf, _ = _train(make())
    flat, state = _train(optfn.flatten(make()))
    for a, b in zip(jax.tree.leaves(flat), jax.tree.leaves(per_leaf)):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(np.asarray(a, np.float32), np.asarray(b, np.float32), rtol=1e-6, atol=1e-7)
    assert isinstance(state, optfn.FlattenState)


def test_the_state_is_one_vector_per_dtype_and_bf16_stays_bf16():
    state = optfn.flatten(optfn.adam(0.01)).init(PARAMS)
    mu = state.inner_state[0].mu
    assert {k: (v.shape, v.dtype) for k, v in mu.items()} == {"float32": ((3 * 4 + 4 + 2 * 2,), jnp.float32),
                                                              "bfloat16": ((5 + 6,), jnp.bfloat16)}
    with jax.numpy_dtype_promotion("standard"):
        hp = optfn.get_hyperparams(optfn.flatten(optfn.inject_hyperparams(optfn.adam)(learning_rate=0.1))
                                   .init(PARAMS).inner_state)
    assert float(hp["learning_rate"]) == pytest.approx(0.1)


def test_flatten_inside_an_optax_chain():
    optax = pytest.importorskip("optax")
    f32 = jax.tree.map(lambda x: x.astype(jnp.float32), PARAMS)  # optax computes bf16 moments in bf16
    with jax.numpy_dtype_promotion("standard"):
        ours, _ = _train(optax.chain(optax.clip_by_global_norm(1.0), optfn.flatten(optfn.adam(0.01))), start=f32)
        theirs, _ = _train(optax.chain(optax.clip_by_global_norm(1.0), optax.adam(0.01)), start=f32)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)):
        np.testing.assert_allclose(np.asarray(a, np.float32), np.asarray(b, np.float32), rtol=2e-5, atol=1e-6)


def test_flatten_names_a_wrong_argument():
    with pytest.raises(TypeError, match=r"flatten: inner must be a GradientTransformation.*optfn.flatten\(optfn.adam"):
        optfn.flatten(optfn.adam)
