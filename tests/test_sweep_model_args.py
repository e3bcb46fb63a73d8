"""A model's own hyperparameters and random keys in a sweep: ``loss(..., hp=, key=)``.

Each trial is compared with the same model trained alone by a plain loop, with the keys
the README documents: ``trial_key = fold_in(fold_in(split(PRNGKey(seed))[1], id), replica)``,
``loss`` at step ``t`` gets ``fold_in(fold_in(trial_key, 2), t)``, ``evaluate`` gets
``fold_in(trial_key, 3)``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optfn
from optfn import sweep

X = jax.random.normal(jax.random.PRNGKey(7), (64, 5))
Y = X @ jnp.array([1.0, -2.0, 0.5, 0.0, 3.0])
STEPS, CHUNK = 40, 20


def init(key, hp):
    return {"w": 0.1 * jax.random.normal(key, (5,))}


def loss(params, batch, hp, key):
    # inverted dropout on the inputs at the swept rate, plus an L2 penalty at the swept strength
    keep = jax.random.bernoulli(key, 1 - hp["dropout"], batch["x"].shape)
    x = jnp.where(keep, batch["x"] / (1 - hp["dropout"]), 0.0)
    return jnp.mean((x @ params["w"] - batch["y"]) ** 2) + hp["l2"] * jnp.sum(params["w"] ** 2)


def evaluate(params, data, key):
    # a fixed key per trial: the noise term is the same at every evaluation
    return jnp.mean((data["x"] @ params["w"] - data["y"]) ** 2) + 1e-3 * jax.random.uniform(key)


SPACE = sweep.Space({"learning_rate": sweep.log_uniform(1e-3, 3e-2), "dropout": sweep.uniform(0.0, 0.5),
                     "l2": sweep.log_uniform(1e-4, 1e-1)})


def _runner(**kw):
    return sweep.Runner(init=init, loss=loss, optimizer=lambda hp: optfn.sgd(hp["learning_rate"]),
                        data=lambda key, step: {"x": X, "y": Y}, steps=STEPS, chunk_steps=CHUNK,
                        evaluate=evaluate, eval_data={"x": X, "y": Y}, **kw)


@pytest.fixture(scope="module")
def swept():
    runner = _runner()
    return runner, runner.run(SPACE, trials=4, seed=3, seeds=2)


def _alone(hp, seed, config_id, replica):
    trial_key = jax.random.fold_in(jax.random.fold_in(jax.random.split(jax.random.PRNGKey(seed))[1], config_id),
                                   replica)
    params = init(jax.random.fold_in(trial_key, 0), hp)
    hp32 = {k: jnp.float32(v) for k, v in hp.items()}
    step = jax.jit(lambda p, t: jax.tree.map(lambda w, g: w - hp32["learning_rate"] * g, p, jax.grad(loss)(
        p, {"x": X, "y": Y}, hp32, jax.random.fold_in(jax.random.fold_in(trial_key, 2), t))))
    for t in range(STEPS):
        params = step(params, jnp.int32(t))
    metric = evaluate(params, {"x": X, "y": Y}, jax.random.fold_in(trial_key, 3))
    return params, float(metric)


def test_each_trial_equals_the_model_trained_alone_with_its_dropout_and_l2(swept):
    runner, result = swept
    for trial in result.trials:
        for replica in range(2):
            params, metric = _alone(trial["hyperparams"], 3, trial["id"], replica)
            np.testing.assert_allclose(result.params(trial["id"], replica)["w"], params["w"], rtol=2e-5, atol=1e-6)
    # the replicas' dropout masks differ: so do their weights
    assert not np.allclose(result.params(0, 0)["w"], result.params(0, 1)["w"])
    assert runner.compile_counts == {"init": 1, "chunk": 1}


def test_evaluate_gets_one_fixed_key_per_trial(swept):
    _, result = swept
    trial = result.trials[0]
    _, metric = _alone(trial["hyperparams"], 3, trial["id"], 0)
    replicas = trial.get("replica_metrics") or [trial["metric"]]
    np.testing.assert_allclose(replicas[0], metric, rtol=2e-5)


def test_keys_reproduce_across_resume(tmp_path, swept):
    _, whole = swept
    stop = {"n": 0}

    def interrupt(event):
        stop["n"] += 1
        if stop["n"] == 2:
            raise KeyboardInterrupt

    path = str(tmp_path / "ckpt.npz")
    with pytest.raises(KeyboardInterrupt):
        _runner().run(SPACE, trials=4, seed=3, seeds=2, checkpoint=path, callback=interrupt)
    resumed = _runner().run(SPACE, trials=4, seed=3, seeds=2, checkpoint=path, resume=True)
    for a, b in zip(whole.trials, resumed.trials):
        assert a["history"] == b["history"]
        for replica in range(2):
            np.testing.assert_array_equal(whole.params(a["id"], replica)["w"], resumed.params(b["id"], replica)["w"])


def test_a_loss_parameter_the_runner_never_fills_is_refused_at_construction():
    with pytest.raises(TypeError, match=r"loss takes a parameter 'rng' that the runner never gives it.*'key'"):
        sweep.Runner(init=init, loss=lambda params, batch, rng: 0.0, optimizer=lambda hp: optfn.sgd(0.1),
                     data={"x": X, "y": Y}, steps=10, chunk_steps=10, batch_size=8)
    with pytest.raises(TypeError, match=r"evaluate takes a keyword-only parameter 'train'"):
        sweep.Runner(init=init, loss=loss, optimizer=lambda hp: optfn.sgd(0.1), data={"x": X, "y": Y}, steps=10, batch_size=8,
                     chunk_steps=10, evaluate=lambda p, d, *, train: 0.0, eval_data={"x": X})
