"""What an optax user's code expects after ``import optfn as optax``, one test per fix."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optfn


def test_schedules_work_under_jit_and_eval_shape():
    schedule = optfn.cosine_decay(1.0, 10)
    np.testing.assert_allclose(jax.jit(schedule)(3), 0.5 * (1 + np.cos(np.pi * 0.3)), rtol=1e-6)
    assert jax.eval_shape(schedule, 0).shape == ()
    # a count past int32 is a float: optax's giant-step test
    np.testing.assert_allclose(jax.jit(optfn.cosine_decay(1000.0, int(1e10)))(int(1e9)), 975.52826, rtol=1e-6)


def _complex_parabola(opt, steps=500):
    """optax's complex parabola: minimise |z - z*|^2 with conjugated gradients."""
    target = jnp.array([1.0, -1.0, 1.0], jnp.complex64) * (1 + 1j)
    z = jnp.array([-1.0, 10.0, 1.0], jnp.complex64)
    state = opt.init(z)

    @jax.jit
    def step(z, state):
        g = jax.grad(lambda z: jnp.sum(jnp.real(jnp.conj(z - target) * (z - target))))(z).conj()
        u, state = opt.update(g, state, z)
        return optfn.apply_updates(z, u), state

    for _ in range(steps):
        z, state = step(z, state)
    return z, target


@pytest.mark.parametrize("name", ["adam", "adamw", "nadam", "adagrad", "rmsprop"])
def test_complex_parameters_use_the_squared_modulus(name):
    ours, theirs = getattr(optfn, name)(0.1), getattr(optax, name)(0.1)
    z, g = jnp.array([0.5 - 2j], jnp.complex64), jnp.array([1.0 + 0.5j], jnp.complex64)
    a, b = ours.init(z), theirs.init(z)
    for _ in range(3):
        ua, a = ours.update(g, a, z)
        with jax.numpy_dtype_promotion("standard"):  # optax's own code needs it
            ub, b = theirs.update(g, b, z)
    np.testing.assert_allclose(ua, ub, rtol=2e-5)
    z, target = _complex_parabola(getattr(optfn, name)(0.1 if name != "adagrad" else 1.0), steps=300)
    np.testing.assert_allclose(z, target, atol=5e-2)  # from 10 away to the minimum


def test_adagrad_on_a_complex_number_moves():
    updates, _ = optfn.adagrad(0.1).update(jnp.array(0.5 - 2j), optfn.adagrad(0.1).init(jnp.array(0j)))
    np.testing.assert_allclose(updates, -0.1 * (0.5 - 2j) / np.sqrt(abs(0.5 - 2j) ** 2 + 0.1), rtol=1e-5)


def test_safe_increment_saturates_at_each_dtypes_own_max():
    assert int(optfn.safe_increment(jnp.int8(3))) == 4 and int(optfn.safe_increment(jnp.int8(127))) == 127
    assert optfn.safe_increment(jnp.int8(127)).dtype == jnp.int8
    assert int(optfn.safe_increment(jnp.int32(2**31 - 1))) == 2**31 - 1
    assert int(optfn.safe_increment(jnp.uint8(255))) == 255
    for bad in (jnp.bool_(True), jnp.complex64(1)):
        with pytest.raises(TypeError, match="safe_increment: count must be an integer or float array"):
            optfn.safe_increment(bad)
        with pytest.raises(ValueError):  # the error type optax's safe_increment raises
            optfn.safe_increment(bad)


def test_apply_updates_keeps_none_params_none():
    # optax's apply_updates(None, u) is None, and a None leaf of params takes no update
    assert optfn.apply_updates(None, jnp.ones(3)) is None
    out = optfn.apply_updates({"a": None, "b": jnp.ones(2)}, {"a": jnp.ones(3), "b": jnp.ones(2)})
    assert out["a"] is None and np.array_equal(out["b"], [2.0, 2.0])
    with pytest.raises(ValueError, match="missing from updates: \\['a'\\]"):
        optfn.apply_updates({"a": jnp.ones(1)}, {"b": jnp.ones(1)})


