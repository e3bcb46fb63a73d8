"""Hyperparameters stored in the optimizer state: same results, readable, settable, no recompiles."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import optfn
import reference

KEY = jax.random.PRNGKey(0)
X = jax.random.normal(KEY, (64, 5))
Y = X @ jnp.arange(1.0, 6.0) + 0.3


def _loss(p):
    return jnp.mean((X @ p["w"] + p["b"] - Y) ** 2)


PARAMS = {"w": jnp.zeros(5), "b": jnp.zeros(())}


def _train(opt, steps, params=PARAMS, state=None):
    def body(carry, _):
        p, s = carry
        u, s = opt.update(jax.grad(_loss)(p), s, p)
        return (optfn.apply_updates(p, u), s), None

    state = opt.init(params) if state is None else state
    (params, state), _ = jax.lax.scan(body, (params, state), length=steps)
    return params, state


def _no_decay_on_bias(p):
    return {"w": True, "b": False}


CASES = {
    "momentum": (optfn.sgd, dict(learning_rate=0.01, momentum=0.9)),
    "nesterov": (optfn.sgd, dict(learning_rate=0.01, momentum=0.9, nesterov=True)),
    "adagrad": (optfn.adagrad, dict(learning_rate=0.3, eps=1e-7)),
    "rmsprop": (optfn.rmsprop, dict(learning_rate=1e-2, decay=0.9, centered=True, momentum=0.5)),
    "adadelta": (optfn.adadelta, dict(learning_rate=1.0, rho=0.9, eps=1e-4)),
    "adam": (optfn.adam, dict(learning_rate=1e-2, b1=0.9, b2=0.999)),
    "adamw_schedule_mask": (optfn.adamw, dict(
        learning_rate=optfn.warmup_cosine_decay(0.0, 3e-2, warmup_steps=100, decay_steps=1000, end_value=1e-3),
        weight_decay=0.1, mask=_no_decay_on_bias)),
    "adam_per_epoch": (optfn.adam, dict(
        learning_rate=optfn.per_epoch(optfn.inverse_time_decay(3e-2, decay_rate=0.5), steps_per_epoch=100))),
    "nadamw": (optfn.nadamw, dict(learning_rate=1e-2, weight_decay=0.01)),
    "adabelief": (optfn.adabelief, dict(learning_rate=1e-2, b1=0.8)),
    "radam": (optfn.radam, dict(learning_rate=1e-2, threshold=6.0)),
    "amsgrad": (optfn.amsgrad, dict(learning_rate=1e-2, b2=0.99)),
    "adamax": (optfn.adamax, dict(learning_rate=1e-2, b1=0.8)),
    "lion": (optfn.lion, dict(learning_rate=3e-3, b2=0.98, weight_decay=0.0)),
    "sign_sgd": (optfn.sign_sgd, dict(learning_rate=optfn.cosine_decay(3e-2, 1000))),
    "signum": (optfn.signum, dict(learning_rate=optfn.cosine_decay(3e-2, 1000), beta=0.8)),
    "lamb": (optfn.lamb, dict(learning_rate=1e-2, weight_decay=0.01)),
    "lars": (optfn.lars, dict(learning_rate=1.0, trust_coefficient=0.02, momentum=0.8)),
    "adafactor": (optfn.adafactor, dict(learning_rate=1e-2, decay_rate=0.7, clipping_threshold=0.5,
                                        multiply_by_parameter_scale=False)),
}


@pytest.mark.parametrize("name", CASES)
def test_equals_the_plain_optimizer_over_1000_steps(name):
    factory, kwargs = CASES[name]
    plain, _ = jax.jit(lambda: _train(factory(**kwargs), 1000))()
    injected, _ = jax.jit(lambda: _train(optfn.inject_hyperparams(factory)(**kwargs), 1000))()
    for k in PARAMS:
        np.testing.assert_allclose(injected[k], plain[k], rtol=0, atol=1e-6)
    assert _loss(plain) < 0.5 * _loss(PARAMS)  # the runs really trained


def test_the_mask_is_not_a_schedule_and_still_masks():
    opt = optfn.inject_hyperparams(optfn.adamw)(learning_rate=0.1, weight_decay=0.5, mask=_no_decay_on_bias)
    state = opt.init(PARAMS)
    assert "mask" not in optfn.get_hyperparams(state)
    zero = {"w": jnp.zeros(5), "b": jnp.zeros(())}
    ones = {"w": jnp.ones(5), "b": jnp.ones(())}
    u, _ = opt.update(zero, state, ones)
    np.testing.assert_allclose(u["w"], -0.1 * 0.5)  # decayed: lr * wd * w
    np.testing.assert_allclose(u["b"], 0.0)  # masked out


def test_bf16_params_keep_float32_hyperparameters():
    params = {"w": jnp.ones(4, jnp.bfloat16)}
    opt = optfn.inject_hyperparams(optfn.adam)(learning_rate=1e-2, b2=0.999)
    state = opt.init(params)
    hp = optfn.get_hyperparams(state)
    assert hp["b2"].dtype == jnp.float32 and float(hp["b2"]) == np.float32(0.999)
    for _ in range(3):
        u, state = opt.update({"w": jnp.full(4, 0.3, jnp.bfloat16)}, state, params)
    assert u["w"].dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(u["w"], np.float32), -1e-2, rtol=1e-2)


def test_reading_the_learning_rate_for_a_constant_and_a_schedule():
    sched = optfn.exponential_decay(0.1, transition_steps=2, decay_rate=0.5)
    for lr, expected in ((0.05, lambda t: 0.05), (sched, lambda t: 0.1 * 0.5 ** (t / 2))):
        opt = optfn.inject_hyperparams(optfn.sgd)(learning_rate=lr)
        state = opt.init(PARAMS)
        np.testing.assert_allclose(optfn.get_hyperparams(state)["learning_rate"], expected(0), rtol=1e-6)
        for t in range(5):  # the value the update just used, t = 0, 1, ...
            _, state = opt.update(PARAMS, state)
            np.testing.assert_allclose(optfn.get_hyperparams(state)["learning_rate"], expected(t), rtol=1e-6)


def test_a_plain_function_schedule_is_readable_but_not_settable():
    opt = optfn.inject_hyperparams(optfn.sgd)(learning_rate=lambda n: 0.1 / (1.0 + n.astype(jnp.float32)))
    state = opt.update(PARAMS, opt.init(PARAMS))[1]
    np.testing.assert_allclose(optfn.get_hyperparams(state)["learning_rate"], 0.1)
    state = opt.update(PARAMS, state)[1]
    np.testing.assert_allclose(optfn.get_hyperparams(state)["learning_rate"], 0.05)
    with pytest.raises(ValueError, match="learning_rate follows a schedule.*plain function"):
        optfn.set_hyperparams(state, learning_rate=0.1)


def test_the_peak_of_a_warmup_cosine_can_be_changed_mid_training():
    warmup, total = 5, 20
    opt = optfn.inject_hyperparams(optfn.sgd)(
        learning_rate=optfn.warmup_cosine_decay(0.0, 1.0, warmup_steps=warmup, decay_steps=total))
    step = jax.jit(opt.update)
    state = opt.init(PARAMS)
    seen = []
    for t in range(total):
        if t == 8:
            state = optfn.set_hyperparams(state, {"learning_rate/peak_value": 0.25})
        _, state = step(PARAMS, state)
        seen.append(float(optfn.get_hyperparams(state)["learning_rate"]))
    expected = [reference.warmup_cosine_decay(t, 0.0, 1.0 if t < 8 else 0.25, warmup, total, 0.0, 1.0) for t in range(total)]
    np.testing.assert_allclose(seen, expected, rtol=1e-5, atol=1e-7)
    assert step._cache_size() == 1


def test_no_recompilation_for_new_values_or_mid_training_changes():
    schedule = optfn.exponential_decay(1e-2, transition_steps=10, decay_rate=0.9)
    make = optfn.inject_hyperparams(optfn.adamw)

    @jax.jit
    def train_step(params, state):
        u, state = opt.update(jax.grad(_loss)(params), state, params)
        return optfn.apply_updates(params, u), state

    opt = make(learning_rate=schedule, b1=0.9, b2=0.999, weight_decay=1e-4)
    finals = []
    values = [(1e-3, 0.8, 0.99, 0.5), (3e-3, 0.85, 0.995, 0.6), (1e-2, 0.9, 0.999, 0.7),
              (3e-2, 0.95, 0.9995, 0.8), (1e-1, 0.99, 0.9999, 0.9)]
    for lr, b1, b2, rate in values:  # five configurations, one compiled program
        state = optfn.set_hyperparams(opt.init(PARAMS), {"learning_rate/init_value": lr, "b1": b1, "b2": b2,
                                                         "learning_rate/decay_rate": rate})
        params = PARAMS
        for _ in range(5):
            params, state = train_step(params, state)
        finals.append(float(_loss(params)))
    assert train_step._cache_size() == 1
    assert len(set(finals)) == 5  # the values really took effect

    # A state from an optimizer built with other values is interchangeable too.
    other = make(learning_rate=optfn.exponential_decay(0.5, 10, 0.5), b1=0.5, b2=0.9, weight_decay=0.0)
    train_step(PARAMS, other.init(PARAMS))
    # Lowering the learning rate mid-training compiles nothing new.
    state = optfn.set_hyperparams(state, {"learning_rate/init_value": 1e-4})
    params, state = train_step(params, state)
    assert train_step._cache_size() == 1


def test_get_and_set_work_under_jit():
    opt = optfn.inject_hyperparams(optfn.adam)(learning_rate=1e-2)

    @jax.jit
    def lower(state, factor):
        lr = optfn.get_hyperparams(state)["learning_rate"]
        return optfn.set_hyperparams(state, learning_rate=lr * factor)

    state = lower(opt.init(PARAMS), jnp.float32(0.1))
    np.testing.assert_allclose(optfn.get_hyperparams(state)["learning_rate"], 1e-3, rtol=1e-6)


def test_get_and_set_on_a_whole_chain_including_optax():
    optax = pytest.importorskip("optax")
    opt = optfn.chain(optfn.clip_by_global_norm(1.0),
                      optfn.inject_hyperparams(optfn.adamw)(learning_rate=1e-2, weight_decay=1e-3))
    state = optfn.set_hyperparams(opt.init(PARAMS), weight_decay=0.0, learning_rate=0.5)
    assert float(optfn.get_hyperparams(state)["weight_decay"]) == 0.0
    assert float(optfn.get_hyperparams(state)["learning_rate"]) == 0.5
    assert isinstance(state[0], type(opt.init(PARAMS)[0]))  # the other parts are untouched
    ox = optax.chain(optax.clip(10.0), optfn.inject_hyperparams(optfn.sgd)(learning_rate=0.1))
    ox_state = optfn.set_hyperparams(ox.init(PARAMS), learning_rate=0.2)
    u, _ = ox.update({"w": jnp.ones(5), "b": jnp.ones(())}, ox_state)
    np.testing.assert_allclose(u["w"], -0.2)


def test_an_optax_factory_can_be_injected():
    optax = pytest.importorskip("optax")
    kwargs = dict(learning_rate=1e-2, b1=0.8, b2=0.99)
    with jax.numpy_dtype_promotion("standard"):  # optax mixes dtypes implicitly
        plain, _ = _train(optax.adam(**kwargs), 200)
        injected, state = _train(optfn.inject_hyperparams(optax.adam)(**kwargs), 200)
    np.testing.assert_allclose(injected["w"], plain["w"], atol=1e-6)
    assert float(optfn.get_hyperparams(state)["b1"]) == np.float32(0.8)


def test_vmapped_stack_of_states_one_value_per_trial():
    lrs = jnp.array([1e-3, 1e-2, 3e-2, 1e-1])
    opt = optfn.inject_hyperparams(optfn.adam)(learning_rate=1e-3)
    states = jax.vmap(lambda _: opt.init(PARAMS))(lrs)
    states = optfn.set_hyperparams(states, learning_rate=lrs, b1=0.8)  # per trial, then broadcast
    np.testing.assert_allclose(optfn.get_hyperparams(states)["learning_rate"], lrs)
    np.testing.assert_allclose(optfn.get_hyperparams(states)["b1"], [0.8] * 4)
    stacked_params = jax.tree.map(lambda p: jnp.broadcast_to(p, (4, *p.shape)), PARAMS)
    trained, _ = jax.jit(jax.vmap(lambda p, s: _train(opt, 100, p, s)))(stacked_params, states)
    for i, lr in enumerate(lrs):
        alone, _ = _train(optfn.adam(float(lr), b1=0.8), 100)
        np.testing.assert_allclose(trained["w"][i], alone["w"], atol=1e-6)
    with pytest.raises(ValueError, match=r"learning_rate has shape \(4,\).*shape \(3,\)"):
        optfn.set_hyperparams(states, learning_rate=lrs[:3])


def test_built_inside_vmap_with_traced_values():
    def final_loss(lr, decay):
        opt = optfn.inject_hyperparams(optfn.sgd)(learning_rate=optfn.exponential_decay(lr, 10, decay), momentum=0.9)
        params, state = _train(opt, 50)
        return _loss(params), optfn.get_hyperparams(state)["learning_rate/decay_rate"]

    losses, decays = jax.vmap(final_loss)(jnp.array([1e-3, 1e-2]), jnp.array([0.9, 0.5]))
    np.testing.assert_allclose(decays, [0.9, 0.5])
    assert losses[0] != losses[1]


def test_step_counts_stay_static_and_int_learning_rates_are_stored():
    seen = {}

    def factory(learning_rate, period: int = 5):
        seen["period"] = period
        return optfn.sgd(learning_rate)

    opt = optfn.inject_hyperparams(factory)(learning_rate=1, period=3)
    hp = optfn.get_hyperparams(opt.init(PARAMS))
    assert set(hp) == {"learning_rate"} and hp["learning_rate"].dtype == jnp.float32
    assert seen["period"] == 3 and isinstance(seen["period"], int)
    opt = optfn.inject_hyperparams(factory, hyperparams=["period"])(learning_rate=0.1, period=3)
    assert set(optfn.get_hyperparams(opt.init(PARAMS))) == {"period"}


@settings(max_examples=8, deadline=None)
@given(lr=st.floats(1e-4, 1.0), b1=st.floats(0.0, 0.99), b2=st.floats(0.5, 0.9999))
def test_property_injected_adam_equals_plain_adam(lr, b1, b2):
    plain, _ = _train(optfn.adam(lr, b1, b2), 20)
    injected, _ = _train(optfn.inject_hyperparams(optfn.adam)(lr, b1, b2), 20)
    np.testing.assert_allclose(injected["w"], plain["w"], rtol=1e-6, atol=1e-7)


def test_bad_input_gives_clear_errors():
    opt = optfn.inject_hyperparams(optfn.adam)(learning_rate=optfn.cosine_decay(1e-2, 100), b1=0.9)
    state = opt.init(PARAMS)
    with pytest.raises(ValueError, match=r"unknown hyperparameter 'lr'.*'b1'.*'learning_rate/init_value'"):
        optfn.set_hyperparams(state, lr=1e-3)
    with pytest.raises(ValueError, match=r"learning_rate follows a schedule.*learning_rate/init_value"):
        optfn.set_hyperparams(state, learning_rate=1e-3)
    with pytest.raises(ValueError, match=r"b1 must be finite, got b1=nan"):
        optfn.set_hyperparams(state, b1=float("nan"))
    with pytest.raises(TypeError, match=r"b1 must be a number or an array, got b1='high'"):
        optfn.set_hyperparams(state, b1="high")
    with pytest.raises(ValueError, match="holds no stored hyperparameters"):
        optfn.get_hyperparams(optfn.adam(1e-3).init(PARAMS))
    with pytest.raises(ValueError, match="learning_rate must lie in"):  # adam's own check, at construction
        optfn.inject_hyperparams(optfn.adam)(learning_rate=-1.0)
    with pytest.raises(ValueError, match=r"hyperparams \['lr'\] are not arguments of adam"):
        optfn.inject_hyperparams(optfn.adam, hyperparams=["lr"])
    with pytest.raises(TypeError, match="inject_hyperparams\\(adam\\): missing a required argument: 'learning_rate'"):
        optfn.inject_hyperparams(optfn.adam)(b1=0.9)
    with pytest.raises(TypeError, match="InjectHyperparamsState"):
        opt.update(PARAMS, optfn.adam(1e-3).init(PARAMS))
    twice = optfn.chain(optfn.inject_hyperparams(optfn.sgd)(0.1), optfn.inject_hyperparams(optfn.sgd)(0.2))
    with pytest.raises(ValueError, match=r"\['learning_rate'\] are stored by more than one part.*state\[0\]"):
        optfn.get_hyperparams(twice.init(PARAMS))
    with pytest.raises(ValueError, match=r"'learning_rate' is stored by 2 parts"):
        optfn.set_hyperparams(twice.init(PARAMS), learning_rate=0.1)
    np.testing.assert_allclose(optfn.get_hyperparams(twice.init(PARAMS)[1])["learning_rate"], 0.2)
