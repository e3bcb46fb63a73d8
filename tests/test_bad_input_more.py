"""Inputs a new user gets wrong: each raises a clear error naming the argument, before anything trains."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optfn
from optfn import sweep

X = jax.random.normal(jax.random.PRNGKey(0), (64, 3))
DATA = {"x": X, "y": X.sum(1)}
SPACE = sweep.Space({"lr": sweep.log_uniform(1e-3, 0.1)})


def _runner(**kw):
    args = dict(init=lambda key, hp: jnp.zeros(3), loss=lambda w, b: jnp.mean((b["x"] @ w - b["y"]) ** 2),
                optimizer=lambda hp: optfn.sgd(hp["lr"]), data=DATA, steps=20, chunk_steps=10, batch_size=8)
    return sweep.Runner(**{**args, **kw})


ZEROS = jnp.zeros(2)


@pytest.mark.parametrize("build, error, match", [
    (lambda: optfn.adam(None), TypeError, r"adam: learning_rate is required, got learning_rate=None"),
    (lambda: optfn.sgd(None), TypeError, r"sgd: learning_rate is required"),
    (lambda: optfn.adam(0.1, b1=0.9 + 0j), TypeError, r"b1 must be a real number, got b1=\(0.9\+0j\)"),
    (lambda: optfn.adam(0.1, mu_dtype=jnp.int32), TypeError, r"mu_dtype must be a floating dtype"),
    (lambda: optfn.adam(0.1, mu_dtype="floot32"), TypeError, r"mu_dtype must be None or a dtype.*'floot32'"),
    (lambda: optfn.sgd(0.1, 0.9, nesterov="no"), TypeError, r"sgd: nesterov must be True or False, got nesterov='no'"),
    (lambda: optfn.adam(0.1, nesterov=1), TypeError, r"nesterov must be True or False"),
    (lambda: optfn.rmsprop(0.1, centered="yes"), TypeError, r"rmsprop: centered must be True or False"),
    (lambda: optfn.rmsprop(0.1, decay=1.0), ValueError, r"scale_by_rms: decay must lie in \[0, 1\), got decay=1.0"),
    (lambda: optfn.polynomial(1.0, 0.0, -1.0, 10), ValueError, r"polynomial: power must lie in \[0, inf\)"),
    (lambda: optfn.cosine_decay(1.0, 10, alpha=2.0), ValueError, r"cosine_decay: alpha must lie in \[0, 1\]"),
    (lambda: optfn.adam(optfn.linear(1e-3, -1e-3, 100)), ValueError,
     r"learning-rate schedule .* gives -0.001 at step 1000000000; a learning rate must be >= 0"),
    (lambda: optfn.batch_norm_init(3.0), TypeError, r"num_features must be a positive int .* got num_features=3.0"),
    (lambda: optfn.lion(1e-4, b1=1.5), ValueError, r"scale_by_lion: b1 must lie in \[0, 1\], got b1=1.5"),
    (lambda: optfn.lion(None), TypeError, r"lion: learning_rate is required"),
    (lambda: optfn.signum(0.1, beta=-0.1), ValueError, r"signum: beta must lie in \[0, 1\]"),
    (lambda: optfn.radam(1e-3, threshold=3.0), ValueError, r"scale_by_radam: threshold must lie in \[4, inf\).*rho_t > 4"),
    (lambda: optfn.adabelief(1e-3, b2=1.0), ValueError, r"scale_by_belief: b2 must lie in \[0, 1\)"),
    (lambda: optfn.amsgrad(1e-3, bias_correction_nu="no"), TypeError, r"bias_correction_nu must be True or False"),
    (lambda: optfn.adamax(1e-3, eps=-1.0), ValueError, r"scale_by_adamax: eps must lie in \[0, inf\)"),
    (lambda: optfn.lars(0.1, nesterov="yes"), TypeError, r"lars: nesterov must be True or False"),
    (lambda: optfn.lars(0.1, trust_coefficient=0.0), ValueError, r"trust_coefficient must lie in \(0, inf\)"),
    (lambda: optfn.lion(1e-4, mode="soft"), ValueError,
     r"scale_by_lion: mode must be one of 'hard', 'smooth', 'refined', got mode='soft'"),
    (lambda: optfn.lion(1e-4, mode="smooth", smooth_beta=0.0), ValueError, r"smooth_beta must lie in \(0, inf\)"),
    (lambda: optfn.adamw(1e-3, weight_decay=-0.1), ValueError, r"adamw: weight_decay must lie in \[0, inf\)"),
    (lambda: optfn.add_decayed_weights(float("nan")), ValueError, r"add_decayed_weights: weight_decay"),
    (lambda: optfn.lamb(0.1, weight_decay=-0.1), ValueError, r"lamb: weight_decay must lie in \[0, inf\), got weight_decay=-0.1"),
    (lambda: optfn.adafactor(min_dim_size_to_factor=0), ValueError, r"min_dim_size_to_factor must be a positive int"),
    (lambda: optfn.adafactor(clipping_threshold=0.0), ValueError, r"clip_by_block_rms: threshold must lie in \(0"),
    (lambda: optfn.flatten(optfn.adam), TypeError, r"flatten: inner must be a GradientTransformation"),
    (lambda: optfn.MultiSteps(optfn.adam(0.1), 2.5), TypeError,
     r"MultiSteps: every_k_schedule must be a positive int, got every_k_schedule=2.5"),
    (lambda: optfn.MultiSteps(optfn.adam, 2), TypeError, r"MultiSteps: opt must be a gradient transformation"),
    (lambda: optfn.lookahead(optfn.sgd(0.1), 0, 0.5), TypeError, r"lookahead: sync_period must be a positive int"),
    (lambda: optfn.lookahead(optfn.sgd(0.1), 5, 1.5), ValueError, r"lookahead: slow_step_size must lie in \[0, 1\]"),
    (lambda: optfn.apply_if_finite(optfn.sgd(0.1), 1.5), TypeError, r"max_consecutive_errors must be an int >= 0"),
    (lambda: optfn.masked(optfn.sgd, {"w": True}), TypeError, r"masked: inner must be a gradient transformation"),
    (lambda: optfn.partition({"a": optfn.sgd}, {"w": "a"}), TypeError, r"partition: transforms\['a'\] must be"),
    (lambda: optfn.partition({"a": optfn.sgd(0.1)}, {"w": "b"}).init({"w": ZEROS}), ValueError,
     r"partition: the labels \[\"'b'\"\] have no transformation"),
    (lambda: optfn.schedule_free_adamw(0.1, b1=0.0), ValueError, r"schedule_free: b1 must lie in \(0, 1\]"),
    (lambda: optfn.prodigy(betas=0.9), TypeError, r"prodigy: betas must be a pair"),
    (lambda: optfn.muon(0.1, ns_steps=2.0), TypeError, r"scale_by_muon: ns_steps must be a positive int"),
    (lambda: optfn.scale_by_muon().init({"b": ZEROS}), ValueError, r"scale_by_muon: every leaf must be a matrix.*\['b'\]"),
    (lambda: optfn.soap(precondition_frequency=0), TypeError, r"scale_by_soap: precondition_frequency must be a positive int"),
    (lambda: optfn.adam(0.1, nu_dtype=jnp.int8), TypeError, r"scale_by_adam: nu_dtype must be a floating dtype"),
    (lambda: optfn.schedule_free_sgd(0.1).update(ZEROS, optfn.schedule_free_sgd(0.1).init(ZEROS)), ValueError,
     r"schedule_free: update needs the params"),
])
def test_construction_refuses(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_integer_gradients_and_parameters_are_refused():
    opt = optfn.adam(0.1)
    with pytest.raises(TypeError, match=r"scale_by_adam: updates must be floating point, got <root> \(int32\)"):
        opt.update(jnp.ones(2, jnp.int32), opt.init(ZEROS))
    with pytest.raises(TypeError, match=r"apply_updates: parameters must be floating point"):
        optfn.apply_updates(jnp.ones(2, jnp.int32), jnp.ones(2))


def test_global_norm_takes_lists_and_large_integers():
    np.testing.assert_allclose(optfn.global_norm({"a": [0], "b": [0.3, 0.4]}), 0.5, rtol=1e-6)
    big = jnp.array([2**20, 2**20], jnp.int32)  # its int32 square overflows
    np.testing.assert_allclose(optfn.global_norm(big), 2**20 * np.sqrt(2), rtol=1e-6)


def test_batch_norm_with_an_all_false_mask_keeps_its_running_averages():
    params, state = optfn.batch_norm_init(3)
    x = 5 * jax.random.normal(jax.random.PRNGKey(1), (8, 3)) + 2
    y, new = optfn.batch_norm(params, state, x, training=True, mask=jnp.zeros((8, 1), bool))
    np.testing.assert_allclose(y, x / np.sqrt(1 + 1e-5), rtol=1e-5)  # the running averages: mean 0, var 1
    np.testing.assert_array_equal(new.mean, state.mean)
    np.testing.assert_array_equal(new.var, state.var)


def test_batch_norm_with_an_unbound_axis_name_says_where_to_call_it():
    params, state = optfn.batch_norm_init(3)
    with pytest.raises(ValueError, match=r"axis_name='batch' is not bound here.*jax.vmap"):
        optfn.batch_norm(params, state, jnp.ones((4, 3)), training=True, axis_name="batch")


def test_space_and_results_refuse_bad_arguments():
    with pytest.raises(TypeError, match=r"dimension 'lr' is a list .* sweep.choice\(\*\[0.1, 0.01\]\)"):
        sweep.Space({"lr": [0.1, 0.01]})
    with pytest.raises(ValueError, match=r"a grid over 2 dimensions needs n = k\*\*2 trials.*got n=10"):
        sweep.Space({"a": sweep.uniform(0, 1), "b": sweep.uniform(0, 1)}).sample(10, method="grid")
    result = _runner().run(SPACE, 3)
    with pytest.raises(ValueError, match=r"margin must be a number >= 0.*margin=-1"):
        SPACE.zoom(result, top_k=2, margin=-1)
    with pytest.raises(ValueError, match=r"SweepResult.top: k must be an int >= 0, got k=-1"):
        result.top(-1)


@pytest.mark.parametrize("kw, error, match", [
    (dict(diverge_factor=0), ValueError, r"diverge_factor must be a number > 1, got diverge_factor=0"),
    (dict(evaluate=lambda w, d: w), ValueError, r"evaluate must return a scalar"),
    (dict(evaluate=lambda w, d: jnp.sum(w)), ValueError, r"evaluate is given but eval_data is None"),
    (dict(has_state=True), ValueError, r"with has_state=True, init must return \(params, model_state\)"),
    (dict(optimizer=lambda hp: optfn.adam), TypeError, r"optimizer\(hp\) must return a GradientTransformation"),
])
def test_runner_mistakes_are_found_before_anything_trains(kw, error, match):
    if "evaluate" in kw and "eval_data" not in kw and "scalar" in match:
        kw = {**kw, "eval_data": DATA}
    with pytest.raises(error, match=match):
        _runner(**kw).run(SPACE, 2)


@pytest.mark.parametrize("run_kw, error, match", [
    (dict(seed=1.5), TypeError, r"seed must be an int or a PRNG key.*seed=1.5"),
    (dict(seed="abc"), TypeError, r"seed must be an int or a PRNG key.*seed='abc'"),
    (dict(halving=2, min_steps=20), ValueError, r"min_steps=20 leaves no rung before the end \(steps=20\)"),
])
def test_run_arguments_are_checked(run_kw, error, match):
    with pytest.raises(error, match=match):
        _runner().run(SPACE, 2, **run_kw)


@pytest.mark.slow
def test_numpy_seeds_work_and_given_values_are_numbers():
    a = _runner().run(SPACE, 2, seed=np.int64(3))
    b = _runner().run(SPACE, 2, seed=3)
    assert a.to_dicts() == b.to_dicts()
    with pytest.raises(TypeError, match=r"lr is a numeric dimension, so each given value must be a number, got lr='0.1'"):
        _runner().run(SPACE, [{"lr": "0.1"}])


def test_checkpoint_error_is_public():
    assert issubclass(sweep.CheckpointError, ValueError)


@pytest.mark.parametrize("opt", [optfn.adam(0.1, b1=jnp.full(5, 0.9)), optfn.sgd(jnp.full(5, 0.1)),
                                 optfn.rmsprop(0.1, decay=jnp.full(5, 0.9))], ids=["adam_b1", "sgd_lr", "rmsprop_decay"])
def test_array_hyperparameters_that_do_not_fit_a_leaf_are_named(opt):
    with pytest.raises(ValueError, match=r"has shape \(5,\), which does not fit the leaf <root> of shape \(3,\)"):
        opt.update(jnp.ones(3), opt.init(jnp.zeros(3)))


def test_a_full_disk_names_the_file_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    import errno

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full)
    path = tmp_path / "best.npz"
    with pytest.raises(OSError, match=rf"could not write {path} \(No space left on device\)"):
        sweep.save_params(str(path), {"w": np.ones(2)})
    assert list(tmp_path.iterdir()) == []


def test_load_params_names_a_file_save_params_did_not_write(tmp_path):
    other = tmp_path / "other.npz"
    np.savez(other, w=np.ones(2))  # a plain .npz: no tree structure
    with pytest.raises(ValueError, match=rf"load_params: {other} is not a file written by optfn.sweep.save_params"):
        sweep.load_params(str(other))
    good = tmp_path / "best.npz"
    sweep.save_params(str(good), {"w": np.ones(2), "b": [np.zeros(3)]})
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[:100])  # a truncated copy
    with pytest.raises(ValueError, match=rf"load_params: {cut} is not a file written"):
        sweep.load_params(str(cut))
    back = sweep.load_params(str(good))
    np.testing.assert_array_equal(back["b"][0], np.zeros(3))