def test_a_transformation_with_extra_args_is_built_and_chained_as_in_optax():
    # optax code after the switch: optax.GradientTransformationExtraArgs(init, update) with a
    # keyword-only argument, chained with an optimizer; the keyword reaches it
    seen = []

    def update(updates, state, params=None, *, loss, **extra_args):
        del params, extra_args
        seen.append(loss)
        return updates, state

    part = optfn.GradientTransformationExtraArgs(lambda params: optfn.EmptyState(), update)
    opt = optfn.chain(optfn.sgd(0.1), part)
    assert isinstance(opt, optfn.GradientTransformationExtraArgs)
    assert isinstance(opt, optfn.GradientTransformation)
    updates, _ = opt.update(jnp.ones(2), opt.init(jnp.zeros(2)), loss=1.5, ignored="hi")
    assert seen == [1.5]
    np.testing.assert_allclose(updates, [-0.1, -0.1])


def test_any_argument_may_follow_an_optfn_schedule():
    opt = optfn.inject_hyperparams(optfn.sgd)(learning_rate=0.1, momentum=optfn.linear(0.5, 0.9, 100))
    state = opt.init(jnp.zeros(2))
    assert float(state.hyperparams["momentum"]) == 0.5  # optax's idiom: the current value
    for _ in range(50):
        _, state = jax.jit(opt.update)(jnp.ones(2), state)
    np.testing.assert_allclose(state.hyperparams["momentum"], 0.5 + 0.4 * 49 / 100, rtol=1e-6)
    state = optfn.set_hyperparams(state, {"momentum/end_value": 0.5})
    _, state = opt.update(jnp.ones(2), state)
    np.testing.assert_allclose(state.hyperparams["momentum"], 0.5, rtol=1e-6)


def test_a_scheduled_learning_rate_is_readable_as_in_optax():
    opt = optfn.inject_hyperparams(optfn.adam)(learning_rate=optfn.linear(1.0, 0.0, 10))
    state = opt.init(jnp.zeros(2))
    for _ in range(4):
        _, state = opt.update(jnp.ones(2), state)
    np.testing.assert_allclose(state.hyperparams["learning_rate"], 0.7, rtol=1e-6)  # the 4th update's rate


def test_prng_keys_and_seeds_stay_as_they_are():
    with jax.numpy_dtype_promotion("standard"):  # optax's own code needs it
        opt = optfn.inject_hyperparams(optax.noisy_sgd)(learning_rate=0.1, key=jax.random.key(0))
        updates, _ = opt.update(jnp.ones(2), opt.init(jnp.zeros(2)))
        assert updates.shape == (2,) and "key" not in optfn.get_hyperparams(opt.init(jnp.zeros(2)))
        raw = optfn.inject_hyperparams(optax.noisy_sgd)(learning_rate=0.1, key=0)  # an int seed
        assert raw.update(jnp.ones(2), raw.init(jnp.zeros(2)))[0].shape == (2,)


def test_injected_adadelta_has_the_plain_structure_and_needs_no_params():
    injected, plain = optfn.inject_hyperparams(optfn.adadelta)(learning_rate=0.1), optfn.adadelta(0.1)
    a, b = injected.init(jnp.zeros(2)), plain.init(jnp.zeros(2))
    assert jax.tree.structure(a.inner_state) == jax.tree.structure(b)
    ua, _ = injected.update(jnp.ones(2), a)
    ub, _ = plain.update(jnp.ones(2), b)
    np.testing.assert_allclose(ua, ub, rtol=1e-6)


@pytest.mark.parametrize("change, match", [
    ({"b1": 1.0}, r"b1 must lie in \[0, 1\), got b1=1.0"),
    ({"b2": 2.0}, r"b2 must lie in \[0, 1\), got b2=2.0"),
    ({"learning_rate": -1.0}, r"learning_rate must lie in \[0, inf\), got learning_rate=-1.0"),
    ({"eps": float("nan")}, r"eps must be finite"),
])
def test_set_hyperparams_checks_concrete_values_like_construction(change, match):
    state = optfn.inject_hyperparams(optfn.adam)(learning_rate=0.1).init(jnp.zeros(2))
    with pytest.raises(ValueError, match="set_hyperparams: .*" + match):
        optfn.set_hyperparams(state, change)


