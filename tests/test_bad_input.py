"""Static mistakes raise clear errors that name the argument and its value."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optfn

PARAMS = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: optfn.adam(1e-3, b1=1.0), r"scale_by_adam: b1 must lie in \[0, 1\), got b1=1.0"),
        (lambda: optfn.adam(1e-3, b1=-0.1), r"b1 must lie in \[0, 1\), got b1=-0.1"),
        (lambda: optfn.adam(1e-3, b2=1.5), r"b2 must lie in \[0, 1\), got b2=1.5"),
        (lambda: optfn.adam(1e-3, eps=-1e-8), r"eps must lie in \[0, inf\), got eps=-1e-08"),
        (lambda: optfn.adam(float("nan")), r"learning_rate must be finite, got learning_rate=nan"),
        (lambda: optfn.adam(-1e-3), r"learning_rate must lie in \[0, inf\).*flip_sign=False"),
        (lambda: optfn.sgd(0.1, momentum=1.2), r"trace: decay must lie in \[0, 1\], got decay=1.2"),
        (lambda: optfn.sgd(0.1, momentum=float("inf")), r"decay must be finite"),
        (lambda: optfn.rmsprop(0.1, decay=-0.5), r"scale_by_rms: decay must lie in \[0, 1\)"),
        (lambda: optfn.rmsprop(0.1, centered=True, eps=-1.0), r"scale_by_stddev: eps"),
        (lambda: optfn.adagrad(0.1, initial_accumulator_value=-1.0), r"initial_accumulator_value=-1.0"),
        (lambda: optfn.adadelta(rho=2.0), r"scale_by_adadelta: rho must lie in \[0, 1\], got rho=2.0"),
        (lambda: optfn.adadelta(eps=0.0), r"eps must lie in \(0, inf\), got eps=0.0"),
        (lambda: optfn.adamw(1e-3, weight_decay=-0.1), r"weight_decay must lie in \[0, inf\), got weight_decay=-0.1"),
        (lambda: optfn.clip_by_global_norm(0.0), r"max_norm must lie in \(0, inf\), got max_norm=0.0"),
        (lambda: optfn.clip(-1.0), r"clip: max_delta must lie in \[0, inf\)"),
        (lambda: optfn.ema(1.0), r"ema: decay must lie in \[0, 1\)"),
        (lambda: optfn.scale(np.array([1.0, np.nan])), r"scale: step_size must be finite"),
        (lambda: optfn.scale_by_learning_rate({"w": 1e-3, "b": -1.0}), r"learning_rate must lie in \[0, inf\)"),
    ],
)
def test_bad_static_hyperparameter_raises_value_error(build, match):
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: optfn.adam("0.001"), r"learning_rate must be a number or an array, got learning_rate='0.001' of type str"),
        (lambda: optfn.adam(1e-3, b1=None), r"b1 must be a number or an array"),
        (lambda: optfn.sgd(True), r"learning_rate must be a number or an array"),
        (lambda: optfn.chain(optfn.adam), r"argument 0 is a function, not a gradient transformation.*optfn.adam\(1e-3\)"),
        (lambda: optfn.scale_by_schedule(0.1), r"step_size_fn must be a function"),
    ],
)
def test_wrong_types_raise_type_error(build, match):
    with pytest.raises(TypeError, match=match):
        build()


def test_traced_hyperparameters_are_not_checked_on_the_host():
    # A traced b1 cannot be checked without a host round trip; it must simply work.
    out = jax.jit(lambda b1: optfn.adam(0.1, b1=b1).update(jnp.ones(1), optfn.adam(0.1).init(jnp.ones(1)))[0])(0.5)
    assert out.shape == (1,)


@pytest.mark.parametrize("make", [optfn.adam, optfn.sgd, lambda lr: optfn.sgd(lr, 0.9), optfn.rmsprop, optfn.adagrad])
def test_integer_and_boolean_params_are_rejected_at_init(make):
    opt = make(0.1)
    with pytest.raises(TypeError, match=r"parameters must be floating point, got \['step'\] \(int32\)"):
        opt.init({"w": jnp.ones(2), "step": jnp.zeros((), jnp.int32)})
    with pytest.raises(TypeError, match=r"\['mask'\] \(bool\)"):
        opt.init({"w": jnp.ones(2), "mask": jnp.ones(2, bool)})


def test_gradient_tree_with_other_structure_names_the_paths():
    opt = optfn.adam(1e-3)
    state = opt.init(PARAMS)
    with pytest.raises(ValueError, match=r"missing from updates: \['b'\]; not in the state: \['bias'\]"):
        opt.update({"w": jnp.ones((2, 3)), "bias": jnp.zeros(3)}, state)
    with pytest.raises(ValueError, match=r"leaf shapes of updates differ from the state at \['w'\]: \(3, 2\) vs \(2, 3\)"):
        opt.update({"w": jnp.ones((3, 2)), "b": jnp.zeros(3)}, state)


def test_state_from_another_optimizer_is_rejected():
    adam_state = optfn.adam(1e-3).init(PARAMS)
    sgd = optfn.sgd(1e-3, momentum=0.9)
    with pytest.raises(TypeError, match=r"trace: expected a TraceState, got a ScaleByAdamState"):
        sgd.update(PARAMS, adam_state)
    with pytest.raises(TypeError, match=r"expected the state of a chain of 2 transformations.*got a dict"):
        sgd.update(PARAMS, {"not": "a state"})
    lone = optfn.scale_by_adam()
    with pytest.raises(TypeError, match=r"expected a ScaleByAdamState, got a tuple"):
        lone.update(PARAMS, adam_state)


def test_apply_updates_with_mismatched_trees():
    with pytest.raises(ValueError, match=r"apply_updates.*missing from updates: \['b'\]"):
        optfn.apply_updates(PARAMS, {"w": jnp.ones((2, 3))})


def test_weight_decay_without_params_and_bad_masks():
    opt = optfn.adamw(1e-3)
    with pytest.raises(ValueError, match=r"add_decayed_weights: update needs the current params"):
        opt.update(PARAMS, opt.init(PARAMS))
    with pytest.raises(ValueError, match=r"mask must be a pytree of bools with the params' structure"):
        optfn.adamw(1e-3, mask={"w": True, "x": False}).init(PARAMS)
    with pytest.raises(TypeError, match=r"mask leaves must be bools, got 'yes'"):
        optfn.adamw(1e-3, mask={"w": "yes", "b": False})


def test_learning_rate_tree_must_prefix_the_params():
    opt = optfn.sgd({"w": 0.1, "c": 0.2})
    with pytest.raises(ValueError, match=r"tree of learning rates must be a prefix of the params tree"):
        opt.init(PARAMS)
