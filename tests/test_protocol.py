"""The protocol: chain, identity, apply_updates, states as pytrees."""

import jax
import jax.numpy as jnp
import numpy as np

import optfn


def test_chain_applies_in_order_and_keeps_a_tuple_state():
    opt = optfn.chain(optfn.scale(2.0), optfn.clip(1.0), optfn.scale(-3.0))
    state = opt.init(jnp.zeros(3))
    assert isinstance(state, tuple) and len(state) == 3
    u, new_state = opt.update(jnp.array([0.2, 0.6, -5.0]), state)
    np.testing.assert_allclose(u, [-1.2, -3.0, 3.0], rtol=1e-6)
    assert jax.tree.structure(new_state) == jax.tree.structure(state)


def test_identity_and_empty_chain():
    g = {"a": jnp.arange(3.0)}
    for t in (optfn.identity(), optfn.chain()):
        u, _ = t.update(g, t.init(g))
        np.testing.assert_array_equal(u["a"], g["a"])


def test_gradient_transformation_is_a_named_tuple_of_init_and_update():
    opt = optfn.adam(1e-3)
    init, update = opt
    assert isinstance(opt, optfn.GradientTransformation) and opt.init is init and opt.update is update


def test_state_is_a_pytree_that_jit_and_scan_carry():
    opt = optfn.adamw(1e-2)
    params = {"w": jnp.ones(3)}

    def body(carry, _):
        p, s = carry
        u, s = opt.update(p, s, p)  # gradient of 0.5 |w|^2
        return (optfn.apply_updates(p, u), s), None

    (params, state), _ = jax.jit(lambda p: jax.lax.scan(body, (p, opt.init(p)), length=10))(params)
    assert int(state[0].count) == 10
    assert float(params["w"][0]) < 1.0


def test_apply_updates_none_params_stay_none():
    out = optfn.apply_updates({"a": None, "b": jnp.ones(1)}, {"a": None, "b": jnp.ones(1)})
    assert out["a"] is None and float(out["b"][0]) == 2.0


def test_per_leaf_learning_rates_and_schedules():
    opt = optfn.sgd({"fast": 1.0, "slow": lambda n: 0.1 * 0.5**n})
    params = {"fast": jnp.ones(2), "slow": {"w": jnp.ones(1), "b": jnp.ones(1)}}
    state = opt.init(params)
    grads = jax.tree.map(jnp.ones_like, params)
    steps = []
    for _ in range(3):
        u, state = opt.update(grads, state, params)
        steps.append(u)
    np.testing.assert_allclose([s["slow"]["w"][0] for s in steps], [-0.1, -0.05, -0.025], rtol=1e-6)
    np.testing.assert_allclose([s["fast"][0] for s in steps], [-1.0] * 3)


def test_add_decayed_weights_with_callable_mask():
    params = {"w": jnp.ones(2), "bias": jnp.ones(2)}
    mask = lambda p: {k: k != "bias" for k in p}
    opt = optfn.adamw(0.1, weight_decay=0.5, mask=mask)
    zeros = jax.tree.map(jnp.zeros_like, params)
    u, _ = opt.update(zeros, opt.init(params), params)
    np.testing.assert_allclose(u["w"], -0.05, rtol=1e-6)
    np.testing.assert_allclose(u["bias"], 0.0)
