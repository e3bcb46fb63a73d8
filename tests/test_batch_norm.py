"""Batch norm against a float64 reference, under grad and vmap, at large offsets, and on bad input."""

import jax
import jax.test_util
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import optfn
import reference

VARIANCES = ("two_pass", "fast")


def _batches(n=5, shape=(32, 6), offset=2.0, seed=0):
    keys = jax.random.split(jax.random.PRNGKey(seed), n)
    spread = jnp.linspace(0.5, 3.0, shape[-1])
    return [offset + spread * jax.random.normal(k, shape) for k in keys]


def _learned_params(f, seed=1):
    ks, kb = jax.random.split(jax.random.PRNGKey(seed))
    return optfn.BatchNormParams(1 + 0.1 * jax.random.normal(ks, (f,)), 0.1 * jax.random.normal(kb, (f,)))


@pytest.mark.parametrize("variance", VARIANCES)
@pytest.mark.parametrize("running_var", ["biased", "unbiased"])
def test_training_running_stats_and_eval_match_the_reference(variance, running_var):
    batches = _batches()
    params, state = optfn.batch_norm_init(6)
    params = _learned_params(6)
    step = jax.jit(lambda s, x: optfn.batch_norm(params, s, x, training=True, momentum=0.8, eps=1e-3,
                                                  variance=variance, running_var=running_var))
    ref_mean, ref_var = np.zeros(6), np.ones(6)
    for x in batches:
        y, state = step(state, x)
        ref_y, ref_mean, ref_var = reference.batch_norm_train(
            x, params.scale, params.bias, ref_mean, ref_var, 0.8, 1e-3, unbiased=running_var == "unbiased")
        np.testing.assert_allclose(y, ref_y, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(state.mean, ref_mean, rtol=1e-5)
    np.testing.assert_allclose(state.var, ref_var, rtol=1e-5)
    assert int(state.count) == 5
    x_test = _batches(1, (7, 6), seed=9)[0]
    y, same = optfn.batch_norm(params, state, x_test, training=False, eps=1e-3)
    assert same is state
    np.testing.assert_allclose(y, reference.batch_norm_eval(x_test, params.scale, params.bias, ref_mean, ref_var, 1e-3),
                               rtol=1e-5, atol=1e-5)
    y_one, _ = optfn.batch_norm(params, state, x_test[0], training=False, eps=1e-3)  # one example at a time
    np.testing.assert_allclose(y_one, y[0], rtol=1e-6)


@pytest.mark.parametrize("axis", [1, pytest.param(-1, marks=pytest.mark.slow)])  # -1: the default's, tested everywhere
def test_images_with_the_feature_axis_anywhere(axis):
    x = _batches(1, (4, 3, 5, 5), seed=3)[0] if axis == 1 else _batches(1, (4, 5, 5, 3), seed=3)[0]
    params, state = optfn.batch_norm_init(3)
    y, state = optfn.batch_norm(params, state, x, training=True, axis=axis)
    ref_y, ref_mean, ref_var = reference.batch_norm_train(x, np.ones(3), np.zeros(3), np.zeros(3), np.ones(3),
                                                          0.99, 1e-5, axis=axis)
    np.testing.assert_allclose(y, ref_y, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(state.mean, ref_mean, rtol=1e-5)


@pytest.mark.parametrize("offset", [1e3, 1e4])
def test_accurate_at_large_offsets_where_the_fast_formula_fails(offset):
    x = offset + jax.random.normal(jax.random.PRNGKey(0), (1024, 8))
    true_var = np.var(np.asarray(x, np.float64), axis=0)
    params, state = optfn.batch_norm_init(8)
    for variance in ("two_pass",):
        _, s = optfn.batch_norm(params, state, x, training=True, momentum=0.0, variance=variance)
        np.testing.assert_allclose(s.var, true_var, rtol=1e-3)
    _, fast = optfn.batch_norm(params, state, x, training=True, momentum=0.0, variance="fast")
    assert np.max(np.abs(fast.var / true_var - 1)) > 0.1  # the opt-in loses the variance here


@settings(max_examples=6, deadline=None)  # each batch size compiles its own program
@given(batch=st.integers(2, 64), offset=st.floats(-1e4, 1e4), spread=st.floats(1e-1, 1e2),
       seed=st.integers(0, 2**16), variance=st.just("two_pass"))
def test_property_training_output_has_mean_0_and_variance_1(batch, offset, spread, seed, variance):
    x = offset + spread * jax.random.normal(jax.random.PRNGKey(seed), (batch, 3))
    params, state = optfn.batch_norm_init(3)
    y, _ = optfn.batch_norm(params, state, x, training=True, eps=1e-12, variance=variance)
    ref_y = reference.batch_norm_train(x, np.ones(3), np.zeros(3), np.zeros(3), np.ones(3), 0.9, 1e-12)[0]
    # float32 stores x to ~6e-8 * |offset|, so the output is good to about that over the spread
    atol = 1e-4 + 64 * np.finfo(np.float32).eps * abs(offset) / spread
    np.testing.assert_allclose(y, ref_y, atol=atol)
    np.testing.assert_allclose(np.mean(np.asarray(y, np.float64), 0), 0, atol=atol)
    np.testing.assert_allclose(np.var(np.asarray(y, np.float64), 0), 1, atol=4 * atol)


@pytest.mark.parametrize("variance", VARIANCES)
def test_gradients_through_training_mode(variance):
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.PRNGKey(0), (6, 3), jnp.float64) + 2.0
        scale, bias = jnp.array([1.0, 2.0, 0.5]), jnp.array([0.1, -0.2, 0.3])
        _, state = optfn.batch_norm_init(3)
        w = jnp.arange(18.0).reshape(6, 3)

        def f(x, scale, bias):
            y, _ = optfn.batch_norm(optfn.BatchNormParams(scale, bias), state, x, training=True, variance=variance)
            return jnp.sum(jnp.sin(y) * w)

        jax.test_util.check_grads(f, (x, scale, bias), order=2, modes=("rev",), atol=1e-5, rtol=1e-5)


def test_bf16_input_float32_statistics_bf16_output():
    x = _batches(1, (64, 4), offset=100.0)[0]
    params, state = optfn.batch_norm_init(4)
    y16, s16 = optfn.batch_norm(params, state, x.astype(jnp.bfloat16), training=True)
    y32, s32 = optfn.batch_norm(params, state, x.astype(jnp.bfloat16).astype(jnp.float32), training=True)
    assert y16.dtype == jnp.bfloat16 and s16.mean.dtype == jnp.float32 and s16.var.dtype == jnp.float32
    np.testing.assert_allclose(s16.var, s32.var, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(y16, np.float32), y32, atol=2e-2)


def test_mask_counts_only_the_true_positions():
    x = _batches(1, (10, 4))[0]
    keep = jnp.arange(10) < 7
    params, state = optfn.batch_norm_init(4)
    y, s = optfn.batch_norm(params, state, x, training=True, mask=keep[:, None], momentum=0.0)
    y_sub, s_sub = optfn.batch_norm(params, state, x[:7], training=True, momentum=0.0)
    np.testing.assert_allclose(s.mean, s_sub.mean, rtol=1e-6)
    np.testing.assert_allclose(s.var, s_sub.var, rtol=1e-5)
    np.testing.assert_allclose(y[:7], y_sub, rtol=1e-5, atol=1e-6)


def test_without_scale_or_bias():
    x = _batches(1)[0]
    params, state = optfn.batch_norm_init(6, use_scale=False, use_bias=False)
    assert params.scale is None and params.bias is None
    y, _ = optfn.batch_norm(params, state, x, training=True)
    ref = reference.batch_norm_train(x, np.ones(6), np.zeros(6), np.zeros(6), np.ones(6), 0.99, 1e-5)[0]
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("variance", VARIANCES)
def test_per_example_vmap_with_axis_name_equals_the_full_batch(variance):
    x = _batches(1, (16, 5))[0]
    params, state = optfn.batch_norm_init(5)
    full_y, full_state = optfn.batch_norm(params, state, x, training=True, variance=variance)
    per = jax.vmap(lambda xi: optfn.batch_norm(params, state, xi, training=True, axis_name="batch", variance=variance),
                   axis_name="batch")
    y, s = jax.jit(per)(x)
    np.testing.assert_allclose(y, full_y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s.mean[0], full_state.mean, rtol=1e-6)
    np.testing.assert_allclose(s.var[3], full_state.var, rtol=1e-5)


def test_ensemble_vmap_keeps_each_members_statistics():
    data = jnp.stack(_batches(3, (16, 4)))  # one batch per member, different offsets below
    data = data + jnp.array([0.0, 10.0, -5.0])[:, None, None]
    params, state = optfn.batch_norm_init(4)
    states = jax.vmap(lambda _: state)(jnp.arange(3))
    ys, new = jax.vmap(lambda s, x: optfn.batch_norm(params, s, x, training=True, momentum=0.5))(states, data)
    for i in range(3):
        y, alone = optfn.batch_norm(params, state, data[i], training=True, momentum=0.5)
        np.testing.assert_allclose(new.mean[i], alone.mean, rtol=1e-6)
        np.testing.assert_allclose(ys[i], y, rtol=1e-5, atol=1e-6)
    assert not np.allclose(new.mean[0], new.mean[1])


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda p, s: optfn.batch_norm(p, s, jnp.ones((1, 4)), training=True), ValueError,
         r"x.shape=\(1, 4\).*gives 1 per feature.*batches of 2 or more"),
        (lambda p, s: jax.jit(lambda x: optfn.batch_norm(p, s, x, training=True))(jnp.ones((1, 4))), ValueError,
         "gives 1 per feature"),
        (lambda p, s: optfn.batch_norm(p, s, jnp.ones((8, 5)), training=True), ValueError,
         r"params.scale has shape \(4,\) but the input has \(5,\) features.*x.shape=\(8, 5\)"),
        (lambda p, s: optfn.batch_norm(p, optfn.batch_norm_init(3)[1], jnp.ones((8, 4)), training=True), ValueError,
         r"state.mean has shape \(3,\) but the input has \(4,\) features"),
        (lambda p, s: optfn.batch_norm(p, s, jnp.ones((8, 4)), training=True, momentum=1.5), ValueError,
         r"momentum must lie in \[0, 1\], got momentum=1.5.*momentum=0.9 here"),
        (lambda p, s: optfn.batch_norm(p, s, jnp.ones((8, 4)), training=True, eps=0.0), ValueError,
         r"eps must lie in \(0, inf\), got eps=0.0"),
        (lambda p, s: optfn.batch_norm(p, s, jnp.ones((8, 4)), training="yes"), TypeError,
         "training must be a Python bool"),
        (lambda p, s: optfn.batch_norm(p, s, jnp.ones((8, 4), jnp.int32), training=True), TypeError,
         "x must be a float array, got dtype int32"),
        (lambda p, s: optfn.batch_norm(p, s, jnp.ones((8, 4)), training=True, variance="welford"), ValueError,
         "variance must be one of"),
        (lambda p, s: optfn.batch_norm(p, s, jnp.ones((8, 4)), training=True, mask=jnp.ones(3, bool)), ValueError,
         r"mask of shape \(3,\) does not broadcast"),
        (lambda p, s: optfn.batch_norm(p, s, jnp.ones((8, 4)), training=True, axis=2), ValueError,
         "axis=2 is out of range"),
        (lambda p, s: optfn.batch_norm(p, p, jnp.ones((8, 4)), training=True), TypeError, "BatchNormState"),
        (lambda p, s: optfn.batch_norm_init(0), ValueError, "num_features must be a positive int"),
    ],
)
def test_bad_input(call, error, match):
    params, state = optfn.batch_norm_init(4)
    with pytest.raises(error, match=match):
        call(params, state)
