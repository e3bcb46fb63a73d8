"""The wrappers' hyperparameters may be traced: a vmap over them equals a loop."""

import jax
import jax.numpy as jnp
import numpy as np

import optfn


def _train(opt, steps=6):
    params = jnp.array([1.0, -2.0])

    def body(carry, t):
        p, s = carry
        g = 2 * p + jnp.sin(t.astype(jnp.float32))  # a changing gradient, so accumulation matters
        u, s = opt.update(g, s, p)
        return (optfn.apply_updates(p, u), s), None

    return jax.lax.scan(body, (params, opt.init(params)), jnp.arange(steps))[0][0]


def test_multisteps_every_k_and_lookahead_alpha_vmap_like_a_loop():
    ks = jnp.array([1, 2, 3], jnp.int32)  # the effective batch size, swept in one program
    together = jax.jit(jax.vmap(lambda k: _train(optfn.MultiSteps(optfn.sgd(0.1), k).gradient_transformation())))(ks)
    for i, k in enumerate([1, 2, 3]):
        np.testing.assert_allclose(together[i], _train(optfn.MultiSteps(optfn.sgd(0.1), k).gradient_transformation()),
                                   rtol=1e-6)
    assert not np.allclose(together[0], together[1])

    def look(alpha, period):
        opt = optfn.lookahead(optfn.sgd(0.1), period, alpha)
        params = optfn.LookaheadParams.init_synced(jnp.array([1.0, -2.0]))
        s = opt.init(params)
        for _ in range(4):
            u, s = opt.update(2 * params.fast, s, params)
            params = optfn.apply_updates(params, u)
        return params.slow

    alphas, periods = jnp.array([0.3, 0.8]), jnp.array([2, 3], jnp.int32)
    together = jax.jit(jax.vmap(look))(alphas, periods)
    for i in range(2):
        np.testing.assert_allclose(together[i], look(float(alphas[i]), int(periods[i])), rtol=1e-6)
    assert not np.allclose(together[0], together[1])
