"""Integers as traced values: ``int_uniform(..., traced=True)`` and ``choice(..., traced=True)``.

A model built at the largest depth that skips the layers a trial does not use trains, in
one program for every depth, what the model built at that depth trains alone.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optfn
from optfn import sweep
from optfn.sweep import PopulationBasedTraining

X = jax.random.normal(jax.random.PRNGKey(0), (64, 4))
Y = jnp.sin(X).sum(1)
H, STEPS = 6, 20
SPACE = sweep.Space({"learning_rate": sweep.log_uniform(1e-2, 1e-1), "layers": sweep.int_uniform(0, 3, traced=True),
                     "scale": sweep.choice(0.5, 1.0, traced=True)})


def init(key, hp):
    # built at the largest depth, space["layers"].high; each layer's weights from its own key
    k_in, k_out, *k_hidden = jax.random.split(key, 2 + SPACE["layers"].high)
    return {"w_in": 0.5 * jax.random.normal(k_in, (4, H)), "w_out": 0.3 * jax.random.normal(k_out, (H,)),
            "hidden": [0.3 * jax.random.normal(k, (H, H)) for k in k_hidden]}


def forward(params, x, layers, scale):
    h = jnp.tanh(x @ params["w_in"])
    for i, w in enumerate(params["hidden"]):
        h = jnp.where(i < layers, jnp.tanh(h @ w), h)  # a layer past the trial's depth is skipped
    return scale * (h @ params["w_out"])


def loss(params, batch, hp):
    return jnp.mean((forward(params, batch["x"], hp["layers"], hp["scale"]) - batch["y"]) ** 2)


def _runner():
    return sweep.Runner(init=init, loss=loss, optimizer=lambda hp: optfn.sgd(hp["learning_rate"]),
                        data=lambda key, step: {"x": X, "y": Y}, steps=STEPS, chunk_steps=10,
                        evaluate=loss, eval_data={"x": X, "y": Y})


def _alone(hp, seed, config_id):
    """The model built at the trial's own depth (a Python int), trained by a plain loop."""
    key = jax.random.fold_in(jax.random.fold_in(jax.random.split(jax.random.PRNGKey(seed))[1], config_id), 0)
    full = init(jax.random.fold_in(key, 0), hp)
    params = {**full, "hidden": full["hidden"][:hp["layers"]]}

    def own_loss(p):
        h = jnp.tanh(X @ p["w_in"])
        for w in p["hidden"]:
            h = jnp.tanh(h @ w)
        return jnp.mean((hp["scale"] * (h @ p["w_out"]) - Y) ** 2)

    step = jax.jit(lambda p: jax.tree.map(lambda w, g: w - hp["learning_rate"] * g, p, jax.grad(own_loss)(p)))
    for _ in range(STEPS):
        params = step(params)
    return params, float(own_loss(params)), full


def test_one_program_for_every_depth_equals_each_depth_alone():
    runner = _runner()
    result = runner.run(SPACE, trials=12, seed=1)
    assert runner.compile_counts == {"init": 1, "chunk": 1}
    assert {t["hyperparams"]["layers"] for t in result.trials} == {0, 1, 2, 3}  # every depth, one program
    assert {t["hyperparams"]["scale"] for t in result.trials} == {0.5, 1.0}
    for t in result.trials:
        hp = t["hyperparams"]
        assert isinstance(hp["layers"], int)
        params, metric, full = _alone(hp, 1, t["id"])
        swept = result.params(t["id"])
        np.testing.assert_allclose(swept["w_in"], params["w_in"], rtol=2e-5, atol=1e-6)
        np.testing.assert_allclose(swept["w_out"], params["w_out"], rtol=2e-5, atol=1e-6)
        for i in range(SPACE["layers"].high):
            want = params["hidden"][i] if i < hp["layers"] else full["hidden"][i]  # unused layers never move
            np.testing.assert_allclose(swept["hidden"][i], want, rtol=2e-5, atol=1e-6)
        np.testing.assert_allclose(t["metric"], metric, rtol=2e-5)


