"""Every optimizer against its float64 NumPy reference, step by step over 100 steps."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optfn
import reference
from registry import REGISTRY

STEPS = 100


@pytest.mark.parametrize("entry", REGISTRY, ids=str)
def test_matches_float64_reference(entry):
    rng = np.random.default_rng(0)
    grads = rng.normal(size=(STEPS, 7)) * np.logspace(-2, 1, 7)  # several gradient scales
    p_ref = rng.normal(size=7)
    ref_step = entry.ref(entry.hp)
    opt = entry.make(entry.hp)
    state = opt.init(jnp.asarray(p_ref, jnp.float32))
    update = jax.jit(opt.update)
    ours, ref, params = [], [], []
    for k in range(STEPS):
        p32 = jnp.asarray(p_ref, jnp.float32)
        params.append(p_ref)
        u, state = update(jnp.asarray(grads[k], jnp.float32), state, p32)
        ours.append(np.asarray(u, np.float64))
        ref.append(ref_step(grads[k], p_ref))
        p_ref = p_ref + ref[-1]
    ours, ref = np.stack(ours), np.stack(ref)
    # rtol 1e-5, plus an atol of 1e-6 of each coordinate's largest step: float32 sums of
    # momentum terms that cancel cannot be exact relative to the (tiny) result.
    scale = np.max(np.abs(ref), axis=0, keepdims=True)
    ulps = entry.p_ulps * np.finfo(np.float32).eps * np.abs(np.stack(params))
    err = np.abs(ours - ref) - (entry.rtol * np.abs(ref) + 1e-6 * scale + ulps)
    worst = np.unravel_index(np.argmax(err), err.shape)
    assert np.all(err <= 0), f"step {worst[0]}, coordinate {worst[1]}: {ours[worst]} vs {ref[worst]}"

def test_first_adam_step_is_minus_lr_sign_g():
    # The notes' defaults b1=0.9, b2=0.999, eps=1e-8: m_hat = g and v_hat = g^2 at t=1.
    g = jnp.array([0.1, -2.0, 50.0, -0.5])  # |g| >> eps, so eps/|g| < 1e-7
    lr = 0.01
    opt = optfn.adam(lr)
    u, _ = opt.update(g, opt.init(jnp.zeros(4)))
    np.testing.assert_allclose(np.asarray(u), -lr * np.sign(np.asarray(g)), rtol=0, atol=1e-6 * lr)


def test_ema_momentum_equals_heavy_ball_with_scaled_rate():
    # V = bV + (1-b)g with rate lr equals v = bv - lr(1-b)g: the two momentum forms agree.
    b, lr = 0.9, 0.1
    a = optfn.chain(optfn.ema(b, debias=False), optfn.scale_by_learning_rate(lr))
    h = optfn.sgd(lr * (1 - b), momentum=b)
    sa, sh = a.init(jnp.zeros(3)), h.init(jnp.zeros(3))
    for g in np.random.default_rng(1).normal(size=(20, 3)):
        ua, sa = a.update(jnp.asarray(g, jnp.float32), sa)
        uh, sh = h.update(jnp.asarray(g, jnp.float32), sh)
        np.testing.assert_allclose(ua, uh, rtol=1e-5, atol=1e-7)


def test_ema_debias_reference():
    b = 0.8
    t = optfn.ema(b)
    s = t.init(jnp.zeros(2))
    V = np.zeros(2)
    for k, g in enumerate(np.random.default_rng(2).normal(size=(10, 2)), start=1):
        u, s = t.update(jnp.asarray(g, jnp.float32), s)
        V = b * V + (1 - b) * g
        np.testing.assert_allclose(u, V / (1 - b**k), rtol=1e-5)


def test_clip_by_global_norm_reference():
    g = {"a": jnp.array([3.0, 0.0]), "b": jnp.array([[4.0]])}
    u, _ = optfn.clip_by_global_norm(2.5).update(g, optfn.EmptyState())
    np.testing.assert_allclose(u["a"], [1.5, 0.0], rtol=1e-6)
    np.testing.assert_allclose(u["b"], [[2.0]], rtol=1e-6)
    u, _ = optfn.clip_by_global_norm(6.0).update(g, optfn.EmptyState())
    np.testing.assert_allclose(u["a"], g["a"])


@pytest.mark.parametrize("shape", [(160, 130), (130, 160), (40, 30)])
def test_adafactor_factors_matrices_as_in_the_paper(shape):
    """A matrix whose two axes reach min_dim_size_to_factor keeps row and column statistics
    only (Shazeer & Stern, Algorithm 4); a smaller one the full second moment."""
    import reference

    rng = np.random.default_rng(3)
    p = rng.normal(size=shape)
    opt = optfn.adafactor(0.01, multiply_by_parameter_scale=False)
    state = opt.init(jnp.asarray(p, jnp.float32))
    factored = min(shape) >= 128
    kept = sum(x.size for x in jax.tree.leaves(state))
    assert kept == (1 + sum(shape) + 1 if factored else 1 + 2 + p.size)  # count, rows, columns, one placeholder
    ref = reference.adafactor(0.01, shape=shape)
    update = jax.jit(opt.update)
    for k in range(20):
        g = rng.normal(size=shape) * np.logspace(-2, 1, shape[1])
        u, state = update(jnp.asarray(g, jnp.float32), state, jnp.asarray(p, jnp.float32))
        want = ref(g.reshape(-1), p.reshape(-1)).reshape(shape)
        np.testing.assert_allclose(np.asarray(u, np.float64), want, rtol=2e-5, atol=1e-7, err_msg=f"step {k}")
        p = p + want


def test_lion_refined_mode_reference():
    # "refined": linear where |c| < 1, the sign beyond; gradients on both sides of 1
    rng = np.random.default_rng(3)
    ref, opt = reference.lion(0.01, 0.9, 0.99, 0.1, mode="refined"), optfn.lion(0.01, weight_decay=0.1, mode="refined")
    p = rng.normal(size=6)
    state = opt.init(jnp.asarray(p, jnp.float32))
    for g in rng.normal(size=(30, 6)) * np.array([0.1, 0.5, 0.9, 1.5, 3.0, 10.0]):
        u, state = opt.update(jnp.asarray(g, jnp.float32), state, jnp.asarray(p, jnp.float32))
        want = ref(g, p)
        # atol 1e-6 of lr: c and wd * W cancel in float32
        np.testing.assert_allclose(np.asarray(u, np.float64), want, rtol=1e-5, atol=1e-8)
        p = p + want


def test_trust_ratio_on_complex_params_uses_the_modulus():
    # ||x|| = sqrt(sum |x|^2): LAMB and LARS on complex leaves (optax tests them on complex64)
    rng = np.random.default_rng(4)
    w = rng.normal(size=5) + 1j * rng.normal(size=5)
    g = rng.normal(size=5) + 1j * rng.normal(size=5)
    t = optfn.scale_by_trust_ratio(trust_coefficient=0.5, eps=1e-3)
    w32, g32 = jnp.asarray(w, jnp.complex64), jnp.asarray(g, jnp.complex64)
    u = t.update(g32, t.init(w32), w32)[0]
    want = g * 0.5 * np.sqrt(np.sum(np.abs(w) ** 2)) / (np.sqrt(np.sum(np.abs(g) ** 2)) + 1e-3)
    assert u.dtype == jnp.complex64
    np.testing.assert_allclose(np.asarray(u, np.complex128), want, rtol=2e-6)
    ref, lars = reference.lars(1.0, 0.9, 0.01), optfn.lars(1.0, trust_coefficient=0.01)
    state = lars.init(w32)
    for _ in range(3):
        u, state = lars.update(g32, state, w32)
        np.testing.assert_allclose(np.asarray(u, np.complex128), ref(g, w), rtol=2e-6)


def test_add_decayed_weights_takes_a_schedule_and_a_negative_rate():
    # u + wd(t) W with wd(t) = -0.1 (t + 1): the state counts the steps, as optax's does
    t = optfn.add_decayed_weights(lambda n: -0.1 * (n + 1).astype(jnp.float32))
    w = jnp.array([2.0, -4.0])
    state = t.init(w)
    for k in range(3):
        u, state = t.update(jnp.ones(2), state, w)
        np.testing.assert_allclose(u, 1.0 - 0.1 * (k + 1) * np.array([2.0, -4.0]), rtol=1e-6)
    assert int(state.count) == 3
    u, _ = optfn.add_decayed_weights(-0.5).update(jnp.zeros(2), optfn.EmptyState(), w)
    np.testing.assert_allclose(u, [-1.0, 2.0])
