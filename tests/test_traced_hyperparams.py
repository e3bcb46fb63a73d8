"""Every numeric hyperparameter may be a traced array: vmap over them equals a loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optfn
import problems
from registry import REGISTRY

FACTORS = (1.0, 0.7, 0.95)  # each hyperparameter scaled; decay rates stay inside [0, 1)


def _train(make, hp, steps=30):
    opt = make(hp)
    params = problems.PARABOLA_INIT

    def body(carry, _):
        p, s = carry
        u, s = opt.update(jax.grad(problems.parabola)(p), s, p)
        return (optfn.apply_updates(p, u), s), None

    (params, _), _ = jax.lax.scan(body, (params, opt.init(params)), length=steps)
    return params["x"]


@pytest.mark.parametrize("entry", REGISTRY, ids=str)
def test_vmap_over_every_hyperparameter_equals_a_loop(entry):
    stacked = {k: jnp.asarray([v * f for f in FACTORS], jnp.float32) for k, v in entry.hp.items()}
    vmapped = jax.jit(jax.vmap(lambda hp: _train(entry.make, hp)))(stacked)
    for i, f in enumerate(FACTORS):
        alone = jax.jit(lambda hp: _train(entry.make, hp))({k: v * f for k, v in entry.hp.items()})
        np.testing.assert_allclose(vmapped[i], alone, rtol=2e-5, atol=1e-6)
    assert not np.allclose(vmapped[0], vmapped[1])  # the values really differ per trial


def test_vmap_over_learning_rate_schedule_and_tree_of_rates():
    def run(lr):
        opt = optfn.sgd({"x": lambda n: lr / (1.0 + n.astype(jnp.float32))})
        return _train(lambda _: opt, None, steps=5)

    lrs = jnp.array([0.01, 0.02])
    out = jax.vmap(run)(lrs)
    for i in range(2):
        np.testing.assert_allclose(out[i], run(lrs[i]), rtol=1e-6)


def test_bf16_params_with_traced_b2_do_not_round_to_one():
    # b2 = 0.999 in bf16 is 1.0; optfn keeps hyperparameters in float32.
    params = jnp.ones(4, jnp.bfloat16)

    def step(b2):
        opt = optfn.adam(1e-2, b2=b2)
        u, _ = opt.update(jnp.full(4, 0.3, jnp.bfloat16), opt.init(params))
        return u

    u = jax.jit(step)(jnp.float32(0.999))
    assert u.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(u, np.float32), -1e-2, rtol=1e-2)
