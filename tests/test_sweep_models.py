"""Models from flax nnx and equinox train in a sweep as they train alone."""

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optfn
from optfn import sweep

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
pytest.importorskip("sklearn")

# one dropout rate: the flax model's rate is a choice, and each choice compiles its own programs
HP = [{"learning_rate": 0.02, "b1": 0.9, "dropout": 0.25}, {"learning_rate": 0.005, "b1": 0.8, "dropout": 0.25}]


def _alone(example, hp, batch, steps, has_state, trial_id):
    """The plain training loop: the same init, the full batch every step, optfn.adam, and
    the dropout keys the README documents for trial ``trial_id`` of a run with seed 0."""
    trial_key = jax.random.fold_in(jax.random.fold_in(jax.random.split(jax.random.PRNGKey(0))[1], trial_id), 0)
    params = example.init(jax.random.key(0), hp)
    params, stats = params if has_state else (params, None)
    opt = optfn.adam(hp["learning_rate"], b1=hp["b1"])
    state = opt.init(params)
    traced = {k: (v if k == "dropout" and has_state else jnp.float32(v)) for k, v in hp.items()}  # flax: a choice

    @jax.jit
    def step(params, stats, state, t):
        key = jax.random.fold_in(jax.random.fold_in(trial_key, 2), t)
        if has_state:
            (_, stats), grads = jax.value_and_grad(example.loss, has_aux=True)(params, stats, batch, traced, key)
        else:
            grads = jax.grad(example.loss)(params, batch, traced, key)
        updates, state = opt.update(grads, state, params)
        return optfn.apply_updates(params, updates), stats, state

    for t in range(steps):
        params, stats, state = step(params, stats, state, jnp.int32(t))
    return (params, stats) if has_state else params


@pytest.mark.parametrize("name, has_state", [pytest.param("sweep_flax_cnn", True, marks=pytest.mark.slow),
                                             ("sweep_equinox_cnn", False)])
def test_a_sweep_trial_equals_the_model_trained_alone(name, has_state):
    if name == "sweep_equinox_cnn":
        pytest.importorskip("equinox")
    example = __import__(name)
    with jax.numpy_dtype_promotion("standard"):  # flax's own layers need it
        _check_against_alone(example, has_state)


def _check_against_alone(example, has_state):
    from train_digits import digits_split

    x_tr, _, y_tr, _ = digits_split(0)
    batch = {"x": x_tr[:256], "y": y_tr[:256]}
    runner = example.runner(steps=20, chunk_steps=10, data_fn=lambda key, step: batch)
    runner.init = lambda key, hp: example.init(jax.random.key(0), hp)  # the same init for the solo run
    result = runner.run(example.SPACE, HP)
    for i, hp in enumerate(HP):
        alone = jax.tree.map(np.asarray, _alone(example, hp, batch, 20, has_state, i))
        swept = result.params(i)
        for a, b in zip(jax.tree.leaves(swept), jax.tree.leaves(alone)):
            np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)  # another program: float32 rounding
    assert all(t["status"] == "ok" for t in result.trials)