def test_pbt_takes_the_sources_traced_values_along_and_zoom_keeps_them_traced():
    hps = SPACE.sample(4, seed=0)
    pbt = PopulationBasedTraining(resample=0.0)
    pbt.prepare(SPACE, hps)
    state = pbt.init(4, 40, 10, "min")
    assert len(set(state.structure)) == 1  # a traced int is not a structure: one population
    assert all(isinstance(h["layers"], int) for h in state.hp)
    out = pbt._explore(state.hp[2], np.random.default_rng(0))
    assert out["layers"] == state.hp[2]["layers"] and out["scale"] == state.hp[2]["scale"]
    assert out["learning_rate"] != state.hp[2]["learning_rate"]  # the continuous one is explored

    class Top:
        def top(self, k):
            return [{"hyperparams": h} for h in hps[:k]]

    zoomed = SPACE.zoom(Top(), top_k=2)
    assert zoomed["layers"].traced and zoomed["scale"].traced


def test_a_traced_value_used_as_a_shape_is_refused_before_anything_trains():
    def bad_init(key, hp):
        return {"w": jnp.zeros((hp["layers"], 2))}

    runner = sweep.Runner(init=bad_init, loss=lambda p, b: jnp.sum(p["w"]), optimizer=lambda hp: optfn.sgd(0.1),
                          data={"x": X, "y": Y}, steps=10, chunk_steps=10, batch_size=16)
    with pytest.raises(ValueError, match=r"used a traced value where a concrete one is needed.*learning_rate, "
                                         r"layers \(traced=True\).*jnp.where.*drop traced=True"):
        runner.run(SPACE, 4)
    assert runner.compiles == 0


@pytest.mark.parametrize("build, error, match", [
    (lambda: sweep.choice("relu", "tanh", traced=True), ValueError, r"choice: traced=True needs numeric options"),
    (lambda: sweep.int_uniform(1, 3, traced="yes"), TypeError, r"int_uniform: traced must be True or False"),
    (lambda: sweep.choice(1, 2, traced=1), TypeError, r"choice: traced must be True or False"),
])
def test_bad_traced_dimensions(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_batch_size_cannot_be_traced():
    runner = sweep.Runner(init=lambda k, hp: jnp.zeros(4), loss=lambda p, b: jnp.mean(b["x"] @ p),
                          optimizer=lambda hp: optfn.sgd(0.1), data={"x": X, "y": Y}, steps=10, chunk_steps=10,
                          batch_size=16)
    space = sweep.Space({"batch_size": sweep.choice(16, 32, traced=True)})
    with pytest.raises(ValueError, match=r"batch_size is a shape.*with traced=True"):
        runner.run(space, 2)


def test_a_space_file_marks_an_int_or_a_choice_traced(tmp_path):
    from optfn._cli_checks import UsageError
    from optfn._cli_task import load_space

    path = tmp_path / "space.toml"
    path.write_text('lr = { log_uniform = [1e-4, 1.0] }\nlayers = { int_uniform = [2, 4], traced = true }\n'
                    'width = { choice = [16, 32] }\n')
    space = load_space(str(path))
    assert space["layers"].traced and not space["width"].traced and space.traced_names == ["lr", "layers"]
    path.write_text('lr = { log_uniform = [1e-4, 1.0], traced = true }\n')
    with pytest.raises(UsageError, match=r"lr: traced applies to int_uniform and choice"):
        load_space(str(path))


def test_a_given_traced_int_must_be_an_int():
    runner = _runner()
    with pytest.raises(TypeError, match=r"layers is a traced int dimension, so each given value must be an int, "
                                        r"got layers=2.5"):
        runner.run(SPACE, [{"learning_rate": 0.01, "layers": 2.5, "scale": 1.0}])
    assert runner.compiles == 0
