"""Every schedule against a float64 NumPy reference, eager, jitted and vmapped."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optfn
import reference

# name -> (factory, numeric kwargs, static kwargs, float64 reference(t, **numeric), steps to check)
CASES = {
    "constant": (optfn.constant, {"value": 0.3}, {}, lambda t, value: value, [0, 7, 1000]),
    "linear": (optfn.linear, {"init_value": 1.0, "end_value": 0.1}, {"transition_steps": 20, "transition_begin": 5},
               lambda t, init_value, end_value: init_value + (end_value - init_value) * min(max(t - 5, 0) / 20, 1),
               [0, 5, 15, 25, 40]),
    "polynomial": (optfn.polynomial, {"init_value": 1.0, "end_value": 0.01, "power": 2.0}, {"transition_steps": 50},
                   lambda t, init_value, end_value, power: end_value + (init_value - end_value) * (1 - min(t / 50, 1)) ** power,
                   [0, 10, 50, 80]),
    "exponential": (optfn.exponential_decay, {"init_value": 0.2, "decay_rate": 0.95}, {"transition_steps": 10},
                    lambda t, init_value, decay_rate: decay_rate ** (t / 10) * init_value,
                    [0, 10, 15, 100, 1000]),
    "exponential_staircase_end": (
        optfn.exponential_decay, {"init_value": 1.0, "decay_rate": 0.5, "end_value": 0.1},
        {"transition_steps": 10, "staircase": True, "transition_begin": 3},
        lambda t, init_value, decay_rate, end_value: max(init_value * decay_rate ** math.floor(max(t - 3, 0) / 10), end_value),
        [0, 3, 12, 13, 40, 400]),
    "inverse_time": (optfn.inverse_time_decay, {"init_value": 0.2, "decay_rate": 1.0}, {},
                     lambda t, init_value, decay_rate: init_value / (1 + decay_rate * t), [0, 1, 2, 10, 1000]),
    "inverse_time_staircase": (optfn.inverse_time_decay, {"init_value": 0.5, "decay_rate": 0.3},
                               {"transition_steps": 7, "staircase": True},
                               lambda t, init_value, decay_rate: init_value / (1 + decay_rate * (t // 7)), [0, 6, 7, 20]),
    "inverse_sqrt": (optfn.inverse_sqrt_decay, {"init_value": 0.4, "k": 0.9}, {"transition_steps": 5},
                     lambda t, init_value, k: k / math.sqrt(max(t / 5, 1)) * init_value, [0, 4, 5, 20, 500]),
    "piecewise": (optfn.piecewise_constant, {"init_value": 0.1}, {"boundaries_and_scales": {100: 0.1, 200: 0.5}},
                  lambda t, init_value: init_value * (0.1 if t >= 100 else 1) * (0.5 if t >= 200 else 1),
                  [0, 99, 100, 199, 200, 1000]),
    "cosine": (optfn.cosine_decay, {"init_value": 1.0, "alpha": 0.1, "exponent": 1.5}, {"decay_steps": 40},
               lambda t, init_value, alpha, exponent: init_value * (
                   (1 - alpha) * (0.5 * (1 + math.cos(math.pi * min(t, 40) / 40))) ** exponent + alpha),
               [0, 10, 20, 40, 80]),
    "warmup_cosine": (optfn.warmup_cosine_decay, {"init_value": 0.0, "peak_value": 1e-3, "end_value": 1e-5},
                      {"warmup_steps": 10, "decay_steps": 110},
                      lambda t, init_value, peak_value, end_value: reference.warmup_cosine_decay(
                          t, init_value, peak_value, 10, 110, end_value),
                      [0, 5, 10, 60, 110, 500]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_schedule_matches_reference_eager_jit_and_vmap(name):
    make, numeric, static, ref, steps = CASES[name]
    sched = make(**numeric, **static)
    expected = np.array([ref(t, **numeric) for t in steps])
    eager = np.array([float(sched(t)) for t in steps])
    jitted = np.asarray(jax.jit(jax.vmap(sched))(jnp.asarray(steps, jnp.int32)))
    np.testing.assert_allclose(eager, expected, rtol=2e-6, atol=1e-9)
    np.testing.assert_allclose(jitted, expected, rtol=2e-6, atol=1e-9)
    # every numeric argument traced at once, vmapped over three settings
    factors = np.array([1.0, 0.5, 0.8])
    stacked = {k: jnp.asarray(v * factors, jnp.float32) for k, v in numeric.items()}
    out = jax.jit(jax.vmap(lambda kw: jax.vmap(make(**kw, **static))(jnp.asarray(steps, jnp.int32))))(stacked)
    for i, f in enumerate(factors):
        want = [ref(t, **{k: v * f for k, v in numeric.items()}) for t in steps]
        np.testing.assert_allclose(out[i], want, rtol=5e-6, atol=1e-9)


def test_notes_inverse_time_decay_per_epoch():
    s = optfn.per_epoch(optfn.inverse_time_decay(0.2, decay_rate=1.0), steps_per_epoch=50)
    np.testing.assert_allclose([s(0), s(49), s(50), s(100), s(149)], [0.2, 0.2, 0.1, 0.2 / 3, 0.2 / 3], rtol=1e-6)


def test_notes_exponential_decay_per_epoch():
    s = optfn.per_epoch(optfn.exponential_decay(0.1, 1, 0.95), steps_per_epoch=10)
    np.testing.assert_allclose([s(e * 10 + 3) for e in range(5)], [0.95**e * 0.1 for e in range(5)], rtol=1e-6)


def test_join_schedules_restarts_the_count():
    s = optfn.join_schedules([optfn.linear(0.0, 1.0, 10), optfn.cosine_decay(1.0, 20)], [10])
    np.testing.assert_allclose([s(0), s(5), s(10), s(20), s(30)],
                               [0.0, 0.5, 1.0, 0.5 * (1 + math.cos(math.pi / 2)), 0.0], atol=1e-6)


def test_schedule_drives_an_optimizer():
    opt = optfn.sgd(optfn.piecewise_constant(1.0, {2: 0.1}))
    state = opt.init(jnp.zeros(1))
    steps = []
    for _ in range(3):
        u, state = opt.update(jnp.ones(1), state)
        steps.append(float(u[0]))
    np.testing.assert_allclose(steps, [-1.0, -1.0, -0.1], rtol=1e-6)


@pytest.mark.parametrize("build, error, match", [
    (lambda: optfn.exponential_decay(1.0, 0, 0.9), ValueError, r"transition_steps must be > 0, got transition_steps=0"),
    (lambda: optfn.exponential_decay(1.0, 10, 0.0), ValueError, r"decay_rate must lie in \(0, inf\), got decay_rate=0.0"),
    (lambda: optfn.inverse_time_decay(1.0, -1.0), ValueError, r"decay_rate must lie in \(0, inf\), got decay_rate=-1.0"),
    (lambda: optfn.inverse_time_decay(1.0, 1.0, transition_steps=-5), ValueError, r"transition_steps must be > 0, got transition_steps=-5"),
    (lambda: optfn.cosine_decay(1.0, 2.5), TypeError, r"decay_steps must be a Python int"),
    (lambda: optfn.piecewise_constant(1.0, {200: 0.1, 100: 0.5}), ValueError, r"boundaries must be in ascending order, got \[200, 100\]"),
    (lambda: optfn.piecewise_constant(1.0, {-5: 0.1}), ValueError, r"boundary must be >= 0, got boundary=-5"),
    (lambda: optfn.warmup_cosine_decay(0.0, 1.0, 100, 50), ValueError, r"warmup_steps=100 must be below decay_steps=50"),
    (lambda: optfn.join_schedules([optfn.constant(1.0)], [10]), ValueError, r"one boundary fewer than schedules"),
    (lambda: optfn.per_epoch(optfn.constant(1.0), 0), ValueError, r"steps_per_epoch must be > 0"),
    (lambda: optfn.linear(float("nan"), 0.0, 10), ValueError, r"linear: init_value must be finite"),
])
def test_bad_schedule_arguments(build, error, match):
    with pytest.raises(error, match=match):
        build()
