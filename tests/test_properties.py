"""Properties checked on many generated inputs with hypothesis."""

import jax.numpy as jnp
import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import optfn

# XLA on CPU flushes subnormal floats to zero, so they are left out.
finite = st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False, width=32)
vectors = arrays(np.float32, st.integers(1, 8), elements=finite)
rates = st.floats(1e-5, 1.0)


@given(g=arrays(np.float32, st.integers(1, 8), elements=st.floats(0.125, 1e3, width=32)),
       signs=arrays(np.float32, 8, elements=st.sampled_from([-1.0, 1.0])), lr=rates)
def test_first_adam_step_is_minus_lr_times_sign(g, signs, lr):
    g = g * signs[: g.size]
    opt = optfn.adam(lr)
    u, _ = opt.update(jnp.asarray(g), opt.init(jnp.zeros_like(g)))
    np.testing.assert_allclose(u, -lr * np.sign(g), rtol=1e-6, atol=0)


@given(g=vectors, lr=rates)
def test_descent_direction(g, lr):
    # Every optimizer's first step opposes the gradient; near 1e-38 XLA flushes to zero,
    # so check u * g <= 0 rather than signs.
    for opt in (optfn.sgd(lr), optfn.sgd(lr, 0.9, nesterov=True), optfn.adam(lr), optfn.rmsprop(lr),
                optfn.adagrad(lr), optfn.adadelta(lr), optfn.nadam(lr)):
        u, _ = opt.update(jnp.asarray(g), opt.init(jnp.zeros_like(g)))
        assert np.all(np.asarray(u, np.float64) * g <= 0)


@given(g=vectors, max_norm=st.floats(1e-3, 1e3))
def test_clip_by_global_norm_bounds_the_norm_and_keeps_direction(g, max_norm):
    u, _ = optfn.clip_by_global_norm(max_norm).update(jnp.asarray(g), optfn.EmptyState())
    u = np.asarray(u, np.float64)
    norm = np.linalg.norm(g.astype(np.float64))
    assert np.linalg.norm(u) <= max_norm * (1 + 1e-5) + 1e-30
    if norm <= max_norm:
        np.testing.assert_array_equal(u, g)
    else:
        np.testing.assert_allclose(u * norm / max_norm, g, rtol=1e-5, atol=1e-30)


@given(g=vectors, max_delta=st.floats(0, 10))
def test_clip_bounds_each_coordinate(g, max_delta):
    u, _ = optfn.clip(max_delta).update(jnp.asarray(g), optfn.EmptyState())
    np.testing.assert_array_equal(u, np.clip(g, -np.float32(max_delta), np.float32(max_delta)))


@given(p=vectors, dtype=st.sampled_from([jnp.float32, jnp.bfloat16, jnp.float16]))
def test_apply_updates_keeps_dtype_and_adds(p, dtype):
    params = jnp.asarray(p).astype(dtype)
    u = jnp.full(p.shape, 0.5, jnp.float32)
    out = optfn.apply_updates(params, u)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, (params.astype(jnp.float32) + u).astype(dtype))


@given(start=st.integers(2**31 - 5, 2**31 - 1))
def test_safe_increment_saturates(start):
    c = optfn.safe_increment(jnp.int32(start))
    assert c.dtype == jnp.int32
    assert int(c) == min(start + 1, 2**31 - 1)


def test_adam_counter_saturates_instead_of_wrapping():
    opt = optfn.scale_by_adam()
    state = opt.init(jnp.zeros(2))._replace(count=jnp.int32(2**31 - 1))
    u, state = opt.update(jnp.ones(2), state)
    assert int(state.count) == 2**31 - 1 and bool(jnp.all(jnp.isfinite(u)))
