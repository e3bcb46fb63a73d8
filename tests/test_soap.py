"""SOAP against its float64 NumPy reference on matrices (optax has no SOAP)."""

import jax
import jax.numpy as jnp
import numpy as np

import optfn
import reference


def test_soap_matches_the_float64_reference_on_matrices_and_a_vector():
    # shapes whose first G G^T has at most a 1-dimensional null space: its eigenvectors are
    # then unique up to sign (which SOAP's step does not see), so the reference's match ours
    rng = np.random.default_rng(0)
    shapes = {"w": (3, 3), "v": (4, 3), "b": (3,)}
    params = {k: rng.normal(size=s) for k, s in shapes.items()}
    hp = dict(b1=0.9, b2=0.95, eps=1e-8, weight_decay=0.01)
    refs = {k: reference.soap(0.01, frequency=3, **hp) for k in shapes}
    opt = optfn.soap(0.01, precondition_frequency=3, **hp)
    state = opt.init(jax.tree.map(lambda p: jnp.asarray(p, jnp.float32), params))
    update = jax.jit(opt.update)
    for k in range(12):  # four refreshes of the eigenbases
        grads = {n: rng.normal(size=s) * (1 + k % 3) for n, s in shapes.items()}
        u, state = update(jax.tree.map(lambda g: jnp.asarray(g, jnp.float32), grads), state,
                          jax.tree.map(lambda p: jnp.asarray(p, jnp.float32), params))
        for n in shapes:
            want = refs[n](grads[n], params[n])
            np.testing.assert_allclose(u[n], want, rtol=1e-5, atol=1e-7, err_msg=f"step {k}, {n}")
            params[n] = params[n] + want


def test_soap_hyperparameters_vmap_like_a_loop():
    w = jnp.asarray(np.random.default_rng(1).normal(size=(3, 3)), jnp.float32)

    def train(lr, b2):
        opt = optfn.soap(lr, b2=b2, precondition_frequency=2)

        def body(carry, _):
            p, s = carry
            u, s = opt.update(jax.grad(lambda p: jnp.sum(p ** 2))(p), s, p)
            return (optfn.apply_updates(p, u), s), None

        return jax.lax.scan(body, (w, opt.init(w)), length=6)[0][0]

    lrs, b2s = jnp.array([0.01, 0.05]), jnp.array([0.9, 0.99])
    together = jax.jit(jax.vmap(train))(lrs, b2s)
    for i in range(2):
        np.testing.assert_allclose(together[i], jax.jit(train)(lrs[i], b2s[i]), rtol=1e-5, atol=1e-7)
    assert not np.allclose(together[0], together[1])