def test_set_hyperparams_checks_schedule_parameters_and_leaves_traced_values_alone():
    opt = optfn.inject_hyperparams(optfn.adam)(learning_rate=optfn.warmup_cosine_decay(0.0, 1e-3, 10, 100))
    state = opt.init(jnp.zeros(2))
    with pytest.raises(ValueError, match=r"learning_rate/peak_value must lie in \[0, inf\), got .*=-1"):
        optfn.set_hyperparams(state, {"learning_rate/peak_value": -1})
    traced = jax.jit(lambda s, v: optfn.set_hyperparams(s, b1=v))(state, jnp.float32(2.0))  # no host sync
    assert float(traced.hyperparams["b1"]) == 2.0


def test_inject_hyperparams_takes_optax_arguments():
    opt = optfn.inject_hyperparams(optfn.adam, static_args=("b1",), hyperparam_dtype=jnp.bfloat16)(
        learning_rate=0.1, b1=0.9)
    state = opt.init(jnp.zeros(2))
    assert "b1" not in state.hyperparams and state.hyperparams["learning_rate"].dtype == jnp.bfloat16
    with pytest.raises(TypeError, match=r"hyperparam_dtype must be None or a dtype.*'floot32'"):
        optfn.inject_hyperparams(optfn.adam, hyperparam_dtype="floot32")
    with pytest.raises(ValueError, match=r"static_args \['lr'\] are not arguments of scale"):
        optfn.inject_hyperparams(optfn.scale, static_args="lr")


def test_optax_schedule_names_resolve_to_optfn_schedules():
    import optfn as switched

    assert switched.linear_schedule is optfn.linear and switched.cosine_decay_schedule is optfn.cosine_decay
    assert switched.warmup_cosine_decay_schedule is optfn.warmup_cosine_decay
    assert "linear_schedule" not in dir(optfn)  # one documented name per object
    with pytest.raises(AttributeError, match="no attribute 'yogi'"):
        switched.yogi


def test_stateless_transforms_accept_none_as_their_state_as_in_optax():
    updates, state = optfn.clip_by_global_norm(1.0).update({"a": jnp.array([3.0, 4.0])}, None)
    np.testing.assert_allclose(updates["a"], [0.6, 0.8], rtol=1e-6)


def test_hyperparameter_names_are_the_same_under_flax_nnx():
    nnx = pytest.importorskip("flax.nnx")
    model = nnx.Linear(2, 3, rngs=nnx.Rngs(0))
    opt = nnx.Optimizer(model, optfn.inject_hyperparams(optfn.adam)(learning_rate=0.1), wrt=nnx.Param)
    assert sorted(optfn.get_hyperparams(opt.opt_state)) == ["b1", "b2", "eps", "eps_root", "learning_rate"]
    opt.opt_state = optfn.set_hyperparams(opt.opt_state, b1=0.8, learning_rate=0.01)

    @nnx.jit
    def step(model, opt, x):
        opt.update(model, nnx.grad(lambda m: jnp.sum(m(x) ** 2))(model))

    step(model, opt, jnp.ones((4, 2)))
    hp = optfn.get_hyperparams(opt.opt_state)
    np.testing.assert_allclose([hp["b1"], hp["learning_rate"]], [0.8, 0.01], rtol=1e-6)


def test_adam_with_eps_zero_takes_no_step_where_the_gradient_was_always_zero():
    g = jnp.array([0.0, 0.5])
    for opt in (optfn.adam(0.1, eps=0.0), optfn.adamw(0.1, eps=0.0, weight_decay=0.0)):
        u, _ = opt.update(g, opt.init(jnp.zeros(2)), jnp.zeros(2))
        np.testing.assert_array_equal(u, np.float32([0.0, -0.1]))
    with jax.numpy_dtype_promotion("standard"):
        assert np.isnan(optax.adam(0.1, eps=0.0).update(g, optax.adam(0.1, eps=0.0).init(jnp.zeros(2)))[0][0])
